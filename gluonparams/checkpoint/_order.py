"""Matching by position, where a file's names say nothing about the network's structure.

A 1.x ``export``, ``Module.save_checkpoint`` or ``collect_params().save`` file names
its arrays globally (``resnetv10_stage2_conv0_weight``); a 2.0 network has no such
names, and a hand-written symbol's names (``conv1_weight``) were chosen by its author.
What relates them is order: the file's (its ``-symbol.json``'s graph order when one is
given, else the order of its keys) and the network's structural order, one entry per
distinct parameter. Several candidate orders of the file are tried:

* as it is;
* re-sorted by 1.x creation counters (:func:`.creation_order`): a graph may use blocks
  in another order than they were defined (ResNet v1 runs its downsample branch
  first), their counters still say the definition order;
* each of those with the arguments first, then the auxiliary states (``aux:``): the
  key order of a ``Module`` checkpoint, and the structure of a 1.x ``SymbolBlock``.

A candidate fits when, at every position, the shapes agree (an unknown dimension of
the network agrees with any) and so do the kinds (weight, bias, gamma, beta, running
mean, running variance). Exactly one distinct fitting candidate is used; none is
refused with the first misfit of each; two or more are ambiguous and refused.
"""

from collections.abc import Sequence

from .._text import shape_text
from ._globalnames import KINDS, bare, creation_order, kind_of

__all__ = ['by_order']

Shape = tuple[int | None, ...] | None


def by_order(keys: Sequence[tuple[str, tuple[int, ...], str]],
             targets: Sequence[tuple[int, str, Shape]], *, symbol: Sequence[str] | None,
             scope: str = '') -> tuple[list[tuple[int, str]], str, list[str]]:
    """Pair the file's names with the targets by position.

    Args:
        keys: ``(name, shape, stored key)`` of each unmatched file name, in file order.
        targets: ``(index, structural name, shape)`` of each unmatched parameter, in
            the network's structural order.
        symbol: the ``-symbol.json`` variables in graph order, or ``None``.
        scope: the block path both sides lie under (``''``: the whole network).

    Returns:
        ``([(target index, file name)], rule, declined)``: the pairs (empty when
        refused), the rule text, and why candidates were refused.
    """
    where = f' under {scope!r}' if scope else ''
    declined: list[str] = []
    sequence, source = _file_sequence(keys, symbol, declined)
    if sequence is None:
        return [], '', declined
    if len(sequence) != len(targets):
        declined.append(f'order: the file has {len(sequence)} unmatched arrays, the network '
                        f'{len(targets)} unmatched parameters{where}')
        return [], '', declined
    shapes = {name: shape for name, shape, _ in keys}
    aux = {name for name, _, stored in keys if stored.startswith('aux:')}
    fits = []
    for label, candidate in _candidates(sequence, source, aux):
        misfit = _first_misfit(candidate, targets, shapes)
        if misfit is None:
            fits.append((label, candidate))
        else:
            declined.append(f'order ({label}){where}: {misfit}')
    if len(fits) > 1:
        return [], '', [f'order{where}: ambiguous: {len(fits)} orders fit every shape ('
                        + '; '.join(label for label, _ in fits) + '): pass rename= to say '
                        'which name is which']
    if not fits:
        return [], '', declined
    label, candidate = fits[0]
    rule = f'order ({label} = network order{where}), shapes and kinds checked'
    return [(i, name) for (i, _, _), name in zip(targets, candidate)], rule, []


def _file_sequence(keys, symbol, declined) -> tuple[list[str] | None, str]:
    names = [name for name, _, _ in keys]
    if not symbol:
        return names, 'file order'
    by_bare = {bare(name): name for name in names}
    sequence = [by_bare[v] for v in dict.fromkeys(symbol) if v in by_bare]
    if len(sequence) != len(names):
        named = set(sequence)
        absent = [n for n in names if n not in named]
        declined.append(f'order: the -symbol.json does not name {len(absent)} of the file\'s '
                        f'arrays ({absent[0]!r}, ...): it belongs to another file')
        return None, ''
    return sequence, '-symbol.json graph order'


def _candidates(sequence: list[str], source: str, aux: set) -> list[tuple[str, list[str]]]:
    found = [(source, sequence)]
    resorted = creation_order([bare(n) for n in sequence])
    if resorted is not None:
        back = {bare(n): n for n in sequence}
        found.append((f'{source}, re-sorted by 1.x creation counters',
                      [back[n] for n in resorted]))
    if aux:
        found += [(f'{label}, arguments then auxiliary states',
                   [n for n in c if n not in aux] + [n for n in c if n in aux])
                  for label, c in found]
    unique: dict[tuple[str, ...], str] = {}
    for label, candidate in found:
        unique.setdefault(tuple(candidate), label)
    return [(label, list(candidate)) for candidate, label in unique.items()]


def _first_misfit(candidate: list[str], targets, shapes) -> str | None:
    for position, (name, (_, target, shape)) in enumerate(zip(candidate, targets)):
        found = shapes[name]
        kinds = {kind_of(bare(name)), kind_of(target)}
        if not _shape_fits(shape, found) or (len(kinds) > 1 and kinds <= set(KINDS)):
            return (f'position {position}: file {bare(name)!r} {shape_text(found)} vs network '
                    f'{target!r} {shape_text(shape)}')
    return None


def _shape_fits(shape: Shape, found: tuple[int, ...]) -> bool:
    if shape is None:
        return True
    return len(shape) == len(found) and all(d is None or d == f for d, f in zip(shape, found))
