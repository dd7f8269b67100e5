"""Shared fixtures. ``device`` runs a test on cpu(0), cpu(1), the pair [cpu(0), cpu(1)]
and every GPU present: MXNet treats cpu(0) and cpu(1) as distinct devices, so
multi-device behaviour is tested without a GPU."""

import mxnet as mx
import pytest

from gluonparams import _compat


def _devices():
    found = [mx.cpu(0), mx.cpu(1), [mx.cpu(0), mx.cpu(1)]]
    found += [mx.gpu(i) for i in range(_compat.num_gpus())]
    return found


def _device_id(device):
    if isinstance(device, list):
        return '+'.join(_compat.device_name(d) for d in device)
    return _compat.device_name(device)


@pytest.fixture(params=_devices(), ids=_device_id)
def device(request):
    """A device, or a list of devices, to initialize networks on."""
    return request.param


@pytest.fixture(autouse=True)
def _settle_engine():
    """MXNet runs asynchronously: let each test's work finish inside the test."""
    yield
    mx.nd.waitall()
