import mxnet as mx
import pytest

from gluonparams.devices import as_devices
from gluonparams.errors import DeviceError, GluonParamsError


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
