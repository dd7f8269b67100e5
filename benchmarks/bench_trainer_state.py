"""gp.save/gp.load with trainer= against Gluon's save_parameters + save_states and
load_parameters + load_states, measured in one run.

The network: bench_checkpoint's 32 Dense layers (128 MiB of float32 parameters by
default, ``--mib`` for another size) and an Adam Trainer after one step, whose state (two
moments) is twice the parameters. Prints best-of-N times, file sizes and the ratios:

    python benchmarks/bench_trainer_state.py [--mib 128] [--repeat 3] [--folder DIR]

Files are read from the page cache (each was just written): this measures the library,
not the disk. Gluon's states file is a pickle; ours is the one .safetensors file.
"""

import argparse
import os
import tempfile

import mxnet as mx
from mxnet import autograd, gluon

import gluonparams as gp
from gluonparams import _compat

from bench_checkpoint import LAYERS, best, build  # beside this file


def trained(mib):
    """The network and an Adam Trainer after one step (every state created)."""
    net = build(mib)
    trainer = gluon.Trainer(net.collect_params(), 'adam')
    x = _compat.uniform((2, net[0].weight.shape[1]))
    with autograd.record():
        loss = net(x).sum()
    loss.backward()
    trainer.step(2)
    mx.nd.waitall()
    return net, trainer


def measure(args):
    folder = args.folder or tempfile.mkdtemp(prefix='bench_trainer_state_')
    ours = os.path.join(folder, 'ours.safetensors')
    params, states = os.path.join(folder, 'gluon.params'), os.path.join(folder, 'gluon.states')
    try:
        net, trainer = trained(args.mib)
        fresh, fresh_trainer = trained(args.mib)

        def gluon_save():
            net.save_parameters(params)
            trainer.save_states(states)

        def gluon_load():
            fresh.load_parameters(params)
            fresh_trainer.load_states(states)
        t = {
            'save_parameters + save_states': best(gluon_save, args.repeat),
            'gp.save trainer= fsync=False': best(
                lambda: gp.save(net, ours, trainer=trainer, fsync=False), args.repeat),
            'load_parameters + load_states': best(gluon_load, args.repeat),
            'gp.load trainer=': best(lambda: gp.load(fresh, ours, trainer=fresh_trainer),
                                     args.repeat),
        }
        sizes = {'ours': os.path.getsize(ours),
                 'gluon': os.path.getsize(params) + os.path.getsize(states)}
    finally:
        for path in (ours, params, states):
            if os.path.exists(path):
                os.remove(path)
        if not args.folder:
            os.rmdir(folder)
    return t, sizes


def report(t, sizes, repeat):
    print(f'{sizes["ours"] / 2**20:,.0f} MiB file (parameters and Adam state, {LAYERS} Dense '
          f'layers); Gluon\'s two files {sizes["gluon"] / 2**20:,.0f} MiB; best of {repeat}, '
          f'files in the page cache')
    for name, seconds in t.items():
        print(f'  {name:30s} {seconds * 1e3:9.1f} ms')
    save = t['save_parameters + save_states'] / t['gp.save trainer= fsync=False']
    load = t['load_parameters + load_states'] / t['gp.load trainer=']
    print(f'  save vs save_parameters + save_states {save:6.2f}x')
    print(f'  load vs load_parameters + load_states {load:6.2f}x')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--mib', type=int, default=128, help='size of the parameters (MiB)')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--folder', help='where to write the files (default: a temp folder)')
    args = parser.parse_args()
    report(*measure(args), args.repeat)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
