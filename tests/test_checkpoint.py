"""gp.save / gp.load / gp.inspect / gp.verify: round trips, formats, ties, strict loading."""

import warnings

import mxnet as mx
import numpy as onp
import pytest
from mxnet import gluon
from mxnet.gluon import nn
from nets import deck_tied, devices_of, same_block_twice, tied_lm

import gluonparams as gp
from gluonparams import _compat, _names, zoo

FORMATS = ['safetensors', 'params', 'npz']
DTYPES = ['float16', 'float32', 'float64', 'int8', 'int32', 'int64', 'uint8']


def values_of(net):
    """name -> list of numpy copies, one per device, every name (tied ones included)."""
    mx.nd.waitall()
    return {name: [a.asnumpy() for a in p.list_data()]
            for name, p in gp.named_parameters(net, remove_duplicate=False)}


def assert_bit_equal(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def assert_same_values(net_a, net_b):
    va, vb = values_of(net_a), values_of(net_b)
    assert list(va) == list(vb)
    for name in va:
        for x in vb[name]:
            assert_bit_equal(va[name][0], x)


def random_bits(shape, dtype, seed=0):
    """Every bit pattern is fair game (NaN payloads, -0.0, subnormals), bool is 0/1."""
    rng = onp.random.default_rng(seed)
    dtype = onp.dtype(dtype)
    n = int(onp.prod(shape)) * dtype.itemsize
    raw = rng.integers(0, 256, size=n, dtype=onp.uint8)
    if dtype == onp.bool_:
        raw %= 2
    return raw.view(dtype).reshape(shape)


def fill_random(net, seed=0):
    """Random bits in every parameter (all replicas equal)."""
    for i, (_, p) in enumerate(gp.named_parameters(net)):
        data = p.list_data()[0]
        p.set_data(_compat.array_from_numpy(random_bits(data.shape, data.dtype, seed + i)))
    mx.nd.waitall()


class AllDtypes(gluon.Block):
    """One parameter of each dtype MXNet parameters use."""

    def __init__(self):
        super().__init__()
        for dtype in DTYPES:
            setattr(self, dtype, gluon.Parameter(dtype, shape=(3, 5), dtype=dtype,
                                                 init=mx.init.Zero()))

    def initialize(self, device=None):
        # parameters set as attributes: 1.x's Block.initialize does not see them
        for _, p in gp.named_parameters(self):
            p.initialize(**_compat.device_kwargs(device))


@pytest.mark.parametrize('fmt', FORMATS)
def test_every_dtype_round_trips_bit_for_bit_across_devices(fmt, device, tmp_path):
    net = AllDtypes()
    net.initialize(device)
    fill_random(net)
    path = tmp_path / f'all.{fmt}'
    gp.save(net, path)
    for target in ('cpu(0)', 'cpu(1)', ['cpu(0)', 'cpu(1)']):
        fresh = AllDtypes()
        report = gp.load(fresh, path, device=target)
        assert report.loaded == DTYPES and not report.missing
        assert_same_values(net, fresh)
        for _, p in gp.named_parameters(fresh):
            names = [_compat.device_name(d) for d in _compat.param_devices(p)]
            assert names == ([target] if isinstance(target, str) else target)


class Shapes(gluon.Block):
    """A scalar, a zero-size and an ordinary parameter, shapes unknown until loaded."""

    def __init__(self, dtype):
        super().__init__()
        self.scalar = gluon.Parameter('scalar', shape=(), dtype=dtype)
        self.empty = gluon.Parameter('empty', shape=(0, 3), dtype=dtype)
        self.matrix = gluon.Parameter('matrix', shape=(-1, 2), dtype=dtype)


@pytest.mark.parametrize('fmt', FORMATS)
@pytest.mark.parametrize('dtype', DTYPES)
def test_scalars_and_zero_size_arrays_round_trip(dtype, fmt, tmp_path):
    with mx.util.np_shape(True), mx.util.np_array(True):   # 2.0's default, 1.x's npx.set_np()
        scalars_and_zero_size_arrays_round_trip(dtype, fmt, tmp_path)


def scalars_and_zero_size_arrays_round_trip(dtype, fmt, tmp_path):
    from safetensors.numpy import load_file, save_file
    arrays = {'scalar': random_bits((), dtype, 1), 'empty': random_bits((0, 3), dtype),
              'matrix': random_bits((4, 2), dtype, 2)}
    save_file(arrays, str(tmp_path / 'in.safetensors'))      # written by another library
    net = Shapes(dtype)
    gp.load(net, tmp_path / 'in.safetensors', device='cpu(1)')
    gp.save(net, tmp_path / f'out.{fmt}')
    again = Shapes(dtype)
    gp.load(again, tmp_path / f'out.{fmt}')
    for name, expected in arrays.items():
        assert_bit_equal(gp.get(again, name).data().asnumpy(), expected)
    gp.save(again, tmp_path / 'out.safetensors')
    back = load_file(str(tmp_path / 'out.safetensors'))
    for name, expected in arrays.items():
        assert_bit_equal(back[name], expected)


def test_legacy_shapes_cannot_take_a_scalar(tmp_path):
    from safetensors.numpy import save_file
    save_file({'scalar': onp.array(1.5, onp.float32), 'empty': onp.zeros((0, 3), onp.float32),
               'matrix': onp.ones((4, 2), onp.float32)}, str(tmp_path / 'in.safetensors'))
    legacy = r"(?s)'scalar': .*legacy shapes, which hold no scalar .*mx.npx.set_np\(\)"
    with mx.util.np_array(False), mx.util.np_shape(False), \
            pytest.raises(gp.CheckpointError, match=legacy):
        gp.load(Shapes('float32'), tmp_path / 'in.safetensors')


@pytest.mark.parametrize('fmt', FORMATS)
def test_model_zoo_resnet_round_trips_between_devices(fmt, device, tmp_path):
    net = zoo.model_zoo_net('resnet18_v1', device)
    net(_compat.zeros((1, 3, 32, 32), devices_of(device)[0]))
    path = tmp_path / f'resnet.{fmt}'
    gp.save(net, path, fsync=False)
    fresh = zoo.model_zoo_net('resnet18_v1')   # deferred: shapes come from the file
    report = gp.load(fresh, path, device=['cpu(0)', 'cpu(1)'])
    assert len(report.loaded) == len(list(gp.named_parameters(net)))
    assert_same_values(net, fresh)


@pytest.mark.parametrize('fmt', FORMATS)
def test_deck_tied_net_keeps_its_ties(fmt, device, tmp_path):
    net = deck_tied(device)
    fill_random(net)
    gp.save(net, tmp_path / f'tied.{fmt}')
    info = gp.inspect(tmp_path / f'tied.{fmt}')
    assert info.ties == [['1.weight', '2.weight'], ['1.bias', '2.bias']]
    assert info.total_params == 330
    fresh = deck_tied(run=False)
    gp.load(fresh, tmp_path / f'tied.{fmt}', device=device)
    assert gp.tie_groups(fresh) == gp.tie_groups(net)
    assert_same_values(net, fresh)
    assert gp.get(fresh, '1.weight') is gp.get(fresh, '2.weight')


def test_safetensors_stores_a_tie_once_and_any_reader_reads_it(tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file
    net = tied_lm()
    gp.save(net, tmp_path / 'lm.safetensors', metadata={'epoch': '7'})
    arrays = load_file(str(tmp_path / 'lm.safetensors'))
    assert 'decoder.weight' not in arrays       # stored once, under embed.weight
    assert_bit_equal(arrays['embed.weight'], net.embed.weight.data().asnumpy())
    with safe_open(str(tmp_path / 'lm.safetensors'), 'np') as f:
        meta = f.metadata()
    assert meta['epoch'] == '7' and meta['gluonparams.mxnet_version'] == mx.__version__
    assert gp.inspect(tmp_path / 'lm.safetensors').metadata == {'epoch': '7'}


def test_npz_is_numpys_format(tmp_path):
    net = deck_tied()
    gp.save(net, tmp_path / 'net.npz')
    with onp.load(tmp_path / 'net.npz') as data:
        assert data.files == ['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']
        assert_bit_equal(data['3.weight'], net[3].weight.data().asnumpy())


def test_gluon_load_parameters_reads_what_save_writes(tmp_path):
    net = deck_tied()
    fill_random(net)
    gp.save(net, tmp_path / 'net.params')
    for tied in (True, False):      # every name is stored: an untied twin loads it too
        other = deck_tied() if tied else untied_deck_net()
        other.load_parameters(str(tmp_path / 'net.params'))
        assert_bit_equal(other[2].weight.data().asnumpy(), net[1].weight.data().asnumpy())


def untied_deck_net(device=None):
    net = nn.Sequential()
    net.add(*[nn.Dense(8, activation='relu') for _ in range(3)], nn.Dense(10))
    zoo.initialize(net, device)
    net(_compat.uniform((2, 20)))
    return net


@pytest.mark.parametrize('deduplicate', [False, True])
def test_load_reads_what_save_parameters_writes(deduplicate, tmp_path):
    net = deck_tied()
    fill_random(net)
    net.save_parameters(str(tmp_path / 'gluon.params'), deduplicate=deduplicate)
    fresh = deck_tied(run=False)
    report = gp.load(fresh, tmp_path / 'gluon.params')
    assert report.loaded == ['0.weight', '0.bias', '1.weight', '2.weight', '1.bias', '2.bias',
                             '3.weight', '3.bias']
    assert_same_values(net, fresh)


def test_load_reads_mxnet_legacy_binary(tmp_path):
    net = deck_tied()
    fill_random(net)
    arrays = {name: p.data().as_nd_ndarray() if hasattr(p.data(), 'as_nd_ndarray') else p.data()
              for name, p in gp.named_parameters(net, remove_duplicate=False)}
    mx.nd.save(str(tmp_path / 'legacy.params'), arrays)
    assert gp.inspect(tmp_path / 'legacy.params').format == 'params (MXNet NDArray binary)'
    fresh = deck_tied(run=False)
    gp.load(fresh, tmp_path / 'legacy.params')
    assert_same_values(net, fresh)


@pytest.mark.parametrize('fmt', FORMATS)
def test_untied_network_gets_the_value_under_every_name_and_a_warning(fmt, tmp_path):
    net = deck_tied()
    fill_random(net)
    gp.save(net, tmp_path / f'tied.{fmt}')
    other = untied_deck_net()
    with pytest.warns(UserWarning, match=r"ties \['1.weight', '2.weight'\], \['1.bias', "
                                         r"'2.bias'\] but the network does not"):
        gp.load(other, tmp_path / f'tied.{fmt}')
    assert_bit_equal(other[2].weight.data().asnumpy(), net[1].weight.data().asnumpy())
    assert_bit_equal(other[1].bias.data().asnumpy(), net[2].bias.data().asnumpy())


def test_gluon_deduplicated_file_and_an_untied_network(tmp_path):
    net = deck_tied()
    net.save_parameters(str(tmp_path / 'dedup.params'), deduplicate=True)
    # Gluon's open bug: its own file does not load into the untied twin
    with pytest.raises(AssertionError):
        untied_deck_net().load_parameters(str(tmp_path / 'dedup.params'))
    # the file records no tie (Gluon keeps the last name), so the names it lacks are
    # reported, all at once
    with pytest.raises(gp.CheckpointError, match="not in the file: '1.weight', '1.bias'"):
        gp.load(untied_deck_net(), tmp_path / 'dedup.params')
    # converted through gp.load into the tied network, gp.save records the tie
    tied = deck_tied(run=False)
    gp.load(tied, tmp_path / 'dedup.params')
    gp.save(tied, tmp_path / 'fixed.params')
    untied_deck_net().load_parameters(str(tmp_path / 'fixed.params'))


def test_tied_network_accepts_separate_equal_copies_and_refuses_different_ones(tmp_path):
    from safetensors.numpy import save_file
    net = deck_tied()
    arrays = {n: a[0] for n, a in values_of(net).items()}
    save_file(arrays, str(tmp_path / 'equal.safetensors'))   # no tie recorded, equal copies
    fresh = deck_tied(run=False)
    assert len(gp.load(fresh, tmp_path / 'equal.safetensors').loaded) == 8
    assert_same_values(net, fresh)
    arrays['2.weight'] = arrays['2.weight'] + onp.float32(0.5)
    save_file(arrays, str(tmp_path / 'different.safetensors'))
    before = values_of(fresh)
    with pytest.raises(gp.CheckpointError, match=r"'1.weight', '2.weight'.*max difference 0.5"):
        gp.load(fresh, tmp_path / 'different.safetensors')
    assert_same_values_dict(before, values_of(fresh))


def test_separate_copies_of_another_shape_or_holding_infinities_are_refused_cleanly(tmp_path):
    """Found by the fuzzers: copies the network ties with another shape (its shape still
    unknown) raised numpy's ValueError, and infinities at one place in both copies a
    RuntimeWarning, instead of a CheckpointError."""
    from safetensors.numpy import save_file
    arrays = {n: a[0] for n, a in values_of(deck_tied()).items()}
    shapes = dict(arrays, **{'2.weight': onp.zeros((8, 20), onp.float32)})
    save_file(shapes, str(tmp_path / 'shapes.safetensors'))
    for strict in (True, False):
        with pytest.raises(gp.CheckpointError, match=r"'1.weight' and '2.weight' with "
                                                     r"different shapes \(8, 8\) and \(8, 20\)"):
            gp.load(deck_tied(run=False), tmp_path / 'shapes.safetensors', strict=strict)
    arrays['1.weight'][0, 0] = arrays['2.weight'][0, 0] = onp.inf
    arrays['2.weight'][1, 1] += 1
    save_file(arrays, str(tmp_path / 'inf.safetensors'))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        with pytest.raises(gp.CheckpointError, match=r"'1.weight' and '2.weight' with "
                                                     r"different values \(max difference 1\)"):
            gp.load(deck_tied(run=False), tmp_path / 'inf.safetensors')


def assert_same_values_dict(a, b):
    assert list(a) == list(b)
    for name in a:
        for x, y in zip(a[name], b[name]):
            assert_bit_equal(x, y)


def test_one_block_added_twice_round_trips(tmp_path):
    net = same_block_twice()
    gp.save(net, tmp_path / 'twice.safetensors')
    ties = gp.inspect(tmp_path / 'twice.safetensors').ties
    assert ties == [['1.weight', '2.weight'], ['1.bias', '2.bias']]
    fresh = same_block_twice()
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        gp.load(fresh, tmp_path / 'twice.safetensors')
    assert_same_values(net, fresh)


def test_strict_load_lists_every_problem_at_once_and_changes_nothing(tmp_path):
    net = deck_tied()
    gp.save(net, tmp_path / 'net.safetensors')
    other = nn.Sequential()
    other.add(nn.Dense(8, in_units=20), nn.Dense(8, in_units=8), nn.Dense(10, in_units=8))
    other.head = nn.Dense(3, in_units=3)
    other.initialize()
    before = values_of(other)
    with pytest.raises(gp.CheckpointError) as info:
        gp.load(other, tmp_path / 'net.safetensors')
    message = str(info.value)
    assert message.startswith(str(tmp_path / 'net.safetensors'))
    assert '(2 missing, 2 unexpected, 2 mismatched)' in message
    assert "in the network, not in the file: 'head.weight', 'head.bias'" in message
    assert "in the file, not in the network: '3.weight', '3.bias'" in message
    # 2.weight is tied to 1.weight in the file: it is checked against the stored value
    assert "'2.weight': the network has (10, 8) float32, the file (8, 8) float32" in message
    assert "'2.bias': the network has (10,) float32, the file (8,) float32" in message
    assert 'strict=False' in message
    assert_same_values_dict(before, values_of(other))


def test_non_strict_load_returns_a_report(tmp_path):
    net = deck_tied()
    fill_random(net)
    gp.save(net, tmp_path / 'net.safetensors')
    other = nn.Sequential()
    other.add(nn.Dense(8, in_units=20), nn.Dense(8, in_units=8), nn.Dense(5, in_units=8))
    other.initialize()
    report = gp.load(other, tmp_path / 'net.safetensors', strict=False)
    assert report.loaded == ['0.weight', '0.bias', '1.weight', '1.bias']
    assert report.missing == []
    assert report.unexpected == ['3.weight', '3.bias']
    assert report.mismatched == [('2.weight', '(5, 8) float32', '(8, 8) float32'),
                                 ('2.bias', '(5,) float32', '(8,) float32')]
    assert_bit_equal(other[1].weight.data().asnumpy(), net[1].weight.data().asnumpy())


def wrapped(inner):
    outer = nn.Sequential()
    outer.add(inner)
    return outer


def test_hint_when_the_file_was_saved_from_a_part_of_the_network(tmp_path):
    backbone = deck_tied()
    gp.save(backbone, tmp_path / 'backbone.safetensors')
    net = wrapped(deck_tied())
    with pytest.raises(gp.CheckpointError, match=r"with '0\.' in front: the file was saved "
                                                 r"from that part alone.*gp\.get\(net, '0'\)"):
        gp.load(net, tmp_path / 'backbone.safetensors')
    gp.load(gp.get(net, '0'), tmp_path / 'backbone.safetensors')   # the fix the hint gives


def test_hint_when_the_file_was_saved_from_a_wrapper(tmp_path):
    gp.save(wrapped(deck_tied()), tmp_path / 'wrapper.safetensors')
    with pytest.raises(gp.CheckpointError, match=r"holds this one as '0'"):
        gp.load(deck_tied(), tmp_path / 'wrapper.safetensors')


def test_select_loads_only_matching_names(tmp_path):
    net = deck_tied()
    fill_random(net)
    gp.save(net, tmp_path / 'net.safetensors')
    fresh = deck_tied()
    before = values_of(fresh)
    report = gp.load(fresh, tmp_path / 'net.safetensors', select='bias')
    assert report.loaded == ['0.bias', '1.bias', '2.bias', '3.bias']
    assert_bit_equal(fresh[3].bias.data().asnumpy(), net[3].bias.data().asnumpy())
    assert_bit_equal(fresh[3].weight.data().asnumpy(), before['3.weight'][0])
    with pytest.raises(gp.GluonParamsError, match='matches no parameter'):
        gp.load(fresh, tmp_path / 'net.safetensors', select='nothing-like-this')


def test_dtype_the_network_cannot_take_is_refused(tmp_path):
    net = deck_tied()
    gp.save(net, tmp_path / 'f32.safetensors')
    half = deck_tied()
    half.cast('float16')
    with pytest.raises(gp.CheckpointError, match=r'(?s)float16, the file .* float32.*net\.cast'):
        gp.load(half, tmp_path / 'f32.safetensors')


def test_load_keeps_devices_unless_asked(tmp_path):
    net = deck_tied([mx.cpu(0), mx.cpu(1)])
    gp.save(net, tmp_path / 'net.safetensors')
    on_one = deck_tied(mx.cpu(1))
    gp.load(on_one, tmp_path / 'net.safetensors')
    assert {_compat.device_name(d) for _, p in gp.named_parameters(on_one)
            for d in _compat.param_devices(p)} == {'cpu(1)'}
    assert_same_values(net, on_one)


@pytest.mark.skipif(_compat.num_gpus() == 0, reason='needs a GPU')
def test_load_onto_a_gpu_by_name(tmp_path):
    net = deck_tied()
    gp.save(net, tmp_path / 'net.safetensors')
    fresh = deck_tied(run=False)
    gp.load(fresh, tmp_path / 'net.safetensors', device='gpu(0)')
    assert_same_values(net, fresh)


def test_save_refuses_uninitialized_parameters_and_bad_metadata(tmp_path):
    with pytest.raises(gp.CheckpointError, match=r"2 parameters hold no data yet: '0.weight', "
                                                 r"'1.weight'.*forward pass"):
        gp.save(zoo.deck_toy_net()[0], tmp_path / 'x.safetensors')
    assert not list(tmp_path.iterdir())
    with pytest.raises(gp.GluonParamsError, match=r"strings to strings.*'epoch': 3"):
        gp.save(deck_tied(), tmp_path / 'x.safetensors', metadata={'epoch': 3})
    with pytest.raises(gp.GluonParamsError, match='reserved'):
        gp.save(deck_tied(), tmp_path / 'x.safetensors', metadata={'gluonparams.ties': '[]'})


def test_unknown_extension_lists_the_formats(tmp_path):
    with pytest.raises(gp.CheckpointError, match=r"'\.pt'.*\.safetensors, \.params, \.npz"):
        gp.save(deck_tied(), tmp_path / 'model.pt')
    with pytest.raises(gp.CheckpointError, match='unknown checkpoint format'):
        gp.inspect(tmp_path / 'model')


def test_inspect_and_verify_describe_the_file(tmp_path):
    net = deck_tied()
    gp.save(net, tmp_path / 'net.params', metadata={'note': 'hi'})
    info = gp.inspect(tmp_path / 'net.params')
    assert [t.name for t in info.tensors] == ['0.weight', '0.bias', '1.weight', '2.weight',
                                              '1.bias', '2.bias', '3.weight', '3.bias']
    assert info.total_params == 330 and info.metadata == {'note': 'hi'}
    assert info.has_checksums and info.gluonparams_version == gp.__version__
    text = str(info)
    assert '→ shared with 1.weight' in text and 'Total params: 330' in text
    report = gp.verify(tmp_path / 'net.params')
    assert len(report.checked) == 8 and report.unchecked == []


def test_verify_says_when_a_file_has_no_checksums(tmp_path):
    from safetensors.numpy import save_file
    save_file({'w': onp.zeros(3, onp.float32)}, str(tmp_path / 'plain.safetensors'))
    report = gp.verify(tmp_path / 'plain.safetensors')
    assert report.checked == [] and report.unchecked == ['w']
    assert 'no checksums recorded' in str(report)


def test_load_moves_an_initialized_network_to_the_devices_asked(tmp_path):
    net = deck_tied()
    fill_random(net)
    gp.save(net, tmp_path / 'net.safetensors')
    other = deck_tied(mx.cpu(0))
    gp.load(other, tmp_path / 'net.safetensors', device=[mx.cpu(0), 'cpu(1)'])
    for _, p in gp.named_parameters(other):
        assert [_compat.device_name(d) for d in _compat.param_devices(p)] == ['cpu(0)', 'cpu(1)']
    assert_same_values(net, other)


@pytest.mark.parametrize('where', [None, 'cpu(1)', ['cpu(0)', 'cpu(1)']])
def test_a_load_waits_for_the_engine_twice_however_many_parameters_move(
        where, tmp_path, monkeypatch):
    net = nn.Sequential()
    net.add(*[nn.Dense(4, in_units=4) for _ in range(20)])
    zoo.initialize(net)
    gp.save(net, tmp_path / 'net.safetensors')
    waits = []
    real = _compat.sync
    monkeypatch.setattr(_compat, 'sync', lambda: waits.append(1) or real())
    gp.load(net, tmp_path / 'net.safetensors', device=where)
    assert len(waits) == 2                 # before the host views are written, and after


def hybrid_tied():
    net = nn.HybridSequential()
    shared = nn.Dense(8, in_units=8, activation='relu')
    clone = nn.Dense(8, in_units=8, activation='relu')
    gp.share(clone, shared)
    net.add(nn.Dense(8, in_units=20), shared, clone, nn.Dense(10, in_units=8))
    zoo.initialize(net)
    return net


def test_a_hybridized_network_computes_with_the_loaded_values(tmp_path):
    net = hybrid_tied()
    fill_random(net, 4)
    for _, p in gp.named_parameters(net):   # finite values, so outputs can be compared
        p.set_data(_compat.array_from_numpy(onp.nan_to_num(p.data().asnumpy()) % 3))
    gp.save(net, tmp_path / 'net.safetensors')
    x = _compat.uniform((2, 20))
    other = hybrid_tied()
    other.hybridize(static_alloc=True, static_shape=True)
    before = other(x).asnumpy()                 # the cached graph holds the parameters
    gp.load(other, tmp_path / 'net.safetensors')
    after = other(x).asnumpy()
    assert after.tobytes() == net(x).asnumpy().tobytes() != before.tobytes()


def test_a_trainer_that_keeps_its_own_copy_sees_the_loaded_values(tmp_path):
    """With update_on_kvstore the kvstore holds the weights: a load must reach it, or the
    next step would silently bring the old weights back."""
    from mxnet import autograd

    def step(net, trainer):
        with autograd.record():
            losses = [net(x).sum() for x in inputs]
        for loss in losses:
            loss.backward()
        trainer.step(4)

    def dense():
        net = nn.Dense(2, in_units=3)
        net.initialize(mx.init.One(), **_compat.device_kwargs([mx.cpu(0), mx.cpu(1)]))
        return net

    def trainer(net):
        return gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1},
                             kvstore='device', update_on_kvstore=True)

    inputs = [_compat.array_from_numpy(onp.ones((4, 3), onp.float32), d)
              for d in (mx.cpu(0), mx.cpu(1))]
    net, reference = dense(), dense()
    net_trainer = trainer(net)
    step(net, net_trainer)
    for p in (reference.weight, reference.bias):
        p.set_data(_compat.array_from_numpy(onp.full(p.shape, 5, onp.float32)))
    gp.save(reference, tmp_path / 'five.safetensors')
    gp.load(net, tmp_path / 'five.safetensors')
    step(net, net_trainer)
    step(reference, trainer(reference))
    assert_same_values(reference, net)


@pytest.mark.parametrize('call', ['save', 'load'])
def test_a_save_or_load_with_a_trainer_walks_the_network_once(call, tmp_path, monkeypatch):
    net = deck_tied()
    trainer = gluon.Trainer(net.collect_params(), 'adam')
    gp.save(net, tmp_path / 'net.safetensors', trainer=trainer)
    walks = []
    real = _names.collect                  # the one pass under every traversal
    monkeypatch.setattr(_names, 'collect', lambda *a, **k: walks.append(a) or real(*a, **k))
    if call == 'save':
        gp.save(net, tmp_path / 'again.safetensors', trainer=trainer)
    else:
        gp.load(net, tmp_path / 'net.safetensors', trainer=trainer)
    assert len(walks) == 1
