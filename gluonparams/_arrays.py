"""Arrays: a parameter's values on the host, and how two arrays differ.

Every comparison in gluonparams (replicas across devices, two names that should be
one parameter, two stored copies of a tied parameter, two checkpoints) goes through
:func:`difference`, so one rule decides what "equal" means and how a difference is
measured:

* Values are compared by their **bits**. Equal bits are equal: a NaN equals a NaN
  with the same bits; ``-0.0`` differs from ``0.0``.
* Where the bits differ and neither value is NaN, the difference is ``|a - b|`` in
  float64 (``inf`` when one side is infinite). ``max_abs`` is the largest of them,
  NaN when every differing value involves a NaN.
* A value that is NaN on one side only is counted in ``nan_mismatch``, never in
  ``max_abs``; two NaNs with different bits differ but measure nothing.
"""

from dataclasses import dataclass
from typing import Any

import numpy as onp

from . import _compat

__all__ = ['Difference', 'difference', 'host_values']


def host_values(arr: Any) -> onp.ndarray:
    """A numpy array of an MXNet array's values: its own memory when it lives on the
    host (no copy; call ``mx.nd.waitall()`` first), a copy from a GPU."""
    view = _compat.host_array(arr)
    return view if view is not None else arr.asnumpy()


@dataclass(frozen=True)
class Difference:
    """How two arrays of one dtype and shape differ (see the module's rule)."""

    differing: int          # values whose bits differ
    size: int               # values compared
    max_abs: float          # largest |a - b| where neither is NaN; NaN when there is none
    nan_mismatch: int       # values NaN on one side only

    def text(self, label: str = 'max |difference|') -> str:
        """``'max |difference| 0.5'``, with the NaN count when there is one."""
        value = 'n/a' if self.max_abs != self.max_abs else f'{self.max_abs:.6g}'
        out = f'{label} {value}'
        if self.nan_mismatch:
            out += f', NaN on one side only in {self.nan_mismatch}'
        return out


def difference(a: onp.ndarray, b: onp.ndarray) -> Difference | None:
    """``None`` when ``a`` and ``b`` hold the same bits, else how they differ.

    Both must have one dtype and one shape (callers check and word that case).

    Examples:
        >>> import numpy as onp
        >>> difference(onp.array([1.0, onp.nan]), onp.array([1.0, onp.nan])) is None
        True
        >>> d = difference(onp.array([1.0, 2.0, 3.0]), onp.array([1.0, 2.5, onp.nan]))
        >>> d.differing, d.max_abs, d.nan_mismatch
        (2, 0.5, 1)
        >>> difference(onp.array([0.0]), onp.array([-0.0])).max_abs
        0.0
    """
    a = onp.ascontiguousarray(a).reshape(-1)
    b = onp.ascontiguousarray(b).reshape(-1)
    if a.dtype != b.dtype or a.shape != b.shape:
        raise ValueError(f'cannot compare {a.dtype} {a.shape} with {b.dtype} {b.shape}')
    differs = _bits_differ(a, b)
    if not differs.any():
        return None
    x, y = a[differs].astype(onp.float64), b[differs].astype(onp.float64)
    nan_x, nan_y = onp.isnan(x), onp.isnan(y)
    with onp.errstate(over='ignore'):       # the largest float64s of opposite signs
        gaps = onp.abs(x - y)[~(nan_x | nan_y)]
    return Difference(int(differs.sum()), int(a.size),
                      float(gaps.max()) if gaps.size else float('nan'),
                      int((nan_x != nan_y).sum()))


def _bits_differ(a: onp.ndarray, b: onp.ndarray) -> onp.ndarray:
    """Per value of two flat arrays of one dtype: do their bit patterns differ?"""
    width = a.dtype.itemsize
    if width in (1, 2, 4, 8):               # one unsigned integer per value
        return a.view(f'u{width}') != b.view(f'u{width}')
    return (a.view(onp.uint8) != b.view(onp.uint8)).reshape(a.size, -1).any(axis=1)
