"""What must hold on every MXNet the library supports (2.0.0b1 and 1.9.1)."""

from math import prod
from pathlib import Path

import mxnet as mx
import numpy as onp
import pytest
from mxnet.gluon import nn

import gluonparams as gp
from gluonparams import _compat

import nets

CORPUS = Path(__file__).parent / 'corpus'


@pytest.mark.parametrize('make', list(nets.ALL.values()), ids=list(nets.ALL))
def test_structural_names_are_the_keys_save_parameters_writes(make, tmp_path):
    net = make()
    path = str(tmp_path / 'net.params')
    net.save_parameters(path)
    written = mx.nd.load(path)
    names = [n for n, _ in gp.named_parameters(net, remove_duplicate=False)]
    assert sorted(written) == sorted(names)
    for name, param in gp.named_parameters(net, remove_duplicate=False):
        assert (written[name].asnumpy() == param.data().asnumpy()).all(), name


def test_deferred_dimensions_are_unknown_on_every_version():
    dense = nn.Dense(4)                    # input width deferred: 0 on 1.x, -1 on 2.0
    assert _compat.param_shape(dense.weight) == (4, None)
    net = nn.Sequential()
    net.add(dense)
    net.initialize()
    net(_compat.zeros((1, 3)))
    assert _compat.param_shape(dense.weight) == (4, 3)


def test_reset_device_moves_data_to_the_devices_given():
    dense = nn.Dense(2, in_units=2)
    dense.initialize(**_compat.device_kwargs(mx.cpu(0)))
    _compat.reset_device(dense.weight, [mx.cpu(1), mx.cpu(2)])
    assert [_compat.device_name(d) for d in _compat.param_devices(dense.weight)] == [
        'cpu(1)', 'cpu(2)']


def test_global_name_only_where_mxnet_has_one():
    dense = nn.Dense(2, in_units=2)
    name = _compat.global_name(dense.weight)
    if _compat.HAS_GLOBAL_NAMES:
        assert name == dense.weight.name and name.endswith('_weight') and name != 'weight'
    else:
        assert name is None


def test_a_params_file_saved_by_mxnet_1_9_1_loads_by_structural_name():
    # written by tests/corpus/make_deck_tied_mx191.py under MXNet 1.9.1
    net = nets.deck_tied()
    net.load_parameters(str(CORPUS / 'deck_tied_mx191.params'))
    for k, (name, param) in enumerate(gp.named_parameters(net)):
        expected = ((onp.arange(prod(param.shape)) + 1000 * k) / 1024).astype('float32')
        assert onp.array_equal(param.data().asnumpy().reshape(-1), expected), name
    assert net[2].weight is net[1].weight


def test_only_classes_that_rename_their_parameters_count_as_overriding_gluons_naming():
    """2.0's @use_np wraps every method of a layer (BatchNorm...): not an override, so
    the traversal never asks those layers for names (it would cost a copy per block)."""
    zoo_classes = {type(b) for _, b in gp.named_blocks(nets.resnet18())}
    assert nn.BatchNorm in zoo_classes or any(c.__name__ == 'BatchNorm' for c in zoo_classes)
    assert [c for c in zoo_classes if _compat.naming_override(c) is not None] == []
    assert _compat.naming_override(nets.ProjectionCell) is not None
    layer = type(nets.recurrent()[1])
    assert (_compat.naming_override(layer) is not None) == _compat.HAS_GLOBAL_NAMES
