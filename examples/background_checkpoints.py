"""Checkpoints that do not stop training: a background save every 5 steps.

``gp.save(..., background=True)`` takes a snapshot of the parameters and of the
optimizer state (queued copies: the call does not wait for MXNet's engine) and returns
a handle at once; a thread writes the file while training goes on. The file holds the
values of the step the save was called at, bit for bit: here a fresh network and a
fresh Trainer resumed from the checkpoint of step 10 end where the run that never
stopped ends, although that run kept training while the file was written.
"""
import os
import tempfile
import time
import warnings

from mxnet import autograd, gluon, np, npx, random
from mxnet.gluon import nn

import gluonparams as gp

npx.set_np()
# Gluon warns when initialize() reaches a tied parameter a second time: expected here.
warnings.filterwarnings('ignore', message='.*already initialized')
STEPS, EVERY = 20, 5


def build():
    """The deck's tied network (layers 1 and 2 share a weight and a bias), seeded."""
    net = nn.Sequential()
    shared = nn.Dense(8, activation='relu')
    shared_clone = nn.Dense(8, activation='relu')
    gp.share(shared_clone, shared)
    net.add(nn.Dense(8, activation='relu'), shared, shared_clone, nn.Dense(1))
    random.seed(1)
    net.initialize()
    net(X[0])
    return net


def train_step(net, trainer, x):
    with autograd.record():
        loss = ((net(x) - x.sum(axis=1, keepdims=True)) ** 2).mean()
    loss.backward()
    trainer.step(x.shape[0])
    return loss


random.seed(0)
X = np.random.uniform(size=(STEPS, 16, 20))
folder = tempfile.mkdtemp()
net = build()
trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.01})
saves = []
for step in range(1, STEPS + 1):
    loss = train_step(net, trainer, X[step - 1])
    if step % EVERY == 0:
        path = os.path.join(folder, f'step{step}.safetensors')
        start = time.perf_counter()
        saves.append(gp.save(net, path, trainer=trainer, metadata={'step': str(step)},
                             background=True))
        print(f'step {step}: loss {float(loss):.4f}; checkpoint {os.path.basename(path)} '
              f'started, the loop waited {(time.perf_counter() - start) * 1e3:.1f} ms')
for handle in saves:       # a new save to the same file would wait for the last one itself
    handle.wait()
print(f'written: {", ".join(os.path.basename(h.path) for h in saves)}; each snapshot '
      f'copied {sum(saves[0].snapshot_bytes.values()):,} bytes')

resumed = build()
resumed_trainer = gluon.Trainer(resumed.collect_params(), 'adam')
report = gp.load(resumed, os.path.join(folder, 'step10.safetensors'), trainer=resumed_trainer)
print(f'resumed from step10.safetensors: {len(report.loaded)} names, '
      f'num_update {report.optimizer.num_update}')
for step in range(11, STEPS + 1):
    train_step(resumed, resumed_trainer, X[step - 1])
same = all((p.data() == q.data()).all()
           for (_, p), (_, q) in zip(gp.named_parameters(resumed), gp.named_parameters(net)))
print(f'identical to the run that never stopped: {bool(same)}')
for handle in saves:
    os.remove(handle.path)
os.rmdir(folder)
