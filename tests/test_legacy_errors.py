"""Legacy files that do not fit: the error lists at most a dozen names of each kind with
counts and says what explains them; ambiguity is refused; ``rename=`` and ``select=``
cover the rest; a failed load changes nothing."""

import json
import re

import mxnet as mx
import numpy as onp
import pytest
from mxnet.gluon import nn

import legacy_files as lf

import gluonparams as gp
from gluonparams import _compat

V1 = _compat.HAS_GLOBAL_NAMES


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
    """MXNet's files of two small networks, written by this MXNet."""
    root = tmp_path_factory.mktemp('legacy')
    for name in ('bn_net', 'mobilenet0.25'):
        lf.write(root / name, name)
    return root


def fresh(name):
    net = lf.build(name)
    lf.settle(net, _compat.array_from_numpy(lf.example(name)))
    return net


def values(net):
    mx.nd.waitall()
    return {n: p.data().asnumpy().copy() for n, p in gp.named_parameters(net)}


def unchanged(before, net):
    return all(before[n].tobytes() == v.tobytes() for n, v in values(net).items())


def test_a_mismatch_lists_a_dozen_names_per_kind_and_says_what_explains_it(folder):
    net = fresh('bn_net')
    before = values(net)
    path = folder / 'mobilenet0.25' / 'export-0000.params'
    with pytest.raises(gp.CheckpointError) as failed:
        gp.load(net, path)
    lines = str(failed.value).splitlines()
    assert lines[0] == (f'{path}: cannot load into HybridSequential (8 missing, 137 unexpected, '
                        f'0 mismatched)')
    assert lines[1] == ("  in the network, not in the file: '0.weight', '0.bias', '1.gamma', "
                        "'1.beta', '1.running_mean', '1.running_var', '4.weight', '4.bias'")
    unexpected = lines[2]
    assert unexpected.startswith("  in the file, not in the network: 'arg:")
    assert len(re.findall(r"'[^']+'", unexpected)) == 12 and unexpected.endswith(' and 125 more')
    hints = [line[len('  hint: '):] for line in lines if line.startswith('  hint: ')]
    assert hints[0] == ("the file is an MXNet export or Module checkpoint: its names carry arg: "
                        "(graph inputs) and aux: (auxiliary states, such as BatchNorm's running "
                        "statistics)")
    if V1:      # the file's global names say it holds another network
        assert re.fullmatch(r"the file's global names begin with mobilenet\d+_, the network's "
                            r"with batchnorm\d+_, conv\d+_, dense\d+_: the file holds another "
                            r"network, or one built another way", hints[1])
        assert re.fullmatch(r'not matched by 1.x global names: 1 mobilenet<n>_ prefix '
                            r'\(mobilenet\d+_\) in the file, no mobilenet<n>_ prefix in the '
                            r'network', hints[2])
        assert hints[3] == ('not matched by order: the file has 137 unmatched arrays, the '
                            'network 8 unmatched parameters')
    else:       # structural names, some of which are the network's under 'features.'
        assert hints[1:3] == [
            "5 of the file's names are the network's names with 'features.' in front: the "
            "file was saved from a network that holds this one as 'features'; load it into "
            "that network",
            "not matched by order: the file's names and the network's are structural (dotted "
            "paths): they are matched by name only, never by position"]
    assert hints[-1] == ("nothing in the names relates the file to the network: pass rename= (a "
                         "mapping of regular expressions to replacements, or a callable) that "
                         "turns the file's names into the network's; gp.inspect(path) lists the "
                         "file's names")
    assert lines[-1] == '  load what matches with strict=False; select= restricts the names'
    assert unchanged(before, net)


def test_a_shape_that_differs_names_the_file_and_both_shapes(folder):
    """The network changed (a wider last layer): its parameter is matched by name and
    refused for its shape; the message names the file's name and both shapes."""
    net = nn.HybridSequential()
    net.add(nn.Conv2D(8, 3, padding=1, in_channels=3), nn.BatchNorm(in_channels=8),
            nn.Activation('relu'), nn.GlobalAvgPool2D(), nn.Dense(6, in_units=8))
    net.initialize()
    net(_compat.array(onp.zeros((1, 3, 4, 4), onp.float32)))   # every shape known
    path = folder / 'bn_net' / ('collect.params' if V1 else 'export-0000.params')
    before = values(net)
    with pytest.raises(gp.CheckpointError) as failed:
        gp.load(net, path)
    assert unchanged(before, net)
    message = str(failed.value)
    if V1:
        assert re.search(r"  '4\.weight' \(file 'dense\d+_weight'\): the network has \(6, 8\) "
                         r"float32, the file \(5, 8\) float32", message)
    else:
        assert "  '4.weight' (file 'arg:4.weight'): the network has (6, 8) float32, the file " \
               "(5, 8) float32" in message


def two_dense():
    net = nn.HybridSequential()
    net.add(nn.Dense(4, in_units=4, use_bias=False), nn.Dense(4, in_units=4, use_bias=False))
    net.initialize()
    return net


@pytest.fixture
def swapped(tmp_path):
    """An MXNet file whose graph uses its second Dense first: two arrays of one shape
    that only their names' counters tell apart."""
    arrays = {'arg:net_dense1_weight': onp.full((4, 4), 1.0, 'float32'),
              'arg:net_dense0_weight': onp.full((4, 4), 2.0, 'float32')}
    mx.nd.save(str(tmp_path / 'swapped-0000.params'),
               {k: mx.nd.array(v) for k, v in arrays.items()})
    graph = {'nodes': [{'op': 'null', 'name': 'data', 'inputs': []},
                       {'op': 'null', 'name': 'net_dense1_weight', 'inputs': []},
                       {'op': 'FullyConnected', 'name': 'net_dense1', 'inputs': [[0, 0], [1, 0]]},
                       {'op': 'null', 'name': 'net_dense0_weight', 'inputs': []},
                       {'op': 'FullyConnected', 'name': 'net_dense0', 'inputs': [[2, 0], [3, 0]]}]}
    (tmp_path / 'swapped-symbol.json').write_text(json.dumps(graph))
    return tmp_path / 'swapped-0000.params'


def test_two_orders_that_fit_every_shape_are_refused_and_rename_settles_it(swapped):
    net = two_dense()
    before = values(net)
    with pytest.raises(gp.CheckpointError) as failed:
        gp.load(net, swapped)
    assert ('  hint: not matched by order: ambiguous: 2 orders fit every shape (-symbol.json '
            'graph order; -symbol.json graph order, re-sorted by 1.x creation counters): pass '
            'rename= to say which name is which') in str(failed.value).splitlines()
    assert unchanged(before, net)
    report = gp.load(net, swapped, rename={r'^arg:net_dense0_weight$': '0.weight',
                                           r'^arg:net_dense1_weight$': '1.weight'})
    assert report.matched_by == {'0.weight': 'rename=, exact', '1.weight': 'rename=, exact'}
    assert values(net)['0.weight'][0, 0] == 2.0 and values(net)['1.weight'][0, 0] == 1.0
    by_callable = gp.load(two_dense(), swapped, rename=lambda key: {
        'arg:net_dense0_weight': '0.weight', 'arg:net_dense1_weight': '1.weight'}[key])
    assert by_callable.matched_by == report.matched_by


def test_rename_puts_a_file_under_another_block(folder):
    path = folder / 'bn_net' / 'save_parameters.params'
    outer = nn.HybridSequential()
    outer.add(fresh('bn_net'))
    with pytest.raises(gp.CheckpointError, match="the file was saved from that part alone; "
                                                 "load it there: gp.load"):
        gp.load(outer, path)
    report = gp.load(outer, path, rename={'^': '0.'})
    assert set(report.matched_by.values()) == {'rename=, exact'} and len(report.loaded) == 8


def test_select_loads_part_of_a_legacy_file(folder):
    net = fresh('mobilenet0.25')
    before = values(net)
    report = gp.load(net, folder / 'mobilenet0.25' / 'export-0000.params', select='^features')
    assert report.loaded == [n for n in before if n.startswith('features')]
    assert not report.missing and not report.unexpected
    after = values(net)
    assert all(after[n].tobytes() == before[n].tobytes() for n in before
               if not n.startswith('features'))
    assert any(after[n].tobytes() != before[n].tobytes() for n in report.loaded)


def test_a_symbol_file_is_read_when_a_rule_needs_it_and_refused_naming_it(folder, swapped):
    broken = swapped.parent / 'swapped-symbol.json'
    broken.write_text('{"nodes": 3}')
    with pytest.raises(gp.CheckpointError, match=f'{broken}: not an MXNet symbol file'):
        gp.load(two_dense(), swapped)                   # matched by order: the graph is read
    named = folder / 'bn_net' / 'save_parameters.params'
    beside = swapped.parent / 'named-0000.params'
    beside.write_bytes(named.read_bytes())
    (swapped.parent / 'named-symbol.json').write_text('not json')
    assert len(gp.load(fresh('bn_net'), beside).loaded) == 8     # by name: never read
    with pytest.raises(gp.CheckpointError, match='nowhere.json: no such file'):
        gp.load(fresh('bn_net'), beside, symbol=swapped.parent / 'nowhere.json')   # given: read


def test_a_symbol_file_is_not_read_for_a_remainder_no_rule_orders(tmp_path):
    def three_dense(nested):
        net, last = nn.HybridSequential(), nn.Dense(2, in_units=4)
        if nested:
            last, inner = nn.HybridSequential(), last
            last.add(inner)
        net.add(nn.Dense(4, in_units=3), nn.Dense(4, in_units=4), last)
        net.initialize()
        return net
    three_dense(False).save_parameters(str(tmp_path / 'm-0000.params'))
    (tmp_path / 'm-symbol.json').write_text('not json')
    report = gp.load(three_dense(True), tmp_path / 'm-0000.params', strict=False)
    assert (len(report.loaded), report.missing, report.unexpected) == (
        4, ['2.0.weight', '2.0.bias'], ['2.weight', '2.bias'])
