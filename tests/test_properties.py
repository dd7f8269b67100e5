"""Properties that hold for every network: hypothesis generates the networks.

Each test states one invariant and checks it on networks drawn by ``netgen.specs()``
(random nesting, widths, dtypes, ties of every style, deferred and initialized
parameters, every device of the ``device`` fixture), against a brute-force answer
computed here from Gluon's own structural dictionary. The ``ci`` profile (the
default, in ``conftest.py``) runs a bounded number of examples from a fixed seed;
``HYPOTHESIS_PROFILE=thorough`` runs many more.
"""

import fnmatch
import re
import warnings
from math import prod

import mxnet as mx
import nets
import netgen
import numpy as onp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_checkpoint import FORMATS, values_of

import gluonparams as gp
from gluonparams import _compat
from gluonparams.checkpoint import convert, diff

# Saving and loading cost more than a summary: a third of the profile's examples.
HEAVY = settings(max_examples=max(4, settings().max_examples // 3))


def gluon_structural(net):
    """Gluon's own ``{structural name: Parameter}``: 2.0's ``collect_params()``; 1.x's
    ``collect_params()`` is keyed by global names, ``_collect_params_with_prefix()``
    gives the structural ones."""
    if _compat.HAS_GLOBAL_NAMES:
        return net._collect_params_with_prefix()
    return net.collect_params()


def unique_params(net):
    """Each distinct Parameter once, by identity, in Gluon's order."""
    out = []
    for param in gluon_structural(net).values():
        if not any(param is seen for seen in out):
            out.append(param)
    return out


def known(param):
    return param.shape is not None and all(d > 0 for d in param.shape)


@st.composite
def networks(draw):
    """A spec and its network: uninitialized, initialized, or initialized with every
    layer's shape settled (a bag's deferred Parameters wait for a load)."""
    spec = draw(netgen.specs())
    state = draw(st.sampled_from(['built', 'initialized', 'settled']))
    net = netgen.build(spec)
    if state != 'built':
        netgen.initialize(net, spec.device)
    if state == 'settled':
        netgen.settle(net, spec)
    return spec, net


# --- summary ---------------------------------------------------------------------------

@given(networks())
def test_summary_totals_equal_a_brute_force_count(case):
    _, net = case
    s = gp.summary(net, file=None)
    unique = unique_params(net)
    sized = [p for p in unique if known(p)]
    assert s.total_params == sum(prod(p.shape) for p in sized)
    assert s.trainable_params == sum(prod(p.shape) for p in sized if p.grad_req != 'null')
    assert s.non_trainable_params == s.total_params - s.trainable_params
    assert s.unknown_params == len(unique) - len(sized)
    assert s.total_bytes == sum(prod(p.shape) * onp.dtype(p.dtype).itemsize for p in sized)
    assert s.shared_references == len(gluon_structural(net)) - len(unique)
    assert s.ties == gp.tie_groups(net)


@given(networks(), st.one_of(st.none(), st.integers(0, 4)), st.booleans())
def test_visible_rows_plus_folded_rows_equal_the_total(case, depth, fold_repeats):
    _, net = case
    whole = gp.summary(net, file=None)
    s = gp.summary(net, depth=depth, fold_repeats=fold_repeats, file=None)
    shown = sum(r.params for r in s.rows if r.kind == 'param')
    folded = sum(r.folded for r in s.rows if r.kind == 'block')
    assert shown + folded == s.total_params == whole.total_params
    assert len(s.rows) + sum(r.folded_rows for r in s.rows) == len(whole.rows)
    if depth is not None:
        assert all(r.depth <= depth for r in s.rows)


@pytest.mark.filterwarnings('ignore:All children of this Sequential layer')   # MXNet's advice
@given(networks())
def test_hybridizing_changes_nothing_in_the_summary(case):
    spec, net = case
    before = gp.summary(net, file=None).to_dict()
    net.hybridize()
    netgen.settle(net, spec, ready_only=True)   # run the hybridized layers that can run
    assert gp.summary(net, file=None).to_dict() == before


# --- traversal, ties, selection ---------------------------------------------------------

@given(networks())
def test_named_parameters_are_gluons_structural_names_in_order_and_identity(case):
    _, net = case
    expected = list(gluon_structural(net).items())
    found = list(gp.named_parameters(net, remove_duplicate=False))
    assert [n for n, _ in found] == [n for n, _ in expected]
    assert all(p is q for (_, p), (_, q) in zip(found, expected))
    first = []
    for name, param in expected:
        if not any(param is p for _, p in first):
            first.append((name, param))
    deduplicated = list(gp.named_parameters(net))
    assert [n for n, _ in deduplicated] == [n for n, _ in first]
    assert all(p is q for (_, p), (_, q) in zip(deduplicated, first))


@given(networks())
def test_tie_groups_equal_brute_force_identity_grouping(case):
    _, net = case
    items = list(gluon_structural(net).items())
    groups = []
    for i, (name, param) in enumerate(items):
        if any(param is q for _, q in items[:i]):
            continue
        group = [n for n, q in items if q is param]
        if len(group) > 1:
            groups.append(group)
    assert gp.tie_groups(net) == groups


ATOMS = [r'\d', r'^\d+\.', r'weight$', r'(bias|gamma|beta)$', r'\.', r'^[a-z]', r'running_',
         r'^$', r'.', r'[pq]$', r'\d\.\d', r'^(stem|head)\.', r'a', r'\.(alpha|gain)$']


@st.composite
def patterns(draw, names):
    """A regular expression: a piece of a real name (escaped, maybe anchored), a
    hand-written one, or an alternation of two."""
    def piece():
        if names and draw(st.booleans()):
            name = draw(st.sampled_from(names))
            start = draw(st.integers(0, len(name)))
            end = draw(st.integers(start, len(name)))
            text = re.escape(name[start:end])
            return ('^' if start == 0 and draw(st.booleans()) else '') + text + (
                '$' if end == len(name) and draw(st.booleans()) else '')
        return draw(st.sampled_from(ATOMS))
    first = piece()
    return f'{first}|{piece()}' if draw(st.integers(0, 3)) == 0 else first


@st.composite
def globs(draw, names):
    """A shell pattern: a real name with some characters replaced by ``*`` or ``?``."""
    if not names:
        return draw(st.sampled_from(['*', '*.weight', '?.bias']))
    name = list(draw(st.sampled_from(names)))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(name) - 1))
        name[at] = draw(st.sampled_from(['*', '?']))
    return ''.join(name)


def first_per_parameter(items):
    taken, out = [], []
    for name, param in items:
        if not any(param is p for p in taken):
            taken.append(param)
            out.append(name)
    return out


@given(networks(), st.data())
def test_select_equals_filtering_names_with_re_search(case, data):
    _, net = case
    items = list(gluon_structural(net).items())
    names = [n for n, _ in items]
    include = data.draw(st.lists(patterns(names), min_size=1, max_size=2), label='pattern')
    exclude = data.draw(st.lists(patterns(names), max_size=1), label='exclude')

    def keep(name):
        return (any(re.search(p, name) for p in include)
                and not any(re.search(p, name) for p in exclude))

    kept = [(n, p) for n, p in items if keep(n)]
    everything = gp.select(net, include, exclude=exclude or None, remove_duplicate=False)
    assert list(everything) == [n for n, _ in kept]
    assert all(everything[n] is p for n, p in kept)
    assert list(gp.select(net, include, exclude=exclude or None)) == first_per_parameter(kept)


@given(networks(), st.data())
def test_fullmatch_and_glob_modes_equal_their_brute_force(case, data):
    _, net = case
    names = list(gluon_structural(net))
    regex = data.draw(patterns(names), label='regex')
    assert list(gp.select(net, regex, mode='fullmatch', remove_duplicate=False)) == \
        [n for n in names if re.fullmatch(regex, n)]
    glob = data.draw(globs(names), label='glob')
    assert list(gp.select(net, glob, mode='glob', remove_duplicate=False)) == \
        [n for n in names if fnmatch.fnmatchcase(n, glob)]


# --- checkpoints --------------------------------------------------------------------------

metadata = st.dictionaries(st.text(min_size=1, max_size=8).filter(
    lambda k: not k.startswith('gluonparams.')), st.text(max_size=16), max_size=3)


def loaded_twin(spec, path, device, initialize):
    """A fresh network of the same spec (deferred shapes unknown), loaded from ``path``;
    a warning (ties the network lacks) fails the test."""
    twin = netgen.build(spec)
    if initialize:
        netgen.initialize(twin, spec.device)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        report = gp.load(twin, path, device=device)
    assert not (report.missing or report.unexpected or report.mismatched)
    return twin


def assert_restored(original, twin, devices):
    """Every name's every device copy bit for bit, the same ties, on ``devices``."""
    assert gp.tie_groups(twin) == gp.tie_groups(original)
    want, got = values_of(original), values_of(twin)
    assert list(got) == list(want)
    for name, copies in got.items():
        for copy in copies:
            assert copy.dtype == want[name][0].dtype and copy.shape == want[name][0].shape
            assert copy.tobytes() == want[name][0].tobytes(), name
    expected = [_compat.device_name(d) for d in nets.devices_of(devices)]
    for _, param in gp.named_parameters(twin):
        assert [_compat.device_name(d) for d in _compat.param_devices(param)] == expected


@HEAVY
@given(netgen.specs(), st.booleans(), st.booleans(), metadata)
def test_save_then_load_into_a_fresh_twin_is_bit_exact(tmp_path_factory, spec, initialize_twin,
                                                       name_device, meta):
    """The twin is initialized on the spec's device or not at all; the load names the
    device or not (then initialized parameters stay, the others go to cpu(0))."""
    original = netgen.ready(spec, seed=3)
    folder = tmp_path_factory.mktemp('save')
    device = spec.device if name_device else None
    expected = device or (spec.device if initialize_twin else mx.cpu(0))
    for fmt in FORMATS:
        path = folder / f'net.{fmt}'
        gp.save(original, path, metadata=meta, fsync=False)
        assert_restored(original, loaded_twin(spec, path, device, initialize_twin), expected)


@HEAVY
@given(netgen.specs(), metadata)
def test_inspect_agrees_with_what_was_saved(tmp_path_factory, spec, meta):
    original = netgen.ready(spec, seed=4)
    folder = tmp_path_factory.mktemp('inspect')
    everything = dict(gp.named_parameters(original, remove_duplicate=False))
    ties = {frozenset(group) for group in gp.tie_groups(original)}
    total = gp.summary(original, file=None).total_params
    for fmt in FORMATS:
        path = folder / f'net.{fmt}'
        gp.save(original, path, metadata=meta, fsync=False)
        info = gp.inspect(path)
        assert sorted(info.names) == sorted(everything)
        for t in info.tensors:
            param = everything[t.name]
            assert t.shape == tuple(param.shape) and t.dtype == _compat.param_dtype(param)
        assert {frozenset(group) for group in info.ties} == ties
        assert info.total_params == total and info.metadata == meta
        assert info.has_checksums == bool(info.tensors)   # an empty file records none
        assert gp.verify(path).checked == [t.name for t in info.tensors]


@HEAVY
@given(netgen.specs())
def test_convert_between_formats_is_lossless(tmp_path_factory, spec):
    original = netgen.ready(spec, seed=5)
    folder = tmp_path_factory.mktemp('convert')
    for src in FORMATS:
        gp.save(original, folder / f'net.{src}', fsync=False)
        for dst in FORMATS:
            if dst == src:
                continue
            out = folder / f'from-{src}.{dst}'
            convert(str(folder / f'net.{src}'), str(out), fsync=False)
            assert not diff(str(folder / f'net.{src}'), str(out)).differ
            assert_restored(original, loaded_twin(spec, out, None, False), mx.cpu(0))
