"""Every way a tie is made, each as a tied network and its untied twin.

A style builds the same architecture twice: tied, and untied with one separate
Parameter per name. ``pair(style, device)`` initializes both on ``device``, gives
the tied network random values and copies them name by name into the twin, so
running both on the same input compares a tie with the separate uses it stands for.
Only the styles the installed MXNet supports are listed (1.x has no
``share_parameters`` and refuses ``decoder.weight = embed.weight``; 2.0 has no
``params=``).
"""

from collections.abc import Callable
from typing import NamedTuple

import nets
import numpy as onp
from mxnet import autograd, gluon
from mxnet.gluon import nn

import gluonparams as gp
from gluonparams import _compat, zoo

VOCAB, DIM = 7, 4
DECK_TIES = [['1.weight', '2.weight'], ['1.bias', '2.bias']]


class Style(NamedTuple):
    name: str
    build: Callable[[bool], gluon.Block]   # tied=True/False -> uninitialized network
    ties: list[list[str]]                  # the tie groups the style makes
    input_shape: tuple
    tokens: bool = False                   # integer token inputs (language models)


def _deck(tie):
    """The deck's cell 6, hybridizable, shapes left for Gluon to infer; ``tie(clone, shared)``
    makes the tie (and may return the block to use instead of ``clone``)."""
    def build(tied):
        net = nn.HybridSequential()
        shared = nn.Dense(8, activation='relu')
        clone = nn.Dense(8, activation='relu')
        if tied:
            clone = tie(clone, shared) or clone
        net.add(nn.Dense(8, activation='relu'), shared, clone, nn.Dense(10))
        return net
    return build


def _params_at_construction(clone, shared):
    return nn.Dense(8, activation='relu', params=shared.collect_params())


def _same_block(tied):
    net = nn.HybridSequential()
    repeated = nn.Dense(8, in_units=8, activation='tanh')
    second = repeated if tied else nn.Dense(8, in_units=8, activation='tanh')
    net.add(nn.Dense(8, in_units=5), repeated, second, nn.Dense(3, in_units=8))
    return net


class LanguageModel(gluon.Block):
    """Embedding, one hidden layer, and an output projection tied to the embedding.

    ``tie`` is how: ``'override'`` (``decoder.weight = embed.weight``), ``'share'``
    (``gp.share(decoder, embed)``), ``'attribute'`` (``self.out_weight = embed.weight``,
    used by ``dot``), or ``None`` (untied; ``'attribute-untied'`` for the twin of
    ``'attribute'``).
    """

    def __init__(self, tie=None):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.body = nn.Dense(DIM, in_units=DIM, flatten=False, activation='tanh')
        if tie in ('attribute', 'attribute-untied'):
            self.out_weight = (self.embed.weight if tie == 'attribute'
                               else gluon.Parameter('out_weight', shape=(VOCAB, DIM)))
            return
        self.decoder = nn.Dense(VOCAB, in_units=DIM, flatten=False)
        if tie == 'override':
            self.decoder.weight = self.embed.weight
        elif tie == 'share':
            gp.share(self.decoder, self.embed)

    def forward(self, tokens):
        hidden = self.body(self.embed(tokens))
        if hasattr(self, 'out_weight'):
            weight = self.out_weight.data(_compat.array_device(hidden))
            return _compat.array_module().dot(hidden, weight.T)
        return self.decoder(hidden)


def _lm(tie, untied=None):
    return lambda tied: LanguageModel(tie if tied else untied)


def _styles():
    found = []
    if _compat.HAS_SHARE_PARAMETERS:
        found.append(Style('share_parameters', _deck(
            lambda clone, shared: clone.share_parameters(shared.collect_params())),
            DECK_TIES, (2, 20)))
    else:
        found.append(Style('params=', _deck(_params_at_construction), DECK_TIES, (2, 20)))
    found.append(Style('gp.share', _deck(gp.share), DECK_TIES, (2, 20)))
    found.append(Style('same_block', _same_block, DECK_TIES, (2, 5)))
    if _compat.HAS_SHARE_PARAMETERS:   # 1.x refuses to re-assign a registered Parameter
        found.append(Style('attribute_override', _lm('override'),
                           [['embed.weight', 'decoder.weight']], (2, 3), tokens=True))
    # a block's own parameters come before its children's, as in Gluon's names
    found.append(Style('attribute', _lm('attribute', 'attribute-untied'),
                       [['out_weight', 'embed.weight']], (2, 3), tokens=True))
    found.append(Style('gp.share_lm', _lm('share'),
                       [['embed.weight', 'decoder.weight']], (2, 3), tokens=True))
    return found


STYLES = _styles()


def example(style, device, seed=0):
    rng = onp.random.RandomState(seed)
    if style.tokens:
        values = rng.randint(0, VOCAB, size=style.input_shape)
    else:
        values = rng.uniform(-1, 1, size=style.input_shape)
    return _compat.array(values, device)


def build(style, device):
    """The tied network on ``device``, shapes settled, every Parameter random."""
    net = initialized(style.build(True), style, device)
    rng = onp.random.RandomState(1)
    for _, param in gp.named_parameters(net):
        param.set_data(_compat.array(rng.uniform(-1, 1, size=param.shape), nets.devices_of(
            device)[0]))
    return net


def pair(style, device):
    """``(tied, untied)``: the untied twin holds, under each name, the tied value."""
    tied = build(style, device)
    untied = initialized(style.build(False), style, device)
    first = nets.devices_of(device)[0]
    for name, param in gp.named_parameters(untied, remove_duplicate=False):
        param.set_data(gp.get(tied, name).data(first))
    return tied, untied


def initialized(net, style, device):
    zoo.initialize(net, device)
    for _, param in gp.named_parameters(net):   # a Parameter 1.x's collect_params misses
        if not _compat.param_devices(param):
            param.initialize(**_compat.device_kwargs(device))
    for d in nets.devices_of(device):           # settle deferred shapes on every device
        net(example(style, d))
    return net


def gradients(net, style, device):
    """Run forward and backward once on each device; ``{device name: {name: grad}}``."""
    out = {}
    for d in nets.devices_of(device):
        with autograd.record():
            loss = (net(example(style, d)) ** 2).sum()
        loss.backward()
        out[_compat.device_name(d)] = {
            name: param.grad(d).asnumpy()
            for name, param in gp.named_parameters(net, remove_duplicate=False)}
    return out
