"""A few real training steps with ``gluon.Trainer``, and snapshots to compare before and after."""

import mxnet as mx
import numpy as onp
from mxnet import autograd, gluon

from gluonparams import _compat, named_parameters

import nets


def input_shape(net):
    """A batch of two the network accepts: (2, width) for the deck's networks, (2, 3, 32, 32)
    for image models (two, so that BatchNorm on 1x1 feature maps has a variance)."""
    first = next(p for _, p in named_parameters(net))
    return (2, 3, 32, 32) if len(first.shape) == 4 else (2, first.shape[1])


def steps(net, trainer, device, count=2, seed=0):
    """``count`` SGD steps on a squared-output loss, one batch per device."""
    devices = nets.devices_of(device)
    shape = input_shape(net)
    mx.random.seed(seed)
    for _ in range(count):
        xs = [_compat.uniform(shape, d) for d in devices]
        with autograd.record():
            losses = [(net(x) ** 2).sum() for x in xs]
        for loss in losses:
            loss.backward()
        trainer.step(shape[0] * len(devices))
    mx.nd.waitall()


def trainer(params, **optimizer_params):
    return gluon.Trainer(params, 'sgd', {'learning_rate': 0.1, **optimizer_params})


def snapshot(net):
    """Every copy of every parameter's values, by structural name."""
    mx.nd.waitall()
    return {name: [a.asnumpy().copy() for a in p.list_data()] for name, p in named_parameters(net)}


def moved(before, after):
    """Names whose values changed on any copy."""
    return {name for name in before
            if any(not onp.array_equal(a, b) for a, b in zip(before[name], after[name]))}
