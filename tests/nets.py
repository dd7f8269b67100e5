"""Small networks shared by the tests: one per way a network can be built or tied."""

from mxnet import gluon
from mxnet.gluon import nn

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


ALL = {'deck_toy': deck_toy, 'deck_tied': deck_tied, 'same_block_twice': same_block_twice,
       'tied_lm': tied_lm}


def resnet18(device=None, init=None, side=32):
    """The model zoo's ResNet-18 after one forward pass on a small ``(1, 3, side, side)`` input."""
    net = zoo.model_zoo_net('resnet18_v1', device, init)
    net(_compat.uniform((1, 3, side, side), devices_of(device)[0]))
    return net
