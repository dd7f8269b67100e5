"""MXNet's RNN layers across versions: 1.x's per-gate arrays and 2.0's fused vector.

An ``rnn.RNN``, ``LSTM`` or ``GRU`` layer holds, on MXNet 1.x, one array per layer,
direction, gate group and kind (``_unfused.0.l_cell.i2h_weight`` in its structural
name, ``lstm0_l0_i2h_weight`` in its global one); on MXNet 2.0, one flat vector
``rnn_param``. The vector is the concatenation of the flattened arrays in the order
1.x's own forward concatenates them: weights before biases, then layer, then
direction (left, right), then ``i2h`` before ``h2h``. A layer with a projection
(``h2r``) is left out: that order was not verified.
"""

import re
from collections.abc import Iterable, Sequence
from math import prod
from typing import Any

from ._entries import FileKey
from ._globalnames import bare

__all__ = ['FUSED', 'fused_order', 'per_gate_layer', 'rnn_layers']

FUSED = 'rnn_param'
_STRUCTURAL = re.compile(r'^(?:(?P<layer>.+)\.)?_unfused\.(?P<l>\d+)\.(?:(?P<d>[lr])_cell\.)?'
                         r'(?P<g>i2h|h2h|h2r)_(?P<t>weight|bias)$')
_GLOBAL = re.compile(r'^(?P<layer>[^.]*?_)(?P<d>[lr])(?P<l>\d+)_(?P<g>i2h|h2h|h2r)_'
                     r'(?P<t>weight|bias)$')


def per_gate_layer(name: str) -> tuple[str, tuple[str, int, str, str, str]] | None:
    """``(fused name, (weight or bias, layer, direction, gates, style))`` of a 1.x
    per-gate name (style: ``'structural'`` or ``'global'``), else ``None``. The fused
    name is the one MXNet 2.0 gives the layer's vector (for a global name: the layer's
    global prefix and ``rnn_param``).

    Examples:
        >>> per_gate_layer('1._unfused.0.r_cell.h2h_bias')
        ('1.rnn_param', ('bias', 0, 'r', 'h2h', 'structural'))
        >>> per_gate_layer('lstm0_l1_i2h_weight')
        ('lstm0_rnn_param', ('weight', 1, 'l', 'i2h', 'global'))
        >>> per_gate_layer('_unfused.0.i2h_weight')[0]     # the layer is the network
        'rnn_param'
    """
    found = _STRUCTURAL.match(name)
    if found:
        layer = found['layer']
        return (f'{layer}.{FUSED}' if layer else FUSED,
                (found['t'], int(found['l']), found['d'] or '', found['g'], 'structural'))
    found = _GLOBAL.match(name)
    if found:
        return f'{found["layer"]}{FUSED}', (found['t'], int(found['l']), found['d'],
                                            found['g'], 'global')
    return None


def fused_order(names: Iterable[str]) -> tuple[dict[str, list[str]], list[str]]:
    """The per-gate names grouped by layer, each group in the order 2.0 fuses them.

    Returns:
        ``({fused name: [per-gate names in fused order]}, problems)``: a layer whose
        arrays are incomplete or hold a projection is a problem, not a group.

    Examples:
        >>> groups, _ = fused_order(['g0_l0_h2h_bias', 'g0_l0_i2h_weight', 'g0_l0_h2h_weight',
        ...                          'g0_l0_i2h_bias'])
        >>> groups['g0_rnn_param']
        ['g0_l0_i2h_weight', 'g0_l0_h2h_weight', 'g0_l0_i2h_bias', 'g0_l0_h2h_bias']
    """
    layers: dict[str, dict[tuple, str]] = {}
    for name in names:
        found = per_gate_layer(name)
        if found is not None:
            layers.setdefault(found[0], {})[found[1][:4]] = name
    groups, problems = {}, []
    for fused, parts in layers.items():
        gates = {key[3] for key in parts}
        if 'h2r' in gates:
            problems.append(f'{fused}: a projection (h2r), whose place in the fused vector '
                            f'gluonparams does not know')
            continue
        depth = sorted({key[1] for key in parts})
        sides = sorted({key[2] for key in parts})
        order = [(t, layer, side, g) for t in ('weight', 'bias') for layer in depth
                 for side in sides for g in ('i2h', 'h2h')]
        if depth != list(range(len(depth))) or set(order) != set(parts):
            problems.append(f'{fused}: {len(parts)} per-gate arrays, not the {len(order)} of '
                            f'{len(depth)} layers and {len(sides)} directions')
            continue
        groups[fused] = [parts[key] for key in order]
    return groups, problems


def rnn_layers(state: Any) -> None:
    """RNN layers between MXNet 1.x (per-gate arrays) and 2.0 (one vector), on what is
    left to match (``state``: :mod:`._match`'s)."""
    if any(n.rpartition('.')[2] == FUSED for t in state.open_targets.values()
           for n in t.names):
        _fuse(state)
    if any(bare(k).rpartition('.')[2] == FUSED for k in state.open_keys):
        _split(state)


def _fuse(state: Any) -> None:
    """The file's per-gate arrays of each layer become one key, in the place of its first
    array (and of its first variable in the -symbol.json), matched by name or order."""
    by_bare = {bare(k): k for k in state.open_keys}
    groups, problems = fused_order(by_bare)
    state.result.declined += [f'RNN layers (fused or split): {p}' for p in problems]
    if not groups:
        return
    first = {by_bare[names[0]]: fused for fused, names in groups.items()}
    inside = {by_bare[n] for names in groups.values() for n in names}
    keys: dict[str, FileKey] = {}
    for name, key in state.open_keys.items():
        if name in first:
            fused = first[name]
            parts = [by_bare[n] for n in groups[fused]]
            size = sum(_size(state.open_keys[p].shape) for p in parts)
            keys[fused] = FileKey(fused, (size,))
            state.stored[fused] = fused
            state.result.parts[fused] = [state.stored[p] for p in parts]
        elif name not in inside:
            keys[name] = key
    state.open_keys = keys
    head = {n: fused for fused, names in groups.items() for n in names[:1]}
    tail = {n for names in groups.values() for n in names[1:]}
    state.map_symbol(lambda variables: [head.get(v, v) for v in variables if v not in tail])
    state.by_name('by name', lambda t: ((None, n) for n in t.names),
                  lambda k: k if k in state.result.parts else None)


def _split(state: Any) -> None:
    """A 2.0 fused vector becomes the values of a 1.x layer's per-gate parameters."""
    owner = {t.names[0]: i for i, t in state.open_targets.items()}
    groups, _ = fused_order(owner)
    by_bare = {bare(k): k for k in state.open_keys}
    for fused, names in groups.items():
        key = by_bare.get(fused)
        if key is None:
            continue
        shapes = [state.open_targets[owner[n]].shape for n in names]
        why = 'RNN layers (fused or split): '
        if any(s is None or None in s for s in shapes):
            state.result.declined.append(
                f'{why}{fused!r} would be split into the network\'s per-gate parameters, '
                f'whose shapes are not all known: run the network once first')
            continue
        sizes = [_size(s or ()) for s in shapes]
        stored = _size(state.open_keys[key].shape)
        if sum(sizes) != stored:
            state.result.declined.append(
                f'{why}{fused!r} holds {stored:,} values, the layer\'s {len(names)} per-gate '
                f'parameters {sum(sizes):,}')
            continue
        start = 0
        for name, size in zip(names, sizes):
            i = owner[name]
            state.assign(i, [], 'RNN fused vector split (MXNet 2.0 -> 1.x)')
            state.result.found[i] = [(None, state.stored[key])]
            state.result.windows[i] = (start, start + size)
            start += size
        del state.open_keys[key]


def _size(shape: Sequence[int | None]) -> int:
    return prod(d or 0 for d in shape)
