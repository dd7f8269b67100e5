"""Sanity-checking parameters and gradients: ``gp.stats(net)`` and its flags.

Each parameter is read once, in float64: mean, std, min, max, L2 norm, the fraction of
exact zeros and the count of NaN/Inf. Flags point at the usual bugs: NaN/Inf, an
all-zero weight, a gradient that is zero everywhere after ``backward()`` (dead units),
and a std far from what the initializer implies (``init=`` names the initializer given
to ``net.initialize``; Gluon's default is ``Uniform(0.07)``).
"""
from mxnet import autograd, np, npx
from mxnet.gluon import nn
from mxnet.gluon.model_zoo import vision

import gluonparams as gp

npx.set_np()
net = nn.Sequential()
net.add(nn.Dense(64, activation='relu'), nn.Dense(64, activation='relu'), nn.Dense(10))
net.initialize()                    # Gluon's default initializer: Uniform(0.07)
X = np.random.uniform(size=(8, 32))
net(X)
print(gp.stats(net))

# Plant three bugs: dead ReLUs in layer 0, a badly scaled layer 1, a NaN in layer 2.
net[0].bias.set_data(net[0].bias.data() - 10)
net[1].weight.set_data(np.random.normal(0, 1, size=net[1].weight.shape))
with autograd.record():
    loss = net(X).sum()
loss.backward()
print()
# Every unit of layer 0 is dead, so nothing after it sees a nonzero input: only the
# last bias still gets a gradient.
grads = gp.stats(net, grad=True)
print('gradients flagged:', [(r.name, r.flags) for r in grads.flagged])
print('last bias gradient norm:', round(grads['2.bias'].norm, 3))

weight = net[2].weight.data()
weight[0, 0] = np.nan
print()
print(gp.stats(net))

# A model-zoo network straight after initialization has nothing to flag.
resnet = vision.get_model('resnet18_v1')
resnet.initialize()
resnet(np.random.uniform(size=(1, 3, 32, 32)))
result = gp.stats(resnet)
print()
print(f'resnet18_v1: {len(result)} parameters, flagged: {[r.name for r in result.flagged]}')
