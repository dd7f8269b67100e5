import pytest
from mxnet.gluon import nn

import gluonparams as gp
from gluonparams import _compat
from gluonparams.errors import GluonParamsError, PathError
from gluonparams.zoo import build

import nets


@pytest.mark.parametrize('make', list(nets.ALL.values()), ids=list(nets.ALL))
def test_named_parameters_equal_gluons_names_order_and_objects(make, device):
    nets.assert_gluons_names(make(device))


def test_named_parameters_equal_collect_params_on_resnet():
    net, _ = build('resnet18_v1')
    ours = list(gp.named_parameters(net, remove_duplicate=False))
    theirs = list(net.collect_params().items()) if hasattr(net, 'share_parameters') \
        else list(nets.gluon_names(net).items())
    assert [n for n, _ in ours] == [n for n, _ in theirs]
    assert all(a is b for (_, a), (_, b) in zip(ours, theirs))
    assert ours[0][0] == 'features.0.weight'


def test_remove_duplicate_keeps_first_name_of_each_tie():
    net = nets.deck_tied()
    names = [n for n, _ in gp.named_parameters(net)]
    assert names == ['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']
    params = [p for _, p in gp.named_parameters(net)]
    assert len({id(p) for p in params}) == len(params)


def test_same_block_at_two_positions_is_one_set_of_parameters():
    net = nets.same_block_twice()
    assert [n for n, _ in gp.named_parameters(net)] == [
        '0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']
    all_names = [n for n, _ in gp.named_parameters(net, remove_duplicate=False)]
    assert '2.weight' in all_names and '2.bias' in all_names


def test_tied_embedding_attribute_appears_under_both_names():
    net = nets.tied_lm()
    all_names = [n for n, _ in gp.named_parameters(net, remove_duplicate=False)]
    assert all_names == ['embed.weight', 'body.0.weight', 'body.0.bias',
                         'decoder.weight', 'decoder.bias']
    assert 'decoder.weight' not in dict(gp.named_parameters(net))


def test_named_blocks_root_first_then_definition_order():
    net = nets.deck_tied()
    paths = [p for p, _ in gp.named_blocks(net)]
    assert paths == ['', '0', '0.act', '1', '1.act', '2', '2.act', '3']
    assert dict(gp.named_blocks(net))['1'] is net[1]


def test_named_blocks_removes_repeated_instances_unless_asked():
    net = nets.same_block_twice()
    assert [p for p, _ in gp.named_blocks(net)] == ['', '0', '1', '3']
    assert [p for p, _ in gp.named_blocks(net, remove_duplicate=False)] == ['', '0', '1', '2', '3']


def test_deep_nesting_does_not_hit_the_recursion_limit():
    net = nets.deep_chain(3000)
    names = [n for n, _ in gp.named_parameters(net)]
    assert len(names) == 2
    assert names[0] == '.'.join(['0'] * 3000) + '.weight'


def test_cycle_is_an_error_not_a_hang():
    outer, inner = nn.Sequential(), nn.Sequential()
    outer.add(inner)
    inner.register_child(outer, 'back')
    with pytest.raises(GluonParamsError, match='contains itself'):
        list(gp.named_parameters(outer))


def test_not_a_block_is_an_error():
    with pytest.raises(GluonParamsError, match='expected a gluon.Block, found builtins.dict'):
        list(gp.named_parameters({'a': 1}))


def test_get_returns_the_same_objects_as_direct_access():
    net = nets.deck_tied()
    assert gp.get(net, '2.weight') is net[2].weight
    assert gp.get(net, '2.weight') is net[1].weight
    assert gp.get(net, '0') is net[0]
    assert gp.get(net, '') is net
    lm = nets.tied_lm()
    assert gp.get(lm, 'body.0.bias') is lm.body[0].bias


def test_get_bad_path_names_the_path_and_what_exists_there():
    net = nets.deck_tied()
    with pytest.raises(PathError) as info:
        gp.get(net, '2.wieght')
    message = str(info.value)
    assert "'2.wieght'" in message and "'wieght'" in message
    assert "'weight'" in message and "'bias'" in message and "'act'" in message
    with pytest.raises(PathError,
                       match=r"no '7' in <root> \(Sequential\).*blocks '0', '1', '2', '3'"):
        gp.get(net, '7.weight')
    with pytest.raises(LookupError):  # callers catching LookupError keep working
        gp.get(net, '0.weight.x')


RENAMED = ['lstm', 'gru_bidirectional', 'rnn_one_layer', 'renaming', 'renaming_by_super'] + [
    name for name in nets.ALL if name.startswith('override_')]


def test_rnn_layers_take_the_names_gluon_saves_them_under():
    names = [n for n, _ in gp.named_parameters(nets.recurrent(), remove_duplicate=False)]
    if _compat.HAS_GLOBAL_NAMES:            # MXNet 1.x: the layer renames its parameters
        assert names[1:5] == ['1._unfused.0.i2h_weight', '1._unfused.0.h2h_weight',
                              '1._unfused.0.i2h_bias', '1._unfused.0.h2h_bias']
        bidirectional = nets.recurrent(layer='gru', bidirectional=True)
        assert '1._unfused.1.r_cell.h2h_bias' in dict(gp.named_parameters(bidirectional))
    else:                                   # 2.0 fuses them into one Parameter
        assert names == ['0.weight', '1.rnn_param', '2.weight', '2.bias']


def test_a_renaming_override_names_its_own_parameters_and_its_child_keeps_gluons():
    for cell, stem in ((nets.ProjectionCell, 'proj_'), (nets.SuperProjectionCell, 'p_')):
        names = [n for n, _ in gp.named_parameters(nets.renaming(cell=cell),
                                                   remove_duplicate=False)]
        assert names == [f'0.{stem}query.weight', f'0.{stem}query.bias', '0.out.weight',
                         '0.out.bias', f'1.{stem}query.weight', f'1.{stem}query.bias',
                         '1.out.weight', '1.out.bias']


def test_an_override_is_asked_once_per_block_not_once_per_ancestor():
    calls = []

    class Counting(nets.ProjectionCell):
        def _collect_params_with_prefix(self, prefix='', select=None):
            calls.append(self)
            more = () if select is None else (select,)
            return super()._collect_params_with_prefix(prefix, *more)

    net = nn.HybridSequential()
    chain = net
    for _ in range(30):                     # renaming cells nested 30 deep
        cell = Counting()
        if isinstance(chain, nn.HybridSequential):
            chain.add(cell)
        else:
            chain.inner = cell              # an attribute: 2.0 holds children weakly
        chain = cell
    names = list(gp.named_parameters(net, remove_duplicate=False))
    assert len(names) == 30 * 4
    assert len(calls) == 30                 # not 30 * 31 / 2: the subtree is not walked again


def test_get_accepts_gluons_name_and_the_attribute_path_with_a_warning():
    net = nets.renaming()
    param = net[0].query_weight
    assert gp.get(net, '0.proj_query.weight') is param
    with pytest.warns(gp.NameWarning, match=r"'0.query_weight' is the attribute path of a "
                                            r"parameter that Gluon names '0.proj_query.weight'"):
        assert gp.get(net, '0.query_weight') is param
    if _compat.HAS_GLOBAL_NAMES:            # 1.x RNN layers
        lstm = nets.recurrent()
        with pytest.warns(gp.NameWarning, match=r"Gluon names '1._unfused.0.i2h_weight'"):
            assert gp.get(lstm, '1.l0_i2h_weight') is lstm[1].l0_i2h_weight


def test_get_lists_gluons_names_and_their_attributes_when_the_path_is_wrong():
    net = nets.renaming()
    with pytest.raises(PathError, match=r"'proj_query.weight' \(attribute 'query_weight'\)"):
        gp.get(net, '0.nothing')


@pytest.mark.parametrize('name', RENAMED)
def test_renamed_networks_round_trip_through_gluons_own_files_both_ways(name, tmp_path):
    make = nets.ALL[name]
    net, twin = make(), make()
    for _, param in gp.named_parameters(net):
        param.set_data(_compat.uniform(param.shape))
    net.save_parameters(str(tmp_path / 'gluon.params'))
    report = gp.load(twin, tmp_path / 'gluon.params')
    assert report.missing == [] and report.unexpected == []
    gp.save(net, tmp_path / 'ours.params')
    third = make()
    third.load_parameters(str(tmp_path / 'ours.params'))
    for other in (twin, third):
        for (n, a), (m, b) in zip(gp.named_parameters(net), gp.named_parameters(other)):
            assert n == m and a.data().asnumpy().tobytes() == b.data().asnumpy().tobytes()
