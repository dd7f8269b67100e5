"""Which of a file's names fills which parameter: the matching rules, in order.

Pure: the file's names and shapes and the network's names, shapes and (MXNet 1.x)
global names in; per parameter, the file's names that fill it and the rule that
matched them out. No MXNet, no file.

Rules, in order; each sees only what the earlier ones left, and a match by name is
final (a shape that differs is reported by the caller, never matched again):

1. ``exact``: the file's name is a structural name of the parameter (``gp.save``,
   ``save_parameters`` of either version).
2. ``arg:/aux: stripped``: the same once ``arg:``/``aux:`` is removed (MXNet 2.0's
   ``export``).
3. ``SymbolBlock names re-counted``: ``path.name`` where ``path`` is a block of the
   network and ``name`` a 1.x global name whose leading counter differs (a
   ``SymbolBlock`` inside a network, built again: ``features.mobilenet0_conv0_weight``
   into ``features.mobilenet1_conv0_weight``).
4. ``1.x global name``: the name (``arg:``/``aux:`` removed) is the parameter's own
   1.x ``Parameter.name``, its leading ``<hint><counter>_`` translated from the
   file's counters to the network's (``resnetv10_`` into ``resnetv12_``; see
   :func:`.counter_translation`).
5. ``1.x global name, root prefix stripped``: the name is ``Parameter.name`` without
   the network's prefix (``collect_params().save(f, strip_prefix=net.prefix)``).
6. RNN layers across versions: MXNet 1.x's per-gate arrays fused into a 2.0 layer's
   ``rnn_param`` (matched by its name, or by order as one array), or a 2.0
   ``rnn_param`` split into a 1.x layer's per-gate parameters (:mod:`._rnn`).
7. ``order``: where the names of one side say nothing about structure (flat names:
   1.x global names into a 2.0 network, the names of a hand-written symbol, a 1.x
   ``SymbolBlock``'s) and no name matched, or for a remainder lying under one block
   on both sides: position by position, every shape and kind checked, ambiguity
   refused (:mod:`._order`). Structural names on both sides are matched by name only.

``rename`` rewrites the file's names before rule 1.
"""

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Union

from ..errors import CheckpointError, OptionError, PatternError
from ._entries import FileKey, Matching, Target
from ._globalnames import bare, counter_translation, is_flat, translate
from ._order import by_order
from ._rnn import rnn_layers

__all__ = ['FileKey', 'Matching', 'Rename', 'Symbol', 'Target', 'as_renamer', 'describe_rules',
           'match']

Rename = Union[None, Mapping[str, str], Callable[[str], str]]
Symbol = Union[None, Sequence[str], Callable[[], Sequence[str]]]


def as_renamer(rename: Rename) -> Callable[[str], str] | None:
    """``rename=`` as a function of one name, checked at the door: a mapping of regular
    expressions to replacements (applied in turn, as ``re.sub``) or a callable.

    Examples:
        >>> as_renamer({r'^backbone\\.': 'features.'})('backbone.0.weight')
        'features.0.weight'
    """
    if rename is None or callable(rename):
        return rename
    if not isinstance(rename, Mapping):
        raise OptionError(f'rename={rename!r} is not supported; use a mapping of regular '
                          f'expressions to replacements, or a callable name -> name')
    compiled = []
    for pattern, replacement in rename.items():
        if not isinstance(pattern, str) or not isinstance(replacement, str):
            raise OptionError(f'rename= maps {pattern!r} to {replacement!r}; both must be '
                              f'strings (a regular expression and its replacement)')
        try:
            compiled.append((re.compile(pattern), replacement))
        except re.error as e:
            raise PatternError(f'rename= pattern {pattern!r} is not a valid regular '
                               f'expression: {e}') from None

    def renamer(name: str) -> str:
        for regex, replacement in compiled:
            name = regex.sub(replacement, name)
        return name

    return renamer


class _State:
    """What is left to match: targets by index, file names by the name they match as."""

    def __init__(self, keys: Sequence[FileKey], targets: Sequence[Target],
                 renamer: Callable[[str], str] | None, path: str, symbol: Symbol) -> None:
        self.result = Matching()
        self._symbol = symbol
        self.stored: dict[str, str] = {}
        self.open_keys: dict[str, FileKey] = {}
        for k in keys:
            name = k.key if renamer is None else _renamed(renamer, k.key, path)
            if name in self.open_keys and renamer is None:
                continue
            if name in self.open_keys:
                raise CheckpointError(f'{path}: rename= gives {self.stored[name]!r} and '
                                      f'{k.key!r} the same name {name!r}')
            if name != k.key:
                self.result.renamed[k.key] = name
            self.stored[name] = k.key
            self.open_keys[name] = k
        self.open_targets = dict(enumerate(targets))

    @property
    def symbol(self) -> Sequence[str] | None:
        """The -symbol.json's variables, read when first asked for."""
        if callable(self._symbol):
            self._symbol = list(self._symbol())
        return self._symbol

    def map_symbol(self, change: Callable[[list[str]], list[str]]) -> None:
        """Apply ``change`` to the -symbol.json's variables, once they are read."""
        given = self._symbol
        if callable(given):
            self._symbol = lambda: change(list(given()))
        elif given:
            self._symbol = change(list(given))

    @property
    def is_open(self) -> bool:
        return bool(self.open_keys and self.open_targets)

    def assign(self, i: int, hits: list[tuple[str | None, str]], rule: str) -> None:
        del self.open_targets[i]
        for _, name in hits:
            del self.open_keys[name]
        if any(name in self.result.parts for _, name in hits):
            rule = 'RNN per-gate arrays fused (MXNet 1.x -> 2.0), ' + rule
        if any(self.stored[name] != name for _, name in hits if name not in self.result.parts):
            rule = 'rename=, ' + rule
        self.result.found[i] = [(n, self.stored[name]) for n, name in hits]
        self.result.rules[i] = rule

    def by_name(self, rule: str, lookups: Callable[[Target], Iterable[tuple[str | None, str]]],
                file_name: Callable[[str], str | None]) -> None:
        """Match every open target whose lookups give a file name, as ``rule``."""
        index: dict[str, str] = {}
        for name in self.open_keys:
            found = file_name(name)
            if found is not None:
                index.setdefault(found, name)
        if not index:
            return
        for i, target in list(self.open_targets.items()):
            hits: list[tuple[str | None, str]] = []
            for owner, lookup in lookups(target):
                key = index.get(lookup)
                if key is not None and all(key != h for _, h in hits):
                    hits.append((owner, key))
            if hits:
                self.assign(i, hits, rule)


def _renamed(renamer: Callable[[str], str], key: str, path: str) -> str:
    try:
        name = renamer(key)
    except Exception as e:
        raise CheckpointError(f'{path}: rename= failed on {key!r}: {type(e).__name__}: {e}') \
            from e
    if not isinstance(name, str):
        raise CheckpointError(f'{path}: rename= turned {key!r} into {name!r}, not a string')
    return name


def match(keys: Sequence[FileKey], targets: Sequence[Target], *,
          symbol: Symbol = None, root_prefix: str | None = None,
          rename: Callable[[str], str] | None = None, path: str = '') -> Matching:
    """Match the file's names (``keys``) with the network's parameters (``targets``).

    Args:
        symbol: the variables of the file's ``-symbol.json`` in graph order, or a
            function giving them (called only if a rule needs them).
        root_prefix: the 1.x network's own prefix (``net.prefix``).
        rename: a function of one name (:func:`as_renamer`), applied first.
        path: the file, for messages.
    """
    state = _State(keys, targets, rename, path, symbol)
    _exact(state)
    if not state.is_open:
        return state.result
    state.by_name('arg:/aux: stripped', lambda t: ((None, n) for n in t.names),
                  lambda k: bare(k) if k.startswith(('arg:', 'aux:')) else None)
    if state.is_open:
        _symbol_block_names(state)
    if state.is_open and any(t.global_name for t in state.open_targets.values()):
        _global_names(state, root_prefix)
    if state.is_open:
        rnn_layers(state)
    if state.is_open:
        _order(state)
    return state.result


def _exact(state: _State) -> None:
    """Rule 1, the common case, in one pass."""
    for i, target in list(state.open_targets.items()):
        hits: list[tuple[str | None, str]] = [
            (name, name) for name in target.names if name in state.open_keys]
        if hits:
            state.assign(i, hits, 'exact')


def _moves(translation: dict[str, str]) -> str:
    moved = sorted((a, b) for a, b in translation.items() if a != b)
    shown = ', '.join(f'{a} -> {b}' for a, b in moved[:3])
    return shown + (', ...' if len(moved) > 3 else '')


def _symbol_block_names(state: _State) -> None:
    """Rule 3: per block path holding flat 1.x names on both sides, re-count them."""
    tails: dict[str, tuple[list[str], list[str]]] = {}
    for name in state.open_keys:
        if '.' in name:
            block, tail = name.rsplit('.', 1)
            tails.setdefault(block, ([], []))[0].append(tail)
    for target in state.open_targets.values():
        for name in target.names:
            block, _, tail = name.rpartition('.')
            if block in tails:
                tails[block][1].append(tail)
    for block, (in_file, in_net) in tails.items():
        if not in_net:
            continue
        translation, problems = counter_translation(in_file, in_net)
        if problems:
            state.result.declined.append(f'SymbolBlock names under {block!r}: '
                                         + '; '.join(problems))
            continue
        if all(a == b for a, b in translation.items()):
            continue
        start = block + '.'
        state.by_name(
            f'SymbolBlock names re-counted ({_moves(translation)})',
            lambda t: ((None, n) for n in t.names if n.startswith(start)),
            lambda k: start + translate(k[len(start):], translation)
            if k.startswith(start) and '.' not in k[len(start):] else None)


def _global_names(state: _State, root_prefix: str | None) -> None:
    """Rules 4 and 5: 1.x global names, through the network's own ``Parameter.name``."""
    in_file = [bare(k) for k in state.open_keys if is_flat(bare(k))]
    in_net = [t.global_name for t in state.open_targets.values() if t.global_name]
    translation, problems = counter_translation(in_file, in_net)
    if problems:
        state.result.declined.append('1.x global names: ' + '; '.join(problems))
    else:
        moved = any(a != b for a, b in translation.items())
        rule = f'1.x global name, re-counted ({_moves(translation)})' if moved \
            else '1.x global name'
        state.by_name(rule, lambda t: ((None, t.global_name),) if t.global_name else (),
                      lambda k: translate(bare(k), translation))
    if state.is_open and root_prefix:
        size = len(root_prefix)
        state.by_name('1.x global name, root prefix stripped',
                      lambda t: ((None, t.global_name[size:]),)
                      if t.global_name and t.global_name.startswith(root_prefix) else (),
                      bare)


def common_path(names: Iterable[str]) -> str:
    """The dotted block path every name lies under (``''`` when none).

    Examples:
        >>> common_path(['0.a_weight', '0.b_bias']), common_path(['0.weight', '1.weight'])
        ('0', '')
    """
    common: list[str] | None = None
    for name in names:
        parts = name.split('.')[:-1]
        if common is None:
            common = parts
        else:
            size = next((i for i, (a, b) in enumerate(zip(common, parts)) if a != b),
                        min(len(common), len(parts)))
            common = common[:size]
    return '.'.join(common or [])


def _order(state: _State) -> None:
    """Rule 6, where the names said nothing: over everything when no name matched,
    else over a remainder lying under one block on both sides. The -symbol.json is read
    only here, and only for the first case."""
    scope = ''
    if state.result.found:
        scope = common_path(bare(k) for k in state.open_keys)
        in_net = common_path(t.names[0] for t in state.open_targets.values())
        if not scope or scope != in_net:
            return
    start = scope + '.' if scope else ''
    if not (all(is_flat(bare(k)[len(start):]) for k in state.open_keys)
            or all(is_flat(t.names[0][len(start):]) for t in state.open_targets.values())):
        state.result.declined.append(
            'order: the file\'s names and the network\'s are structural (dotted paths): '
            'they are matched by name only, never by position')
        return
    found, rule, declined = by_order(
        [(name, state.open_keys[name].shape, state.stored[name]) for name in state.open_keys],
        [(i, t.names[0], t.shape) for i, t in state.open_targets.items()],
        symbol=None if scope else state.symbol, scope=scope)
    state.result.declined.extend(declined)
    for i, name in found:
        state.assign(i, [(None, name)], rule)


def describe_rules(rules: Mapping[Any, str]) -> str:
    """``'102 by 1.x global name, re-counted (...)'``: how many names each rule matched.

    Examples:
        >>> describe_rules({'a': 'exact', 'b': 'exact', 'c': 'arg:/aux: stripped'})
        '2 exact, 1 arg:/aux: stripped'
    """
    counts: dict[str, int] = {}
    for rule in rules.values():
        counts[rule] = counts.get(rule, 0) + 1
    return ', '.join(f'{n} {rule}' for rule, n in counts.items())
