"""Gluon's names on real code: MXNet's own RNN layers, blocks overriding
``_collect_params_with_prefix`` in every way, model-zoo networks; owners, summary
rows, ``get`` and checkpoints on the same names (issue 13)."""

import warnings
from math import prod

import pytest
from mxnet import gluon
from mxnet.gluon import nn, rnn

import gluonparams as gp
from gluonparams import _compat
from gluonparams.errors import GluonParamsError, PathError
from gluonparams.tree import leaves

import nets


RECURRENT = [(layer, bidirectional, layers) for layer in ('lstm', 'gru', 'rnn')
             for bidirectional in (False, True) for layers in (1, 2)]


@pytest.mark.parametrize('layer, bidirectional, layers', RECURRENT,
                         ids=[f'{c}-{"bi" if b else "uni"}-{n}' for c, b, n in RECURRENT])
def test_mxnet_rnn_layers_have_gluons_names(layer, bidirectional, layers):
    net = nets.recurrent(layer=layer, bidirectional=bidirectional, num_layers=layers)
    names = nets.assert_gluons_names(net)
    if _compat.HAS_GLOBAL_NAMES:          # 1.x: the layer renames its per-gate parameters
        cell = f'{layers - 1}.r_cell.' if bidirectional else f'{layers - 1}.'
        assert f'1._unfused.{cell}h2h_bias' in names
    else:                                 # 2.0: one fused Parameter
        assert names == ['0.weight', '1.rnn_param', '2.weight', '2.bias']


def test_an_lstm_with_projection_has_gluons_names():
    net = nn.HybridSequential()
    net.add(rnn.LSTM(8, num_layers=2, input_size=4, projection_size=5))
    names = nets.assert_gluons_names(net)
    assert not _compat.HAS_GLOBAL_NAMES or '0._unfused.1.h2r_weight' in names


@pytest.mark.parametrize('name', ['resnet18_v1', 'mobilenetv2_0.25', 'densenet121',
                                  'squeezenet1.1', 'inceptionv3'])
def test_model_zoo_networks_have_gluons_names(name):
    nets.assert_gluons_names(_compat.model_zoo_get(name))


def test_each_overriding_block_is_asked_once_and_never_changed():
    net = nets.overriding(cls=nets.PostProcess)
    block = net[1]
    before = (dict(vars(block)), list(block._children.items()), dict(block._reg_params))
    asked = []
    original = nets.PostProcess._collect_params_with_prefix

    def spy(self, *args, **kwargs):
        asked.append(self)
        return original(self, *args, **kwargs)

    nets.PostProcess._collect_params_with_prefix = spy
    try:
        names = nets.assert_gluons_names(net)
    finally:
        nets.PostProcess._collect_params_with_prefix = original
    assert len(asked) == 2 and asked[0] is not block and asked[1] is block   # ours, Gluon's
    assert (dict(vars(block)), list(block._children.items()), dict(block._reg_params)) == before
    assert '1.d.W' in names and '1.e.proj_query.W' in names


def test_owners_are_the_blocks_registering_each_parameter():
    def owners(net):
        return {leaf.name: (leaf.owner_path, leaf.attr) for leaf in leaves(net)}

    assert owners(nets.overriding(cls=nets.RenameChildPrefix))['1.sub_body.weight'] == (
        '1.body', 'weight')
    assert owners(nets.overriding(cls=nets.PostProcess))['1.e.proj_query.W'] == (
        '1.e', 'query_weight')
    assert owners(nets.overriding(cls=nets.ChecksIdentity))['1.only.bias'] == ('1.d', 'bias')
    assert owners(nets.overriding(cls=nets.ExactTypes))['1.xd.weight'] == ('1.d', 'weight')
    assert owners(nets.overriding(cls=None))['scale'] == ('', 'scale')
    if _compat.HAS_GLOBAL_NAMES:
        lstm = owners(nets.recurrent(layer='lstm', bidirectional=True))
        assert lstm['1._unfused.1.r_cell.i2h_weight'] == ('1', 'r1_i2h_weight')


def test_a_hidden_child_is_in_no_name_and_get_says_so():
    net = nets.overriding(cls=nets.HidesChild)
    names = nets.assert_gluons_names(net)
    assert names == ['0.weight', '0.bias', '1.keep.weight', '1.keep.bias', '2.weight', '2.bias']
    with pytest.warns(gp.NameWarning, match=r"'1.frozen.weight' is the attribute path of a "
                                            r"parameter that Gluon does not name"):
        assert gp.get(net, '1.frozen.weight') is net[1].frozen.weight
    rows = [row.path for row in gp.summary(net, file=None).rows if row.kind == 'param']
    assert rows == names


def test_get_takes_gluons_names_below_a_renamed_prefix_and_warns_on_attribute_paths():
    net = nets.overriding(cls=nets.RenameChildPrefix)
    assert gp.get(net, '1.sub_body.weight') is net[1].body.weight
    assert gp.get(net, '1.body') is net[1].body            # blocks: attribute paths
    with pytest.warns(gp.NameWarning, match=r"Gluon names '1.sub_body.weight'"):
        assert gp.get(net, '1.body.weight') is net[1].body.weight
    with pytest.raises(PathError, match=r"'1.sub_head.bias' \(attribute 'bias'\)"):
        gp.get(net, '1.head.nothing')


@pytest.mark.parametrize('cls', nets.OVERRIDING + (None,),
                         ids=[c.__name__ for c in nets.OVERRIDING] + ['root'])
def test_summary_select_and_ties_use_gluons_names(cls):
    net = nets.overriding(cls=cls)
    names = nets.assert_gluons_names(net)
    result = gp.summary(net, file=None)
    rows = [row for row in result.rows if row.kind == 'param']
    assert sorted(row.path for row in rows) == sorted(names)
    unique = {id(p): p for p in nets.gluon_names(net).values()}
    assert result.total_params == sum(prod(p.shape) for p in unique.values())
    blocks = [row.path for row in result.rows if row.kind == 'block']
    assert blocks == [path for path, _ in gp.named_blocks(net, remove_duplicate=False)]
    by_path = {row.path: row for row in result.rows}
    for leaf in leaves(net):        # each parameter row sits under its owner's row
        assert by_path[leaf.owner_path].depth + 1 == by_path[leaf.name].depth
    assert list(gp.select(net, 'weight|W$')) == [n for n in names if 'weight' in n or
                                                 n.endswith('W')]
    assert gp.tie_groups(net) == []


def test_an_override_that_refuses_stand_ins_is_asked_on_the_block_itself():
    net = nets.overriding(cls=nets.ExactTypes)
    with warnings.catch_warnings():
        warnings.simplefilter('error')        # exact, so nothing to warn about
        assert nets.assert_gluons_names(net)[2:4] == ['1.xd.weight', '1.xd.bias']


def test_mxnet_1_rnn_layers_of_11_layers_are_named_by_attribute_with_the_reason(tmp_path):
    net = nn.HybridSequential()
    net.add(nn.Embedding(10, 4), rnn.LSTM(4, num_layers=11, input_size=4))
    if not _compat.HAS_GLOBAL_NAMES:          # 2.0 fuses them, and names them fine
        assert nets.assert_gluons_names(net) == ['0.weight', '1.rnn_param']
        return
    with pytest.raises(AttributeError):       # Gluon cannot name them (nor save them)
        nets.gluon_names(net)
    reason = (r"LSTM at '1' cannot name its parameters: .* \(MXNet 1.9.1's RNN layers name "
              r"layers 0 to 9 only, with a one-digit pattern, and this one has 11 layers\)\. "
              r"Gluon's save_parameters and load_parameters fail on this network")
    with pytest.warns(gp.NameWarning, match=reason):
        names = [n for n, _ in gp.named_parameters(net)]
    assert names[:3] == ['0.weight', '1.l0_i2h_weight', '1.l0_h2h_weight']
    assert names[-1] == '1.l10_h2h_bias' and len(names) == 1 + 11 * 4
    net.initialize()
    with pytest.warns(gp.NameWarning):
        gp.save(net, tmp_path / 'net.params')
    twin = nn.HybridSequential()
    twin.add(nn.Embedding(10, 4), rnn.LSTM(4, num_layers=11, input_size=4))
    with pytest.warns(gp.NameWarning):
        report = gp.load(twin, tmp_path / 'net.params')
    assert report.missing == [] and report.unexpected == []


def test_a_cycle_through_an_overriding_block_is_an_error_not_a_recursion():
    outer = nets.ProjectionCell()
    inner = nn.HybridSequential()
    outer.inner = inner
    inner.register_child(outer, 'back')
    with pytest.raises(GluonParamsError, match='contains itself'):
        list(gp.named_parameters(outer))


def test_the_same_block_twice_below_an_override_has_both_paths():
    class Twice(nets.ChildrenFirst):
        def __init__(self):
            super().__init__()
            self.again = self.a

    block = Twice()
    paths = {leaf.name: leaf.owner_path for leaf in leaves(block)}
    assert paths['a.weight'] == 'a' and paths['again.weight'] == 'again'
    assert nets.assert_gluons_names(block)[-1] == 'scale'


@pytest.mark.skipif(_compat.HAS_GLOBAL_NAMES, reason='MXNet 1.x has no select argument')
def test_an_override_passing_mxnet_2_select_to_its_children_keeps_it():
    class WeightsOnly(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.d = nn.Dense(4, in_units=4)
            self.e = nn.Dense(4, in_units=4)

        def _collect_params_with_prefix(self, prefix='', select=None):
            return super()._collect_params_with_prefix(prefix, r'.*weight$')

    names = nets.assert_gluons_names(WeightsOnly())
    assert names == ['d.weight', 'e.weight']


@pytest.mark.parametrize('cls', nets.OVERRIDING, ids=[c.__name__ for c in nets.OVERRIDING])
def test_share_ties_overriding_blocks_by_gluons_names(cls):
    net = nn.HybridSequential()
    first, second = cls(), cls()
    net.add(first, second)
    gp.share(second, first)
    names = nets.assert_gluons_names(net)
    groups = gp.tie_groups(net)
    own = [n for n in names if n.startswith('0.')]
    assert groups == [[n, '1' + n[1:]] for n in own]
    for n in own:
        gp.assert_tied(net, n, '1' + n[1:])
