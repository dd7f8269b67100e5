"""The one traversal every other module uses.

A network is a tree of blocks with parameters at the leaves. :func:`walk` visits it
once, depth first in definition order, in time linear in the number of blocks and
parameters (Gluon's ``collect_params()`` is quadratic on wide containers). Names are
Gluon's structural names, the keys of ``collect_params()`` in MXNet 2.0: ``'0.weight'``,
``'features.3.conv.weight'``.
"""

import warnings
from typing import Iterable, Iterator, NamedTuple, Tuple, Union

from mxnet import gluon

from . import _compat
from .errors import GluonParamsError, NameWarning, PathError

__all__ = ['named_parameters', 'named_blocks', 'get', 'walk', 'Node', 'Leaf', 'OwnParam',
           'groups_by_identity', 'leaves', 'named_groups', 'own_names', 'own_params']


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


class OwnParam(NamedTuple):
    """A parameter registered on a block itself: the name Gluon gives it below the
    block (``'weight'``; ``'_unfused.0.i2h_weight'`` where the block renames it), the
    attribute it is registered under (``'l0_i2h_weight'``), and the Parameter."""

    name: str
    attr: str
    param: gluon.Parameter


_OVERRIDES: dict = {}     # class -> its naming override, or None


def own_params(block: gluon.Block) -> list[OwnParam]:
    """The parameters registered on ``block`` itself, under the names Gluon saves them
    with.

    Gluon names parameters with ``Block._collect_params_with_prefix``, which some
    blocks override (MXNet 1.x's RNN layers save ``_unfused.0.i2h_weight``,
    GluonNLP's attention cells ``proj_key.weight``). Any class's override is called
    on a childless copy of the block, so only the block's own names come back and its
    subtree is not walked again (one linear pass); an override that cannot run that
    way is called on the block itself and its children's names are set aside.
    """
    renamed = _renamed(block)
    if renamed is None:
        return [OwnParam(attr, attr, param) for attr, param in
                _compat.registered_params(block)]
    return renamed


def own_names(block: gluon.Block) -> Iterable[Tuple[str, gluon.Parameter]]:
    """``(Gluon's name below the block, Parameter)``: :func:`own_params` without the
    attributes, and without building anything where the block does not rename."""
    renamed = _renamed(block)
    if renamed is None:
        return _compat.registered_params(block)
    return [(own.name, own.param) for own in renamed]


def _renamed(block: gluon.Block) -> list[OwnParam] | None:
    """The block's own parameters as its naming override gives them; ``None`` when its
    class does not override Gluon's naming."""
    cls = type(block)
    override = _OVERRIDES.get(cls, _OVERRIDES)
    if override is _OVERRIDES:
        override = _OVERRIDES[cls] = _compat.naming_override(cls)
    if override is None:
        return None
    try:
        names = override(_without_children(block))
    except Exception:           # an override that needs more of the block than its state
        kids = tuple(name + '.' for name, _ in _compat.children(block))
        names = {k: v for k, v in override(block).items() if not k.startswith(kids)}
    attrs: dict[int, list[str]] = {}
    for attr, param in _compat.registered_params(block):
        attrs.setdefault(id(param), []).append(attr)
    return [OwnParam(name, (attrs.get(id(param)) or [name]).pop(0), param)
            for name, param in names.items()]


def _without_children(block: gluon.Block) -> gluon.Block:
    """A shallow copy of ``block`` with no children: asked for its names, an override
    of ``_collect_params_with_prefix`` (``super()`` calls included) gives the block's
    own and does not walk the subtree. The block itself is not touched."""
    alone = object.__new__(type(block))
    alone.__dict__.update(vars(block))
    alone.__dict__['_children'] = type(vars(block)['_children'])()
    return alone


class Leaf(NamedTuple):
    """One name of a parameter: Gluon's structural name, the Parameter, the block
    registering it, the attribute it is registered under there, and the block's path."""

    name: str
    param: gluon.Parameter
    owner: gluon.Block
    attr: str
    owner_path: str

    @property
    def attr_path(self) -> str:
        """The attribute path (``'1.l0_i2h_weight'``); Gluon's name where no block
        renames."""
        return f'{self.owner_path}.{self.attr}' if self.owner_path else self.attr


def leaves(block: gluon.Block, *, remove_duplicate: bool = False) -> Iterator[Leaf]:
    """Every parameter name in the order of ``collect_params()``, with its owner.

    Args:
        block: the root of the network.
        remove_duplicate: yield a tied parameter once, under the name that comes first.
    """
    seen = set()
    for node in walk(block, remove_duplicate=remove_duplicate):
        prefix = node.path + '.' if node.path else ''
        for name, attr, param in own_params(node.block):
            if remove_duplicate:
                if id(param) in seen:
                    continue
                seen.add(id(param))
            yield Leaf(prefix + name, param, node.block, attr, node.path)


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
        for name, param in own_names(node.block):
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

    Parameter names are Gluon's (those ``save_parameters`` writes), also where a
    block renames its parameters (MXNet 1.x RNN layers: ``'1._unfused.0.i2h_weight'``).
    The attribute path (``'1.l0_i2h_weight'``) is accepted too, with a
    :class:`~gluonparams.errors.NameWarning` giving Gluon's name.

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
        rest = '.'.join(parts[i:])
        own = own_params(current)
        named = {p.name: p.param for p in own}
        if rest in named:
            return named[rest]
        kids = dict(_compat.children(current))
        if part in kids:
            current = kids[part]
            continue
        by_attr = {p.attr: p for p in own if p.attr != p.name}
        if rest in by_attr:
            gluon_name = '.'.join(parts[:i] + [by_attr[rest].name])
            warnings.warn(f'{path!r} is the attribute path of a parameter that Gluon names '
                          f'{gluon_name!r} (the name save_parameters writes, and the one '
                          f'gluonparams uses in selections, tie groups and checkpoints)',
                          NameWarning, stacklevel=2)
            return by_attr[rest].param
        where = '.'.join(parts[:i]) or '<root>'
        raise PathError(
            f'no {part!r} in {where} ({type(current).__name__}) while looking up '
            f'{path!r}; it has {_describe_level(kids, own)}')
    return current


def _describe_level(kids, own) -> str:
    parts = []
    if kids:
        parts.append('blocks ' + ', '.join(repr(k) for k in kids))
    if own:
        parts.append('parameters ' + ', '.join(
            repr(p.name) if p.name == p.attr else f'{p.name!r} (attribute {p.attr!r})'
            for p in own))
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
