"""Tie groups and copy detection against MXNet's own calls, measured in one run.

1. ``gp.tie_groups`` against the Gluon route (``collect_params()`` then grouping by
   identity) on a wide Sequential of Dense blocks, every second one the same instance
   as the one before it (half the names are ties).
2. ``gp.find_copies`` on ResNet-50 (random weights, no download) against reading
   every value with MXNet's own calls (``p.data().asnumpy()`` over
   ``collect_params()``), and against comparing every pair of same-shape parameters;
   one convolution weight is copied into another of the same shape, to be found.

    python benchmarks/bench_ties.py
"""

import argparse

import mxnet as mx
import numpy as onp
from bench_traversal import best  # best-of-N timing, shared by the benchmarks
from mxnet.gluon import nn

import gluonparams as gp
from gluonparams import zoo
from gluonparams.tree import groups_by_identity


def tied_wide(n):
    net = nn.Sequential()
    for _ in range(n // 2):
        block = nn.Dense(4, in_units=4)
        net.add(block, block)
    return net


def bench_tie_groups(blocks, repeat):
    net = tied_wide(blocks)
    gluon = best(lambda: groups_by_identity(net.collect_params().items()), repeat)
    ours = best(lambda: gp.tie_groups(net), repeat)
    print(f'tie groups, {blocks:,} Dense blocks ({len(gp.tie_groups(net)):,} tie groups):')
    print(f'  collect_params() + grouping {gluon * 1e3:9.1f} ms')
    print(f'  gp.tie_groups()             {ours * 1e3:9.1f} ms   {gluon / ours:6.1f}x faster')


def read_all(net):
    return [p.data().asnumpy() for p in net.collect_params().values()]


def pairwise(net):
    values = read_all(net)
    found = 0
    for i, a in enumerate(values):
        for b in values[i + 1:]:
            if a.shape == b.shape and a.dtype == b.dtype and onp.array_equal(a, b):
                found += 1
    return found


def plant_copy(net):
    """Copy the first 4-d weight into the next one of the same shape: a lost tie."""
    seen = {}
    for name, param in gp.named_parameters(net):
        if name.endswith('weight') and len(param.shape) == 4:
            if param.shape in seen:
                param.set_data(seen[param.shape].data())
                return
            seen[param.shape] = param


def bench_find_copies(model, repeat):
    net, x = zoo.build(model, input_shape=(1, 3, 64, 64))
    net(x)
    plant_copy(net)
    mx.nd.waitall()
    n_params = sum(p.data().size for _, p in gp.named_parameters(net))
    copies = gp.find_copies(net)
    reading = best(lambda: read_all(net), repeat)
    naive = best(lambda: pairwise(net), 1)
    ours = best(lambda: gp.find_copies(net), repeat)
    plural = 's' if len(copies) != 1 else ''
    print(f'copies, {model} ({n_params:,} values, {len(copies)} copy group{plural} found):')
    print(f'  read every value (MXNet)    {reading * 1e3:9.1f} ms')
    print(f'  compare same-shape pairs    {naive * 1e3:9.1f} ms   {naive / reading:6.2f}x reading')
    print(f'  gp.find_copies()            {ours * 1e3:9.1f} ms   {ours / reading:6.2f}x reading')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--blocks', type=int, default=4000)
    parser.add_argument('--model', default='resnet50_v1')
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    bench_tie_groups(args.blocks, args.repeat)
    bench_find_copies(args.model, args.repeat)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
