"""gp.stats against the same statistics computed with MXNet's own calls, in one run.

For each parameter, MXNet's way is a handful of array operations (mean, std, min,
max, norm, count of zeros, count of NaN/Inf) each read back as a Python float, in
the parameter's own dtype (float32 accumulation). gp.stats copies each parameter to
the host once and streams it through numpy in float64 chunks. Prints best-of-N times,
the ratio and the peak extra memory a float64 copy of the largest parameter would
have needed:

    python benchmarks/bench_stats.py [--model resnet50_v1] [--repeat 3]
"""

import argparse

import mxnet as mx
from mxnet.gluon.model_zoo import vision

import gluonparams as gp
from gluonparams._moments import CHUNK

from bench_traversal import best   # best-of-N timing, shared by the benchmarks


def mxnet_stats(net):
    """The same numbers through MXNet operators, one scalar read per statistic."""
    array = mx.np if mx.util.is_np_array() else mx.nd
    out = {}
    for name, p in gp.named_parameters(net):
        d = p.data()
        finite = array.isfinite(d) if hasattr(array, 'isfinite') else d == d
        moments = (d.mean(), array.sqrt(((d - d.mean()) ** 2).mean()), d.min(), d.max(),
                   array.sqrt((d * d).sum()), (d == 0).sum(), d.size - finite.sum())
        out[name] = [float(v) for v in moments]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='resnet18_v1')
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    net = vision.get_model(args.model)
    net.initialize()
    net(mx.np.random.uniform(size=(1, 3, 224, 224)) if mx.util.is_np_array()
        else mx.nd.random.uniform(shape=(1, 3, 224, 224)))
    mx.nd.waitall()
    params = dict(gp.named_parameters(net))
    values = sum(p.data().size for p in params.values())
    largest = max(p.data().size for p in params.values())
    ours = best(lambda: gp.stats(net), args.repeat)
    theirs = best(lambda: mxnet_stats(net), args.repeat)
    print(f'{args.model}: {len(params)} parameters, {values:,} values')
    print(f'  MXNet operators, 7 scalars each  {theirs * 1e3:8.1f} ms')
    print(f'  gp.stats (float64, chunked)      {ours * 1e3:8.1f} ms   '
          f'{theirs / ours:5.1f}x faster')
    print(f'  float64 working memory: {8 * min(largest, CHUNK) / 2**20:.1f} MiB per chunk '
          f'instead of {8 * largest / 2**20:.1f} MiB for the largest parameter')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
