"""gp.save / gp.load against Gluon's save_parameters / load_parameters, and a background
save against a synchronous one, measured in one run.

The network: 32 Dense layers holding 0.5 GiB of float32 parameters (``--mib`` for
another size). Prints best-of-N times and the ratios:

    python benchmarks/bench_checkpoint.py [--mib 512] [--repeat 3] [--folder DIR]
    python benchmarks/bench_checkpoint.py --mib 1024 --only background

Targets (issue 5): gp.save(..., fsync=False) at least 3x faster than save_parameters;
gp.load at least 4x faster than load_parameters and within 2x of a raw numpy readinto
of the same bytes; the peak memory of a load (measured in a fresh process) under 1.5x
the file's size above the network's own. The cost of fsync is reported separately.
Files are read from the page cache (each was just written): this measures the library,
not the disk.

Background saves (issue 16), in a fresh process: a training loop (SGD, batch 16, each
step waits for its loss) saves with fsync=True, ``--repeat`` times synchronously, then
``--repeat`` times in the background, training on until the file is written. Reported:
the time the loop is blocked by the call (median; target: at least 5x less in the
background), the training time lost per save (the save's interval minus the normal time
of the steps that ran in it), and the peak memory above the process's size before the
first background save (sampled every 2 ms): the snapshot.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

import mxnet as mx
import numpy as onp
from mxnet.gluon import nn

import gluonparams as gp

import bench_traversal  # beside this file: its best-of-N timer

LAYERS = 32


def build(mib, init=None):
    width = max(2, int((mib * 2**20 / 4 / LAYERS) ** 0.5))
    net = nn.Sequential()
    net.add(*[nn.Dense(width, in_units=width) for _ in range(LAYERS)])
    net.initialize(init or mx.init.Uniform())
    mx.nd.waitall()
    return net


def best(fn, repeat):
    """Best time of ``fn`` including the MXNet work it leaves pending."""
    return bench_traversal.best(lambda: (fn(), mx.nd.waitall()), repeat)


def readinto(path):
    out = onp.empty(os.path.getsize(path), onp.uint8)
    with open(path, 'rb', buffering=0) as f:
        f.readinto(out)


# Both child processes measure their memory this way (format it in as {memory}).
MEMORY = '''
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


class Peak:
    """The largest resident size a thread sees every ``every`` s, above the start's."""

    def __init__(self, every):
        self.base = self.peak = rss()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.sample, args=(every,))
        self.thread.start()

    def sample(self, every):
        while not self.done.is_set():
            self.peak = max(self.peak, rss())
            time.sleep(every)

    def stop(self):
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, rss())
        return self.peak - self.base
'''


CHILD = '''
import os, sys, threading, time, resource
sys.path.insert(0, {bench!r})
import mxnet as mx
import gluonparams as gp
from bench_checkpoint import build

{memory}
net = build({mib}, mx.init.Zero())   # zeros: no initialization peak
if {how!r} == 'write':
    net.save_parameters({gluon!r})
    gp.save(net, {ours!r})
    sys.exit()
peak = Peak(0.0005)
if {how!r} == 'gp.load':
    gp.load(net, {ours!r})
else:
    net.load_parameters({gluon!r})
mx.nd.waitall()
extra = peak.stop()
print(extra, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - peak.base)
'''


def child(how, mib, ours, gluon):
    """Run one step in a fresh, small process (Linux keeps the peak memory of the
    process that started it in ru_maxrss, so the parent must still be small)."""
    code = CHILD.format(bench=os.path.dirname(os.path.abspath(__file__)), memory=MEMORY, mib=mib,
                        how=how, ours=ours, gluon=gluon)
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          check=True).stdout


def peak_memory(how, mib, ours, gluon):
    """Peak resident memory of one load above the process's size with the network built:
    sampled every 0.5 ms, and from ru_maxrss as a cross-check."""
    sampled, maxrss = (int(v) for v in child(how, mib, ours, gluon).split()[-2:])
    return sampled, maxrss


def measure(args):
    folder = args.folder or tempfile.mkdtemp(prefix='bench_checkpoint_')
    ours, theirs = os.path.join(folder, 'ours.safetensors'), os.path.join(folder, 'gluon.params')
    try:
        child('write', args.mib, ours, theirs)        # before this process grows
        peaks = {how: peak_memory(how, args.mib, ours, theirs)
                 for how in ('gp.load', 'load_parameters')}
        net = build(args.mib)
        t = {
            'save_parameters': best(lambda: net.save_parameters(theirs), args.repeat),
            'gp.save fsync=False': best(lambda: gp.save(net, ours, fsync=False), args.repeat),
            'gp.save fsync=True': best(lambda: gp.save(net, ours, fsync=True), args.repeat),
            'load_parameters': best(lambda: net.load_parameters(theirs), args.repeat),
            'gp.load': best(lambda: gp.load(net, ours), args.repeat),
            'numpy readinto': best(lambda: readinto(ours), args.repeat),
        }
        size = os.path.getsize(ours)
    finally:
        for path in (ours, theirs):
            if os.path.exists(path):
                os.remove(path)
        if not args.folder:
            os.rmdir(folder)
    return t, size, peaks


BACKGROUND = '''
import json, os, statistics, sys, threading, time
sys.path.insert(0, {bench!r})
import mxnet as mx
from mxnet import autograd, gluon
import gluonparams as gp
from gluonparams import _compat
from bench_checkpoint import build

{memory}
net = build({mib}, mx.init.Uniform(0.01))
trainer = gluon.Trainer(net.collect_params(), 'sgd', {{'learning_rate': 1e-9}})
x = _compat.uniform((16, net[0].weight.shape[1]))

def step():
    start = time.perf_counter()
    with autograd.record():
        loss = (net(x) ** 2).mean()
    loss.backward()
    trainer.step(16)
    float(loss.asnumpy())                  # the loop reads its loss: waits for the step
    return time.perf_counter() - start

for _ in range(2):
    step()
normal = statistics.median(step() for _ in range(3))
gp.save(net, {path!r})                     # the previous checkpoint, replaced each time
sync = []
for _ in range({repeat}):
    step()
    start = time.perf_counter()
    gp.save(net, {path!r}, fsync=True)
    sync.append(time.perf_counter() - start)
peak = Peak(0.002)
calls, lost, written, overlapped = [], [], [], []
for _ in range({repeat}):
    step()
    start = time.perf_counter()
    handle = gp.save(net, {path!r}, fsync=True, background=True)
    calls.append(time.perf_counter() - start)
    steps = 0
    while not handle.done():
        step()
        steps += 1
    handle.wait()
    elapsed = time.perf_counter() - start
    lost.append(elapsed - steps * normal)
    written.append(elapsed)
    overlapped.append(steps)
extra = peak.stop()
print(json.dumps({{'normal_step': normal, 'sync': sync, 'calls': calls, 'lost': lost,
                  'written': written, 'steps': overlapped, 'extra_peak': extra,
                  'snapshot': handle.snapshot_bytes, 'size': os.path.getsize({path!r})}}))
'''


def background(args, folder):
    """The background comparison, in a fresh process (its peak memory is its own)."""
    path = os.path.join(folder, 'background.safetensors')
    code = BACKGROUND.format(bench=os.path.dirname(os.path.abspath(__file__)), memory=MEMORY,
                             mib=args.mib, path=path, repeat=args.repeat)
    try:
        done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                              check=True)
    finally:
        if os.path.exists(path):
            os.remove(path)
    return json.loads(done.stdout.splitlines()[-1])


def report_background(b):
    """Print the background comparison; True when its target is met."""
    median = statistics.median
    sync, call = median(b['sync']), median(b['calls'])
    ratio = sync / call
    size = b['size']
    print(f'background save, fsync=True, {size / 2**20:,.0f} MiB, median of {len(b["sync"])} '
          f'(a training step alone: {b["normal_step"] * 1e3:,.0f} ms):')
    print(f'  background save blocks the training loop {call * 1e3:9.1f} ms, a synchronous '
          f'one {sync * 1e3:9.1f} ms: {ratio:,.0f}x less')
    print(f'  training time lost per save: background {median(b["lost"]) * 1e3:,.0f} ms '
          f'(written in {median(b["written"]):.2f} s while {median(b["steps"]):.0f} steps ran), '
          f'synchronous {sync * 1e3:,.0f} ms')
    print(f'  extra peak memory of a background save: {b["extra_peak"] / 2**20:,.0f} MiB '
          f'({b["extra_peak"] / size:.2f}x the file); the snapshot copied '
          f'{", ".join(f"{n / 2**20:,.0f} MiB on {d}" for d, n in b["snapshot"].items())}')
    met = ratio >= 5
    print(f'target: background blocks >= 5x less: {"met" if met else "NOT MET"}')
    return met


def report(t, size, peaks, repeat):
    print(f'{size / 2**20:,.0f} MiB of float32 parameters in {LAYERS} Dense layers; '
          f'best of {repeat}, files in the page cache')
    for name, seconds in t.items():
        print(f'  {name:22s} {seconds * 1e3:9.1f} ms  {size / seconds / 2**30:6.2f} GiB/s')
    ratios = {
        'save fsync=False vs save_parameters': t['save_parameters'] / t['gp.save fsync=False'],
        'load vs load_parameters': t['load_parameters'] / t['gp.load'],
        'load time / readinto time': t['gp.load'] / t['numpy readinto'],
    }
    print(f'  fsync cost (file and folder): '
          f'{(t["gp.save fsync=True"] - t["gp.save fsync=False"]) * 1e3:.1f} ms')
    for name, ratio in ratios.items():
        print(f'  {name:36s} {ratio:6.2f}x')
    for how, (sampled, maxrss) in peaks.items():
        print(f'  peak memory of {how:16s} {sampled / size:5.2f}x the file above the network '
              f'(ru_maxrss: {maxrss / size:5.2f}x)')
    met = {
        'save >= 3x faster': ratios['save fsync=False vs save_parameters'] >= 3,
        'load >= 4x faster': ratios['load vs load_parameters'] >= 4,
        'load within 2x of readinto': ratios['load time / readinto time'] <= 2,
        'peak < 1.5x file size': peaks['gp.load'][0] < 1.5 * size,
    }
    print('targets: ' + ', '.join(f'{k}: {"met" if v else "NOT MET"}' for k, v in met.items()))
    return all(met.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--mib', type=int, default=512, help='size of the parameters (MiB)')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--folder', help='where to write the files (default: a temp folder)')
    parser.add_argument('--only', choices=('all', 'background'), default='all',
                        help='background: only the background save against a synchronous one')
    parser.add_argument('--check', action='store_true',
                        help='exit with code 1 when a target is not met')
    args = parser.parse_args()
    ok = True
    if args.only == 'all':
        ok = report(*measure(args), args.repeat)
    folder = args.folder or tempfile.mkdtemp(prefix='bench_checkpoint_')
    try:
        ok = report_background(background(args, folder)) and ok
    finally:
        if not args.folder:
            os.rmdir(folder)
    return 0 if ok or not args.check else 1


if __name__ == '__main__':
    raise SystemExit(main())
