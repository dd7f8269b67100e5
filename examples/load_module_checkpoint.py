"""An MXNet 1.x Module checkpoint into a Gluon network.

Before Gluon, MXNet models were symbols trained with ``mx.mod.Module`` and saved with
``save_checkpoint``: ``P-symbol.json`` and ``P-0001.params``, whose names
(``arg:conv1_weight``, ``aux:bn1_moving_mean``) were chosen by the symbol's author
and say nothing of a Gluon network's structure. Write the same network with Gluon
and ``gp.load`` pairs the file's arrays with the network's parameters in the order of
the graph (read from ``P-symbol.json``), checking every shape and kind (a weight is
never a running mean), and refuses when two orders would fit. The Gluon network then
predicts what the Module predicts (Module's executor and Gluon's cached graph may round
the last bit differently; ``tests/test_legacy_files.py`` checks the Gluon network against
``SymbolBlock.imports`` of such a checkpoint, bit for bit).

MXNet 1.x only: 2.0 has no Module API to write such a checkpoint (it reads one:
``tests/test_legacy_files.py`` loads 1.9.1 Module checkpoints into 2.0 networks).
"""
import logging
import os
import tempfile

import mxnet as mx
from mxnet.gluon import nn

import gluonparams as gp

mx.random.seed(0)
logging.disable(logging.WARNING)      # Module's training log
folder = tempfile.mkdtemp()
prefix = os.path.join(folder, 'legacy')

# The 1.x way: a symbol, a Module, one epoch, a checkpoint.
data = mx.sym.var('data')
conv = mx.sym.Convolution(data, num_filter=8, kernel=(3, 3), pad=(1, 1), name='conv1')
norm = mx.sym.BatchNorm(conv, fix_gamma=False, name='bn1')
pool = mx.sym.Pooling(mx.sym.Activation(norm, act_type='relu'), global_pool=True,
                      pool_type='avg', kernel=(1, 1))
out = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(mx.sym.flatten(pool), num_hidden=5, name='fc1'),
                           name='softmax')
X = mx.nd.random.uniform(shape=(32, 3, 16, 16))
labels = mx.nd.array([i % 5 for i in range(32)])
module = mx.mod.Module(out, data_names=['data'], label_names=['softmax_label'])
module.fit(mx.io.NDArrayIter(X, labels, batch_size=8), num_epoch=1,
           optimizer_params={'learning_rate': 0.1})
module.save_checkpoint(prefix, 1)    # legacy-symbol.json, legacy-0001.params
print('checkpoint names:', [t.name for t in gp.inspect(prefix + '-0001.params').tensors])

# The same network in Gluon (the softmax is the loss's business in Gluon).
net = nn.HybridSequential()
net.add(nn.Conv2D(8, 3, padding=1), nn.BatchNorm(), nn.Activation('relu'),
        nn.GlobalAvgPool2D(), nn.Dense(5))
net.initialize()
net(X[:1])                           # settles every shape, so each one is checked
report = gp.load(net, prefix + '-0001.params')
print(report)
for name in ('0.weight', '1.running_var', '4.bias'):
    print(f'  {name}: {report.matched_by[name]}')

net.hybridize()
scores = net(X).softmax()
expected = module.predict(mx.io.NDArrayIter(X, batch_size=8))
same = (scores.argmax(1) == expected.argmax(1)).min().asscalar()
print('same classes as Module.predict:', bool(same))
print(f'largest difference to Module.predict: {(scores - expected).abs().max().asscalar():.1e}')

# From now on a Gluon checkpoint: structural names, checksums.
gp.save(net, os.path.join(folder, 'model.safetensors'))
print('saved:', [t.name for t in gp.inspect(os.path.join(folder, 'model.safetensors')).tensors])
for name in os.listdir(folder):
    os.remove(os.path.join(folder, name))
os.rmdir(folder)
