"""The optimizer-state record both directions share: its format version, what a load
reports, and how a Trainer's parameters, updaters and states are found and laid out.

Every function takes the network's parameter groups (``gluonparams.tree.named_groups``:
each distinct Parameter with all its structural names, in definition order), so a save
or a load walks the network once.
"""

from dataclasses import dataclass, field
from typing import Any

from mxnet import gluon

from ... import _compat
from ..._text import first_of
from ...errors import CheckpointError, OptionError
from .._model import OPTIMIZER_PREFIX, check_dtype

__all__ = ['FORMAT', 'OptimizerReport', 'in_network_order', 'layout_of', 'names_in',
           'optimizer_of', 'updaters_of']

FORMAT = 1


@dataclass
class OptimizerReport:
    """What ``gp.load(..., trainer=)`` did to the Trainer.

    ``restored``: names whose state and update count now come from the file;
    ``missing``: optimized by the Trainer, no state in the file (they start fresh);
    ``unexpected``: state in the file for names the Trainer does not optimize;
    ``mismatched``: ``(name, the Trainer's, the file's)``, left fresh;
    ``changed``: ``(hyperparameter, the Trainer's value, the file's value)``, now the
    file's; ``ignored``: the file's hyperparameters the Trainer's optimizer does not
    have (another MXNet version names some differently); ``fresh``: the file holds no
    optimizer state, the Trainer was not changed.
    """

    optimizer: str
    restored: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)
    changed: list[tuple[str, Any, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    num_update: int = 0
    fresh: bool = False

    def __str__(self) -> str:
        if self.fresh:
            return f'optimizer {self.optimizer}: fresh state (the file holds none)'
        return (f'optimizer {self.optimizer}: restored {len(self.restored)}, missing '
                f'{len(self.missing)}, unexpected {len(self.unexpected)}, mismatched '
                f'{len(self.mismatched)}, num_update {self.num_update}')


def optimizer_of(trainer: Any) -> Any:
    if not isinstance(trainer, gluon.Trainer):
        raise OptionError(f'trainer= must be a gluon.Trainer, found {type(trainer).__name__}')
    return trainer._optimizer


def names_in(groups: list[tuple[gluon.Parameter, list[str]]], owner: str,
             trainer: Any) -> list[list[str]]:
    """Every structural name of each of the Trainer's parameters, first name first;
    ``owner`` names the network in messages."""
    by_id = {id(param): names for param, names in groups}
    if any(name.startswith(OPTIMIZER_PREFIX) for names in by_id.values() for name in names):
        raise CheckpointError(f'{owner} has parameter names starting with '
                              f'{OPTIMIZER_PREFIX!r}, which checkpoints reserve for optimizer '
                              f'state; rename those blocks')
    outside = [_compat.global_name(p) or f'#{i} in the Trainer'
               for i, p in enumerate(trainer._params) if id(p) not in by_id]
    if outside:
        raise CheckpointError(f'the Trainer optimizes {len(outside)} parameters that '
                              f'{owner} does not hold ({first_of(outside, 5, quote=False)}): '
                              f'their state cannot be keyed by name; pass the network that '
                              f'holds every parameter the Trainer optimizes')
    seen: dict[int, int] = {}
    for i, param in enumerate(trainer._params):
        if id(param) in seen:
            raise CheckpointError(f'the Trainer lists parameter {by_id[id(param)][0]!r} twice '
                                  f'(at {seen[id(param)]} and {i}; MXNet 1.x does not drop '
                                  f'duplicates) and updates it twice a step; build it from '
                                  f'gp.select(net) or net.collect_params()')
        seen[id(param)] = i
    return [by_id[id(p)] for p in trainer._params]


def in_network_order(groups: list[tuple[gluon.Parameter, list[str]]],
                     names: list[list[str]]) -> list[int]:
    """The Trainer's positions (it sorts a dict's names) in the network's definition order."""
    order = {group[0]: i for i, (_, group) in enumerate(groups)}
    return sorted(range(len(names)), key=lambda i: order[names[i][0]])


def updaters_of(trainer: Any, for_saving: bool) -> tuple[list[Any], list[int], bool]:
    """The updaters holding the states, each parameter's key in them, and whether they
    are the kvstore's (``update_on_kvstore``) rather than one per device."""
    kv = trainer._kvstore
    if trainer._kv_initialized and kv is not None and trainer._update_on_kvstore:
        updater = getattr(kv, '_updater', None)
        if updater is None:
            verb = 'saved' if for_saving else 'restored'
            raise CheckpointError(f'the Trainer updates on a {kv.type!r} kvstore, whose '
                                  f'optimizer state lives on its servers and cannot be {verb} '
                                  f'here; build the Trainer with update_on_kvstore=False')
        return [updater], [_compat.kvstore_key(trainer, p) for p in trainer._params], True
    return list(trainer._updaters), list(range(len(trainer._params))), False


def layout_of(state: Any, name: str, leaves: list[Any]) -> Any:
    """The JSON layout of a state (``None``, ``'array'``, ``{'tuple'|'list': [...]}``);
    its arrays are appended to ``leaves`` depth first."""
    if state is None:
        return None
    if isinstance(state, (tuple, list)):
        return {type(state).__name__: [layout_of(s, name, leaves) for s in state]}
    if not hasattr(state, 'asnumpy') or getattr(state, 'stype', 'default') != 'default':
        raise CheckpointError(f'cannot save the optimizer state of {name!r}: it holds a '
                              f'{getattr(state, "stype", type(state).__name__)} value; '
                              f'checkpoints hold dense arrays, None, and tuples or lists of '
                              f'them')
    if check_dtype(state.dtype) is None:
        raise CheckpointError(f'cannot save the optimizer state of {name!r}: dtype '
                              f'{state.dtype} is not one checkpoints hold')
    leaves.append(state)
    return 'array'
