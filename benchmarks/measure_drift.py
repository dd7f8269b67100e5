"""How often MXNet's own data-parallel training leaves the workers' replicas different,
found by gp.check_replicas(kvstore=) after every step.

For each Trainer setting, ``--runs`` times: a new KVStore cluster on this machine (a
scheduler, one server, two workers over loopback), the network of
examples/distributed_training.py built identically on both workers, SGD for ``--steps``
steps on each worker's own data, the replicas checked after each step. Prints, per
setting, how many runs diverged and at which step first:

    python benchmarks/measure_drift.py [--runs 10] [--steps 20]

``update_on_kvstore=True`` (the default on a 'dist' KVStore): the servers update the
weights and every worker pulls them. ``False``: the servers sum the gradients and each
worker updates its own replica.
"""

import argparse
import re
import sys
from pathlib import Path

from mxnet import autograd, gluon, kv as kvstore, np, npx, random

import gluonparams as gp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'examples'))
import launch_local  # noqa: E402  (the cluster launcher beside the examples)
from distributed_training import build  # noqa: E402  (the example's network)


def worker(update_on_kvstore, steps):
    npx.set_np()
    kv = kvstore.create('dist_sync')
    net = build()                            # the same initial values on every worker
    random.seed(100 + kv.rank)
    X = np.random.uniform(size=(4, 32, 10))
    Y = X.sum(axis=2, keepdims=True)
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1}, kvstore=kv,
                            update_on_kvstore=update_on_kvstore)
    loss_fn = gluon.loss.L2Loss()
    for step in range(1, steps + 1):
        x, y = X[step % 4], Y[step % 4]
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(x.shape[0] * kv.num_workers)
        try:
            gp.check_replicas(net, kvstore=kv, timeout=60)
        except gp.GluonParamsError:          # the same on every worker: all stop here
            print(f'DIVERGED {step}', flush=True)
            return
    print('IDENTICAL', flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--worker', choices=['True', 'False'], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker == 'True', args.steps)
        return 0
    for setting in ('False', 'True'):
        first = []
        for _ in range(args.runs):
            finished = launch_local.run([__file__, '--worker', setting, '--steps',
                                         str(args.steps)], 2, 120.0)
            if any(done.returncode for done in finished):
                sys.stderr.write(''.join(done.stderr for done in finished))
                return 1
            found = re.search(r'DIVERGED (\d+)', finished[0].stdout)
            if found:
                first.append(int(found.group(1)))
        at = f' (first at step {", ".join(map(str, first))})' if first else ''
        print(f'update_on_kvstore={setting}: replicas differed in {len(first)} of {args.runs} '
              f'runs of {args.steps} steps{at}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
