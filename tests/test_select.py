import re

import mxnet as mx
import pytest
from mxnet import gluon

import gluonparams as gp
from gluonparams.errors import OptionError, PatternError

import nets
import training


@pytest.fixture(scope='module')
def resnet():
    return nets.resnet18(mx.cpu(0))


def all_names(net):
    return [n for n, _ in gp.named_parameters(net, remove_duplicate=False)]


# --- selection --------------------------------------------------------------------------

def test_search_finds_every_weight_where_gluons_collect_params_finds_none():
    # Gluon's collect_params(select) anchors with re.match: 'weight' matches no name
    # ('0.weight' does not start with it). gp.select searches anywhere in the name.
    net = nets.deck_tied()
    assert len(net.collect_params('weight').keys()) == 0
    chosen = gp.select(net, 'weight')
    assert list(chosen) == ['0.weight', '1.weight', '3.weight']   # 2.weight is 1.weight
    assert all(chosen[n] is gp.get(net, n) for n in chosen)


def test_search_on_resnet_selects_exactly_the_names_containing_the_pattern(resnet):
    expected = [n for n, _ in gp.named_parameters(resnet) if 'weight' in n]
    layers = [b for _, b in gp.named_blocks(resnet)
              if isinstance(b, (gluon.nn.Conv2D, gluon.nn.Dense))]
    assert list(gp.select(resnet, 'weight')) == expected and len(expected) == len(layers)


def test_fullmatch_needs_the_whole_name(resnet):
    assert gp.select(resnet, 'weight', mode='fullmatch') == {}
    assert list(gp.select(resnet, r'output\.\w+', mode='fullmatch')) == ['output.weight',
                                                                         'output.bias']
    assert list(gp.select(resnet, r'output\.w', mode='search')) == ['output.weight']


def test_glob_takes_shell_wildcards_over_the_whole_name(resnet):
    batchnorms = [p for p, b in gp.named_blocks(resnet) if isinstance(b, gluon.nn.BatchNorm)]
    chosen = gp.select(resnet, '*.running_mean', mode='glob')
    assert list(chosen) == [f'{p}.running_mean' for p in batchnorms]
    assert list(gp.select(resnet, 'features.[01].*', mode='glob')) == [
        n for n in all_names(resnet) if re.match(r'features\.[01]\.', n)]
    assert gp.select(resnet, 'running_mean', mode='glob') == {}   # the whole name, not a part


def test_lists_of_patterns_are_a_union_and_exclude_removes(resnet):
    names = all_names(resnet)
    union = gp.select(resnet, ['gamma$', 'beta$'])
    assert list(union) == [n for n in names if n.endswith(('gamma', 'beta'))]
    kept = gp.select(resnet, 'features', exclude=['running_', r'\.beta$'])
    assert list(kept) == [n for n in names if n.startswith('features')
                          and 'running_' not in n and not n.endswith('.beta')]
    assert list(gp.select(resnet, exclude='features')) == ['output.weight', 'output.bias']


def test_empty_list_selects_nothing_and_none_selects_everything():
    net = nets.deck_toy()
    assert gp.select(net, []) == {}
    assert list(gp.select(net)) == ['0.weight', '0.bias', '1.weight', '1.bias']


def test_compiled_patterns_are_accepted():
    assert list(gp.select(nets.deck_toy(), re.compile(r'^1\.'))) == ['1.weight', '1.bias']


def test_strict_lists_a_few_names_that_exist(resnet):
    with pytest.raises(PatternError) as info:
        gp.select(resnet, 'wieght', strict=True)
    message = str(info.value)
    assert "pattern='wieght'" in message and "'features.0.weight'" in message
    assert f'and {len(all_names(resnet)) - 6} more' in message
    assert gp.select(resnet, 'wieght') == {}     # not strict: an empty selection


@pytest.mark.parametrize('kwargs, named', [({'pattern': '('}, "pattern='('"),
                                           ({'pattern': ['ok', '[a-']}, "pattern='[a-'"),
                                           ({'exclude': 'x{2,1}'}, "exclude='x{2,1}'")])
def test_malformed_pattern_names_the_pattern_and_the_regex_error(kwargs, named):
    with pytest.raises(PatternError) as info:
        gp.select(nets.deck_toy(), **kwargs)
    bad = named.split('=', 1)[1].strip("'")
    with pytest.raises(re.error) as regex_error:
        re.compile(bad)
    assert named in str(info.value) and str(regex_error.value) in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value.__cause__, re.error)


@pytest.mark.parametrize('pattern', [5, [b'weight'], ['weight', None]])
def test_a_pattern_that_is_not_a_string_is_a_pattern_error(pattern):
    with pytest.raises(PatternError, match='must be a string or a list of strings'):
        gp.select(nets.deck_toy(), pattern)


def test_unknown_mode_lists_the_modes():
    with pytest.raises(OptionError, match="mode='regex'.*'search', 'fullmatch', 'glob'"):
        gp.select(nets.deck_toy(), 'weight', mode='regex')


def test_tied_parameter_appears_once_unless_remove_duplicate_is_false():
    net = nets.deck_tied()
    once = gp.select(net, r'^[12]\.')
    assert list(once) == ['1.weight', '1.bias']
    every = gp.select(net, r'^[12]\.', remove_duplicate=False)
    assert list(every) == ['1.weight', '1.bias', '2.weight', '2.bias']
    assert every['2.weight'] is every['1.weight']
    # a tied parameter is found under any of its names: layer 2 alone finds the shared weight
    assert list(gp.select(net, r'^2\.')) == ['2.weight', '2.bias']
    assert gp.select(net, r'^2\.')['2.weight'] is net[1].weight


def test_tied_embeddings_once():
    net = nets.tied_lm()
    assert list(gp.select(net, 'weight$')) == ['embed.weight', 'body.0.weight']
    assert 'decoder.weight' in gp.select(net, 'weight$', remove_duplicate=False)


def test_summary_select_has_the_same_semantics_as_select(resnet):
    for pattern in ('weight', ['gamma', 'beta$'], r'^output'):
        shown = [r.path for r in gp.summary(resnet, select=pattern, file=None).rows
                 if r.kind == 'param']
        assert shown == list(gp.select(resnet, pattern, remove_duplicate=False))


def test_selection_plugs_into_a_real_trainer(device):
    mx.random.seed(1)   # an initialization that leaves no ReLU layer dead, whatever ran before
    net = nets.deck_tied(device)
    trainer = training.trainer(gp.select(net, 'weight'))
    before = training.snapshot(net)
    training.steps(net, trainer, device)
    moved = training.moved(before, training.snapshot(net))
    assert moved == {'0.weight', '1.weight', '3.weight'}      # biases were not given to it


def test_selection_of_a_resnet_trains_only_what_was_selected(device):
    net = nets.resnet18(device)
    chosen = gp.select(net, 'output')
    before = training.snapshot(net)
    training.steps(net, training.trainer(chosen), device, count=1)
    moved = training.moved(before, training.snapshot(net))
    # BatchNorm running statistics change in any training-mode forward pass
    assert moved - set(gp.select(net, 'running_')) == set(chosen)


# --- bulk edits -------------------------------------------------------------------------

def grad_reqs(net):
    return {n: p.grad_req for n, p in gp.named_parameters(net)}


def test_freeze_backbone_trains_the_head_then_unfreeze_trains_everything(device):
    net = nets.resnet18(device)
    trainer = training.trainer(gp.select(net))      # created before the freeze: still right
    frozen = gp.freeze(net, '^features')
    trainable = [n for n, p in gp.named_parameters(net) if n.startswith('features')
                 and n.rsplit('.', 1)[1] not in ('running_mean', 'running_var')]
    assert list(frozen) == trainable                 # running statistics were never trainable
    assert all(p.grad_req == 'null' for p in frozen.values())

    before = training.snapshot(net)
    training.steps(net, trainer, device)
    moved = training.moved(before, training.snapshot(net))
    assert not moved & set(frozen)
    assert {'output.weight', 'output.bias'} <= moved

    thawed = gp.unfreeze(net)
    assert list(thawed) == trainable
    before = training.snapshot(net)
    training.steps(net, trainer, device)
    after = training.snapshot(net)
    assert set(frozen) <= training.moved(before, after)
    for name in gp.select(net, exclude='running_'):     # the Trainer kept replicas equal
        copies = after[name]
        assert all((c == copies[0]).all() for c in copies), name


def test_unfreeze_restores_each_parameters_own_grad_req():
    net = nets.resnet18()
    net.output.bias.grad_req = 'add'
    original = grad_reqs(net)
    gp.freeze(net)
    gp.freeze(net, 'output')          # freezing twice keeps what was remembered first
    assert set(grad_reqs(net).values()) == {'null'}
    assert gp.freeze(net) == {}
    gp.unfreeze(net)
    assert grad_reqs(net) == original
    assert net.features[1].running_mean.grad_req == 'null'
    assert gp.unfreeze(net) == {}     # nothing left to restore


def test_freeze_memory_stays_with_its_network():
    a, b = nets.deck_toy(), nets.deck_toy()
    gp.freeze(a)
    b[0].weight.grad_req = 'null'     # frozen by hand, not by gluonparams
    assert gp.unfreeze(b) == {}
    assert b[0].weight.grad_req == 'null'
    assert set(grad_reqs(a).values()) == {'null'}
    assert list(gp.unfreeze(a)) == ['0.weight', '0.bias', '1.weight', '1.bias']
    assert set(grad_reqs(a).values()) == {'write'}


def test_freeze_a_tied_layer_freezes_the_shared_parameter():
    net = nets.deck_tied()
    frozen = gp.freeze(net, r'^2\.')
    assert list(frozen) == ['2.weight', '2.bias']
    assert net[1].weight.grad_req == 'null'          # the same Parameter
    assert list(gp.unfreeze(net, r'^1\.')) == ['1.weight', '1.bias']
    assert net[2].weight.grad_req == 'write'


def test_freeze_then_a_hand_change_wins_over_the_memory():
    net = nets.deck_toy()
    gp.freeze(net, '0.weight')
    net[0].weight.grad_req = 'add'
    assert gp.unfreeze(net) == {}
    assert net[0].weight.grad_req == 'add'


def test_freeze_works_on_a_hybridized_network():
    net = nets.resnet18()
    net.hybridize(static_alloc=True, static_shape=True)
    trainer = training.trainer(gp.select(net))
    training.steps(net, trainer, mx.cpu(0), count=1)
    frozen = gp.freeze(net, '^features')
    before = training.snapshot(net)
    training.steps(net, trainer, mx.cpu(0), count=1)
    assert not training.moved(before, training.snapshot(net)) & set(frozen)
    gp.unfreeze(net)
    before = training.snapshot(net)
    training.steps(net, trainer, mx.cpu(0), count=1)
    assert set(frozen) <= training.moved(before, training.snapshot(net))


def test_configure_sets_attributes_and_returns_what_changed():
    net = nets.resnet18()
    changed = gp.configure(net, r'^output', lr_mult=0.1, wd_mult=2)
    assert list(changed) == ['output.weight', 'output.bias']
    assert net.output.weight.lr_mult == 0.1 and net.output.bias.wd_mult == 2.0
    assert gp.configure(net, r'^output', lr_mult=0.1) == {}            # already so
    assert gp.configure(net, 'running_mean', grad_req='write') == {}   # never differentiable
    assert net.features[1].running_mean.grad_req == 'null'


def test_configure_grad_req_replaces_the_freeze_memory():
    net = nets.deck_toy()
    gp.freeze(net)
    assert list(gp.configure(net, '^1', grad_req='add')) == ['1.weight', '1.bias']
    gp.configure(net, '^0', grad_req='null')
    gp.unfreeze(net)
    assert grad_reqs(net) == {'0.weight': 'null', '0.bias': 'null',
                              '1.weight': 'add', '1.bias': 'add'}


@pytest.mark.parametrize('kwargs, message', [
    ({'grad_req': 'none'}, "grad_req='none' is not supported; use one of 'write', 'add', 'null'"),
    ({'lr_mult': -1}, 'lr_mult=-1 is not supported; use a finite number >= 0'),
    ({'wd_mult': float('nan')}, 'wd_mult=nan'),
    ({'lr_mult': '0.1'}, "lr_mult='0.1'"),
    ({'wd_mult': True}, 'wd_mult=True'),
    ({}, 'nothing to set')])
def test_configure_validates_its_options_before_changing_anything(kwargs, message):
    net = nets.deck_toy()
    before = {n: (p.grad_req, p.lr_mult, p.wd_mult) for n, p in gp.named_parameters(net)}
    with pytest.raises(OptionError, match=re.escape(message)):
        gp.configure(net, None, **kwargs)
    assert {n: (p.grad_req, p.lr_mult, p.wd_mult)
            for n, p in gp.named_parameters(net)} == before


def test_lr_mult_zero_set_after_the_trainer_stops_updates(device):
    net = nets.deck_tied(device)
    trainer = training.trainer(gp.select(net))
    gp.configure(net, '^0', lr_mult=0)
    before = training.snapshot(net)
    training.steps(net, trainer, device)
    moved = training.moved(before, training.snapshot(net))
    assert moved == {'1.weight', '1.bias', '3.weight', '3.bias'}


def test_no_weight_decay_selects_biases_and_normalization_parameters():
    net = nets.resnet18()
    changed = gp.no_weight_decay(net)
    assert list(changed) == [n for n in all_names(net) if n.endswith(('bias', 'gamma', 'beta'))]
    assert all(p.wd_mult == 0 for p in changed.values())
    assert net.features[0].weight.wd_mult == 1 and net.features[1].running_var.wd_mult == 1


def _one_step(net, device, wd):
    training.steps(net, training.trainer(gp.select(net), wd=wd), device, count=1)
    return training.snapshot(net)


def _same_values(make, device, like=None):
    """A new network with ``like``'s values, or with biases moved away from 0."""
    net = make(device)
    for name, p in gp.select(net).items():
        if like is not None:
            p.set_data(gp.get(like, name).data())
        elif name.endswith(('bias', 'beta')):
            p.set_data(p.data() + 0.5)
    return net


@pytest.mark.parametrize('make', [nets.deck_tied, nets.resnet18], ids=['deck_tied', 'resnet18'])
def test_no_weight_decay_parameters_see_no_decay(make, device):
    # three copies of one network take one step from the same values on the same data:
    # with decay everywhere, with decay but no_weight_decay(), and without any decay
    first = _same_values(make, device)
    decayed, recipe, plain = first, _same_values(make, device, first), \
        _same_values(make, device, first)
    gp.no_weight_decay(recipe)
    after = {'decayed': _one_step(decayed, device, 0.5), 'recipe': _one_step(recipe, device, 0.5),
             'plain': _one_step(plain, device, 0.0)}
    exempt = set(gp.select(first, r'(bias|gamma|beta)$'))
    for name in after['recipe']:
        if 'running_' in name:
            continue
        same_as = 'plain' if name in exempt else 'decayed'
        other = 'decayed' if name in exempt else 'plain'
        assert not training.moved({name: after['recipe'][name]}, {name: after[same_as][name]})
        assert training.moved({name: after['recipe'][name]}, {name: after[other][name]}), name
