"""Data-parallel training on two workers over MXNet's KVStore: the replicas are checked
every few steps, rank 0 alone writes the checkpoints, and a restart that went wrong is
caught.

    python distributed_training.py

Run like this, the script starts a KVStore cluster on this machine (a scheduler, a
server and two workers talking over loopback: launch_local.py) and runs itself as each
worker. On a real cluster, start it with MXNet's launcher instead (docs/guide/distributed.md,
"Running on a cluster"), giving a folder every worker can read: each worker then runs
``worker()``.

Each worker trains on its own shard of the data; the servers add up the gradients of
all workers and update the weights, which every worker pulls, so the replicas stay
identical: ``gp.check_replicas(net, kvstore=kv)`` proves it every few steps, exchanging
one hash per parameter. Then the job restarts from its checkpoints, and one worker picks
up an older file than the others: the check catches it, with the same error on every
worker, and loading rank 0's last checkpoint on every worker, before the new Trainer's
first step, repairs it.
"""
import os
import shutil
import sys
import tempfile

from mxnet import autograd, gluon, kv as kvstore, np, npx, random
from mxnet.gluon import nn

import gluonparams as gp

STEPS, CHECK_EVERY, SAVE_EVERY = 20, 5, 10


def build():
    random.seed(0)                      # the same initial values on every worker...
    net = nn.Sequential()
    net.add(nn.Dense(16, activation='relu'), nn.Dense(1))
    net.initialize()
    net(np.zeros((1, 10)))              # ...drawn now: shapes are deferred to the first call
    return net


def worker(folder):
    npx.set_np()
    kv = kvstore.create('dist_sync')
    rank, workers = kv.rank, kv.num_workers
    say = print if rank == 0 else (lambda *args: None)

    net = build()
    gp.check_replicas(net, kvstore=kv, timeout=60)
    say(f'{workers} workers start from identical replicas')
    random.seed(100 + rank)             # this worker's own shard of the data
    X = np.random.uniform(size=(4, 32, 10))
    Y = X.sum(axis=2, keepdims=True)
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1}, kvstore=kv)
    loss_fn = gluon.loss.L2Loss()
    for step in range(1, STEPS + 1):
        x, y = X[step % 4], Y[step % 4]
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(x.shape[0] * workers)
        if step % CHECK_EVERY == 0:
            gp.check_replicas(net, kvstore=kv, timeout=60)
            say(f'step {step}: loss {float(loss.mean()):.4f}, replicas identical on '
                f'{workers} workers')
        if step % SAVE_EVERY == 0:
            path = os.path.join(folder, f'step{step}.safetensors')
            gp.save(net, path, kvstore=kv, metadata={'step': str(step)}, timeout=60)
            say(f'step {step}: rank 0 saved step{step}.safetensors '
                f'{gp.inspect(path).metadata}')

    # The job restarts: a fresh network on every worker, each loading a checkpoint on
    # its own; rank 1 picks up an older one.
    net = build()
    mine = f'step{SAVE_EVERY if rank == 1 else STEPS}.safetensors'
    gp.load(net, os.path.join(folder, mine))
    try:
        gp.check_replicas(net, kvstore=kv, timeout=60)
    except gp.GluonParamsError as e:
        lines = e.args[0].splitlines()
        print(f'rank {rank} (loaded {mine}) caught {type(e).__name__}: {lines[0]}\n'
              f'  {lines[1].strip()}', flush=True)
    # the same file on every worker (then a check), before the new Trainer's first step
    report = gp.load(net, os.path.join(folder, f'step{STEPS}.safetensors'), kvstore=kv,
                     timeout=60)
    say(f'every worker loaded step{STEPS}.safetensors ({len(report.loaded)} names): '
        f'replicas identical again')
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1}, kvstore=kv)


if __name__ == '__main__':
    if 'DMLC_ROLE' in os.environ:       # started as a worker (by launch_local or launch.py)
        worker(sys.argv[1] if len(sys.argv) > 1 else '.')
    else:
        from launch_local import main   # the launcher beside this file
        shared = tempfile.mkdtemp()
        try:
            status = main(['-n', '2', __file__, shared])
        finally:
            shutil.rmtree(shared)
        sys.exit(status)
