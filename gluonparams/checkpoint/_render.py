"""The parameter tree of a checkpoint, drawn from its names alone (as the deck draws
a network), with shapes, dtypes and ties."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from typing import TYPE_CHECKING

from .._html import TreeHtml, TreeRow, escape
from .._text import shape_text, size_text, tree_text

if TYPE_CHECKING:   # the model's __str__ draws with this module: no import at run time
    from ._model import CheckpointInfo, OptimizerInfo, TensorInfo

__all__ = ['render_checkpoint', 'render_checkpoint_html']

_HEADER = ['Name', 'Shape', 'Dtype', 'Params', 'Notes']


@dataclass
class _Row:
    depth: int
    label: str
    tensor: TensorInfo | None = None
    shared_with: str | None = None
    params: int = 0


class _Node:
    def __init__(self, by_alias: bool = False) -> None:
        self.entries: list[tuple[str, object]] = []   # (name, _Node) or (name, full name)
        self.blocks: dict[str, _Node] = {}
        self.by_alias = by_alias                      # created for a tied alias


def _natural(name: str) -> tuple:
    return (0, int(name), '') if name.isdigit() else (1, 0, name)


def _insert(root: _Node, full: str, in_order: bool) -> None:
    """Add a name; stored names keep file order, tied aliases go where their natural
    order among siblings puts them (the file does not record where they were), in
    file order inside a block that only aliases reach."""
    *path, leaf = full.split('.')
    node = root
    for part in path:
        if part not in node.blocks:
            node.blocks[part] = _Node(by_alias=not in_order)
            _place(node.entries, (part, node.blocks[part]), in_order or node.by_alias)
        node = node.blocks[part]
    _place(node.entries, (leaf, full), in_order or node.by_alias)


def _place(entries: list, entry: tuple[str, object], in_order: bool) -> None:
    if in_order:
        entries.append(entry)
        return
    key = _natural(entry[0])
    at = next((i for i, (name, _) in enumerate(entries) if _natural(name) > key), len(entries))
    entries.insert(at, entry)


def _rows(info: CheckpointInfo, keep: Callable[[str], bool]) -> list[_Row]:
    stored = {t.name: t for t in info.tensors}
    shared = {n: group[0] for group in info.ties for n in group[1:]}
    root = _Node()
    for t in info.tensors:
        if keep(t.name):
            _insert(root, t.name, in_order=True)
    for t in info.tensors:
        for alias in t.aliases:
            if keep(alias):
                _insert(root, alias, in_order=False)
    rows = [_Row(0, os.path.basename(info.path))]

    def visit(node: _Node, depth: int) -> int:
        total = 0
        for name, child in node.entries:
            if isinstance(child, _Node):
                row = _Row(depth, name)
                rows.append(row)
                row.params = visit(child, depth + 1)
            else:
                full = str(child)
                tensor = stored.get(full) or stored[shared[full]]
                row = _Row(depth, name, tensor, shared.get(full),
                           0 if full in shared else tensor.size)
                rows.append(row)
            total += row.params
        return total

    rows[0].params = visit(root, 1)
    return rows


def render_checkpoint(info: CheckpointInfo, details: bool = False,
                      keep: Callable[[str], bool] | None = None,
                      depth: int | None = None) -> str:
    """The tree (``keep`` filters names, ``depth`` hides deeper rows), totals, and with
    ``details`` the format, versions, checksums and metadata."""
    rows = _rows(info, keep or (lambda name: True))
    if depth is not None:
        rows = [r for r in rows if r.depth <= depth]
    footer = _footer(info, details)
    if keep is not None:
        footer[0] = f'Selected params: {rows[0].params:,} of {info.total_params:,}'
    return tree_text(_HEADER, rows, _cells, footer)


def _cells(row: _Row) -> list[str]:
    t = row.tensor
    return [row.label, shape_text(t.shape) if t else '', t.dtype if t else '',
            '' if row.shared_with else f'{row.params:,}',
            f'→ shared with {row.shared_with}' if row.shared_with else '']


def render_checkpoint_html(info: CheckpointInfo) -> str:
    """The tree as HTML for a notebook (the summary's renderer): stored tensors and tied
    aliases, the alias linking to the stored name; the details in the footer."""
    rows = []
    path: list[str] = []
    for row in _rows(info, lambda name: True):
        path = path[:max(row.depth - 1, 0)] + ([row.label] if row.depth else [])
        t = row.tensor
        cells = [shape_text(t.shape) if t else '', t.dtype if t else '',
                 '' if row.shared_with else f'{row.params:,}']
        rows.append(TreeRow(row.depth, row.label, cells=cells,
                            key='.'.join(path) if t else None, shared_with=row.shared_with))
    tree = TreeHtml(_HEADER, rows)
    lines = [escape(line) for line in _footer(info, details=True)]
    lines[0] = f'<b>{lines[0]}</b>'
    if info.ties:
        lines[1] += ': ' + '; '.join(' = '.join(tree.link(n) for n in group)
                                     for group in info.ties)
    return tree.render(lines)


def _footer(info: CheckpointInfo, details: bool) -> list[str]:
    lines = [f'Total params: {info.total_params:,} ({size_text(info.total_bytes)})']
    if info.ties:
        uses = sum(len(group) for group in info.ties)
        lines.append(f'Shared: {len(info.ties)} tied parameter{"s" if len(info.ties) > 1 else ""} '
                     f'used {uses} times, each counted once')
    if not details:
        return lines
    origin = ''
    if info.gluonparams_version:
        origin = f'; written by gluonparams {info.gluonparams_version}'
        if info.mxnet_version:
            origin += f' with MXNet {info.mxnet_version}'
    lines.append(f'Format: {info.format}, {info.file_size:,} bytes{origin}')
    if info.has_checksums:
        lines.append(f'Checksums: CRC-32 of each of the {len(info.tensors)} tensors')
    else:
        lines.append('Checksums: none recorded')
    if info.metadata:
        lines.append('Metadata: ' + ', '.join(f'{k}={_short(v)}' for k, v in info.metadata.items()))
    if info.optimizer is not None:
        lines += _optimizer_lines(info.optimizer)
    return lines


def _optimizer_lines(optimizer: OptimizerInfo) -> list[str]:
    """The optimizer section: class, updates, state, hyperparameters, scheduler."""
    record = optimizer.record
    params = record.get('params')
    params = params if isinstance(params, dict) else {}
    entries = [e for e in params.values() if isinstance(e, dict)]
    lines = [f'Optimizer: {record.get("optimizer")}, num_update {record.get("num_update")}, '
             f'state for {sum("state" in e for e in entries)} of {len(params)} parameters '
             f'({len(optimizer.tensors)} tensors, {size_text(optimizer.total_bytes)})']
    counts = Counter(e.get('count') for e in entries)
    lines.append('  update counts: ' + ', '.join(
        f'{"never" if count is None else count} ({n} parameter{"s" if n > 1 else ""})'
        for count, n in sorted(counts.items(), key=lambda x: -x[1])))
    hyper = record.get('hyperparameters')
    if isinstance(hyper, dict) and hyper:
        lines.append('  hyperparameters: ' + ', '.join(f'{k}={v}' for k, v in hyper.items()))
    scheduler = record.get('lr_scheduler')
    if isinstance(scheduler, dict) and isinstance(scheduler.get('state'), dict):
        lines.append(f'  lr_scheduler: {scheduler.get("type")} ' + ', '.join(
            f'{k}={v}' for k, v in scheduler['state'].items()))
    return lines


def _short(value: str, limit: int = 60) -> str:
    value = re.sub(r'\s+', ' ', value)
    return value if len(value) <= limit else value[:limit - 1] + '…'
