"""MXNet's own checkpoint files, written by MXNet itself, for the legacy-file tests.

Imports only MXNet and numpy, so that it also runs as a script under the other MXNet
version (``GLUONPARAMS_OTHER_MXNET_PYTHON``) and writes that version's files:

    python tests/legacy_files.py FOLDER NAME...

Per network, in ``FOLDER/NAME/``: ``x.npy`` (the input), ``y.npy`` (the hybridized
output of the network that wrote the files), ``files.json`` (kind -> params file and,
for ``export`` and ``module``, its ``-symbol.json``), and the files: ``export``
(``P-symbol.json`` + ``P-0000.params``), ``save_parameters`` and, on MXNet 1.x,
``module`` (``Module.save_checkpoint``), ``collect`` (``collect_params().save``) and
``collect_strip`` (the same with ``strip_prefix=net.prefix``, where MXNet can).
"""

import json
import os
import sys
import warnings

import mxnet as mx
import numpy as onp
from mxnet import gluon
from mxnet.gluon import nn, rnn
from mxnet.gluon.model_zoo import vision

V1 = not mx.__version__.startswith('2')
ZOO = {'mobilenet0.25': 32, 'mobilenetv2_0.25': 32, 'resnet18_v1': 32, 'resnet18_v2': 32,
       'squeezenet1.1': 224}   # model-zoo networks and the side of their input
SMALL = ['bn_net', 'lstm', 'gru', 'tied_lm', 'symbol_block']
NAMES = list(ZOO) + SMALL


def array(values):
    return mx.nd.array(values) if V1 else mx.np.array(values)


def bn_net():
    """Conv, BatchNorm, ReLU, global pooling, Dense: the Gluon twin of ``hand_written``."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1, in_channels=3), nn.BatchNorm(in_channels=8),
            nn.Activation('relu'), nn.GlobalAvgPool2D(), nn.Dense(5, in_units=8))
    return net


def lstm():
    """Embedding, a bidirectional two-layer LSTM, Dense (input: tokens, time first)."""
    net = nn.HybridSequential()
    net.add(nn.Embedding(10, 4), rnn.LSTM(8, num_layers=2, input_size=4, bidirectional=True),
            nn.Dense(3, in_units=16, flatten=False))
    return net


def gru():
    """Embedding, a one-layer GRU, Dense (input: tokens, time first)."""
    net = nn.HybridSequential()
    net.add(nn.Embedding(10, 4), rnn.GRU(6, num_layers=1, input_size=4),
            nn.Dense(3, in_units=6, flatten=False))
    return net


class TiedLM(nn.HybridBlock):
    """An embedding whose weight the output layer shares (a language model's tie)."""

    def __init__(self, vocab=20, units=8):
        super().__init__()
        self.embed = nn.Embedding(vocab, units)
        self.body = nn.Dense(units, in_units=units, flatten=False, activation='tanh')
        if V1:     # 1.x ties with params= at construction
            self.out = nn.Dense(vocab, in_units=units, flatten=False,
                                params=self.embed.collect_params())
        else:
            self.out = nn.Dense(vocab, in_units=units, flatten=False)
            self.out.share_parameters({'weight': self.embed.weight})

    if V1:
        def hybrid_forward(self, F, x):
            return self.out(self.body(self.embed(x)))
    else:
        def forward(self, x):
            return self.out(self.body(self.embed(x)))


def symbol_block():
    """A SymbolBlock over a model-zoo network's features and a Dense, then a Dense: the
    shape of GluonCV's FPN feature extractors. On 1.x the SymbolBlock's parameters keep
    their global names (``0.mobilenet0_conv0_weight``: two prefixes, none to strip),
    which count on when the network is built again."""
    base, head = vision.mobilenet0_25(), nn.Dense(16, in_units=256)
    if V1:
        data = mx.sym.var('data')
        params = base.features.collect_params()
        params.update(head.collect_params())
        block = gluon.SymbolBlock(head(base.features(data)), data, params=params)
    else:
        inner = nn.HybridSequential()
        inner.add(base.features, head)
        inner.initialize()
        inner.hybridize()
        inner(mx.np.zeros((1, 3, 32, 32)))
        graph, _ = inner.export(None)
        block = gluon.SymbolBlock(graph, mx.sym.var('data'))
    net = nn.HybridSequential()
    net.add(block, nn.Dense(4, in_units=16))
    return net


def build(name):
    if name in ZOO:
        return vision.get_model(name, pretrained=False)
    with warnings.catch_warnings():     # a SymbolBlock cannot tell its input's dtype yet
        warnings.filterwarnings('ignore', message='Cannot decide type')
        return {'bn_net': bn_net, 'lstm': lstm, 'gru': gru, 'tied_lm': TiedLM,
                'symbol_block': symbol_block}[name]()


def example(name):
    rs = onp.random.RandomState(0)
    if name in ('lstm', 'gru'):
        return rs.randint(0, 10, size=(5, 2)).astype('float32')
    if name == 'tied_lm':
        return rs.randint(0, 20, size=(2, 5)).astype('float32')
    side = ZOO.get(name, 16 if name == 'bn_net' else 32)
    return rs.standard_normal((1, 3, side, side)).astype('float32')


def settle(net, x):
    """Initialize; one forward pass settles the deferred shapes."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)   # 1.x: a tie initialized twice
        net.initialize()
    net(x)
    mx.nd.waitall()


def randomize(net, seed):
    """Random values in every parameter (variances positive), each tied one once."""
    rs = onp.random.RandomState(seed)
    params = net.collect_params()
    for name, p in params.items():
        shape = tuple(p.shape)
        if name.endswith(('running_var', 'moving_var')):
            values = rs.uniform(0.5, 1.5, size=shape)
        else:
            values = rs.standard_normal(shape) * 0.1
        p.set_data(array(values.astype(p.dtype)))
    mx.nd.waitall()


def outputs(y):
    return (y[0] if isinstance(y, (list, tuple)) else y).asnumpy()


def write(folder, name):
    """Write every file kind this MXNet writes for network ``name``; returns the files."""
    os.makedirs(folder, exist_ok=True)
    x = array(example(name))
    net = build(name)
    settle(net, x)
    randomize(net, seed=1)
    files = {}
    hybridizable = V1 or name != 'symbol_block'   # 2.0 cannot hybridize a SymbolBlock inside
    if hybridizable:
        net.hybridize()
    y = outputs(net(x))
    if hybridizable:
        net.export(os.path.join(folder, 'export'))
        files['export'] = {'params': 'export-0000.params', 'symbol': 'export-symbol.json'}
    net.save_parameters(os.path.join(folder, 'save_parameters.params'))
    files['save_parameters'] = {'params': 'save_parameters.params'}
    if V1:
        files.update(_write_1x(folder, name, net, x))
    onp.save(os.path.join(folder, 'x.npy'), x.asnumpy())
    onp.save(os.path.join(folder, 'y.npy'), y)
    with open(os.path.join(folder, 'files.json'), 'w') as f:
        json.dump(files, f)
    return files


def _write_1x(folder, name, net, x):
    files = {}
    net.collect_params().save(os.path.join(folder, 'collect.params'))
    files['collect'] = {'params': 'collect.params'}
    if name in ZOO:          # blocks made in the network's name_scope: MXNet can strip
        net.collect_params().save(os.path.join(folder, 'collect_strip.params'),
                                  strip_prefix=net.prefix)
        files['collect_strip'] = {'params': 'collect_strip.params'}
    graph = outputs_symbol(net(mx.sym.var('data')))
    values = {p.name: p.data() for p in net.collect_params().values()}
    module = mx.mod.Module(graph, data_names=['data'], label_names=None)
    module.bind(data_shapes=[('data', x.shape)], for_training=False)
    module.set_params({k: values[k] for k in graph.list_arguments() if k in values},
                      {k: values[k] for k in graph.list_auxiliary_states()})
    module.save_checkpoint(os.path.join(folder, 'module'), 0)
    files['module'] = {'params': 'module-0000.params', 'symbol': 'module-symbol.json'}
    return files


def outputs_symbol(graph):
    return graph[0] if isinstance(graph, (list, tuple)) else graph


def hand_written():
    """A symbolic network as a 1.x user wrote it for Module (names of their choosing)."""
    data = mx.sym.var('data')
    conv = mx.sym.Convolution(data, num_filter=8, kernel=(3, 3), pad=(1, 1), name='conv1')
    norm = mx.sym.BatchNorm(conv, name='bn1', fix_gamma=False, eps=1e-5)
    relu = mx.sym.Activation(norm, act_type='relu', name='relu1')
    pool = mx.sym.Pooling(relu, global_pool=True, pool_type='avg', kernel=(1, 1), name='pool1')
    return mx.sym.FullyConnected(mx.sym.flatten(pool), num_hidden=5, name='fc1')


def write_hand_written(folder):
    """A Module checkpoint of :func:`hand_written` with random values (MXNet 1.x)."""
    os.makedirs(folder, exist_ok=True)
    x = array(example('bn_net'))
    module = mx.mod.Module(hand_written(), data_names=['data'], label_names=None)
    module.bind(data_shapes=[('data', x.shape)], for_training=False)
    module.init_params(mx.init.Xavier())
    rs = onp.random.RandomState(3)
    args, auxs = module.get_params()
    module.set_params(
        {k: mx.nd.array(rs.standard_normal(v.shape) * 0.1) for k, v in args.items()},
        {k: mx.nd.array(rs.uniform(0.5, 1.5, v.shape) if 'var' in k
                        else rs.standard_normal(v.shape) * 0.1) for k, v in auxs.items()})
    module.save_checkpoint(os.path.join(folder, 'module'), 0)
    onp.save(os.path.join(folder, 'x.npy'), x.asnumpy())
    files = {'module': {'params': 'module-0000.params', 'symbol': 'module-symbol.json'}}
    with open(os.path.join(folder, 'files.json'), 'w') as f:
        json.dump(files, f)
    return files


def main(argv):
    folder, names = argv[0], argv[1:]
    for name in names:
        if name == 'hand_written':
            write_hand_written(os.path.join(folder, name))
        else:
            write(os.path.join(folder, name), name)


if __name__ == '__main__':
    main(sys.argv[1:])
