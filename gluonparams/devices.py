"""Devices: parsing what a user passes as ``device=``.

A device is given as a Context/Device object, a string (``'cpu'``, ``'cpu(1)'``,
``'gpu(0)'``) or a list of either. MXNet treats ``cpu(0)`` and ``cpu(1)`` as distinct
devices, which is how multi-device behaviour is exercised without a GPU.
"""

import re
from typing import Any, List

import mxnet as mx

from . import _compat
from .errors import DeviceError

__all__ = ['as_devices', 'available_devices']

_DEVICE_TEXT = re.compile(r'\s*(cpu|gpu|cpu_pinned|cpu_shared)\s*(?:\(\s*(\d+)\s*\))?\s*')


def available_devices() -> List[str]:
    """Names of the devices a parameter can live on here: ``cpu(N)`` and each GPU."""
    return ['cpu(N)'] + [f'gpu({i})' for i in range(_compat.num_gpus())]


def _one(device: Any) -> Any:
    if isinstance(device, str):
        match = _DEVICE_TEXT.fullmatch(device)
        if not match:
            raise DeviceError(f'device {device!r} is not a device name such as "cpu(1)" '
                              f'or "gpu(0)"; available here: {", ".join(available_devices())}')
        kind, index = match.group(1), int(match.group(2) or 0)
        device = getattr(mx, kind)(index)
    elif not _compat.is_device(device):
        raise DeviceError(f'device {device!r} ({type(device).__name__}) is not a device; '
                          f'pass a name such as "cpu(1)", a device object, or a list of them')
    if device.device_type == 'gpu' and device.device_id >= _compat.num_gpus():
        raise DeviceError(f'device {_compat.device_name(device)!r} is not available: '
                          f'this machine has {_compat.num_gpus()} GPU(s); available here: '
                          f'{", ".join(available_devices())}')
    return device


def as_devices(device: Any) -> List[Any]:
    """A list of MXNet devices from a device, a device name or a list of them.

    Raises:
        DeviceError: a malformed name, something that is not a device, an empty list
            or a list that names a device twice, or a GPU that does not exist here;
            the message names it and lists the available devices.
    """
    items = list(device) if isinstance(device, (list, tuple)) else [device]
    if not items:
        raise DeviceError('device=[] names no device; pass at least one, e.g. "cpu(0)"')
    out = [_one(d) for d in items]
    names = [_compat.device_name(d) for d in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DeviceError(f'device list {names} names {", ".join(twice)} more than once')
    return out
