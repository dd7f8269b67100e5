"""Exact float64 statistics of an array, streamed in chunks.

An array is read once: each chunk of :data:`CHUNK` values is converted to float64
(exact for float16 and float32) and folded into running moments with Chan et al.'s
pairwise update, so the result equals a single pass over the whole array without
holding a float64 copy of it.
"""

import math
from dataclasses import dataclass
from typing import Tuple

import numpy as onp

__all__ = ['CHUNK', 'Moments', 'moments', 'histogram']

CHUNK = 1 << 14    # values converted to float64 at a time: 128 KiB, stays in cache


@dataclass
class Moments:
    """Running float64 moments over the finite values of an array (Chan et al.'s
    pairwise update, so chunks combine exactly as one pass)."""

    count: int = 0          # finite values
    mean: float = 0.0
    m2: float = 0.0         # sum of squared deviations from the mean
    sumsq: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    nonzero: int = 0        # NaN counts as nonzero
    nonfinite: int = 0

    def add(self, chunk: onp.ndarray) -> None:
        values = onp.asarray(chunk, dtype=onp.float64)
        self.nonzero += int(onp.count_nonzero(values))
        total = values.sum()
        if not math.isfinite(total):
            finite = values[onp.isfinite(values)]
            self.nonfinite += values.size - finite.size
            values, total = finite, finite.sum()
        n = values.size
        if not n:
            return
        mean = total / n
        centered = values - mean
        self._combine(n, float(mean), float(centered @ centered))
        self.sumsq += float(values @ values)
        self.low = min(self.low, float(values.min()))
        self.high = max(self.high, float(values.max()))

    def _combine(self, n: int, mean: float, m2: float) -> None:
        total = self.count + n
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.count * n / total
        self.mean += delta * n / total
        self.count = total


def moments(flat: onp.ndarray) -> Moments:
    """:class:`Moments` of a flat array, reading it once in float64 chunks."""
    result = Moments()
    for start in range(0, flat.size, CHUNK):
        result.add(flat[start:start + CHUNK])
    return result


def histogram(flat: onp.ndarray, bins: int) -> Tuple[onp.ndarray, onp.ndarray]:
    """Counts and edges over the finite values, in float64 chunks."""
    m = moments(flat)
    low, high = (m.low, m.high) if m.count else (0.0, 1.0)
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = onp.linspace(low, high, bins + 1)
    counts = onp.zeros(bins, dtype=onp.int64)
    for start in range(0, flat.size, CHUNK):
        values = onp.asarray(flat[start:start + CHUNK], dtype=onp.float64)
        counts += onp.histogram(values[onp.isfinite(values)], bins=edges)[0]
    return counts, edges
