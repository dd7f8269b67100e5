import pytest
from mxnet.gluon import nn

import gluonparams as gp
from gluonparams.errors import GluonParamsError, PathError
from gluonparams.zoo import build

import nets


def _structural(net):
    """Gluon's own structural names: collect_params() (2.0), _collect_params_with_prefix (1.x)."""
    return net._collect_params_with_prefix()


@pytest.mark.parametrize('make', list(nets.ALL.values()), ids=list(nets.ALL))
def test_named_parameters_equal_gluons_names_order_and_objects(make, device):
    net = make(device)
    ours = list(gp.named_parameters(net, remove_duplicate=False))
    theirs = list(_structural(net).items())
    assert [n for n, _ in ours] == [n for n, _ in theirs]
    assert all(a is b for (_, a), (_, b) in zip(ours, theirs))


def test_named_parameters_equal_collect_params_on_resnet():
    net, _ = build('resnet18_v1')
    ours = list(gp.named_parameters(net, remove_duplicate=False))
    theirs = list(net.collect_params().items()) if hasattr(net, 'share_parameters') \
        else list(_structural(net).items())
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
