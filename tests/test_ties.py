"""Ties: found by identity, proved per device, made portably, and behaving as one tensor."""

import mxnet as mx
import nets
import numpy as onp
import pytest
import tie_styles
from mxnet import gluon
from mxnet.gluon import nn
from tie_styles import STYLES

import gluonparams as gp
from gluonparams import _compat, zoo
from gluonparams.errors import OptionError, ShareError
from gluonparams.ties import describe_ties

by_style = pytest.mark.parametrize('style', STYLES, ids=[s.name for s in STYLES])


def _flat0(array):
    return (0,) * array.ndim


# --- every tie style: found, asserted, and one tensor -------------------------------------

@by_style
def test_tie_groups_find_every_style_and_no_copy(style, device):
    tied, untied = tie_styles.pair(style, device)
    assert gp.tie_groups(tied) == style.ties
    assert gp.tie_groups(untied) == []          # equal values are never a tie


@by_style
def test_assert_and_check_ties_pass_on_the_tied_network(style, device):
    tied = tie_styles.build(style, device)
    for group in style.ties:
        gp.assert_tied(tied, *group)
        gp.assert_tied(tied, *reversed(group))
    gp.check_ties(tied, style.ties)
    gp.check_ties(tied, [list(reversed(g)) for g in reversed(style.ties)])


@by_style
def test_the_untied_twin_is_reported_as_a_copy(style, device):
    _, untied = tie_styles.pair(style, device)
    first, second = style.ties[0]
    with pytest.raises(gp.TieError) as info:
        gp.assert_tied(untied, first, second)
    assert f"{second!r} is not tied to {first!r}: equal but not tied: a copy" in str(info.value)
    with pytest.raises(gp.TieError) as info:
        gp.check_ties(untied, style.ties)
    message = str(info.value)
    assert message.count('missing tie:') == len(style.ties) and 'a copy' in message
    gp.check_ties(untied, [])
    assert gp.find_copies(untied) == style.ties
    assert gp.find_copies(tie_styles.build(style, device)) == []


@by_style
def test_gradients_accumulate_over_every_use(style, device):
    tied, untied = tie_styles.pair(style, device)
    got = tie_styles.gradients(tied, style, device)
    twin = tie_styles.gradients(untied, style, device)
    tied_names = {n for g in style.ties for n in g}
    for where, grads in got.items():
        for group in style.ties:
            expected = sum(twin[where][n] for n in group)
            assert onp.abs(expected).max() > 0
            for name in group:
                onp.testing.assert_allclose(grads[name], expected, rtol=1e-5, atol=1e-6)
            # the sum is not what any single use gives
            assert not onp.allclose(grads[group[0]], twin[where][group[0]])
        for name in set(grads) - tied_names:
            onp.testing.assert_allclose(grads[name], twin[where][name], rtol=1e-5, atol=1e-6)


@by_style
def test_each_device_holds_one_buffer_that_every_name_reads(style, device):
    tied, untied = tie_styles.pair(style, device)
    for group in style.ties:
        per_device = [{_compat.buffer_address(a) for a in gp.get(tied, n).list_data()}
                      for n in group]
        assert all(addresses == per_device[0] for addresses in per_device)
        assert len(per_device[0]) == len(nets.devices_of(device))   # one buffer per device
        twin = [{_compat.buffer_address(a) for a in gp.get(untied, n).list_data()}
                for n in group]
        assert not set.intersection(*twin)                          # the twin: one per name


@by_style
def test_a_hybridized_network_keeps_the_tie(style, device):
    tied = tie_styles.build(style, device)
    imperative = tie_styles.gradients(tied, style, device)
    tied.hybridize()
    hybridized = tie_styles.gradients(tied, style, device)
    for where, grads in imperative.items():
        for name, grad in grads.items():
            onp.testing.assert_allclose(hybridized[where][name], grad, rtol=1e-5, atol=1e-6)
    gp.check_ties(tied, style.ties)


@by_style
def test_a_write_through_one_name_is_seen_through_the_other_on_every_device(style, device):
    tied = tie_styles.build(style, device)
    for group in style.ties:
        source, *others = [gp.get(tied, n) for n in group]
        for i, d in enumerate(nets.devices_of(device)):
            data = source.data(d)
            data[_flat0(data)] = 100 + i                # the deck: net[1].weight.data()[0, 0] = 100
            for other in others:
                seen = other.data(d).asnumpy()
                assert seen.flat[0] == 100 + i
                onp.testing.assert_array_equal(seen, data.asnumpy())


@by_style
def test_trainer_updates_a_tied_parameter_once_with_the_summed_gradient(style, device):
    tied = tie_styles.build(style, device)
    params = {n: p for n, p in gp.named_parameters(tied)}
    trainer = gluon.Trainer(tied.collect_params(), 'sgd', {'learning_rate': 0.5})
    group = style.ties[0]
    param = params[group[0]]
    first = nets.devices_of(device)[0]
    before = param.data(first).asnumpy()
    grads = tie_styles.gradients(tied, style, device)
    total = sum(g[group[0]] for g in grads.values())
    trainer.step(1)
    for d in nets.devices_of(device):
        onp.testing.assert_allclose(gp.get(tied, group[1]).data(d).asnumpy(),
                                    before - 0.5 * total, rtol=1e-5, atol=1e-5)
    gp.assert_tied(tied, *group)


@by_style
def test_save_and_load_parameters_keep_the_tie(style, device, tmp_path):
    tied = tie_styles.build(style, device)
    path = str(tmp_path / 'tied.params')
    tied.save_parameters(path)
    fresh = tie_styles.initialized(style.build(True), style, device)
    fresh.load_parameters(path, **_compat.device_kwargs(device))
    for name, param in gp.named_parameters(tied, remove_duplicate=False):
        for d in nets.devices_of(device):
            onp.testing.assert_array_equal(gp.get(fresh, name).data(d).asnumpy(),
                                           param.data(d).asnumpy())
    gp.check_ties(fresh, style.ties)


# --- assert_tied ------------------------------------------------------------------------------

def test_assert_tied_names_each_name_and_why():
    net = nets.deck_tied()
    with pytest.raises(gp.TieError) as info:
        gp.assert_tied(net, '1.weight', '2.weight', '3.weight', '1.wieght', '2', '0.bias')
    lines = str(info.value).splitlines()
    assert lines[0] == ("expected '1.weight', '2.weight', '3.weight', '1.wieght', '2', '0.bias' "
                        "to be one tied parameter in Sequential:")
    assert lines[1] == ("  '3.weight' is not tied to '1.weight': different shapes: "
                        "'3.weight' is (10, 8), '1.weight' is (8, 8)")
    assert lines[2].startswith("  '1.wieght': no such parameter (no 'wieght' in 1 (Dense)")
    assert "parameters 'weight', 'bias'" in lines[2] and "did you mean '1.weight'" in lines[2]
    assert lines[3] == ("  '2': a block (Dense), not a parameter; "
                        "its parameters: '2.weight', '2.bias'")
    assert lines[4].startswith("  '0.bias' is not tied to '1.weight': different shapes")
    assert 'gp.share' in lines[-1] and len(lines) == 6


def test_assert_tied_reports_different_values_and_dtypes(device):
    net = nn.Sequential()
    net.add(nn.Dense(3, in_units=3), nn.Dense(3, in_units=3),
            nn.Dense(3, in_units=3, dtype='float16'))
    zoo.initialize(net, device)
    gp.get(net, '1.weight').set_data(gp.get(net, '0.weight').data(nets.devices_of(device)[0]) + 2)
    with pytest.raises(gp.TieError) as info:
        gp.assert_tied(net, '0.weight', '1.weight', '2.weight')
    message = str(info.value)
    assert "'1.weight' is not tied to '0.weight': different values (largest difference 2" in message
    assert ("'2.weight' is not tied to '0.weight': different dtypes: '2.weight' is float16, "
            "'0.weight' is float32") in message


def test_a_difference_on_one_device_only_is_found_there():
    devices = [mx.cpu(0), mx.cpu(1)]
    net = nn.Sequential()
    net.add(nn.Dense(2, in_units=2), nn.Dense(2, in_units=2))
    zoo.initialize(net, devices)
    gp.get(net, '1.weight').set_data(gp.get(net, '0.weight').data(devices[0]))
    with pytest.raises(gp.TieError, match='a copy'):
        gp.assert_tied(net, '0.weight', '1.weight')
    data = gp.get(net, '1.weight').data(devices[1])
    data[0, 0] = data[0, 0] + 1
    with pytest.raises(gp.TieError, match=r'largest difference 1, on cpu\(1\)'):
        gp.assert_tied(net, '0.weight', '1.weight')


def test_separate_parameters_reading_one_buffer_are_not_a_tie(device):
    net = nn.Sequential()
    net.add(nn.Dense(2, in_units=2), nn.Dense(2, in_units=2))
    zoo.initialize(net, device)
    first, second = gp.get(net, '0.weight'), gp.get(net, '1.weight')
    second._data = first._data      # an alias made by hand: writes are shared, gradients not
    with pytest.raises(gp.TieError) as info:
        gp.assert_tied(net, '0.weight', '1.weight')
    names = ', '.join(_compat.device_name(d) for d in nets.devices_of(device))
    assert f'separate Parameter objects reading one buffer on {names}: not a tie' in str(info.value)


def test_assert_tied_before_initialization_is_by_identity():
    net = tie_styles.STYLES[0].build(True)
    gp.assert_tied(net, '1.weight', '2.weight')
    with pytest.raises(gp.TieError, match='not initialized yet'):
        gp.assert_tied(net, '0.bias', '1.bias')


def test_assert_tied_needs_two_names():
    with pytest.raises(OptionError, match='two or more names'):
        gp.assert_tied(nets.deck_tied(), '1.weight')


# --- check_ties -------------------------------------------------------------------------------

def test_check_ties_reports_every_problem_at_once():
    net = nets.deck_tied()
    expected = [['0.weight', '1.weight', '2.weight'], ['3.bias', 'nope']]
    with pytest.raises(gp.TieError) as info:
        gp.check_ties(net, expected)
    lines = str(info.value).splitlines()
    assert lines[0] == '4 tie problem(s) in Sequential:'
    assert lines[1].startswith("  missing tie: '1.weight' is not tied to '0.weight': different")
    assert lines[2].startswith("  missing tie: '2.weight' is not tied to '0.weight'")
    assert lines[3].startswith("  expected 'nope' to be tied to '3.bias': no such parameter")
    assert lines[4] == ("  unexpected tie: '1.bias', '2.bias' are one Parameter; "
                        "none of them is expected to be tied")
    assert lines[5].startswith('Tie parameters by identity: gp.share(dst, src)')


def test_a_block_name_lists_its_parameters():
    net = nn.Sequential()
    net.add(nn.Sequential())
    net[0].add(*[nn.Dense(2, in_units=2) for _ in range(5)])
    with pytest.raises(gp.TieError, match=r"'0': a block \(Sequential\), not a parameter; its "
                                          r"parameters: '0.0.weight', .*'0.3.bias' and 2 more"):
        gp.assert_tied(net, '0', '0.0.weight')


@pytest.mark.parametrize('cls, path, said', [
    (nets.RenameChildPrefix, '1.body.weight', "Gluon names '1.sub_body.weight'"),
    (nets.HidesChild, '1.frozen.weight', 'Gluon does not name'),
], ids=['renamed', 'hidden'])
def test_an_attribute_path_is_an_error_that_gives_gluons_name_or_says_there_is_none(
        cls, path, said):
    net = nets.overriding(cls=cls)
    reason = f"{path!r}: the attribute path of a parameter that {said}"
    with pytest.raises(gp.TieError, match=reason):
        gp.assert_tied(net, path, '0.weight')
    with pytest.raises(gp.TieError, match=f"expected {path!r} to be tied to '0.weight': "
                                          f"the attribute path of a parameter that {said}"):
        gp.check_ties(net, [[path, '0.weight']])
    with pytest.raises(ShareError, match=reason):
        gp.share(net, {path: net[0].weight})


def test_check_ties_catches_a_partly_expected_group():
    net = nets.same_block_twice()
    with pytest.raises(gp.TieError, match=r"unexpected tie: '1.weight', '2.weight' are one "
                                          r"Parameter; expected \['1.weight', '0.weight'\] and "
                                          r"'2.weight' untied"):
        gp.check_ties(net, [['1.weight', '0.weight'], ['1.bias', '2.bias']])


@pytest.mark.parametrize('expected, message', [
    ('1.weight', 'list of tie groups'),
    ([['1.weight']], r'expected\[0\] must be a list of two or more names'),
    ([['1.weight', 2]], r'expected\[0\] must be a list of two or more names'),
    ([['1.weight', '2.weight'], ['2.weight', '3.weight']], "'2.weight' is in expected"),
])
def test_check_ties_validates_expected(expected, message):
    with pytest.raises(OptionError, match=message):
        gp.check_ties(nets.deck_tied(), expected)


# --- find_copies ------------------------------------------------------------------------------

def test_find_copies_skips_constants_unless_asked():
    wide = nn.Sequential()
    wide.add(*[nn.Dense(4, in_units=4) for _ in range(3)])
    wide.initialize()                # zero biases, random weights
    assert gp.find_copies(wide) == []
    assert gp.find_copies(wide, include_constant=True) == [['0.bias', '1.bias', '2.bias']]
    gp.get(wide, '2.weight').set_data(gp.get(wide, '0.weight').data())
    assert gp.find_copies(wide) == [['0.weight', '2.weight']]


@pytest.mark.parametrize('make, name, index', [
    (lambda: nn.Embedding(3, 4), 'weight', (2, 3)),             # the same first row
    (lambda: nn.LayerNorm(in_channels=100), 'gamma', (99,)),    # the same first 64 values
])
def test_find_copies_reads_past_equal_first_values(make, name, index):
    net = nn.Sequential()
    net.add(make(), make())
    net.initialize()
    first, second = gp.get(net, f'0.{name}'), gp.get(net, f'1.{name}')
    values = onp.random.RandomState(0).uniform(size=first.shape)
    first.set_data(_compat.array(values))
    values[index] += 1
    second.set_data(_compat.array(values))
    assert gp.find_copies(net) == []
    second.set_data(first.data())
    assert gp.find_copies(net) == [[f'0.{name}', f'1.{name}']]


def test_find_copies_after_loading_into_a_net_built_without_the_tie(tmp_path):
    lm = tie_styles.build(STYLES[-1], mx.cpu(0))
    path = str(tmp_path / 'lm.params')
    lm.save_parameters(path)
    refactored = tie_styles.LanguageModel(None)          # the tie was lost in a refactor
    refactored.initialize()
    refactored.load_parameters(path)
    assert gp.find_copies(refactored) == [['embed.weight', 'decoder.weight']]
    with pytest.raises(gp.TieError, match='a copy'):
        gp.check_ties(refactored, [['embed.weight', 'decoder.weight']])


# --- share ------------------------------------------------------------------------------------

def test_share_is_the_portable_spelling_of_the_decks_cell(device):
    shared, clone = nn.Dense(8, activation='relu'), nn.Dense(8, activation='relu')
    old = [clone.weight, clone.bias]
    assert gp.share(clone, shared) is clone
    net = nn.Sequential()
    net.add(nn.Dense(8, activation='relu'), shared, clone, nn.Dense(10))
    zoo.initialize(net, device)
    net(_compat.uniform((2, 20), nets.devices_of(device)[0]))
    assert gp.tie_groups(net) == tie_styles.DECK_TIES
    gp.check_ties(net, tie_styles.DECK_TIES)
    walked = list(net._collect_params_with_prefix().values()) + list(_gluon_params(net))
    assert not any(p is o for p in walked for o in old)   # the dropped parameters are gone


def _gluon_params(net):
    """What Gluon itself initializes and trains: ``collect_params()``."""
    return net.collect_params().values()


def test_share_ties_only_srcs_names_and_keeps_the_rest():
    embed, decoder = nn.Embedding(7, 4), nn.Dense(7, in_units=4, flatten=False)
    bias = decoder.bias
    gp.share(decoder, embed)
    assert decoder.weight is embed.weight and decoder.bias is bias
    other = nn.Dense(7, in_units=4, flatten=False)
    gp.share(other, {'bias': bias})                 # a dict, as share_parameters takes
    assert other.bias is bias and other.weight is not embed.weight


def test_share_refreshes_a_hybridized_blocks_graph():
    a, b = nn.Dense(3, in_units=2), nn.Dense(3, in_units=2)
    a.initialize()
    b.initialize()
    b.hybridize()
    x = _compat.uniform((2, 2))
    b(x)
    gp.share(b, a)
    onp.testing.assert_allclose(b(x).asnumpy(), a(x).asnumpy(), rtol=1e-6)


@pytest.mark.skipif(_compat.HAS_SHARE_PARAMETERS, reason='params= at construction is MXNet 1.x')
def test_params_from_a_block_tied_by_share_ties_to_the_same_parameters():
    """1.x's params= ties transitively (Dense(params=clone.collect_params()) uses what the
    clone uses); a clone tied by gp.share must pass its tie on the same way. Found by the
    property tests: the third layer got new Parameters, and a fourth made collect_params()
    fail on two different Parameters with one name."""
    shared = nn.Dense(2, in_units=3)
    clone = gp.share(nn.Dense(2, in_units=3), shared)
    net = nn.Sequential()
    net.add(shared, clone, *[nn.Dense(2, in_units=3, params=clone.collect_params())
                             for _ in range(2)])
    zoo.initialize(net)
    assert gp.tie_groups(net) == [['0.weight', '1.weight', '2.weight', '3.weight'],
                                  ['0.bias', '1.bias', '2.bias', '3.bias']]
    assert len(net.collect_params().keys()) == 2     # what Trainer and initialize see: once each


@pytest.mark.parametrize('src, message', [
    (nn.Dense(3, in_units=5), "'weight': different shapes: dst is (3, 4), src is (3, 5)"),
    (nn.Dense(3, in_units=4, dtype='float16'),
     "'weight': different dtypes: dst is float32, src is float16"),
    (nn.Sequential(), None),
    ({'wieght': gluon.Parameter('w', shape=(3, 4))}, "'wieght': no such parameter"),
    ({'weight': 'not a parameter'}, 'these entries do not: '),
    ([1, 2], 'src must be a gluon.Block or a {name: Parameter} dict, found builtins.list'),
])
def test_share_refuses_what_does_not_match_and_ties_nothing(src, message):
    dst = nn.Dense(3, in_units=4)
    before = [dst.weight, dst.bias]
    if message is None:                        # nothing to tie is not an error
        gp.share(dst, src)
    else:
        with pytest.raises(ShareError) as info:
            gp.share(dst, src)
        assert message in str(info.value)
    assert [dst.weight, dst.bias] == before and gp.tie_groups(dst) == []


def test_share_error_lists_every_mismatch_and_what_dst_has():
    dst = nn.Sequential()
    dst.add(nn.Dense(3, in_units=4), nn.Dense(2, in_units=3))
    src = nn.Sequential()
    src.add(nn.Dense(3, in_units=5), nn.Dense(2, in_units=3), nn.Dense(1))
    with pytest.raises(ShareError) as info:
        gp.share(dst, src)
    message = str(info.value)
    assert "'0.weight': different shapes" in message and "'2.weight': no such parameter" in message
    assert "'2.bias': no such parameter" in message
    assert message.endswith("dst has: '0.weight', '0.bias', '1.weight', '1.bias'")
    assert isinstance(info.value, ValueError)


# --- describe_ties ------------------------------------------------------------------------------

def test_describe_ties_gives_shape_size_and_devices(device):
    records = describe_ties(nets.deck_tied(device))
    names = [_compat.device_name(d) for d in nets.devices_of(device)]
    assert records == [
        {'names': ['1.weight', '2.weight'], 'shape': [8, 8], 'dtype': 'float32', 'size': 64,
         'devices': sorted(names)},
        {'names': ['1.bias', '2.bias'], 'shape': [8], 'dtype': 'float32', 'size': 8,
         'devices': sorted(names)}]
