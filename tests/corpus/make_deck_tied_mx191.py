"""Writes deck_tied_mx191.params: the deck's tied network saved by MXNet 1.9.1.

Run with MXNet 1.9.1 from the repository root:
    python tests/corpus/make_deck_tied_mx191.py
Each unique parameter k (in definition order) holds (arange(size) + 1000 k) / 1024,
values float32 represents exactly; tests recompute them independently.
"""
import sys
from pathlib import Path

import mxnet as mx
import numpy as onp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import nets  # noqa: E402

import gluonparams as gp  # noqa: E402

assert mx.__version__ == '1.9.1', mx.__version__
net = nets.deck_tied()
for k, (_, param) in enumerate(gp.named_parameters(net)):
    values = (onp.arange(param.data().size) + 1000 * k) / 1024
    param.set_data(mx.nd.array(values.reshape(param.shape), dtype='float32'))
net.save_parameters(str(Path(__file__).with_name('deck_tied_mx191.params')))
