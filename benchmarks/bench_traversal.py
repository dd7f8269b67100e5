"""Traversal and summary against Gluon's collect_params(), measured in one run.

The network: 5,000 BatchNorm blocks (20,000 parameters) in one Sequential, the wide
container on which collect_params() is quadratic; and, for comparison, the same
5,000 blocks nested in 100 groups of 50. Then, for information, 5,000 blocks that
rename their parameters (an override of _collect_params_with_prefix each, as
GluonNLP's attention cells), against Gluon's own naming call. Prints best-of-N
times and the ratios:

    python benchmarks/bench_traversal.py

Targets (issue 2): named_parameters at least 20x faster than collect_params(), and a
full summary(..., file=None) faster than collect_params() alone.
"""

import argparse
import time

import mxnet as mx
from mxnet import gluon
from mxnet.gluon import nn

import gluonparams as gp
from gluonparams import _compat


def wide(n):
    net = nn.Sequential()
    net.add(*[nn.BatchNorm() for _ in range(n)])
    return net


def grouped(n, per):
    net = nn.Sequential()
    for _ in range(n // per):
        group = nn.Sequential()
        group.add(*[nn.BatchNorm() for _ in range(per)])
        net.add(group)
    return net


class Renaming(gluon.Block):
    """Saves its parameter ``key_weight`` as ``proj_key.weight`` (GluonNLP 0.10's way)."""

    def __init__(self):
        super().__init__()
        self.key_weight = gluon.Parameter('key_weight', shape=(4, 4), init=mx.init.Zero())
        self.out = nn.Dense(4, in_units=4)

    def _collect_params_with_prefix(self, prefix='', select=None):
        prefix = prefix + '.' if prefix else ''
        found = {prefix + 'proj_' + k.replace('_', '.'): v for k, v in self._reg_params.items()}
        more = () if select is None else (select,)
        for name, child in _compat.children(self):   # 2.0 holds weak references
            found.update(child._collect_params_with_prefix(prefix + name, *more))
        return found


def renaming(n):
    net = nn.Sequential()
    net.add(*[Renaming() for _ in range(n)])
    return net


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(label, net, repeat):
    n_blocks = sum(1 for _ in gp.named_blocks(net))
    n_params = sum(1 for _ in gp.named_parameters(net))
    gluon = best(lambda: net.collect_params(), repeat)
    ours = best(lambda: dict(gp.named_parameters(net)), repeat)
    summ = best(lambda: gp.summary(net, file=None), repeat)
    print(f'{label}: {n_blocks:,} blocks, {n_params:,} parameters')
    print(f'  collect_params()         {gluon * 1e3:9.1f} ms')
    print(f'  gp.named_parameters()    {ours * 1e3:9.1f} ms   {gluon / ours:6.1f}x faster')
    print(f'  gp.summary(file=None)    {summ * 1e3:9.1f} ms   {gluon / summ:6.1f}x faster')
    return gluon / ours, gluon / summ


def measure_renaming(net, repeat):
    n_params = sum(1 for _ in gp.named_parameters(net))
    gluon_names = best(lambda: net._collect_params_with_prefix(), repeat)
    ours = best(lambda: dict(gp.named_parameters(net)), repeat)
    print(f'renaming blocks: {len(net):,} overrides, {n_params:,} parameters (information)')
    print(f'  _collect_params_with_prefix() {gluon_names * 1e3:9.1f} ms')
    print(f'  gp.named_parameters()    {ours * 1e3:9.1f} ms   {gluon_names / ours:6.2f}x faster')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--blocks', type=int, default=5000)
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    traversal, summary = measure('one wide Sequential', wide(args.blocks), args.repeat)
    measure('100 groups of 50', grouped(args.blocks, args.blocks // 100), args.repeat)
    measure_renaming(renaming(args.blocks), args.repeat)
    ok = traversal >= 20 and summary > 1
    print(f'targets (wide net): traversal >= 20x: {traversal:.1f}x, '
          f'summary > 1x: {summary:.1f}x -> {"met" if ok else "NOT MET"}')
    return 0 if ok else 1


if __name__ == '__main__':
    raise SystemExit(main())
