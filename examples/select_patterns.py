"""Selecting parameters by pattern: ``gp.select(net, pattern, exclude=..., mode=...)``.

Gluon's ``collect_params('weight')`` anchors its regular expression at the start of
each name, so it finds nothing; ``gp.select`` searches anywhere in the name (or
matches whole names, or takes shell wildcards), and its result goes straight into a
``gluon.Trainer``.
"""
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

import gluonparams as gp

npx.set_np()
net = nn.Sequential()
shared = nn.Dense(8, activation='relu')
shared_clone = nn.Dense(8, activation='relu')
gp.share(shared_clone, shared)   # shared_clone.share_parameters(shared.collect_params())
net.add(nn.Dense(8, activation='relu'), shared, shared_clone, nn.Dense(10))
net.initialize()
X = np.random.uniform(size=(2, 20))
net(X)

print("collect_params('weight'):", list(net.collect_params('weight')))
print("select('weight'):", list(gp.select(net, 'weight')))
print("select('[0-9].bias', fullmatch):", list(gp.select(net, r'[0-9]\.bias', mode='fullmatch')))
print("select('[12].*', glob):", list(gp.select(net, '[12].*', mode='glob')))
print('every name of a tied parameter:', list(gp.select(net, r'^[12]\.', remove_duplicate=False)))
print("exclude=['bias', '^0']:", list(gp.select(net, exclude=['bias', '^0'])))
try:
    gp.select(net, 'wieght', strict=True)
except gp.GluonParamsError as e:
    print('strict:', e)

# Only the weights train: the selection is the Trainer's parameter dict.
trainer = gluon.Trainer(gp.select(net, 'weight'), 'sgd', {'learning_rate': 0.1})
before = {name: p.data().copy() for name, p in gp.select(net).items()}
with autograd.record():
    loss = (net(X) ** 2).sum()
loss.backward()
trainer.step(2)
changed = [name for name, p in gp.select(net).items() if (p.data() != before[name]).any()]
print('changed by one step:', changed)
