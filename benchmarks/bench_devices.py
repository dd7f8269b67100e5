"""gp.to_device and gp.check_replicas against MXNet's own calls, measured in one run.

The network: ResNet-50 v2 from the model zoo (no pretrained weights), on cpu(0) and
cpu(1). MXNet's own move is ``reset_device`` (``reset_ctx`` on 1.x) on every parameter,
which averages the copies; gp.to_device first checks the copies are identical, then
writes the one verified copy. Prints best-of-N times, the ratios, and how many values
each move changed:

    python benchmarks/bench_devices.py
"""

import argparse
import itertools

import mxnet as mx
import numpy as onp

import gluonparams as gp
from gluonparams import _compat, zoo

from bench_checkpoint import best  # beside this file: best of N, MXNet's work done

TWO = [mx.cpu(0), mx.cpu(1)]
OTHER_TWO = [mx.cpu(2), mx.cpu(3)]
THREE = [mx.cpu(1), mx.cpu(2), mx.cpu(3)]


def snapshot(net):
    mx.nd.waitall()
    return {n: p.list_data()[0].asnumpy().tobytes() for n, p in gp.named_parameters(net)}


def mxnet_move(net, devices):
    for _, param in gp.named_parameters(net):
        _compat.reset_device(param, devices)


def changed_parameters(before, after):
    return sum(int((onp.frombuffer(before[n], 'u1') != onp.frombuffer(after[n], 'u1')).any())
               for n in before)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='resnet50_v2')
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    net, x = zoo.build(args.model, device=TWO)
    net(x)
    n = sum(1 for _ in gp.named_parameters(net))
    print(f'{args.model} on cpu(0)+cpu(1): {n} parameters, MXNet {_compat.MXNET_VERSION}')

    # each call moves every parameter: the target alternates between two device pairs
    targets = itertools.cycle([OTHER_TWO, TWO])
    theirs = best(lambda: mxnet_move(net, next(targets)), args.repeat * 2)
    ours = best(lambda: gp.to_device(net, next(targets)), args.repeat * 2)
    check = best(lambda: gp.check_replicas(net), args.repeat)
    print(f'  reset_device on every parameter {theirs * 1e3:8.1f} ms')
    print(f'  gp.to_device                    {ours * 1e3:8.1f} ms   {ours / theirs:5.2f}x '
          f'the time of MXNet\'s own move')
    print(f'  gp.check_replicas               {check * 1e3:8.1f} ms   {check / theirs:5.2f}x')

    mxnet_move(net, THREE)                  # three identical copies of each parameter
    before = snapshot(net)
    mxnet_move(net, [mx.cpu(0)])
    averaged = changed_parameters(before, snapshot(net))
    mxnet_move(net, THREE)
    before = snapshot(net)
    gp.to_device(net, mx.cpu(0))
    exact = changed_parameters(before, snapshot(net))
    print(f'  parameters whose values changed moving 3 copies to one device: '
          f'reset_device {averaged} of {n}, gp.to_device {exact} of {n}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
