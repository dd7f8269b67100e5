"""The parameter tree of the deck's tied network, as the deck draws it.

Layers 1 and 2 share one weight and one bias: the tree draws both uses, marks the
second "shared with", and the totals count each parameter once (330). ``gp.share``
is the deck's ``share_parameters`` call on any MXNet (1.9.1 has no share_parameters).
"""
from mxnet import np, npx
from mxnet.gluon import nn

import gluonparams as gp

npx.set_np()
net = nn.Sequential()
shared = nn.Dense(8, activation='relu')
shared_clone = nn.Dense(8, activation='relu')
gp.share(shared_clone, shared)   # shared_clone.share_parameters(shared.collect_params())
net.add(nn.Dense(8, activation='relu'), shared, shared_clone, nn.Dense(10))
net.initialize()

# Before any input, the first layer's input width is unknown: shown as '?'.
gp.summary(net)

# With an input, every shape is known and each block's output shape is shown.
X = np.random.uniform(size=(2, 20))
s = gp.summary(net, X)
print()
print('unique parameters:', s.total_params)
print('tie groups:', s.ties)

# Only the biases, and the tree folded below depth 1.
print()
gp.summary(net, select='bias', depth=1)
