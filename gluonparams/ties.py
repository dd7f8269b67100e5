"""Tied parameters: names bound to one Parameter object.

A tie is identity, never equality: two names are tied when they hold the same
``Parameter``, which is also the same buffer on every device it lives on, so a
write through one name is seen through the other and gradients from every use
accumulate in one place. Ties are found, proved and made here; the reasons a pair
of names is *not* tied are worded in :mod:`gluonparams._why`.
"""

import difflib
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import mxnet as mx
from mxnet import gluon

from . import _compat, _why
from ._text import first_of, shape_text
from .errors import NameWarning, OptionError, PathError, ShareError, TieError
from .tree import get, groups_by_identity, leaves, named_parameters

__all__ = [
    'assert_tied',
    'check_ties',
    'describe_ties',
    'find_copies',
    'share',
    'tie_groups',
    'ties_text',
]


def tie_groups(block: gluon.Block) -> list[list[str]]:
    """One list of structural names per parameter reachable under several names.

    Finds every way a tie is made (``share_parameters``, one block added at several
    positions, a Parameter assigned to another block, 1.x ``params=``,
    [`share`][gluonparams.share]),
    because it looks only at identity. Equal values are never a tie.

    Examples:
        >>> gp.tie_groups(net)
        [['1.weight', '2.weight'], ['1.bias', '2.bias']]
    """
    return groups_by_identity(named_parameters(block, remove_duplicate=False))


def assert_tied(block: gluon.Block, *names: str) -> None:
    """Check that ``names`` are one Parameter and, on every device, one buffer.

    Args:
        block: the network the names are structural names in.
        *names: two or more names, such as ``'embed.weight', 'decoder.weight'``.

    Raises:
        TieError: some names are not tied to the first one; the message gives each
            such name and why: a copy (equal values), different values, shapes or
            dtypes, separate Parameters aliasing a buffer, or no such parameter
            (with what exists nearby).
        OptionError: fewer than two names.

    Examples:
        >>> gp.assert_tied(net, '1.weight', '2.weight')
        >>> gp.assert_tied(net, '0.weight', '1.weight')   # doctest: +ELLIPSIS
        Traceback (most recent call last):
        gluonparams.errors.TieError: expected '0.weight', '1.weight' to be one tied parameter ...
    """
    if len(names) < 2:
        raise OptionError(f'assert_tied needs two or more names to compare, found '
                          f'{len(names)}: {list(names)}')
    everything = dict(named_parameters(block, remove_duplicate=False))
    problems = []
    reference: str | None = None
    for name in names:
        param = everything.get(name) if isinstance(name, str) else None
        if param is None:
            problems.append(f'{name!r}: {_missing(block, name, everything)}')
        elif reference is None:
            reference = name
        else:
            reason = _why.not_tied(everything[reference], param, reference, name)
            if reason:
                problems.append(f'{name!r} is not tied to {reference!r}: {reason}')
    if problems:
        listed = ', '.join(repr(n) for n in names)
        raise TieError(f'expected {listed} to be one tied parameter in '
                       f'{type(block).__name__}:\n  ' + '\n  '.join(problems) + _FIX)


_FIX = ('\nTie parameters by identity: gp.share(dst, src), share_parameters (MXNet 2.0), '
        'params= at construction (1.x), or the same block instance at several positions.')


def _missing(block: gluon.Block, name: Any, everything: Mapping[str, Any]) -> str:
    """Why ``name`` is not a parameter of ``block``, with what exists nearby."""
    if not isinstance(name, str):
        return f'not a name: expected a string such as "0.weight", found {type(name).__name__}'
    close = difflib.get_close_matches(name, list(everything), n=3)
    hint = f'; did you mean {", ".join(repr(c) for c in close)}?' if close else ''
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', NameWarning)
        try:
            found = get(block, name)
        except PathError as e:
            return f'no such parameter ({e}){hint}'
    if isinstance(found, gluon.Parameter):   # an attribute path: get's warning says why
        said = next((str(w.message) for w in caught if issubclass(w.category, NameWarning)),
                    f'{name!r} is an attribute path, not Gluon\'s name for the parameter')
        return said.removeprefix(f'{name!r} is ')
    inside = [n for n in everything if n.startswith(name + '.')] if name else list(everything)
    return (f'a block ({type(found).__name__}), not a parameter; its parameters: '
            f'{first_of(inside, 8) or "none"}')


def check_ties(block: gluon.Block, expected: Iterable[Sequence[str]]) -> None:
    """Compare every tie in ``block`` with ``expected`` and report all differences at once.

    Args:
        block: the network.
        expected: the tie groups that should exist, as
            [`tie_groups`][gluonparams.tie_groups] returns them (order of groups and
            of names within a group does not matter). ``[]`` asserts that nothing is
            tied.

    Raises:
        TieError: one line per missing tie (names expected together that are
            separate Parameters, with why), per unexpected tie (names that are one
            Parameter but not expected together) and per expected name that does
            not exist.
        OptionError: ``expected`` is not a list of groups of two or more names, or
            a name is in two groups.

    Examples:
        >>> gp.check_ties(net, [['1.weight', '2.weight'], ['1.bias', '2.bias']])
    """
    groups = _expected_groups(expected)
    everything = dict(named_parameters(block, remove_duplicate=False))
    problems = []
    for group in groups:
        problems += [f'expected {n!r} to be tied to {_others(group, n)}: '
                     f'{_missing(block, n, everything)}' for n in group if n not in everything]
        problems += _missing_ties([n for n in group if n in everything], everything)
    expected_group = {name: i for i, group in enumerate(groups) for name in group}
    for actual in tie_groups(block):
        labels = {expected_group.get(n) for n in actual}
        if len(labels) > 1 or None in labels:
            problems.append(_unexpected(actual, expected_group, groups))
    if problems:
        fix = _FIX if any(p.startswith('missing tie') for p in problems) else ''
        raise TieError(f'{len(problems)} tie problem(s) in {type(block).__name__}:\n  '
                       + '\n  '.join(problems) + fix)


def _expected_groups(expected: Iterable[Sequence[str]]) -> list[list[str]]:
    if isinstance(expected, str) or not isinstance(expected, Iterable):
        raise OptionError(f'expected must be a list of tie groups such as '
                          f'[["1.weight", "2.weight"]], found {expected!r}')
    groups: list[list[str]] = []
    seen: dict[str, int] = {}
    for i, given in enumerate(expected):
        group = [] if isinstance(given, str) else list(given)
        if len(group) < 2 or not all(isinstance(n, str) for n in group):
            raise OptionError(f'expected[{i}] must be a list of two or more names, found '
                              f'{given!r}')
        groups.append(group)
        for name in group:
            if seen.get(name, i) != i:
                raise OptionError(f'{name!r} is in expected[{seen[name]}] and expected[{i}]: '
                                  f'a parameter belongs to one tie group; merge them')
            seen[name] = i
    return groups


def _others(group: Sequence[str], name: str) -> str:
    return ', '.join(repr(n) for n in group if n != name)


def _missing_ties(present: list[str], everything: Mapping[str, gluon.Parameter]) -> list[str]:
    """One line per name of ``present`` that is a different Parameter than the first."""
    if len(present) < 2:
        return []
    first = present[0]
    return [f'missing tie: {name!r} is not tied to {first!r}: '
            f'{_why.not_tied(everything[first], everything[name], first, name)}'
            for name in present[1:] if everything[name] is not everything[first]]


def _unexpected(actual: list[str], expected_group: Mapping[str, int],
                groups: list[list[str]]) -> str:
    listed = ', '.join(repr(n) for n in actual)
    wanted = [g for g in groups if any(n in g for n in actual)]
    if not wanted:
        return f'unexpected tie: {listed} are one Parameter; none of them is expected to be tied'
    loose = [n for n in actual if n not in expected_group]
    return (f'unexpected tie: {listed} are one Parameter; expected '
            + '; '.join(str(g) for g in wanted)
            + (f' and {", ".join(repr(n) for n in loose)} untied' if loose else ''))


def find_copies(block: gluon.Block, *, include_constant: bool = False) -> list[list[str]]:
    """Groups of separate (untied) parameters holding identical values.

    A copy is often a tie that was lost, for example by loading a checkpoint into a
    network built without the tie. Parameters are bucketed by shape and dtype; within
    a bucket only the first values are read; only parameters whose first values
    match another's are read whole and compared. Equality is bitwise, on each
    parameter's first device.

    Args:
        block: the network (uninitialized parameters are skipped).
        include_constant: also report parameters holding one repeated value
            (fresh biases, BatchNorm statistics), which are equal by construction
            rather than by a lost tie.

    Returns:
        One list of first names per group of identical parameters, in definition
        order; tied names are listed once (the tie is not a copy).
    """
    mx.nd.waitall()
    order: dict[str, int] = {}
    buckets: dict[tuple, list[Named]] = {}
    for name, param in named_parameters(block):
        if _compat.is_initialized(param):
            order[name] = len(order)
            key = (_compat.param_shape(param), _compat.param_dtype(param))
            buckets.setdefault(key, []).append((name, param))
    groups = []
    for members in buckets.values():
        for candidates in _same(members, _head):
            groups += _same(candidates, lambda p: _whole(p, include_constant))
    return sorted(([n for n, _ in g] for g in groups), key=lambda g: order[g[0]])


Named: TypeAlias = tuple[str, gluon.Parameter]
_HEAD = 64   # how many leading values of a vector are read to tell it apart


def _same(members: list[Named], key) -> list[list[Named]]:
    """Groups of two or more members with equal ``key(param)`` (``None``: left out)."""
    if len(members) < 2:
        return []
    by_key: dict[bytes, list[Named]] = {}
    for name, param in members:
        value = key(param)
        if value is not None:
            by_key.setdefault(value, []).append((name, param))
    return [group for group in by_key.values() if len(group) > 1]


def _first_array(param: gluon.Parameter):
    return _compat.param_arrays(param)[0][1]


def _head(param: gluon.Parameter) -> bytes:
    """The first slice along the first axis (the first values of a vector): one view."""
    array = _first_array(param)
    return array[:1 if array.ndim > 1 else _HEAD].asnumpy().tobytes()


def _whole(param: gluon.Parameter, include_constant: bool) -> bytes | None:
    values = _first_array(param).asnumpy()
    if not include_constant and values.size and (values == values.flat[0]).all():
        return None
    return values.tobytes()


Source: TypeAlias = gluon.Block | Mapping[str, gluon.Parameter]


def share(dst: gluon.Block, src: Source) -> gluon.Block:
    """Tie ``dst``'s parameters to ``src``'s by structural name, on MXNet 2.0 and 1.x.

    The portable spelling of the deck's
    ``shared_clone.share_parameters(shared.collect_params())``:
    ``gp.share(shared_clone, shared)``. On 2.0 it delegates to ``share_parameters``;
    on 1.9.1, which lacks it (and refuses ``decoder.weight = embed.weight``), it makes
    the same identity tie that ``params=`` at construction makes. Every name of
    ``src`` is tied; names of ``dst`` that ``src`` lacks are left as they are
    (``gp.share(decoder, embed)`` ties ``weight`` and keeps the decoder's ``bias``).
    ``dst``'s previous Parameters and their values are dropped; tie before
    hybridizing the network that holds ``dst`` (or hybridize it again).

    Args:
        dst: the block whose parameters are replaced.
        src: a block, or ``{structural name: Parameter}`` such as
            ``{'weight': embed.weight}``.

    Returns:
        ``dst``, as ``share_parameters`` does.

    Raises:
        ShareError: a name of ``src`` that ``dst`` does not have, or a shape or dtype
            that differs (unknown dimensions match anything); nothing is tied then.

    Examples:
        >>> shared, clone = nn.Dense(8, in_units=4), nn.Dense(8, in_units=4)
        >>> clone = gp.share(clone, shared)
        >>> clone.weight is shared.weight, clone.bias is shared.bias
        (True, True)
    """
    shared = _source(src)
    targets = {leaf.name: leaf for leaf in leaves(dst)}
    problems = []
    for name, param in shared.items():
        if name not in targets:
            problems.append(f'{name!r}: {_missing(dst, name, targets)}')
            continue
        mismatch = _why.incompatible(targets[name].param, param, 'dst', 'src')
        if mismatch:
            problems.append(f'{name!r}: {mismatch}')
    if problems:
        raise ShareError(f'cannot tie {type(dst).__name__} (dst) to {_describe(src)} (src): '
                         f'every name of src must be a parameter of dst with the same shape '
                         f'and dtype:\n  ' + '\n  '.join(problems)
                         + f'\ndst has: {", ".join(repr(n) for n in targets) or "no parameters"}')
    _compat.share_parameters(dst, [_compat.Tie(targets[n].attr_path, targets[n].owner,
                                               targets[n].attr, param)
                                   for n, param in shared.items()])
    return dst


def _source(src: Source) -> dict[str, gluon.Parameter]:
    if isinstance(src, gluon.Block):
        return dict(named_parameters(src, remove_duplicate=False))
    if not isinstance(src, Mapping):
        raise ShareError(f'src must be a gluon.Block or a {{name: Parameter}} dict, found '
                         f'{type(src).__module__}.{type(src).__name__}')
    wrong = [k for k, v in src.items() if not isinstance(k, str)
             or not isinstance(v, gluon.Parameter)]
    if wrong:
        raise ShareError(f'src must map structural names to Parameters; these entries do '
                         f'not: {", ".join(repr(k) for k in wrong)}')
    return dict(src)


def _describe(src: Source) -> str:
    return type(src).__name__ if isinstance(src, gluon.Block) else 'the given parameters'


def describe_ties(block: gluon.Block) -> list[dict[str, Any]]:
    """One record per tie group: ``names``, ``shape`` (``None`` for an unknown
    dimension), ``dtype``, ``size`` (elements stored once) and ``devices``."""
    everything = dict(named_parameters(block, remove_duplicate=False))
    records = []
    for names in tie_groups(block):
        param = everything[names[0]]
        shape = _compat.param_shape(param)
        dims = [d for d in shape or () if d is not None]
        size = math.prod(dims) if shape is not None and len(dims) == len(shape) else None
        records.append({'names': names, 'shape': list(shape) if shape is not None else None,
                        'dtype': _compat.param_dtype(param), 'size': size,
                        'devices': [_compat.device_name(d)
                                    for d in _compat.param_devices(param)]})
    return records


def ties_text(title: str, records: list[dict[str, Any]]) -> str:
    """The tie groups of :func:`describe_ties` as text: a headline, then one line per
    group (``1.weight = 2.weight  (8, 8) float32, 64 params``)."""
    if not records:
        return f'{title}: no tied parameters'
    saved = sum(r['size'] * (len(r['names']) - 1) for r in records if r['size'] is not None)
    names = sum(len(r['names']) for r in records)
    lines = [(f'{title}: {len(records)} tied parameter{"s" if len(records) > 1 else ""} under '
             f'{names} names; tying stores {saved:,} fewer values')]
    labels = [' = '.join(r['names']) for r in records]
    width = max(len(label) for label in labels)
    for label, r in zip(labels, records):
        size = '?' if r['size'] is None else f'{r["size"]:,}'
        shape = shape_text(None if r['shape'] is None else tuple(r['shape']))
        lines.append(f'  {label:<{width}}  {shape} {r["dtype"]}, {size} params')
    return '\n'.join(lines)
