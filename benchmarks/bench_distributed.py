"""gp.check_replicas over a distributed KVStore against one kv.pushpull of all the
parameters, measured in one run on the same cluster.

Starts a KVStore cluster on this machine (a scheduler, one server, ``--workers``
workers over loopback, as examples/launch_local.py does) and runs itself as each
worker. Every worker builds the same model-zoo network on cpu(0) (no pretrained
weights, the same seed), then times, best of ``--repeat``:

- ``gp.check_replicas(net, kvstore=kv)``: each worker hashes its parameters and the
  workers exchange one 128-bit fingerprint per parameter;
- one ``kv.pushpull`` of every parameter (all keys in one call): what comparing the
  tensors themselves through the servers would cost at the least;
- the local part of the check alone (hashing every parameter on this worker).

Rank 0 prints the times and the ratio:

    python benchmarks/bench_distributed.py [--model resnet50_v2] [--workers 2]
"""

import argparse
import os
import sys
from pathlib import Path

import mxnet as mx
import numpy as onp

import gluonparams as gp
from gluonparams import _compat, zoo
from gluonparams.distributed import _workers as distributed

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / 'examples'))
import launch_local  # noqa: E402  (the cluster launcher beside the examples)
from bench_checkpoint import best  # noqa: E402  (beside this file: best of N, MXNet's work done)


def worker(model, repeat):
    kv = mx.kv.create('dist_sync')
    mx.random.seed(0)
    net, x = zoo.build(model, device=mx.cpu(0))
    net(x)
    params = [p for _, p in gp.named_parameters(net)]
    arrays = [p.list_data()[0] for p in params]
    nbytes = sum(a.size * onp.dtype(a.dtype).itemsize for a in arrays)
    keys = list(range(len(arrays)))
    # plain copies: MXNet's KVStore refuses arrays in oneDNN layouts (convolution weights
    # after a forward pass on CPU)
    values = [mx.nd.array(a.asnumpy(), dtype=a.dtype) for a in arrays]
    kv.init(keys, values)
    outs = [mx.nd.zeros(a.shape, dtype=a.dtype) for a in arrays]

    def pushpull():
        kv.pushpull(keys, values, out=outs)

    def check():
        gp.check_replicas(net, kvstore=kv)

    def hash_only():
        distributed._fingerprints(arrays)

    check()                                     # warm-up: keys, threads
    pushpull()
    t_check, t_push, t_hash = (best(check, repeat), best(pushpull, repeat),
                               best(hash_only, repeat))
    if kv.rank == 0:
        print(f'{model}: {len(arrays)} parameters, {nbytes / 2 ** 20:.1f} MiB, '
              f'{kv.num_workers} workers on loopback, MXNet {_compat.MXNET_VERSION}, '
              f'best of {repeat}')
        print(f'check_replicas(kvstore=)        {t_check * 1e3:8.1f} ms')
        print(f'  of which hashing (local)      {t_hash * 1e3:8.1f} ms')
        print(f'one kv.pushpull of all params   {t_push * 1e3:8.1f} ms')
        print(f'check_replicas / pushpull       {t_check / t_push:8.2f}x the time')
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='resnet50_v2')
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--timeout', type=float, default=600.0)
    args = parser.parse_args()
    if 'DMLC_ROLE' in os.environ:
        worker(args.model, args.repeat)
        return 0
    argv = [__file__, '--model', args.model, '--repeat', str(args.repeat)]
    finished = launch_local.run(argv, args.workers, args.timeout)
    for done in finished:
        sys.stdout.write(done.stdout)
        if done.returncode:
            sys.stderr.write(done.stderr)
    return next((d.returncode for d in finished if d.returncode), 0)


if __name__ == '__main__':
    sys.exit(main())
