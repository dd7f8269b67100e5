"""One small histogram per parameter: ``gp.plot_histograms(net, pattern, path=...)``.

Needs matplotlib (``pip install 'gluonparams[plot]'``). It draws on matplotlib's Agg
canvas, so no window opens; with ``path=`` it writes a PNG, without it returns the
figure (a notebook shows it). ``grad=True`` draws the gradients instead.
"""
import os
import struct
import tempfile

from mxnet import np, npx
from mxnet.gluon.model_zoo import vision

import gluonparams as gp

npx.set_np()
net = vision.get_model('resnet18_v1')
net.initialize()
net(np.random.uniform(size=(1, 3, 32, 32)))

with tempfile.TemporaryDirectory() as folder:
    path = gp.plot_histograms(net, r'features\.[0-5]\..*weight$', path=os.path.join(
        folder, 'histograms.png'), cols=3, dpi=60)
    with open(path, 'rb') as f:
        header = f.read(24)
    width, height = struct.unpack('>II', header[16:24])
    print(f'wrote {path.name}: {width} x {height} pixels, '
          f'{os.path.getsize(path):,} bytes')

figure = gp.plot_histograms(net, '^output')
print('panels:', [ax.get_title() for ax in figure.axes])
