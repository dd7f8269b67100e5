"""Deck cell 6, "Parameter tying", on any MXNet: 2.0.0b1 and 1.9.1.

The deck ties with ``Block.share_parameters``, which MXNet 2.0 added; MXNet 1.x ties
only at construction, with ``params=``. ``gp.share(shared_clone, shared)`` makes the
same tie on both; everything else is the deck's cell.
"""
from mxnet import np, npx
from mxnet.gluon import nn

import gluonparams as gp

npx.set_np()
net = nn.Sequential()
shared = nn.Dense(8, activation='relu')
shared_clone = nn.Dense(8, activation='relu')
gp.share(shared_clone, shared)   # shared_clone.share_parameters(shared.collect_params())
net.add(nn.Dense(8, activation='relu'),
        shared,
        shared_clone,
        nn.Dense(10))
net.initialize()

X = np.random.uniform(size=(2, 20))

net(X)
# Check whether the parameters are the same
print(net[1].weight.data()[0] == net[2].weight.data()[0])
net[1].weight.data()[0, 0] = 100
# Make sure that they are actually the same object rather than just having the
# same value
print(net[1].weight.data()[0] == net[2].weight.data()[0])

print('same Parameter object:', net[1].weight is net[2].weight)
print('tie groups:', gp.tie_groups(net))
