"""Gluon's structural names: the keys of ``Block._collect_params_with_prefix()``,
found in one pass, also where a class overrides that method.

Gluon names the parameters it saves with ``_collect_params_with_prefix``: a block's
own parameters under their attributes, then its children's under the child's name,
depth first, as one ``dict`` (``update``: a repeated key keeps its first position and
takes its last value). Some blocks override it: MXNet 1.x's RNN layers
(``_unfused.0.i2h_weight`` for ``l0_i2h_weight``), GluonNLP 0.10's attention cells
(``proj_key.weight`` for ``key_weight``), and anyone's block may reorder, rename a
child's prefix, leave a child out or rewrite the keys its children return.

:func:`collect` reproduces the dict for any class without a list of known ones. A
block that does not override the method is read directly (no call). A block that
does is asked once, through its own method called on a *stand-in*: a shallow copy of
the block whose children (in ``_children`` and in the attribute of the same name)
are replaced by *delegates*. A delegate answers ``_collect_params_with_prefix`` with this module's
walk of the real child under the prefix the override chose, and forwards everything
else to the child (``isinstance`` included), so the override sees its children's
real names and its result is Gluon's, while every block is still visited once. The
real block is never changed. An override that fails on the stand-in is called on
the block itself (Gluon's own walk of that subtree); one that fails there too (MXNet
1.9.1's RNN layers with 11 or more layers) cannot be saved by Gluon either: its
block is named by attribute and a :class:`~gluonparams.errors.NameWarning` says so.
"""

import re
import warnings
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Set, Tuple

from mxnet import gluon

from . import _compat
from .errors import GluonParamsError, NameWarning

__all__ = ['Names', 'Node', 'checked', 'collect', 'overrides', 'walk']

_OVERRIDES: Dict[type, bool] = {}


def overrides(block: gluon.Block) -> bool:
    """True when the block's class names its parameters its own way."""
    cls = type(block)
    found = _OVERRIDES.get(cls)
    if found is None:
        found = _OVERRIDES[cls] = _compat.naming_override(cls) is not None
    return found


def checked(block: gluon.Block) -> gluon.Block:
    """``block``, or a GluonParamsError saying it is not a gluon.Block."""
    if not isinstance(block, gluon.Block):
        raise GluonParamsError(
            f'expected a gluon.Block, found {type(block).__module__}.{type(block).__name__}')
    return block


class Node(NamedTuple):
    """One visit of a block: its dotted path (root is ``''``), the block, its depth."""

    path: str
    block: gluon.Block
    depth: int


def walk(block: gluon.Block, *, remove_duplicate: bool = False, path: str = '',
         depth: int = 0) -> Iterator[Node]:
    """Visit every block once per path it is reachable by, parents before children.

    Args:
        block: the root.
        remove_duplicate: visit a block reachable under several paths (the same
            instance added twice) only under its first path, and skip its subtree
            there.
        path, depth: the root's path and depth (``''`` and 0; others walk a subtree
            as part of a larger network).

    Raises:
        GluonParamsError: a block is its own descendant (a cycle).
    """
    checked(block)
    seen = set()
    ancestors = set()
    stack = [(path, block, depth, False)]
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


class Names:
    """Gluon's names of a network, each with its owner: ``params`` maps a name to its
    Parameter in Gluon's order; ``paths`` and ``attrs`` give the attribute path of the
    block registering it and the attribute there; ``blocks`` maps those paths to the
    blocks. Parallel dicts of strings, not a tuple per name: nothing more for the
    garbage collector to follow on a large network."""

    __slots__ = ('params', 'paths', 'attrs', 'blocks')

    def __init__(self) -> None:
        self.params: Dict[str, gluon.Parameter] = {}
        self.paths: Dict[str, str] = {}
        self.attrs: Dict[str, str] = {}
        self.blocks: Dict[str, gluon.Block] = {}

    def add(self, name: str, param: gluon.Parameter, attr: str, path: str) -> None:
        self.params[name] = param
        self.paths[name] = path
        self.attrs[name] = attr

    def update(self, other: 'Names') -> None:
        """``dict.update`` on each: a repeated name keeps its first position and takes
        the other's Parameter and owner, as Gluon's ``ret.update`` does."""
        self.params.update(other.params)
        self.paths.update(other.paths)
        self.attrs.update(other.attrs)
        self.blocks.update(other.blocks)

    def owner(self, name: str) -> Tuple[gluon.Block, str, str]:
        """``(block, attribute, block's path)`` registering the parameter ``name``."""
        path = self.paths[name]
        return self.blocks[path], self.attrs[name], path


def collect(block: gluon.Block, prefix: str = '', path: str = '',
            ancestors: Optional[Set[int]] = None, nodes: Optional[List[Node]] = None,
            depth: int = 0) -> Names:
    """Gluon's names below ``block``, in Gluon's order, as
    ``block._collect_params_with_prefix(prefix)`` gives them.

    Args:
        block: the root of the walk.
        prefix: Gluon's prefix of ``block`` (what its parent's naming gave it).
        path: the attribute path of ``block`` (the paths of ``named_blocks``).
        ancestors: ids of the blocks above ``block``, to refuse a cycle.
        nodes: a list to append what :func:`walk` yields, from the same pass.
        depth: the depth of ``block`` in ``nodes``.

    Raises:
        GluonParamsError: a block is its own descendant (a cycle).
    """
    out = Names()
    params, paths, attrs, blocks = out.params, out.paths, out.attrs, out.blocks
    above = set() if ancestors is None else ancestors
    stack: List[Any] = [(prefix, path, block, depth)]
    while stack:
        item = stack.pop()
        if item.__class__ is int:            # leaving a block: no longer an ancestor
            above.discard(item)
            continue
        pre, where, blk, level = item
        key = id(blk)
        if key in above:
            raise GluonParamsError(f'block {where!r} ({type(blk).__name__}) contains itself: '
                                   f'the network is a cycle')
        if overrides(blk):
            above.add(key)
            try:
                out.update(_ask(blk, pre, where, above))
            finally:
                above.discard(key)
            if nodes is not None:            # its subtree as it is, whatever it names
                nodes.extend(walk(blk, path=where, depth=level))
            continue
        if nodes is not None:
            nodes.append(Node(where, blk, level))
        above.add(key)
        stack.append(key)
        blocks[where] = blk
        dot = pre + '.' if pre else ''
        for attr, param in _compat.registered_params(blk):
            name = dot + attr
            params[name] = param
            paths[name] = where
            attrs[name] = attr
        kids = _compat.children(blk)
        if kids:
            here, level = (where + '.' if where else ''), level + 1
            stack.extend((dot + name, here + name, child, level)
                         for name, child in reversed(kids))
    return out


class _Delegate:
    """Stands for a child inside a stand-in: names the real child with :func:`collect`
    and forwards everything else to it."""

    __slots__ = ('_gp_block', '_gp_path', '_gp_above', '_gp_returned', '__weakref__')

    def __init__(self, block: gluon.Block, path: str, above: Set[int]) -> None:
        self._gp_block = block
        self._gp_path = path
        self._gp_above = above
        self._gp_returned = Names()

    def _collect_params_with_prefix(self, prefix: str = '', select: Any = None) -> dict:
        found = collect(self._gp_block, prefix, self._gp_path, self._gp_above)
        if select is not None:            # MXNet 2.0's signature: keys matching a regex
            pattern = re.compile(select)
            for name in [k for k in found.params if not pattern.match(k)]:
                del found.params[name], found.paths[name], found.attrs[name]
        self._gp_returned.update(found)
        return dict(found.params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gp_block, name)

    @property                             # type: ignore[misc]
    def __class__(self) -> type:          # isinstance(child, nn.Dense) still holds
        return type(self._gp_block)


def _ask(blk: gluon.Block, prefix: str, path: str, above: Set[int]) -> Names:
    """The names an overriding block gives its subtree, each with its owner."""
    here = path + '.' if path else ''
    delegates = {name: _Delegate(child, here + name, above)
                 for name, child in _compat.children(blk)}
    override = type(blk)._collect_params_with_prefix      # the class's, as it is now
    before = frozenset(above)
    try:
        result = override(_compat.stand_in(blk, delegates), prefix)
        if not isinstance(result, dict):
            raise TypeError(f'returned {type(result).__name__}, not a dict')
    except GluonParamsError:
        raise
    except Exception:   # noqa: BLE001 - any failure: ask the block itself, as Gluon does
        above.intersection_update(before)    # a walk the failure interrupted left its ids
        delegates = {}
        try:
            result = blk._collect_params_with_prefix(prefix)
        except Exception as e:   # noqa: BLE001 - Gluon cannot name it either
            return _by_attribute(blk, prefix, path, above, e)
    returned = Names()
    for delegate in delegates.values():
        returned.update(delegate._gp_returned)
    return _owned(blk, path, result, returned)


def _owned(blk: gluon.Block, path: str, result: dict, returned: Names) -> Names:
    """Attach an owner to each of an override's names: the one a delegate returned
    under that name, else the block's own attribute holding that Parameter, else any
    block of the subtree holding it, else the overriding block itself."""
    own: Dict[int, str] = {}
    for attr, param in _compat.registered_params(blk):
        own.setdefault(id(param), attr)
    holders: Optional[Dict[int, Tuple[gluon.Block, str, str]]] = None
    out = Names()
    out.blocks[path] = blk
    for name, param in result.items():
        if returned.params.get(name) is param:
            owner, attr, where = returned.owner(name)
        elif id(param) in own:
            owner, attr, where = blk, own[id(param)], path
        else:
            if holders is None:
                holders = _holders(blk, path, returned)
            owner, attr, where = holders.get(id(param), (blk, name, path))
        out.add(name, param, attr, where)
        out.blocks[where] = owner
    return out


def _holders(blk: gluon.Block, path: str,
             returned: Names) -> Dict[int, Tuple[gluon.Block, str, str]]:
    """``{id(Parameter): (block, attribute, path)}`` for the parameters below ``blk``:
    what the delegates returned first, then every block of the subtree by attribute."""
    found: Dict[int, Tuple[gluon.Block, str, str]] = {}
    for name, param in returned.params.items():
        if id(param) not in found:
            found[id(param)] = returned.owner(name)
    stack = [(path, blk)]
    seen: Set[int] = set()
    while stack:
        where, node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for attr, param in _compat.registered_params(node):
            found.setdefault(id(param), (node, attr, where))
        here = where + '.' if where else ''
        stack.extend((here + name, child) for name, child in _compat.children(node))
    return found


def _by_attribute(blk: gluon.Block, prefix: str, path: str, above: Set[int],
                  error: Exception) -> Names:
    """Gluon's default naming for a block whose override cannot run, with a warning."""
    dot = prefix + '.' if prefix else ''
    here = path + '.' if path else ''
    out = Names()
    out.blocks[path] = blk
    for attr, param in _compat.registered_params(blk):
        out.add(dot + attr, param, attr, path)
    for name, child in _compat.children(blk):
        out.update(collect(child, dot + name, here + name, above))
    hint = _compat.naming_failure_hint(blk)
    example = next(iter(out.params), None)
    warnings.warn(
        f'{type(blk).__name__} at {path or "<root>"!r} cannot name its parameters: its '
        f'_collect_params_with_prefix raised {type(error).__name__}: {error}'
        + (f' ({hint})' if hint else '')
        + '. Gluon\'s save_parameters and load_parameters fail on this network for the same '
          'reason; gluonparams names these parameters by attribute'
        + (f' ({example!r})' if example else ''), NameWarning, stacklevel=2)
    return out
