"""Writes deck_tied_mx20.params: the deck's tied network saved by MXNet 2.0's own
save_parameters (an NPZ zip, which MXNet 1.9.1 cannot read but gp.load can).

Run with MXNet 2.0 from the repository root:
    python tests/corpus/make_deck_tied_mx20.py
Each unique parameter k (in definition order) holds (arange(size) + 1000 k) / 1024, as in
make_deck_tied_mx191.py. The fuzzer starts from it on both MXNet versions.
"""
import sys
from pathlib import Path

import mxnet as mx
import numpy as onp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import nets  # noqa: E402

import gluonparams as gp  # noqa: E402

assert mx.__version__.startswith('2.'), mx.__version__
net = nets.deck_tied()
for k, (_, param) in enumerate(gp.named_parameters(net)):
    values = (onp.arange(param.data().size) + 1000 * k) / 1024
    param.set_data(mx.np.array(values.reshape(param.shape), dtype='float32'))
net.save_parameters(str(Path(__file__).with_name('deck_tied_mx20.params')))
