"""Resume training exactly: the optimizer's state goes into the checkpoint, by name.

Adam with a step learning-rate schedule trains the deck's tied network. One run never
stops; the other is interrupted after 5 steps, saved with gp.save(..., trainer=trainer),
and resumed in a fresh network and a fresh Trainer on another device. The checkpoint
holds Adam's moments, the update counts its bias correction needs, the schedule's
position and the hyperparameters (tensors plus JSON, no pickle), so the resumed run ends
bit for bit where the uninterrupted one does.

For contrast, Gluon's own save_states/load_states (a pickle keyed by position) resumed
on cpu(1): on MXNet 2.0 it runs but drifts (the optimizer counts updates per device, so
on cpu(1) Adam's bias correction starts again from step 1); on MXNet 1.9.1 the fresh
network's parameters sort in another order (global names), and the states land on the
wrong parameters.
"""
import os
import tempfile
import warnings

from mxnet import autograd, cpu, gluon, lr_scheduler, np, npx, random
from mxnet.base import MXNetError
from mxnet.gluon import nn

import gluonparams as gp

npx.set_np()
# Gluon warns when initialize() reaches a tied parameter a second time: expected here.
warnings.filterwarnings('ignore', message='.*already initialized')


def architecture():
    net = nn.Sequential()
    shared = nn.Dense(8, activation='relu')
    net.add(nn.Dense(8, activation='relu'), shared,
            gp.share(nn.Dense(8, activation='relu'), shared), nn.Dense(1))
    net.initialize()
    net(X[0])
    return net


def build(device):
    """The network with the starting values every run below shares, on ``device``."""
    net = architecture()
    for name, p in gp.named_parameters(net):
        p.set_data(START[name])
    gp.to_device(net, device)
    return net


def make_trainer(net):
    schedule = lr_scheduler.FactorScheduler(step=4, factor=0.5, base_lr=0.01)
    return gluon.Trainer(net.collect_params(), 'adam',
                         {'learning_rate': 0.01, 'lr_scheduler': schedule})


def train(net, trainer, steps, device):
    loss_fn = gluon.loss.L2Loss()
    for step in steps:
        x = X[step].copyto(device)
        with autograd.record():
            loss = loss_fn(net(x), x.sum(axis=1, keepdims=True))
        loss.backward()
        trainer.step(x.shape[0])
    return float(loss.mean())


def values(net):
    return [p.data().asnumpy() for _, p in gp.named_parameters(net)]


random.seed(0)
X = np.random.uniform(size=(10, 16, 20))
START = {name: p.data().copy() for name, p in gp.named_parameters(architecture())}

# A run that never stops: 10 steps on cpu(0).
reference = build(cpu(0))
train(reference, make_trainer(reference), range(10), cpu(0))

# The same run, interrupted after 5 steps and saved with its Trainer.
net = build(cpu(0))
trainer = make_trainer(net)
print(f'loss after 5 steps: {train(net, trainer, range(5), cpu(0)):.4f}')
folder = tempfile.mkdtemp()
path = os.path.join(folder, 'step5.safetensors')
gp.save(net, path, trainer=trainer)
optimizer_line = next(line for line in str(gp.inspect(path)).splitlines()
                      if line.startswith('Optimizer:'))
print(f'saved: {optimizer_line}')

# Later, maybe on another machine: a fresh network and a fresh Trainer on cpu(1).
resumed = build(cpu(1))
fresh = make_trainer(resumed)
report = gp.load(resumed, path, trainer=fresh)
print(f'restored the state of {len(report.optimizer.restored)} parameters, '
      f'num_update {report.optimizer.num_update}, learning rate {fresh.learning_rate}')
print(f'loss after 5 more steps on cpu(1): {train(resumed, fresh, range(5, 10), cpu(1)):.4f}')
same = all((a == b).all() for a, b in zip(values(resumed), values(reference)))
print(f'identical to the run that never stopped: {bool(same)}')

# Gluon's own way, for contrast: save_parameters + save_states, resumed on cpu(1).
net.save_parameters(os.path.join(folder, 'step5.params'))
trainer.save_states(os.path.join(folder, 'step5.states'))
gluon_net = build(cpu(1))
gluon_net.load_parameters(os.path.join(folder, 'step5.params'), cpu(1))
gluon_trainer = make_trainer(gluon_net)
gluon_trainer.load_states(os.path.join(folder, 'step5.states'))
try:
    train(gluon_net, gluon_trainer, range(5, 10), cpu(1))
    gap = max(float(abs(a - b).max()) for a, b in zip(values(gluon_net), values(reference)))
    print(f'Gluon save_states/load_states on cpu(1): max difference {gap:.4f}')
except MXNetError as e:
    # MXNet 1.x sorts parameters by global name (dense11_ before dense8_): the states,
    # keyed by position, land on parameters of other shapes
    print(f'Gluon save_states/load_states on cpu(1): failed ({str(e).splitlines()[-1]})')
for name in os.listdir(folder):
    os.remove(os.path.join(folder, name))
os.rmdir(folder)
