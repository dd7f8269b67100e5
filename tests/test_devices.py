import mxnet as mx
import pytest
from mxnet.gluon import nn

import gluonparams as gp
from gluonparams import _compat, zoo
from gluonparams.devices import as_devices
from gluonparams.errors import DeviceError, GluonParamsError, ReplicaError

import nets


@pytest.mark.parametrize('given, expected', [
    ('cpu', ['cpu(0)']), ('cpu(1)', ['cpu(1)']), (' cpu( 2 ) ', ['cpu(2)']),
    (mx.cpu(1), ['cpu(1)']), (['cpu(0)', mx.cpu(1)], ['cpu(0)', 'cpu(1)']),
    (('cpu(3)',), ['cpu(3)']),
])
def test_device_spellings(given, expected):
    assert [f'{d.device_type}({d.device_id})' for d in as_devices(given)] == expected


@pytest.mark.parametrize('given, message', [
    ('cpu1', "device 'cpu1' is not a device name"),
    ('tpu(0)', "device 'tpu(0)' is not a device name"),
    (3, 'is not a device'),
    ([], 'names no device'),
    (['cpu(0)', 'cpu(0)'], 'names cpu(0) more than once'),
])
def test_bad_devices_are_named_with_what_exists(given, message):
    with pytest.raises(DeviceError, match=message.replace('(', r'\(').replace(')', r'\)')):
        as_devices(given)


def test_missing_gpu_says_how_many_exist():
    with pytest.raises(GluonParamsError, match=r"'gpu\(64\)' is not available.*cpu\(N\)"):
        as_devices('gpu(64)')


# --- to_device and check_replicas ---

def _names(devices):
    return [_compat.device_name(d) for d in devices]


def _bits(net):
    """Every parameter's value as raw bytes, per copy, by first name."""
    mx.nd.waitall()
    return {name: [arr.asnumpy().tobytes() for arr in p.list_data()]
            for name, p in gp.named_parameters(net)}


@pytest.mark.parametrize('target', ['cpu(2)', ['cpu(1)', 'cpu(2)']])
def test_to_device_moves_the_network_bit_exact_with_ties_kept(device, target):
    net = nets.deck_tied(device)
    x = _compat.uniform((2, 20), nets.devices_of(device)[0])
    expected_out = net(x).asnumpy()
    objects = dict(gp.named_parameters(net, remove_duplicate=False))
    values = {name: copies[0] for name, copies in _bits(net).items()}
    ties = gp.tie_groups(net)

    assert gp.to_device(net, target) is net
    targets = as_devices(target)
    for name, param in gp.named_parameters(net, remove_duplicate=False):
        assert param is objects[name]
        assert _names(_compat.param_devices(param)) == _names(targets), name
    assert gp.tie_groups(net) == ties and net[1].weight is net[2].weight
    assert {name: set(copies) for name, copies in _bits(net).items()} == {
        name: {value} for name, value in values.items()}
    grad = net[0].weight.grad(targets[-1]).asnumpy()
    assert grad.shape == (8, 20) and not grad.any()
    out = net(x.copyto(targets[0])).asnumpy()
    assert out.tobytes() == expected_out.tobytes()


def test_to_device_is_bit_exact_where_mxnet_would_average_three_copies():
    # Parameter.reset_device averages its copies: (a + a + a) / 3 changes the bits of
    # about a fifth of float32 values. to_device writes the one verified copy instead.
    net = nn.Sequential()
    net.add(nn.Dense(64, in_units=64))
    zoo.initialize(net, [mx.cpu(0), mx.cpu(1), mx.cpu(2)])
    before = _bits(net)['0.weight'][0]
    gp.to_device(net, 'cpu(3)')
    assert _bits(net)['0.weight'] == [before]


def test_a_tied_parameter_is_moved_once(monkeypatch):
    net = nets.tied_lm()
    moves = []
    reset = _compat.reset_device
    monkeypatch.setattr(_compat, 'reset_device', lambda p, d: (moves.append(id(p)), reset(p, d)))
    gp.to_device(net, 'cpu(1)')
    assert sorted(moves) == sorted(id(p) for _, p in gp.named_parameters(net))
    assert net.decoder.weight is net.embed.weight
    assert _names(_compat.param_devices(net.decoder.weight)) == ['cpu(1)']


def test_deferred_parameters_initialize_on_the_new_device():
    net = nets.deck_tied(run=False)          # first layer's input width still unknown
    gp.to_device(net, ['cpu(1)', 'cpu(2)'])
    net(_compat.uniform((2, 20), mx.cpu(1)))
    assert {tuple(_names(_compat.param_devices(p))) for _, p in gp.named_parameters(net)} == {
        ('cpu(1)', 'cpu(2)')}
    assert gp.check_replicas(net)['0.weight'] == ['cpu(1)', 'cpu(2)']


def test_to_device_refuses_divergent_copies_and_moves_nothing():
    net = nets.deck_tied([mx.cpu(0), mx.cpu(1)])
    net[3].bias.list_data()[1][0] = 7
    before = _bits(net)
    with pytest.raises(ReplicaError, match=r"'3\.bias'"):
        gp.to_device(net, 'cpu(2)')
    assert _bits(net) == before
    assert {tuple(_names(_compat.param_devices(p))) for _, p in gp.named_parameters(net)} == {
        ('cpu(0)', 'cpu(1)')}


def test_a_failed_move_puts_every_parameter_back(monkeypatch):
    net = nets.deck_tied(mx.cpu(0))
    before = _bits(net)
    reset, calls = _compat.reset_device, []

    def fail_third(param, devices):
        calls.append(param)
        if len(calls) == 3:
            raise mx.base.MXNetError('out of memory (simulated)')
        reset(param, devices)
    monkeypatch.setattr(_compat, 'reset_device', fail_third)
    with pytest.raises(DeviceError, match=r"moving parameter '1\.weight' to cpu\(1\) failed: "
                                          r".*simulated.*back where it was"):
        gp.to_device(net, 'cpu(1)')
    assert _bits(net) == before
    assert all(_names(_compat.param_devices(p)) == ['cpu(0)']
               for _, p in gp.named_parameters(net))


def test_to_device_rejects_a_bad_device_before_touching_anything():
    net = nets.deck_toy(mx.cpu(0))
    with pytest.raises(DeviceError, match=r"'gpu\(9\)' is not available"):
        gp.to_device(net, 'gpu(9)')
    assert _names(_compat.param_devices(net[0].weight)) == ['cpu(0)']


def _replicated(device):
    """The deck's tied network on ``device`` plus, if that is one device, cpu(2)."""
    devices = nets.devices_of(device)
    net = nets.deck_tied(device)
    if len(devices) == 1:
        gp.to_device(net, devices + [mx.cpu(2)])
    return net


def test_check_replicas_passes_identical_copies_and_names_what_it_compared(device):
    net = _replicated(device)
    checked = gp.check_replicas(net)
    assert list(checked) == [n for n, _ in gp.named_parameters(net)]
    assert all(devs == _names(_compat.param_devices(gp.get(net, n))) and len(devs) == 2
               for n, devs in checked.items())


def test_check_replicas_catches_and_names_one_perturbed_copy(device):
    net = _replicated(device)
    param = net[1].weight
    reference = float(param.list_data()[0].asnumpy()[0, 0])
    param.list_data()[1][0, 0] = 100
    devices = _names(_compat.param_devices(param))
    with pytest.raises(ReplicaError) as info:
        gp.check_replicas(net)
    message = str(info.value)
    assert f"'1.weight' (tied: '2.weight'): {devices[1]} differs from {devices[0]} " \
           f"in 1 of 64 values" in message
    assert message.startswith('1 parameter differs') and 'set_data' in message
    [found] = info.value.divergent
    assert (found.name, found.also, found.reference, found.device) == (
        '1.weight', ['2.weight'], devices[0], devices[1])
    assert found.max_abs_diff == abs(100.0 - reference)
    assert isinstance(info.value, gp.GluonParamsError)


def test_check_replicas_compares_bits_so_nan_is_judged_correctly():
    net = nets.deck_tied([mx.cpu(0), mx.cpu(1)])
    for copy in net[0].bias.list_data():
        copy[3] = float('nan')               # the same NaN on both devices: identical
    gp.check_replicas(net)
    net[0].bias.list_data()[1][5] = float('nan')
    with pytest.raises(ReplicaError, match=r"'0\.bias': cpu\(1\) differs from cpu\(0\) in 1 "
                                           r"of 8 values, max \|difference\| n/a.*NaN on one "
                                           r"device only in 1"):
        gp.check_replicas(net)


def test_check_replicas_device_limits_the_comparison():
    net = nets.deck_toy([mx.cpu(0), mx.cpu(1), mx.cpu(2)])
    net[1].bias.list_data()[2][0] = 5        # only the cpu(2) copy drifts
    checked = gp.check_replicas(net, device=['cpu(0)', 'cpu(1)'])
    assert set(map(tuple, checked.values())) == {('cpu(0)', 'cpu(1)')}
    with pytest.raises(ReplicaError, match=r"'1\.bias': cpu\(2\) differs from cpu\(0\)"):
        gp.check_replicas(net, device=['cpu(0)', 'cpu(2)'])
    with pytest.raises(DeviceError, match=r"names cpu\(7\), where no parameter .* live on "
                                          r"cpu\(0\), cpu\(1\), cpu\(2\)"):
        gp.check_replicas(net, device='cpu(7)')


def test_a_network_on_one_device_has_nothing_to_compare():
    assert gp.check_replicas(nets.deck_toy(mx.cpu(1))) == {}
    assert gp.check_replicas(nets.deck_tied(run=False)) == {}   # deferred: no data yet
