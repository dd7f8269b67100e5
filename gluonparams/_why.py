"""Why two Parameters are not one: the reasons :mod:`gluonparams.ties` reports."""

from typing import Any

import mxnet as mx
from mxnet import gluon

from . import _compat
from ._arrays import difference
from ._text import shape_text


def _shapes_match(a: gluon.Parameter, b: gluon.Parameter) -> bool:
    sa, sb = _compat.param_shape(a), _compat.param_shape(b)
    if sa is None or sb is None:
        return True
    return len(sa) == len(sb) and all(x is None or y is None or x == y for x, y in zip(sa, sb))


def incompatible(a: gluon.Parameter, b: gluon.Parameter, name_a: str = 'dst',
                 name_b: str = 'src') -> str | None:
    """Why ``a`` and ``b`` could never be one Parameter (shape or dtype), or ``None``.

    Unknown dimensions match anything.
    """
    if not _shapes_match(a, b):
        return (f'different shapes: {name_a} is {shape_text(_compat.param_shape(a))}, '
                f'{name_b} is {shape_text(_compat.param_shape(b))}')
    da, db = _compat.param_dtype(a), _compat.param_dtype(b)
    if da != db:
        return f'different dtypes: {name_a} is {da}, {name_b} is {db}'
    return None


def not_tied(a: gluon.Parameter, b: gluon.Parameter, name_a: str, name_b: str
             ) -> str | None:
    """Why ``b`` (named ``name_b``) is not tied to ``a``, or ``None`` when it is.

    Tied means one Parameter object, hence one buffer on every device it lives on.
    """
    if a is b:
        return None
    mismatch = incompatible(b, a, repr(name_b), repr(name_a))
    if mismatch:
        return mismatch
    if not (_compat.is_initialized(a) and _compat.is_initialized(b)):
        return 'separate Parameters, not initialized yet (their values cannot be compared)'
    devices_a, devices_b = _device_names(a), _device_names(b)
    if devices_a != devices_b:
        return (f'separate Parameters on different devices: {name_b!r} on '
                f'{", ".join(devices_b)}, {name_a!r} on {", ".join(devices_a)}')
    mx.nd.waitall()
    return _aliased(a, b) or _by_value(a, b)


def _device_names(param: gluon.Parameter) -> list:
    return sorted(_compat.device_name(d) for d in _compat.param_devices(param))


def _arrays(param: gluon.Parameter) -> dict[str, Any]:
    """``{device name: array}``, in the order the parameter lists its devices."""
    return {_compat.device_name(d): x for d, x in _compat.param_arrays(param)}


def _aliased(a: gluon.Parameter, b: gluon.Parameter) -> str | None:
    arrays_a, arrays_b = _arrays(a), _arrays(b)
    shared = [name for name, x in arrays_a.items()
              if _compat.buffer_address(x) == _compat.buffer_address(arrays_b[name])]
    if not shared:
        return None
    return (f'separate Parameter objects reading one buffer on {", ".join(shared)}'
            f'{"" if len(shared) == len(arrays_a) else " only"}: not a tie (each keeps its '
            f'own gradient, and an optimizer updates the buffer once per Parameter)')


def _by_value(a: gluon.Parameter, b: gluon.Parameter) -> str:
    arrays_b = _arrays(b)
    found = [(device, d) for device, array in _arrays(a).items()
             if (d := difference(array.asnumpy(), arrays_b[device].asnumpy())) is not None]
    if not found:
        return 'equal but not tied: a copy (separate Parameters holding equal values)'
    device, worst = max(found, key=lambda x: -1.0 if x[1].max_abs != x[1].max_abs
                        else x[1].max_abs)
    return f'different values ({worst.text("largest difference")}, on {device})'
