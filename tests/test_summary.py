import io
import json
import os
from math import prod
from pathlib import Path

import mxnet as mx
import pytest
from mxnet import gluon
from mxnet.gluon import nn

import gluonparams as gp
from gluonparams import _compat, zoo

import nets

GOLDEN = Path(__file__).parent / 'golden'
# GLUONPARAMS_REGEN_GOLDEN=1 python -m pytest tests/test_summary.py rewrites the saved renderings
REGEN = os.environ.get('GLUONPARAMS_REGEN_GOLDEN') == '1'


def brute_force(net):
    """Counts over unique Parameter objects, straight from Gluon's own dictionary."""
    unique = {id(p): p for p in net._collect_params_with_prefix().values()}.values()
    total = sum(prod(p.shape) for p in unique)
    trainable = sum(prod(p.shape) for p in unique if p.grad_req != 'null')
    return total, trainable


def check_golden(name, text):
    path = GOLDEN / name
    if REGEN:
        path.write_text(text + '\n', encoding='utf-8')
    assert text + '\n' == path.read_text(encoding='utf-8'), f'rendering differs from {path}'


def test_deck_tied_network_counts_each_tied_parameter_once(device):
    s = gp.summary(nets.deck_tied(device), file=None)
    assert s.total_params == 330            # Gluon's Block.summary: "Unique parameters in model"
    assert s.trainable_params == 330 and s.non_trainable_params == 0
    assert s.total_bytes == 330 * 4
    assert s.ties == [['1.weight', '2.weight'], ['1.bias', '2.bias']]
    assert s.shared_references == 2
    shared = {r.path: r.shared_with for r in s.rows if r.shared_with}
    assert shared == {'2.weight': '1.weight', '2.bias': '1.bias'}
    assert s.devices == [_compat.device_name(d) for d in nets.devices_of(device)]


def test_tree_draws_every_use_of_a_tied_parameter():
    text = str(gp.summary(nets.deck_tied(mx.cpu(0)), file=None))
    assert '→ shared with 1.weight' in text and '→ shared with 1.bias' in text
    assert text.count('weight') >= 5
    check_golden('deck_tied.txt', text)


def test_summary_prints_to_the_file_given_and_nothing_when_none(capsys):
    net = nets.deck_tied()
    out = io.StringIO()
    s = gp.summary(net, file=out)
    assert out.getvalue() == str(s) + '\n'
    gp.summary(net, file=None)
    assert capsys.readouterr().out == ''


@pytest.mark.parametrize('name', ['vgg16', 'resnet18_v1', 'resnet50_v2'])
def test_model_zoo_counts_equal_brute_force(name):
    net = zoo.model_zoo_net(name, init=mx.init.Zero())
    s = gp.summary(net, _compat.zeros((1, 3, 224, 224)), file=None)
    total, trainable = brute_force(net)
    assert (s.total_params, s.trainable_params) == (total, trainable)
    assert s.non_trainable_params == total - trainable
    assert s.unknown_params == 0 and s.ties == []
    if name == 'vgg16':
        assert total == 138_357_544     # the figure torchvision publishes for VGG-16
    if name == 'resnet18_v1':            # BatchNorm running statistics are not trainable
        assert trainable == 11_689_512 and s.non_trainable_params == 9_600


def test_deferred_shapes_show_as_unknown_never_as_zero():
    s = gp.summary(nets.deck_tied(run=False), file=None)
    first = {r.path: r for r in s.rows}['0.weight']
    assert first.shape == (8, None) and first.size is None
    assert s.unknown_params == 3           # 0.weight, 1.weight (= 2.weight), 3.weight
    assert s.total_params == 8 + 8 + 10    # the biases, whose shapes are known
    text = str(s)
    assert '(8, ?)' in text and 'Unknown: 3 parameters' in text


def test_static_no_data_read_and_works_uninitialized(monkeypatch):
    net = nets.deck_tied()
    expected = gp.summary(net, file=None).to_dict()

    def refuse(*args, **kwargs):
        raise AssertionError('summary read parameter data')
    monkeypatch.setattr(gluon.Parameter, 'data', refuse)
    monkeypatch.setattr(gluon.Parameter, 'list_data', refuse)
    assert gp.summary(net, file=None).to_dict() == expected

    bare = nn.Sequential()
    bare.add(nn.Dense(3, in_units=2))
    s = gp.summary(bare, file=None)
    assert s.total_params == 9 and s.devices == []
    assert 'Devices: none (not initialized)' in str(s)


def test_hybridized_network_has_the_same_summary():
    net = nets.tied_lm()
    before = gp.summary(net, file=None).to_dict()
    net.hybridize()
    net(_compat.zeros((2, 3)))
    assert gp.summary(net, file=None).to_dict() == before


def test_parameters_on_several_devices_are_listed():
    net = nets.deck_tied([mx.cpu(0), mx.cpu(1)])
    s = gp.summary(net, file=None)
    assert s.devices == ['cpu(0)', 'cpu(1)']
    assert all(r.devices == ('cpu(0)', 'cpu(1)') for r in s.rows if r.kind == 'param')
    assert 'Devices: cpu(0), cpu(1)' in str(s)


def test_mixed_devices_get_a_devices_column():
    net = nn.Sequential()
    net.add(nn.Dense(2, in_units=2), nn.Dense(2, in_units=2))
    net[0].initialize(**_compat.device_kwargs(mx.cpu(0)))
    net[1].initialize(**_compat.device_kwargs(mx.cpu(1)))
    lines = str(gp.summary(net, file=None)).splitlines()
    assert 'Devices' in lines[0]
    assert [line.split()[-1] for line in lines if 'weight' in line] == ['cpu(0)', 'cpu(1)']


def test_inputs_add_output_shapes_and_settle_deferred_shapes(device):
    net, x = zoo.deck_tied_net(device)
    s = gp.summary(net, x, file=None)
    outputs = {r.path: r.output_shape for r in s.rows if r.kind == 'block'}
    assert outputs == {'': '(2, 10)', '0': '(2, 8)', '0.act': '(2, 8)', '1': '(2, 8)',
                       '1.act': '(2, 8)', '2': '(2, 8)', '2.act': '(2, 8)', '3': '(2, 10)'}
    assert s.total_params == 330 and s.unknown_params == 0


def test_inputs_walk_the_network_once_and_leave_no_hook(monkeypatch):
    net = nets.same_block_twice()
    visits = []                     # every traversal asks each block for its children
    real = _compat.children
    monkeypatch.setattr(_compat, 'children', lambda b: visits.append(b) or real(b))
    s = gp.summary(net, _compat.zeros((2, 4)), file=None)
    outputs = [r.output_shape for r in s.rows if r.kind == 'block']
    assert len(visits) == len(outputs)
    assert outputs == ['(2, 2)', '(2, 8)', '(2, 8)', '(2, 8)', '(2, 2)']
    assert all(not blk._forward_hooks for blk in [net] + [net[i] for i in range(len(net))])


@pytest.mark.parametrize('depth', [0, 1, 2, 3, 5])
@pytest.mark.parametrize('fold', [False, True])
def test_visible_rows_plus_folded_rows_equal_the_total(depth, fold):
    net = zoo.model_zoo_net('resnet18_v1', init=mx.init.Zero())
    s = gp.summary(net, _compat.zeros((1, 3, 64, 64)), depth=depth, fold_repeats=fold, file=None)
    shown = sum(r.params for r in s.rows if r.kind == 'param')
    folded = sum(r.folded for r in s.rows if r.kind == 'block')
    assert shown + folded == s.total_params == brute_force(net)[0]
    assert all(r.depth <= depth for r in s.rows)


def test_depth_folds_children_into_their_block():
    s = gp.summary(nets.deck_tied(), depth=1, file=None)
    assert [r.path for r in s.rows] == ['', '0', '1', '2', '3']
    assert [r.folded for r in s.rows] == [0, 168, 72, 0, 90]
    assert 'rows folded' in str(s)


def test_select_keeps_matching_parameters_and_their_ancestors():
    s = gp.summary(nets.deck_tied(), select='bias', file=None)
    assert [r.path for r in s.rows] == ['', '0', '0.bias', '1', '1.bias', '2', '2.bias',
                                        '3', '3.bias']
    assert s.total_params == 8 + 8 + 10 and s.selected
    assert s.ties == [['1.bias', '2.bias']]
    assert str(s).splitlines()[-5].startswith('Selected params: 26')


def test_select_uses_selection_semantics():
    net = nets.deck_tied()
    assert [r.path for r in gp.summary(net, select=[r'^3\.'], file=None).rows
            if r.kind == 'param'] == ['3.weight', '3.bias']
    with pytest.raises(gp.GluonParamsError, match=r"pattern='\(' is not a valid"):
        gp.summary(net, select='(', file=None)


def test_fold_repeats_draws_identical_siblings_once():
    net = nn.Sequential()
    net.add(nn.Dense(4, in_units=4), *[nn.Dense(4, in_units=4) for _ in range(3)],
            nn.Dense(2, in_units=4))
    zoo.initialize(net)
    s = gp.summary(net, fold_repeats=True, file=None)
    blocks = [r for r in s.rows if r.kind == 'block']
    assert [(r.path, r.repeat) for r in blocks] == [('', 1), ('0', 4), ('4', 1)]
    assert blocks[1].params == 4 * 20 and blocks[1].folded == 80
    assert '0-3: 4 × Dense' in str(s)
    assert s.total_params == 4 * 20 + 10


def test_fold_repeats_counts_runs_inside_runs_once():
    """Found by the property tests: identical blocks made of identical blocks folded
    twice, and the inner runs sent their counts to rows the outer run hid."""
    net = nn.Sequential()
    for _ in range(2):
        inner = nn.Sequential()
        inner.add(nn.Dense(2, in_units=2), nn.Dense(2, in_units=2))
        net.add(inner)
    whole = gp.summary(net, file=None)
    s = gp.summary(net, fold_repeats=True, file=None)
    assert [(r.path, r.repeat, r.params, r.folded, r.folded_rows) for r in s.rows] == \
        [('', 1, 24, 0, 0), ('0', 2, 24, 24, len(whole.rows) - 2)]
    assert '0-1: 2 × Sequential' in str(s) and f'{len(whole.rows) - 2} rows folded' in str(s)


def test_fold_repeats_never_hides_a_tie():
    s = gp.summary(nets.deck_tied(), fold_repeats=True, file=None)
    assert '2.weight' in [r.path for r in s.rows]


def test_ascii_fallback_when_the_output_cannot_encode_box_drawing():
    class AsciiOut(io.StringIO):
        encoding = 'ascii'
    out = AsciiOut()
    gp.summary(nets.deck_tied(), file=out)
    text = out.getvalue()
    text.encode('ascii')
    assert '|- 0: Dense' in text and '> shared with 1.weight' in text


def test_to_dict_is_json_and_round_trips_the_facts():
    s = gp.summary(nets.deck_tied(), file=None)
    data = json.loads(json.dumps(s.to_dict()))
    assert data['total_params'] == 330 and data['ties'] == s.ties
    weight = next(r for r in data['rows'] if r['path'] == '0.weight')
    assert weight['shape'] == [8, 20] and weight['dtype'] == 'float32' and weight['trainable']


def test_table_and_html_renderings():
    s = gp.summary(nets.deck_tied(), file=None)
    table = s.table()
    assert '2.weight' in table and '1.weight' in table.split('2.weight')[1].splitlines()[0]
    check_golden('deck_tied_table.txt', table)
    html_text = s._repr_html_()        # its structure: tests/test_html.py
    assert html_text.startswith('<div class="gpv" id="gp') and 'Total params: 330' in html_text


def test_non_trainable_parameters_are_counted_apart():
    net = nn.Sequential()
    net.add(nn.Dense(2, in_units=3), nn.BatchNorm(in_channels=2))
    zoo.initialize(net)
    net[0].weight.grad_req = 'null'
    s = gp.summary(net, file=None)
    assert s.total_params == 6 + 2 + 4 * 2
    assert s.non_trainable_params == 6 + 2 * 2    # the frozen weight, running mean and var
    grads = {r.path: r.grad_req for r in s.rows if r.kind == 'param'}
    assert grads['1.running_mean'] == 'null' and grads['1.gamma'] == 'write'


@pytest.mark.skipif(not _compat.HAS_GLOBAL_NAMES,
                    reason=f'MXNet {_compat.MXNET_VERSION} has no global parameter names')
def test_global_names_column_shows_mxnet_1x_names():
    net = nets.deck_tied()
    s = gp.summary(net, file=None, global_names=True)
    gluon_names = {k: p.name for k, p in net._collect_params_with_prefix().items()}
    assert {r.path: r.global_name for r in s.rows if r.kind == 'param'} == gluon_names
    rows = {r.path: r for r in s.rows}
    assert rows['2.weight'].global_name == rows['1.weight'].global_name   # one tied Parameter
    text = str(s)
    assert 'Global name' in text.splitlines()[0]
    assert all(name in text and name in s.table() for name in gluon_names.values())
    assert 'Global name' not in str(gp.summary(net, file=None))


@pytest.mark.skipif(_compat.HAS_GLOBAL_NAMES,
                    reason=f'MXNet {_compat.MXNET_VERSION} has global parameter names')
def test_global_names_are_refused_where_mxnet_has_none():
    with pytest.raises(gp.GluonParamsError, match=r"global_names=True shows MXNet 1\.x .*"
                                                  r"drop global_names=True"):
        gp.summary(nets.deck_toy(), file=None, global_names=True)
