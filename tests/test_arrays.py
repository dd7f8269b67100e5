"""gluonparams._arrays: the one comparison rule, and reading values to the host."""

import mxnet as mx
import numpy as onp
import pytest

import gluonparams as gp
from gluonparams import _compat
from gluonparams._arrays import difference, host_values

NAN = onp.float32('nan')
OTHER_NAN = onp.array([0x7FC00001], onp.uint32).view(onp.float32)[0]   # another payload


def test_equal_bits_are_equal_nan_included():
    a = onp.array([1.0, NAN, onp.inf, -onp.inf, 0.0], onp.float32)
    assert difference(a, a.copy()) is None


def test_negative_zero_differs_from_zero_by_nothing_measurable():
    found = difference(onp.array([0.0, 1.0]), onp.array([-0.0, 1.0]))
    assert (found.differing, found.size, found.max_abs, found.nan_mismatch) == (1, 2, 0.0, 0)


def test_nan_on_one_side_is_counted_not_measured():
    found = difference(onp.array([1.0, 2.0, NAN], onp.float32),
                       onp.array([1.5, NAN, 3.0], onp.float32))
    assert (found.differing, found.max_abs, found.nan_mismatch) == (3, 0.5, 2)
    assert found.text() == 'max |difference| 0.5, NaN on one side only in 2'


def test_two_nans_with_other_bits_differ_but_measure_nothing():
    found = difference(onp.array([NAN], onp.float32), onp.array([OTHER_NAN], onp.float32))
    assert found.differing == 1 and found.nan_mismatch == 0
    assert found.max_abs != found.max_abs                  # NaN: nothing to measure
    assert found.text('largest difference') == 'largest difference n/a'


def test_infinities_and_the_largest_floats_give_inf_without_a_warning():
    big = onp.finfo(onp.float64).max
    with onp.errstate(all='raise'):
        assert difference(onp.array([onp.inf]), onp.array([-onp.inf])).max_abs == onp.inf
        assert difference(onp.array([big]), onp.array([-big])).max_abs == onp.inf
        assert difference(onp.array([onp.inf]), onp.array([1.0])).max_abs == onp.inf


@pytest.mark.parametrize('dtype', ['float16', 'float32', 'float64', 'int8', 'uint8', 'int32',
                                   'int64', 'uint64', 'bool'])
def test_every_dtype_a_checkpoint_holds(dtype):
    a = onp.zeros((3, 2), dtype)
    b = a.copy()
    b[1, 1] = 1
    found = difference(a, b)
    assert (found.differing, found.size, found.max_abs) == (1, 6, 1.0)
    assert difference(a, a.copy()) is None


def test_empty_arrays_are_equal_and_other_shapes_are_a_caller_error():
    assert difference(onp.zeros((0, 3)), onp.zeros((0, 3))) is None
    with pytest.raises(ValueError, match='cannot compare float64 .* with float32'):
        difference(onp.zeros(2), onp.zeros(2, onp.float32))


def test_every_comparison_of_the_library_follows_the_rule(tmp_path):
    """Replicas count a NaN on one side and measure the rest (assert_tied and diff: below)."""
    net = mx.gluon.nn.Dense(4, in_units=2)
    net.initialize(**_compat.device_kwargs([mx.cpu(0), mx.cpu(1)]))
    values = onp.zeros((4, 2), onp.float32)
    net.weight.set_data(_compat.array(values))
    copies = net.weight.list_data()
    copies[1][0, 0] = float('nan')
    copies[1][1, 0] = 0.25
    with pytest.raises(gp.ReplicaError, match=r'in 2 of 8 values, max \|difference\| 0.25, '
                                              r'NaN on one device only in 1'):
        gp.check_replicas(net)


def test_assert_tied_and_diff_follow_the_same_rule(tmp_path):
    net = mx.gluon.nn.HybridSequential()
    net.add(mx.gluon.nn.Dense(4, in_units=2, use_bias=False),
            mx.gluon.nn.Dense(4, in_units=2, use_bias=False))
    net.initialize()
    values = onp.zeros((4, 2), onp.float32)
    other = values.copy()
    other[0, 0], other[1, 0] = float('nan'), 0.25
    net[0].weight.set_data(_compat.array(values))
    net[1].weight.set_data(_compat.array(other))
    with pytest.raises(gp.TieError, match=r'different values \(largest difference 0.25, NaN on '
                                          r'one side only in 1, on cpu\(0\)\)'):
        gp.assert_tied(net, '0.weight', '1.weight')
    gp.save(net, tmp_path / 'a.safetensors')
    net[1].weight.set_data(_compat.array(values))
    gp.save(net, tmp_path / 'b.safetensors')
    found = gp.diff(tmp_path / 'a.safetensors', tmp_path / 'b.safetensors')
    assert found.values == [('1.weight', 0.25)]     # the NaN counted, not measured


def test_host_values_of_a_host_array_is_its_own_memory():
    arr = _compat.array(onp.arange(6, dtype=onp.float32).reshape(2, 3))
    mx.nd.waitall()
    view = host_values(arr)
    assert view.shape == (2, 3) and view.dtype == onp.float32
    view[0, 0] = 7                                         # the same memory
    assert arr.asnumpy()[0, 0] == 7
