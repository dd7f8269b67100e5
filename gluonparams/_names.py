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
the block whose children (in ``_children`` and in any attribute) are replaced by
*delegates*. A delegate answers ``_collect_params_with_prefix`` with this module's
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
from typing import Any, Dict, List, Optional, Set, Tuple

from mxnet import gluon

from . import _compat
from .errors import GluonParamsError, NameWarning

__all__ = ['Entry', 'collect', 'overrides']

# one name's value: (Parameter, block registering it, its attribute there, block's path)
Entry = Tuple[gluon.Parameter, gluon.Block, str, str]

_OVERRIDES: Dict[type, bool] = {}


def overrides(block: gluon.Block) -> bool:
    """True when the block's class names its parameters its own way."""
    cls = type(block)
    found = _OVERRIDES.get(cls)
    if found is None:
        found = _OVERRIDES[cls] = _compat.naming_override(cls) is not None
    return found


def collect(block: gluon.Block, prefix: str = '', path: str = '',
            ancestors: Optional[Set[int]] = None) -> Dict[str, Entry]:
    """``{Gluon's name: Entry}`` in Gluon's order, as
    ``block._collect_params_with_prefix(prefix)`` would name them.

    Args:
        block: the root of the walk.
        prefix: Gluon's prefix of ``block`` (what its parent's naming gave it).
        path: the attribute path of ``block`` (the paths of ``named_blocks``).
        ancestors: ids of the blocks above ``block``, to refuse a cycle.

    Raises:
        GluonParamsError: a block is its own descendant (a cycle).
    """
    out: Dict[str, Entry] = {}
    above = set() if ancestors is None else ancestors
    stack: List[Any] = [(prefix, path, block)]
    while stack:
        item = stack.pop()
        if item.__class__ is int:            # leaving a block: no longer an ancestor
            above.discard(item)
            continue
        pre, where, blk = item
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
            continue
        above.add(key)
        stack.append(key)
        dot = pre + '.' if pre else ''
        for attr, param in blk._reg_params.items():
            out[dot + attr] = (param, blk, attr, where)
        kids = _compat.children(blk)
        if kids:
            here = where + '.' if where else ''
            stack.extend((dot + name, here + name, child) for name, child in reversed(kids))
    return out


class _Delegate:
    """Stands for a child inside a stand-in: names the real child with :func:`collect`
    and forwards everything else to it."""

    __slots__ = ('_gp_block', '_gp_path', '_gp_above', '_gp_returned', '__weakref__')

    def __init__(self, block: gluon.Block, path: str, above: Set[int]) -> None:
        self._gp_block = block
        self._gp_path = path
        self._gp_above = above
        self._gp_returned: Dict[str, Entry] = {}

    def _collect_params_with_prefix(self, prefix: str = '', select: Any = None) -> dict:
        found = collect(self._gp_block, prefix, self._gp_path, self._gp_above)
        if select is not None:            # MXNet 2.0's signature: keys matching a regex
            pattern = re.compile(select)
            found = {k: e for k, e in found.items() if pattern.match(k)}
        self._gp_returned.update(found)
        return {name: entry[0] for name, entry in found.items()}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gp_block, name)

    @property                             # type: ignore[misc]
    def __class__(self) -> type:          # isinstance(child, nn.Dense) still holds
        return type(self._gp_block)


def _ask(blk: gluon.Block, prefix: str, path: str, above: Set[int]) -> Dict[str, Entry]:
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
    returned: Dict[str, Entry] = {}
    for delegate in delegates.values():
        returned.update(delegate._gp_returned)
    return _owned(blk, path, result, returned)


def _owned(blk: gluon.Block, path: str, result: dict,
           returned: Dict[str, Entry]) -> Dict[str, Entry]:
    """Attach an owner to each of an override's names: the entry a delegate returned
    under that name, else the block's own attribute holding that Parameter, else any
    block of the subtree holding it, else the overriding block itself."""
    own: Dict[int, str] = {}
    for attr, param in _compat.registered_params(blk):
        own.setdefault(id(param), attr)
    by_id: Optional[Dict[int, Entry]] = None
    out: Dict[str, Entry] = {}
    for name, param in result.items():
        entry = returned.get(name)
        if entry is None or entry[0] is not param:
            held = own.get(id(param))
            if held is not None:
                entry = (param, blk, held, path)
            else:
                if by_id is None:
                    by_id = _holders(blk, path, returned)
                entry = by_id.get(id(param)) or (param, blk, name, path)
        out[name] = entry
    return out


def _holders(blk: gluon.Block, path: str, returned: Dict[str, Entry]) -> Dict[int, Entry]:
    """``{id(Parameter): Entry}`` for the parameters below ``blk``: what the delegates
    returned first, then every block of the subtree by attribute."""
    found: Dict[int, Entry] = {}
    for entry in returned.values():
        found.setdefault(id(entry[0]), entry)
    stack = [(path, blk)]
    seen: Set[int] = set()
    while stack:
        where, node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for attr, param in _compat.registered_params(node):
            found.setdefault(id(param), (param, node, attr, where))
        here = where + '.' if where else ''
        stack.extend((here + name, child) for name, child in _compat.children(node))
    return found


def _by_attribute(blk: gluon.Block, prefix: str, path: str, above: Set[int],
                  error: Exception) -> Dict[str, Entry]:
    """Gluon's default naming for a block whose override cannot run, with a warning."""
    dot = prefix + '.' if prefix else ''
    here = path + '.' if path else ''
    out: Dict[str, Entry] = {dot + attr: (param, blk, attr, path)
                             for attr, param in _compat.registered_params(blk)}
    for name, child in _compat.children(blk):
        out.update(collect(child, dot + name, here + name, above))
    hint = _compat.naming_failure_hint(blk)
    example = next(iter(out), None)
    warnings.warn(
        f'{type(blk).__name__} at {path or "<root>"!r} cannot name its parameters: its '
        f'_collect_params_with_prefix raised {type(error).__name__}: {error}'
        + (f' ({hint})' if hint else '')
        + '. Gluon\'s save_parameters and load_parameters fail on this network for the same '
          'reason; gluonparams names these parameters by attribute'
        + (f' ({example!r})' if example else ''), NameWarning, stacklevel=2)
    return out
