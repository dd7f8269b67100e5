"""Tied parameters: names bound to one Parameter object.

A tie is identity, never equality: two names are tied when they hold the same
``Parameter``, which is also the same buffer on every device it lives on.
"""

from typing import Iterable, List, Tuple

from mxnet import gluon

from .tree import named_parameters

__all__ = ['tie_groups', 'groups_by_identity']


def groups_by_identity(pairs: Iterable[Tuple[str, gluon.Parameter]]) -> List[List[str]]:
    """Group ``(name, Parameter)`` pairs by the Parameter's identity.

    Returns one list of names per parameter seen under two or more names, ordered
    by each group's first name, names in the order given.
    """
    by_id: dict = {}
    for name, param in pairs:
        by_id.setdefault(id(param), []).append(name)
    return [names for names in by_id.values() if len(names) > 1]


def tie_groups(block: gluon.Block) -> List[List[str]]:
    """One list of structural names per parameter reachable under several names.

    Finds every way a tie is made (``share_parameters``, one block added at several
    positions, a Parameter assigned to another block, 1.x ``params=``), because it
    looks only at identity. Equal values are never a tie.

    Examples:
        >>> gp.tie_groups(net)                          # doctest: +SKIP
        [['1.weight', '2.weight'], ['1.bias', '2.bias']]
    """
    return groups_by_identity(named_parameters(block, remove_duplicate=False))
