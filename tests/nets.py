"""Small networks shared by the tests: one per way a network can be built or tied."""

import mxnet as mx
from mxnet import gluon
from mxnet.gluon import nn, rnn

import gluonparams as gp
from gluonparams import _compat, zoo


def devices_of(device):
    return device if isinstance(device, list) else [device]


def deck_toy(device=None):
    """The deck's toy model after its forward pass."""
    net, x = zoo.deck_toy_net(device)
    net(x)
    return net


def deck_tied(device=None, run=True):
    """The deck's tied network; ``run=False`` leaves its first input width unknown."""
    net, x = zoo.deck_tied_net(device)
    if run:
        net(x)
    return net


def same_block_twice(device=None):
    """One Dense instance at positions 1 and 2."""
    net = nn.Sequential()
    repeated = nn.Dense(8, in_units=8)
    net.add(nn.Dense(8, in_units=4), repeated, repeated, nn.Dense(2, in_units=8))
    zoo.initialize(net, device)
    return net


class TiedLanguageModel(gluon.HybridBlock):
    """Tied embeddings: the output projection is the input embedding's Parameter."""

    def __init__(self, vocab=10, dim=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.body = nn.HybridSequential()
        self.body.add(nn.Dense(dim, in_units=dim, flatten=False, activation='tanh'))
        self.decoder = nn.Dense(vocab, in_units=dim, flatten=False)
        gp.share(self.decoder, {'weight': self.embed.weight})   # decoder.weight = embed.weight

    def forward(self, tokens):
        return self.decoder(self.body(self.embed(tokens)))


def tied_lm(device=None):
    net = TiedLanguageModel()
    zoo.initialize(net, device)
    return net


def deep_chain(levels):
    """``levels`` Sequentials nested in one another, a Dense at the bottom."""
    root = node = nn.Sequential()
    for _ in range(levels - 1):
        child = nn.Sequential()
        node.add(child)
        node = child
    node.add(nn.Dense(2, in_units=2))
    return root


def wide(n, layer=nn.BatchNorm):
    net = nn.Sequential()
    net.add(*[layer() for _ in range(n)])
    return net


# A block class and a parameter name a browser could misread as markup.
EVIL = '<b>&"x\''


def evil_net():
    """A block whose class is named EVIL, holding a parameter named EVIL."""
    evil_type = type(EVIL, (nn.HybridSequential,), {})
    net = evil_type()
    net.add(nn.Dense(3, in_units=2))
    param = gluon.Parameter(EVIL, shape=(2, 2))
    setattr(net, EVIL, param)
    zoo.initialize(net)
    if not _compat.is_initialized(param):     # 1.x initializes its ParameterDict only
        param.initialize()
    return net


RNN_LAYERS = {'lstm': rnn.LSTM, 'gru': rnn.GRU, 'rnn': rnn.RNN}


def recurrent(device=None, layer='lstm', bidirectional=False, num_layers=2):
    """Embedding, one of MXNet's RNN layers, Dense: an LSTM language model's shape. On
    MXNet 1.x the layer saves its parameters as ``1._unfused.0.i2h_weight`` (its own
    ``_collect_params_with_prefix``), not under their attributes (``1.l0_i2h_weight``)."""
    net = nn.HybridSequential()
    net.add(nn.Embedding(10, 4),
            RNN_LAYERS[layer](8, num_layers=num_layers, input_size=4, bidirectional=bidirectional),
            nn.Dense(3, in_units=16 if bidirectional else 8, flatten=False))
    zoo.initialize(net, device)
    net(_compat.array([[1, 2, 3], [4, 5, 6]], devices_of(device)[0]))   # (time, batch)
    return net


class ProjectionCell(gluon.HybridBlock):
    """Renames its own parameters as GluonNLP 0.10's attention cells do (``query_weight``
    is saved as ``proj_query.weight``); its child keeps Gluon's names."""

    def __init__(self):
        super().__init__()
        self.query_weight = gluon.Parameter('query_weight', shape=(4, 4), init=mx.init.Zero())
        self.query_bias = gluon.Parameter('query_bias', shape=(4,), init=mx.init.Zero())
        self.out = nn.Dense(4, in_units=4)

    def _collect_params_with_prefix(self, prefix='', select=None):   # 2.0 passes select
        prefix = prefix + '.' if prefix else ''
        found = {prefix + 'proj_' + k.replace('_', '.'): v for k, v in self._reg_params.items()}
        more = () if select is None else (select,)
        for name, child in _compat.children(self):
            found.update(child._collect_params_with_prefix(prefix + name, *more))
        return found


class SuperProjectionCell(ProjectionCell):
    """Renames through ``super()``: what it names cannot be asked of a stand-in."""

    def _collect_params_with_prefix(self, prefix='', select=None):
        more = () if select is None else (select,)
        found = super()._collect_params_with_prefix(prefix, *more)
        return {k.replace('proj_', 'p_'): v for k, v in found.items()}


def _initialize_all(net, device):
    zoo.initialize(net, device)
    for _, param in gp.named_parameters(net):   # 1.x's initialize misses attribute Parameters
        if not _compat.param_devices(param):
            param.initialize(**_compat.device_kwargs(device))
    return net


def renaming(device=None, cell=ProjectionCell):
    """Two renaming cells in a Sequential, the second tied to the first by gp.share."""
    net = nn.HybridSequential()
    first, second = cell(), cell()
    gp.share(second, first)
    net.add(first, second)
    return _initialize_all(net, device)


# --- blocks overriding Gluon's naming in every way an override can (issue 13) ---
def _prefixed(prefix):
    return prefix + '.' if prefix else ''


def _more(select):
    """MXNet 2.0 passes ``select`` on to children; 1.x's method has no such argument."""
    return () if select is None else (select,)


class ChildrenFirst(gluon.HybridBlock):
    """Names its children before its own parameter (one child renames in turn)."""

    def __init__(self):
        super().__init__()
        self.scale = gluon.Parameter('scale', shape=(4,), init=mx.init.One())
        self.a = nn.Dense(4, in_units=4)
        self.b = ProjectionCell()

    def _collect_params_with_prefix(self, prefix='', select=None):
        dot, found = _prefixed(prefix), {}
        for name, child in _compat.children(self):
            found.update(child._collect_params_with_prefix(dot + name, *_more(select)))
        found.update({dot + k: v for k, v in self._reg_params.items()})
        return found


class RenameChildPrefix(gluon.HybridBlock):
    """Gives its children another prefix: ``sub_body.weight`` for ``body.weight``."""

    def __init__(self):
        super().__init__()
        self.body = nn.Dense(4, in_units=4)
        self.head = nn.Dense(2, in_units=4)

    def _collect_params_with_prefix(self, prefix='', select=None):
        dot = _prefixed(prefix)
        found = {dot + k: v for k, v in self._reg_params.items()}
        for name, child in _compat.children(self):
            found.update(child._collect_params_with_prefix(dot + 'sub_' + name, *_more(select)))
        return found


class HidesChild(gluon.HybridBlock):
    """Leaves a child out: Gluon neither saves nor loads ``frozen``'s parameters."""

    def __init__(self):
        super().__init__()
        self.keep = nn.Dense(4, in_units=4)
        self.frozen = nn.Dense(4, in_units=4)

    def _collect_params_with_prefix(self, prefix='', select=None):
        return self.keep._collect_params_with_prefix(_prefixed(prefix) + 'keep',
                                                     *_more(select))


class PostProcess(gluon.HybridBlock):
    """Rewrites the names its children return (``super()``, then ``weight`` -> ``W``)."""

    def __init__(self):
        super().__init__()
        self.d = nn.Dense(4, in_units=4)
        self.e = ProjectionCell()

    def _collect_params_with_prefix(self, prefix='', select=None):
        found = super()._collect_params_with_prefix(prefix, *_more(select))
        return {k.replace('weight', 'W'): v for k, v in found.items()}


class ChecksIdentity(gluon.HybridBlock):
    """Compares its registered child with its attribute before naming."""

    def __init__(self):
        super().__init__()
        self.d = nn.Dense(4, in_units=4)

    def _collect_params_with_prefix(self, prefix='', select=None):
        (_, child), = _compat.children(self)
        if child is not self.d:
            raise RuntimeError('not my child')
        return {_prefixed(prefix) + 'only.' + k: v for k, v in self.d._reg_params.items()}


class ExactTypes(gluon.HybridBlock):
    """Accepts only children whose type is exactly Dense: fails on anything standing in."""

    def __init__(self):
        super().__init__()
        self.d = nn.Dense(4, in_units=4)

    def _collect_params_with_prefix(self, prefix='', select=None):
        found = {}
        for name, child in _compat.children(self):
            if type(child) is not nn.Dense:
                raise TypeError(f'{type(child).__name__} is not a Dense')
            found.update(child._collect_params_with_prefix(_prefixed(prefix) + 'x' + name))
        return found


OVERRIDING = (ChildrenFirst, RenameChildPrefix, HidesChild, PostProcess, ChecksIdentity,
              ExactTypes)


def overriding(device=None, cls=ChildrenFirst):
    """``cls`` between two Dense layers; with ``cls=None`` a ChildrenFirst at the root."""
    if cls is None:
        return _initialize_all(ChildrenFirst(), device)
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=4), cls(), nn.Dense(2, in_units=4))
    return _initialize_all(net, device)


ALL = {'deck_toy': deck_toy, 'deck_tied': deck_tied, 'same_block_twice': same_block_twice,
       'tied_lm': tied_lm, 'lstm': recurrent,
       'gru_bidirectional': lambda device=None: recurrent(device, 'gru', True),
       'rnn_one_layer': lambda device=None: recurrent(device, 'rnn', num_layers=1),
       'renaming': renaming,
       'renaming_by_super': lambda device=None: renaming(device, SuperProjectionCell),
       'override_at_root': lambda device=None: overriding(device, None)}
ALL.update({f'override_{cls.__name__}': lambda device=None, cls=cls: overriding(device, cls)
            for cls in OVERRIDING})


def resnet18(device=None, init=None, side=32):
    """The model zoo's ResNet-18 after one forward pass on a small ``(1, 3, side, side)`` input."""
    net = zoo.model_zoo_net('resnet18_v1', device, init)
    net(_compat.uniform((1, 3, side, side), devices_of(device)[0]))
    return net


def gluon_names(net):
    """Gluon's own ``{name: Parameter}``, the names ``save_parameters`` writes."""
    return net._collect_params_with_prefix()


def assert_gluons_names(net):
    """``gp.named_parameters(net, remove_duplicate=False)`` is Gluon's names, in order, with
    the same Parameter objects; the names."""
    found = list(gp.named_parameters(net, remove_duplicate=False))
    expected = gluon_names(net)
    assert [n for n, _ in found] == list(expected)
    assert all(expected[n] is p for n, p in found)
    return [n for n, _ in found]
