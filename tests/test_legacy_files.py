"""MXNet's own files load into a Python network built afresh, on this MXNet and from the
other one: export pairs, Module checkpoints, 1.x ``collect_params().save`` (prefix
stripped or not) and both ``save_parameters`` formats. The proof is the output: the
network after ``gp.load`` computes, hybridized, bit for bit what
``SymbolBlock.imports`` of the same files computes on the same input (or, where no
graph was written, what the network that wrote the files computed).

The files are written by MXNet itself (``tests/legacy_files.py``), once per module;
the other version's by ``GLUONPARAMS_OTHER_MXNET_PYTHON`` running that script.
"""

import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import mxnet as mx
import numpy as onp
import pytest
from mxnet import gluon

import legacy_files as lf

import gluonparams as gp
from gluonparams import _compat

HERE = Path(__file__).resolve().parent
OTHER_PYTHON = os.environ.get('GLUONPARAMS_OTHER_MXNET_PYTHON')
V1 = _compat.HAS_GLOBAL_NAMES

KINDS = ['export', 'save_parameters'] + (['module', 'collect', 'collect_strip'] if V1 else [])
# 2.0 cannot hybridize (so cannot export) a network holding a SymbolBlock: MXNet says
# 'Calling a SymbolBlock from within HybridBlock is not yet supported in Gluon 2.'
HERE_CASES = [(name, kind) for name in lf.NAMES for kind in KINDS
              if (kind != 'collect_strip' or name in lf.ZOO)
              and (kind != 'export' or V1 or name != 'symbol_block')]

# the rule each kind of file is matched by, in a network built again in this process
RULES_HERE = {'export': '1.x global name, re-counted' if V1 else 'arg:/aux: stripped',
              'module': '1.x global name, re-counted', 'collect': '1.x global name, re-counted',
              'collect_strip': '1.x global name, root prefix stripped', 'save_parameters': 'exact'}


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """Network name -> its folder of files written by this MXNet (written on first use)."""
    root = tmp_path_factory.mktemp('legacy')
    written = {}

    def folder(name):
        if name not in written:
            if name == 'hand_written':
                lf.write_hand_written(root / name)
            else:
                lf.write(root / name, name)
            written[name] = root / name
        return written[name]

    yield folder
    shutil.rmtree(root)     # about 0.5 GB for the ResNets on 1.x


@pytest.fixture(scope='module')
def networks():
    """Network name -> one network built afresh (after the files, so 1.x counts its
    blocks on: ``resnetv11_`` where the files say ``resnetv10_``), run once."""
    built = {}

    def network(name, x):
        if name not in built:
            net = lf.build('bn_net' if name == 'hand_written' else name)
            lf.settle(net, x)
            if V1 or name != 'symbol_block':
                net.hybridize()
            built[name] = net
        net = built[name]
        for _, p in gp.named_parameters(net):        # nothing left from an earlier load
            p.set_data(_compat.zeros(tuple(p.shape)))
        return net

    return network


def imported(folder, entry, x):
    """The output of ``SymbolBlock.imports`` of an export or Module pair."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Cannot decide type')
        block = gluon.SymbolBlock.imports(str(folder / entry['symbol']), ['data'],
                                          str(folder / entry['params']))
    return lf.outputs(block(x))


def entries(folder):
    return json.loads((folder / 'files.json').read_text())


def rule_names(report):
    return {rule.split(' (')[0] for rule in report.matched_by.values()}


@pytest.mark.parametrize('name, kind', HERE_CASES, ids=[f'{n}-{k}' for n, k in HERE_CASES])
def test_files_of_this_mxnet_load_bit_identical_to_symbolblock_imports(
        name, kind, files, networks):
    folder = files(name)
    entry = entries(folder)[kind]
    x = _compat.array_from_numpy(onp.load(folder / 'x.npy'))
    net = networks(name, x)
    report = gp.load(net, folder / entry['params'])
    assert sorted(report.loaded) == sorted(n for n, _ in
                                           gp.named_parameters(net, remove_duplicate=False))
    expected = {RULES_HERE[kind]}
    if V1 and name == 'symbol_block' and kind == 'save_parameters':   # the Dense by name, the
        expected = {'exact', 'SymbolBlock names re-counted'}         # SymbolBlock re-counted
    assert rule_names(report) == expected
    found = lf.outputs(net(x))
    wanted = imported(folder, entry, x) if 'symbol' in entry else onp.load(folder / 'y.npy')
    assert found.tobytes() == wanted.tobytes()


@pytest.mark.skipif(not V1, reason=f'MXNet {_compat.MXNET_VERSION} has no Module API; the '
                                   f'cross-version test loads a 1.9.1 Module checkpoint here')
def test_a_hand_written_module_checkpoint_loads_into_its_gluon_twin_by_graph_order(
        files, networks):
    folder = files('hand_written')
    entry = entries(folder)['module']
    x = _compat.array_from_numpy(onp.load(folder / 'x.npy'))
    net = networks('hand_written', x)
    report = gp.load(net, folder / entry['params'])
    assert set(report.matched_by.values()) == {
        'order (-symbol.json graph order = network order), shapes and kinds checked'}
    assert lf.outputs(net(x)).tobytes() == imported(folder, entry, x).tobytes()


# --- files of the other MXNet version ----------------------------------------------------

@pytest.fixture(scope='module')
def other(tmp_path_factory):
    """The files the other MXNet version writes, for every network (and, from 1.x, the
    hand-written Module checkpoint)."""
    if not OTHER_PYTHON:
        pytest.skip('set GLUONPARAMS_OTHER_MXNET_PYTHON to a Python with another MXNet version')
    root = tmp_path_factory.mktemp('other')
    names = lf.NAMES + ([] if V1 else ['hand_written'])
    done = subprocess.run([OTHER_PYTHON, str(HERE / 'legacy_files.py'), str(root), *names],
                          capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    yield root
    shutil.rmtree(root)


OTHER_KINDS = ['export', 'save_parameters'] + (
    [] if V1 else ['module', 'collect', 'collect_strip'])
OTHER_CASES = [(name, kind) for name in lf.NAMES + ([] if V1 else ['hand_written'])
               for kind in OTHER_KINDS
               if (kind != 'collect_strip' or name in lf.ZOO)
               and (kind != 'export' or not V1 or name != 'symbol_block')
               and (name != 'hand_written' or kind == 'module')]
# what cannot load, and the explanation the error gives: a 1.x graph of a network holding
# a SymbolBlock interleaves its auxiliary states, which the SymbolBlock keeps last
REFUSED = {
    ('symbol_block', 'export'): "not matched by order (-symbol.json graph order): position 3",
    ('symbol_block', 'module'): "not matched by order (-symbol.json graph order): position 3",
}


@pytest.mark.parametrize('name, kind', OTHER_CASES, ids=[f'{n}-{k}' for n, k in OTHER_CASES])
def test_files_of_the_other_mxnet_load_bit_identical(name, kind, other, networks):
    folder = other / name
    entry = entries(folder)[kind]
    x = _compat.array_from_numpy(onp.load(folder / 'x.npy'))
    net = networks(name, x)
    if (name, kind) in REFUSED:
        with pytest.raises(gp.CheckpointError) as refused:
            gp.load(net, folder / entry['params'])
        assert REFUSED[name, kind] in str(refused.value)
        assert all(not p.data().asnumpy().any() for _, p in gp.named_parameters(net))
        return
    report = gp.load(net, folder / entry['params'])
    assert report.loaded and not report.missing and not report.unexpected
    found = lf.outputs(net(x))
    # MXNet 2.0 imports a 1.x graph (1.x cannot read a 2.0 one): compare with it, except
    # for RNN layers, whose 1.x graph MXNet 2.0 refuses ('Shape inconsistent, Provided =
    # [4,0,8], inferred shape=(4,2,8)': 1.x's begin state has an unknown batch size)
    if 'symbol' in entry and not V1 and name in ('lstm', 'gru'):
        with pytest.raises(mx.base.MXNetError, match='Shape inconsistent'):
            imported(folder, entry, x)
    elif 'symbol' in entry and not V1:
        assert found.tobytes() == imported(folder, entry, x).tobytes()
    if name != 'hand_written':
        assert found.tobytes() == onp.load(folder / 'y.npy').tobytes()
