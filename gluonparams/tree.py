"""The one traversal every other module uses.

A network is a tree of blocks with parameters at the leaves. :func:`walk` visits it
once, depth first in definition order, in time linear in the number of blocks and
parameters (Gluon's ``collect_params()`` is quadratic on wide containers). Names are
Gluon's structural names, the keys of ``collect_params()`` in MXNet 2.0: ``'0.weight'``,
``'features.3.conv.weight'``.
"""

from collections.abc import Iterable
from typing import Iterator, NamedTuple, Tuple, Union

from mxnet import gluon

from . import _compat
from .errors import GluonParamsError, PathError

__all__ = ['named_parameters', 'named_blocks', 'get', 'walk', 'Node', 'groups_by_identity',
           'named_groups']


class Node(NamedTuple):
    """One visit of a block: its dotted path (root is ``''``), the block, its depth."""

    path: str
    block: gluon.Block
    depth: int


def walk(block: gluon.Block, *, remove_duplicate: bool = False) -> Iterator[Node]:
    """Visit every block once per path it is reachable by, parents before children.

    Args:
        block: the root.
        remove_duplicate: visit a block reachable under several paths (the same
            instance added twice) only under its first path, and skip its subtree
            there.

    Raises:
        GluonParamsError: a block is its own descendant (a cycle).
    """
    if not isinstance(block, gluon.Block):
        raise GluonParamsError(
            f'expected a gluon.Block, found {type(block).__module__}.{type(block).__name__}')
    seen = set()
    ancestors = set()
    stack = [('', block, 0, False)]
    while stack:
        path, blk, depth, leaving = stack.pop()
        key = id(blk)
        if leaving:
            ancestors.discard(key)
            continue
        if key in ancestors:
            raise GluonParamsError(
                f'block {path!r} ({type(blk).__name__}) contains itself: the network is a cycle')
        if remove_duplicate:
            if key in seen:
                continue
            seen.add(key)
        yield Node(path, blk, depth)
        ancestors.add(key)
        stack.append((path, blk, depth, True))
        prefix = path + '.' if path else ''
        kids = _compat.children(blk)
        for name, child in reversed(kids):
            stack.append((prefix + name, child, depth + 1, False))


def named_parameters(block: gluon.Block, *, remove_duplicate: bool = True
                     ) -> Iterator[Tuple[str, gluon.Parameter]]:
    """Yield ``(structural name, Parameter)`` in the order of ``collect_params()``.

    Args:
        block: the root of the network.
        remove_duplicate: yield a tied parameter once, under the name that comes
            first. With ``False`` the names are exactly those of ``collect_params()``.

    Examples:
        >>> [name for name, _ in gp.named_parameters(net)]
        ['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']
        >>> len(list(gp.named_parameters(net, remove_duplicate=False)))
        8
    """
    seen = set()
    for node in walk(block, remove_duplicate=remove_duplicate):
        prefix = node.path + '.' if node.path else ''
        for name, param in _compat.own_params(node.block):
            if remove_duplicate:
                if id(param) in seen:
                    continue
                seen.add(id(param))
            yield prefix + name, param


def named_blocks(block: gluon.Block, *, remove_duplicate: bool = True
                 ) -> Iterator[Tuple[str, gluon.Block]]:
    """Yield ``(dotted path, Block)`` for the root (path ``''``) and every descendant.

    Args:
        block: the root of the network.
        remove_duplicate: yield a block added at several positions once, under its
            first path.
    """
    for node in walk(block, remove_duplicate=remove_duplicate):
        yield node.path, node.block


def get(block: gluon.Block, path: str) -> Union[gluon.Block, gluon.Parameter]:
    """The block or parameter at a structural path: ``'2.weight'``, ``'0'``, ``''``.

    Raises:
        PathError: no such path; the message names the path, the point where it
            stopped, and what exists there.

    Examples:
        >>> gp.get(net, '1.weight').shape
        (8, 8)
        >>> type(gp.get(net, '3')).__name__
        'Dense'
    """
    if not isinstance(path, str):
        raise PathError(f'path must be a string such as "0.weight", found {path!r}')
    current = block
    parts = path.split('.') if path else []
    for i, part in enumerate(parts):
        kids = dict(_compat.children(current))
        if part in kids:
            current = kids[part]
            continue
        params = dict(_compat.own_params(current))
        if part in params and i == len(parts) - 1:
            return params[part]
        where = '.'.join(parts[:i]) or '<root>'
        raise PathError(
            f'no {part!r} in {where} ({type(current).__name__}) while looking up '
            f'{path!r}; it has {_describe_level(kids, params)}')
    return current


def _describe_level(kids, params) -> str:
    parts = []
    if kids:
        parts.append('blocks ' + ', '.join(repr(k) for k in kids))
    if params:
        parts.append('parameters ' + ', '.join(repr(p) for p in params))
    return ' and '.join(parts) if parts else 'no blocks and no parameters'


def groups_by_identity(pairs: Iterable[Tuple[str, gluon.Parameter]]) -> list[list[str]]:
    """Group ``(name, Parameter)`` pairs by the Parameter's identity.

    Returns one list of names per parameter seen under two or more names, ordered
    by each group's first name, names in the order given.
    """
    by_id: dict[int, list[str]] = {}
    for name, param in pairs:
        by_id.setdefault(id(param), []).append(name)
    return [names for names in by_id.values() if len(names) > 1]


def named_groups(source: Union[gluon.Block, Iterable[Tuple[str, gluon.Parameter]]]
                 ) -> list[Tuple[gluon.Parameter, list[str]]]:
    """Each distinct Parameter with every name it has (ties by identity), in the order
    of first names.

    Args:
        source: a network (walked once, every name of every parameter), or
            ``(name, Parameter)`` pairs already collected.
    """
    pairs = list(named_parameters(source, remove_duplicate=False)
                 if isinstance(source, gluon.Block) else source)
    by_id: dict[int, Tuple[gluon.Parameter, list[str]]] = {}
    for name, param in pairs:
        entry = by_id.get(id(param))
        if entry is None:
            by_id[id(param)] = (param, [name])
        else:
            entry[1].append(name)
    return list(by_id.values())
