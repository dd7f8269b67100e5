"""What an MXNet initializer implies about the values it draws.

Gluon fills a parameter with ``(param.init or the network's default)._init_weight``
whatever the parameter's name, so the initializer and the shape decide the
distribution. Understood (exact classes, not subclasses, since a subclass may draw
differently): ``Zero``, ``One``, ``Constant`` (a scalar), ``Uniform(scale)`` (std
``scale / sqrt(3)``), ``Normal(sigma)`` (std ``sigma``), ``Xavier`` and
``MSRAPrelu`` (``scale = sqrt(magnitude / factor)`` with fan-in
``shape[1] * prod(shape[2:])``, fan-out ``shape[0] * prod(shape[2:])``, factor their
average, fan-in or fan-out; std ``scale / sqrt(3)`` uniform or ``scale`` gaussian).
Anything else (Orthogonal, Bilinear, LSTMBias, Mixed, custom) implies nothing.
"""

import math
import numbers
from typing import Any, Dict, Optional, Tuple

import mxnet as mx

__all__ = ['resolve', 'expected_std', 'gives_zeros', 'describe']

_init = mx.init


def resolve(spec: Any) -> Any:
    """An ``Initializer`` from an instance or a registered name; ``None`` if neither."""
    if isinstance(spec, _init.Initializer):
        return spec
    if isinstance(spec, str):
        try:
            return _init.create(spec)
        except (AssertionError, ValueError, KeyError, TypeError):
            return None
    return None


def _constant_value(initializer: Any) -> Optional[float]:
    """The single value a constant initializer writes; ``None`` for anything else."""
    kind = type(initializer)
    if kind is _init.Zero:
        return 0.0
    if kind is _init.One:
        return 1.0
    if kind is _init.Constant and isinstance(initializer.value, numbers.Real):
        return float(initializer.value)
    return None


def gives_zeros(initializer: Any) -> bool:
    """True for an initializer that writes zeros everywhere."""
    return _constant_value(initializer) == 0.0


def expected_std(initializer: Any, shape: Tuple[int, ...]) -> Optional[float]:
    """The std of the values ``initializer`` draws for ``shape``; ``None`` if unknown.

    Constant initializers imply 0.
    """
    if initializer is None:
        return None
    if _constant_value(initializer) is not None:
        return 0.0
    kind = type(initializer)
    if kind is _init.Uniform:
        return float(initializer.scale) / math.sqrt(3)
    if kind is _init.Normal:
        return float(initializer.sigma)
    if kind in (_init.Xavier, _init.MSRAPrelu):
        return _xavier_std(initializer, shape)
    return None


def _xavier_std(initializer: Any, shape: Tuple[int, ...]) -> Optional[float]:
    if len(shape) < 2:
        return None     # MXNet's Xavier refuses vectors
    receptive = math.prod(shape[2:])
    fans: Dict[str, float] = {'in': shape[1] * receptive, 'out': shape[0] * receptive}
    fans['avg'] = (fans['in'] + fans['out']) / 2
    factor = fans.get(initializer.factor_type)
    if not factor:
        return None
    scale = math.sqrt(initializer.magnitude / factor)
    spread = {'uniform': scale / math.sqrt(3), 'gaussian': scale}
    return spread.get(initializer.rnd_type)


def describe(initializer: Any) -> str:
    """``'Uniform(scale=0.07)'``: the class and the arguments it was made with."""
    kwargs = getattr(initializer, '_kwargs', {}) or {}
    args = ', '.join(f'{k}={v!r}' for k, v in kwargs.items())
    return f'{type(initializer).__name__}({args})'
