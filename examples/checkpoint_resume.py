"""Checkpoints: train a few steps, save, reload into a fresh network on another device,
and continue as if nothing had happened.

The network is the deck's tied one: layers 1 and 2 share one weight and one bias. The
checkpoint stores the shared parameter once and records the tie; the fresh network ties
the same names, so each shared parameter is filled once. Plain SGD keeps no state, so
the resumed run matches, bit for bit, a run that never stopped.
"""
import os
import tempfile
import warnings

from mxnet import autograd, cpu, gluon, np, npx, random
from mxnet.gluon import nn

import gluonparams as gp

npx.set_np()
# Gluon warns when initialize() reaches a tied parameter a second time: expected here.
warnings.filterwarnings('ignore', message='.*already initialized')


def build():
    net = nn.Sequential()
    shared = nn.Dense(8, activation='relu')
    shared_clone = nn.Dense(8, activation='relu')
    gp.share(shared_clone, shared)   # shared_clone.share_parameters(shared.collect_params())
    net.add(nn.Dense(8, activation='relu'), shared, shared_clone, nn.Dense(1))
    return net


def train(net, steps, device, start=0):
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.05})
    loss_fn = gluon.loss.L2Loss()
    for step in range(start, start + steps):
        x = X[step % 4].copyto(device)
        with autograd.record():
            loss = loss_fn(net(x), x.sum(axis=1, keepdims=True))
        loss.backward()
        trainer.step(x.shape[0])
    return float(loss.mean())


random.seed(0)
X = np.random.uniform(size=(4, 16, 20))

# A run that never stops: 20 steps.
reference = build()
reference.initialize()
random.seed(1)
reference(X[0])
reference_params = {n: p.data().copy() for n, p in gp.named_parameters(reference)}
train(reference, 20, cpu(0))

# The same run, stopped after 10 steps and saved.
net = build()
net.initialize()
net(X[0])
for name, p in gp.named_parameters(net):
    p.set_data(reference_params[name])
print(f'loss after 10 steps: {train(net, 10, cpu(0)):.4f}')
folder = tempfile.mkdtemp()
path = os.path.join(folder, 'checkpoint.safetensors')
gp.save(net, path, metadata={'step': '10'})
info = gp.inspect(path)
print(f'saved {info.total_params} parameters, ties {info.ties}, metadata {info.metadata}')

# A fresh network, never run, on another device: the file gives every shape.
fresh = build()
fresh.initialize()
gp.to_device(fresh, 'cpu(1)')   # initialize(device=cpu(1)) on MXNet 2.0, ctx= on 1.x
report = gp.load(fresh, path, device='cpu(1)')
print(f'loaded {len(report.loaded)} names on cpu(1); tie groups {gp.tie_groups(fresh)}')
print(f'loss after 10 more steps: {train(fresh, 10, cpu(1), start=10):.4f}')

same = all((p.data().copyto(cpu(0)) == q.data()).all()
           for (_, p), (_, q) in zip(gp.named_parameters(fresh), gp.named_parameters(reference)))
print(f'identical to the run that never stopped: {bool(same)}')
os.remove(path)
os.rmdir(folder)
