"""The one traversal every other module uses.

A network is a tree of blocks with parameters at the leaves. :func:`walk` visits it
once, depth first in definition order, in time linear in the number of blocks and
parameters (Gluon's ``collect_params()`` is quadratic on wide containers). Names are
Gluon's structural names, the keys of ``_collect_params_with_prefix()`` (of
``collect_params()`` in MXNet 2.0) and the names ``save_parameters`` writes:
``'0.weight'``, ``'features.3.conv.weight'``, and, where a block overrides that method,
the block's own (``'1._unfused.0.i2h_weight'`` for an MXNet 1.x LSTM layer). Blocks
are found by attribute path (:func:`named_blocks`); see ``_names`` for how overrides
are honoured in one pass.
"""

import warnings
from typing import Iterable, Iterator, NamedTuple, Optional, Tuple, Union

from mxnet import gluon

from . import _compat, _names
from ._names import Node, checked, walk
from .errors import NameWarning, PathError

__all__ = ['named_parameters', 'named_blocks', 'get', 'walk', 'Node', 'Leaf',
           'checked', 'groups_by_identity', 'leaves', 'named_groups']


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


def leaves(block: gluon.Block) -> Iterator[Leaf]:
    """Every parameter name in Gluon's order (``_collect_params_with_prefix()``), with
    the block registering the parameter.

    Where a block renames (MXNet 1.x RNN layers, GluonNLP attention cells) the owner
    is still the block whose attribute holds the Parameter: ``Leaf('1._unfused.0.
    i2h_weight', p, lstm, 'l0_i2h_weight', '1')``. A parameter an override reaches
    only through another path is owned by the first block holding it.

    Args:
        block: the root of the network.
    """
    found = _names.collect(checked(block))
    for name, param in found.params.items():
        owner, attr, path = found.owner(name)
        yield Leaf(name, param, owner, attr, path)


def named_parameters(block: gluon.Block, *, remove_duplicate: bool = True
                     ) -> Iterator[Tuple[str, gluon.Parameter]]:
    """Yield ``(structural name, Parameter)`` in the order of ``collect_params()``.

    Names are Gluon's: the keys of ``block._collect_params_with_prefix()``, the names
    ``save_parameters`` writes, also where a block overrides that method to rename,
    reorder or leave out parameters (MXNet 1.x's RNN layers say
    ``'1._unfused.0.i2h_weight'``, GluonNLP's attention cells ``'proj_key.weight'``).
    Found in one pass, linear in the size of the network.

    Args:
        block: the root of the network.
        remove_duplicate: yield a tied parameter once, under the name that comes
            first. With ``False`` the names are exactly those of ``collect_params()``.

    Warns:
        NameWarning: a block's override cannot name its parameters (MXNet 1.9.1's
            RNN layers with 11 or more layers); they are named by attribute.

    Examples:
        >>> [name for name, _ in gp.named_parameters(net)]
        ['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']
        >>> len(list(gp.named_parameters(net, remove_duplicate=False)))
        8
    """
    found = _names.collect(checked(block)).params
    if not remove_duplicate:
        yield from found.items()
        return
    seen = set()
    for name, param in found.items():
        if id(param) not in seen:
            seen.add(id(param))
            yield name, param


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
    Block paths are attribute paths (those of :func:`named_blocks`). The attribute
    path of a renamed parameter (``'1.l0_i2h_weight'``) is accepted too, with a
    :class:`~gluonparams.errors.NameWarning` giving Gluon's name, or saying that
    Gluon does not name it (a block that leaves a child out of its names).

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
    current = checked(block)
    parts = path.split('.') if path else []
    named: Optional[_names.Names] = None   # Gluon's names below the first renaming block
    start = 0                              # where parts[i] begins in path
    for i, part in enumerate(parts):
        here = path[:start - 1] if start else ''
        if named is None:
            if _names.overrides(current):
                named = _names.collect(current, here, here)
                if path in named.params:
                    return named.params[path]
            else:
                rest = path[start:]
                if rest in current._reg_params:
                    return current._reg_params[rest]
        elif path in named.params:
            return named.params[path]
        kids = dict(_compat.children(current))
        if part in kids:
            current = kids[part]
            start += len(part) + 1
            continue
        if named is not None and i == len(parts) - 1 and part in current._reg_params:
            _warn_attribute_path(path, named, current, part, here)
            return current._reg_params[part]
        raise PathError(
            f'no {part!r} in {here or "<root>"} ({type(current).__name__}) while looking up '
            f'{path!r}; it has {_describe_level(kids, current, here, named)}')
    return current


def _owned_by(named: '_names.Names', block: gluon.Block, path: str) -> list[str]:
    """The names of ``named`` whose parameter ``block`` (at ``path``) registers."""
    return [name for name, where in named.paths.items()
            if where == path and named.blocks[where] is block]


def _warn_attribute_path(path, named, owner, attr, owner_path) -> None:
    gluon_names = [name for name in _owned_by(named, owner, owner_path)
                   if named.attrs[name] == attr]
    if gluon_names:
        said = f'that Gluon names {gluon_names[0]!r} (the name save_parameters writes, and ' \
               f'the one gluonparams uses in selections, tie groups and checkpoints)'
    else:
        said = ('that Gluon does not name: a block above it leaves it out of '
                '_collect_params_with_prefix, so save_parameters does not write it and '
                'gluonparams leaves it out of selections, tie groups and checkpoints')
    warnings.warn(f'{path!r} is the attribute path of a parameter {said}', NameWarning,
                  stacklevel=3)


def _describe_level(kids, block, path, named) -> str:
    parts = []
    if kids:
        parts.append('blocks ' + ', '.join(repr(k) for k in kids))
    if named is None:
        own = [repr(attr) for attr, _ in _compat.registered_params(block)]
    else:
        dot = path + '.' if path else ''
        own = []
        for name in _owned_by(named, block, path):
            short, attr = name[len(dot):] if name.startswith(dot) else name, named.attrs[name]
            own.append(repr(short) if short == attr else f'{short!r} (attribute {attr!r})')
    if own:
        parts.append('parameters ' + ', '.join(own))
    return ' and '.join(parts) if parts else 'no blocks and no parameters'


def groups_by_identity(pairs: Iterable[Tuple[str, gluon.Parameter]]) -> list[list[str]]:
    """Group ``(name, Parameter)`` pairs by the Parameter's identity.

    Returns one list of names per parameter seen under two or more names, ordered
    by each group's first name, names in the order given.
    """
    return [names for _, names in named_groups(pairs) if len(names) > 1]


def named_groups(source: Union[gluon.Block, Iterable[Tuple[str, gluon.Parameter]]]
                 ) -> list[Tuple[gluon.Parameter, list[str]]]:
    """Each distinct Parameter with every name it has (ties by identity), in the order
    of first names.

    Args:
        source: a network (walked once, every name of every parameter), or
            ``(name, Parameter)`` pairs already collected.
    """
    pairs = named_parameters(source, remove_duplicate=False) \
        if isinstance(source, gluon.Block) else source
    by_id: dict[int, Tuple[gluon.Parameter, list[str]]] = {}
    for name, param in pairs:
        entry = by_id.get(id(param))
        if entry is None:
            by_id[id(param)] = (param, [name])
        else:
            entry[1].append(name)
    return list(by_id.values())
