"""Checkpoint files without a network: compare two, convert between formats."""

import os
from dataclasses import dataclass, field
from functools import partial

import numpy as onp

from .._arrays import Difference, difference
from .._text import shape_text
from ._files import check_checksums, read_values, write_file
from ._inspect import inspect
from ._io import CheckpointFile
from ._model import OPTIMIZER_KEY, CheckpointInfo, TensorInfo, WriteItem
from .formats import format_of

__all__ = ['Diff', 'convert', 'diff']


@dataclass
class Diff:
    """How two checkpoints differ, name by name: what [`diff`][gluonparams.diff] returns.

    ``only_a`` and ``only_b``: names in one file only; ``changed``: ``(name, shape and
    dtype in a, in b)``; ``values``: ``(name, max |a - b|)`` for tensors whose bits
    differ; ``ties_a`` and ``ties_b``: tie groups recorded in one file only; ``same``:
    names whose values are identical. ``differ`` is true when any list is not empty;
    ``str()`` is the report ``gluonparams diff`` prints.
    """

    a: str
    b: str
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    changed: list[tuple[str, str, str]] = field(default_factory=list)   # shape or dtype
    values: list[tuple[str, float]] = field(default_factory=list)       # max |a - b|
    ties_a: list[list[str]] = field(default_factory=list)              # ties only in a
    ties_b: list[list[str]] = field(default_factory=list)
    same: int = 0

    @property
    def differ(self) -> bool:
        return bool(self.only_a or self.only_b or self.changed or self.values
                    or self.ties_a or self.ties_b)

    def __str__(self) -> str:
        lines = [f'--- {self.a}', f'+++ {self.b}']
        lines += [f'- {n}  (only in {self.a})' for n in self.only_a]
        lines += [f'+ {n}  (only in {self.b})' for n in self.only_b]
        lines += [f'~ {n}  {x} -> {y}' for n, x, y in self.changed]
        lines += [f'~ {n}  values differ, max abs difference {d:.6g}' for n, d in self.values]
        lines += [f'- tie {g}  (only in {self.a})' for g in self.ties_a]
        lines += [f'+ tie {g}  (only in {self.b})' for g in self.ties_b]
        verdict = 'differ' if self.differ else 'are identical'
        lines.append(f'{self.same} tensors identical; the checkpoints {verdict}')
        return '\n'.join(lines)


def _sources(info: CheckpointInfo) -> dict[str, TensorInfo]:
    """Every name the file knows -> the stored tensor holding its value (optimizer
    state included)."""
    out = {t.name: t for t in info.tensors + _optimizer_tensors(info)}
    for t in info.tensors:
        out.update(dict.fromkeys(t.aliases, t))
    return out


def _optimizer_tensors(info: CheckpointInfo) -> list[TensorInfo]:
    return [] if info.optimizer is None else info.optimizer.tensors


def diff(a: str, b: str) -> Diff:
    """Compare two checkpoints of any formats: names, shapes, dtypes, ties, and each
    common tensor's values bit for bit (max absolute difference when they differ).

    Args:
        a: the first file.
        b: the second file, of the same format or another.

    Returns:
        What differs; ``differ`` is false when the two hold the same names, ties and bits.

    Raises:
        CheckpointError: either file is not a valid checkpoint.

    Examples:
        >>> gp.save(net, 'model.safetensors')
        >>> gp.save(net, 'model.npz')
        >>> gp.diff('model.safetensors', 'model.npz').differ
        False
    """
    with CheckpointFile(a) as fa, CheckpointFile(b) as fb:
        info_a, info_b = format_of(a).read_header(fa), format_of(b).read_header(fb)
        src_a, src_b = _sources(info_a), _sources(info_b)
        out = Diff(a, b, [n for n in src_a if n not in src_b], [n for n in src_b if n not in src_a])
        compared: dict[tuple[str, str], Difference | None] = {}
        for name in (n for n in src_a if n in src_b):
            ta, tb = src_a[name], src_b[name]
            if (ta.dtype, ta.shape) != (tb.dtype, tb.shape):
                out.changed.append((name, f'{shape_text(ta.shape)} {ta.dtype}',
                                    f'{shape_text(tb.shape)} {tb.dtype}'))
                continue
            key = (ta.name, tb.name)
            if key not in compared:
                compared[key] = difference(read_values(fa, ta), read_values(fb, tb))
            found = compared[key]
            if found is None:
                out.same += 1
            else:
                out.values.append((name, found.max_abs))
    ties_a, ties_b = _tie_sets(info_a), _tie_sets(info_b)
    out.ties_a = [sorted(g) for g in ties_a - ties_b]
    out.ties_b = [sorted(g) for g in ties_b - ties_a]
    return out


def _tie_sets(info: CheckpointInfo) -> set:
    return {frozenset(group) for group in info.ties}


def convert(src: str, dst: str, *, fsync: bool = True) -> CheckpointInfo:
    """Write ``src`` in the format of ``dst``'s extension: same names, values, metadata,
    optimizer state, and ties where the format records them. The source's checksums
    are checked first.

    Args:
        src: the file to read.
        dst: the file to write (atomically); its extension picks the format.
        fsync: flush the new file and its folder to disk before returning.

    Returns:
        The header of the file written.

    Raises:
        CheckpointError: ``src`` is not a valid checkpoint or fails its checksums, or
            ``dst`` cannot be written.

    Examples:
        >>> gp.save(net, 'model.safetensors')
        >>> gp.convert('model.safetensors', 'model.params').ties
        [['1.weight', '2.weight'], ['1.bias', '2.bias']]
    """
    src, dst = os.fspath(src), os.fspath(dst)
    format_of(dst)                    # an unknown extension: refused before reading src
    with CheckpointFile(src) as cf:
        info = format_of(src).read_header(cf)
        state = _optimizer_tensors(info)
        check_checksums(cf, [t for t in info.tensors + state if t.crc32 is not None])
        meta = dict(info.metadata)
        if info.optimizer is not None:
            meta[OPTIMIZER_KEY] = info.optimizer.raw
        items = _items(cf, info) + [WriteItem(t.name, onp.dtype(t.dtype), t.shape,
                                              partial(read_values, cf, t)) for t in state]
        write_file(dst, items, meta, fsync)
    return inspect(dst)


def _items(cf: CheckpointFile, info: CheckpointInfo) -> list[WriteItem]:
    """One item per tensor; a tie's stored copies (``.params``) become aliases."""
    copies = {n: group[0] for group in info.ties for n in group[1:]}
    extra: dict[str, list[str]] = {}
    for name, first in copies.items():
        extra.setdefault(first, []).append(name)
    return [WriteItem(t.name, onp.dtype(t.dtype), t.shape,
                      partial(read_values, cf, t),
                      tuple(t.aliases)
                      + tuple(n for n in extra.get(t.name, ()) if n not in t.aliases))
            for t in info.tensors if t.name not in copies]
