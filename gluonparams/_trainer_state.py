"""A ``gluon.Trainer``'s optimizer state, keyed by structural parameter name, no pickle.

Gluon's ``Trainer.save_states`` pickles its updaters' states keyed by position in the
Trainer: unsafe to open, wrong when parameters are reordered, added or tied
differently, and not exact across devices (the optimizer counts updates per device
id, so Adam's bias correction restarts on another device). Here each Parameter's
state (``None``, an array, or tuples and lists of them: momentum, Adam's moments, a
multi-precision master copy) becomes numpy tensors named
``gluonparams.optimizer/<first structural name>/<k>`` (k-th array, depth first), and
a JSON record holds the rest: the optimizer's class, its hyperparameters (its public
attributes that are numbers, strings, booleans or None), ``num_update``, each
parameter's update count and state layout, and the learning-rate scheduler's
attributes. A tied parameter's state is stored once, under its first name.

``_trainer_restore`` puts such a record back into a Trainer.
"""

import json
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as onp
from mxnet import gluon

from . import _compat
from ._ckpt_model import OPTIMIZER_PREFIX, WriteItem, check_dtype
from .errors import CheckpointError, OptionError
from .ties import named_groups
from .tree import named_parameters

__all__ = ['FORMAT', 'OptimizerReport', 'capture', 'in_network_order', 'layout_of', 'names_in',
           'optimizer_of', 'updaters_of']

FORMAT = 1
# Public optimizer attributes that are not hyperparameters: counters restored on their
# own, the array semantics the optimizer was created under, a speed setting the
# Trainer's updaters read once, at construction, and the gradient scale Trainer.step
# sets from the batch size before every update.
_NOT_HYPERPARAMETERS = {'num_update', 'allow_np_array', 'aggregate_num', 'rescale_grad'}
_PLAIN = (bool, int, float, str, type(None))


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


# ---------------------------------------------------------------- capture


def capture(block: gluon.Block, trainer: Any) -> tuple[str, list[WriteItem]]:
    """The Trainer's state as a JSON record and tensors to write, keyed by the
    structural names ``block`` gives the Trainer's parameters."""
    opt = optimizer_of(trainer)
    _compat.sync()
    names = names_in(block, trainer)
    updaters, keys, _ = updaters_of(trainer, for_saving=True)
    counts = _counts(opt)
    entries, items = {}, []
    for i in in_network_order(block, names):
        param_names, key = names[i], keys[i]
        entry: dict[str, Any] = {}
        if len(param_names) > 1:
            entry['tied'] = param_names[1:]
        if key in counts:
            entry['count'] = counts[key]
        if key in updaters[0].states:
            leaves: list[Any] = []
            entry['state'] = layout_of(updaters[0].states[key], param_names[0], leaves)
            items += [_item(param_names[0], k, leaf) for k, leaf in enumerate(leaves)]
        entries[param_names[0]] = entry
    record = {'format': FORMAT, 'mxnet': _compat.MXNET_VERSION, 'optimizer': type(opt).__name__,
              'hyperparameters': _hyperparameters(opt), 'num_update': int(opt.num_update),
              'lr_scheduler': _scheduler_record(opt.lr_scheduler), 'params': entries}
    return json.dumps(record, separators=(',', ':')), items


def optimizer_of(trainer: Any) -> Any:
    if not isinstance(trainer, gluon.Trainer):
        raise OptionError(f'trainer= must be a gluon.Trainer, found {type(trainer).__name__}')
    return trainer._optimizer


def names_in(block: gluon.Block, trainer: Any) -> list[list[str]]:
    """Every structural name of each of the Trainer's parameters, first name first."""
    by_id = {id(param): names for param, names in
             named_groups(list(named_parameters(block, remove_duplicate=False)))}
    if any(name.startswith(OPTIMIZER_PREFIX) for names in by_id.values() for name in names):
        raise CheckpointError(f'{type(block).__name__} has parameter names starting with '
                              f'{OPTIMIZER_PREFIX!r}, which checkpoints reserve for optimizer '
                              f'state; rename those blocks')
    outside = [_compat.global_name(p) or f'#{i} in the Trainer'
               for i, p in enumerate(trainer._params) if id(p) not in by_id]
    if outside:
        raise CheckpointError(f'the Trainer optimizes {len(outside)} parameters that '
                              f'{type(block).__name__} does not hold ({", ".join(outside[:5])}'
                              f'{", ..." if len(outside) > 5 else ""}): their state cannot be '
                              f'keyed by name; pass the network that holds every parameter '
                              f'the Trainer optimizes')
    seen: dict[int, int] = {}
    for i, param in enumerate(trainer._params):
        if id(param) in seen:
            raise CheckpointError(f'the Trainer lists parameter {by_id[id(param)][0]!r} twice '
                                  f'(at {seen[id(param)]} and {i}; MXNet 1.x does not drop '
                                  f'duplicates) and updates it twice a step; build it from '
                                  f'gp.select(net) or net.collect_params()')
        seen[id(param)] = i
    return [by_id[id(p)] for p in trainer._params]


def in_network_order(block: gluon.Block, names: list[list[str]]) -> list[int]:
    """The Trainer's positions (it sorts a dict's names) in the network's definition order."""
    order = {name: i for i, (name, _) in enumerate(named_parameters(block,
                                                                    remove_duplicate=False))}
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


def _counts(opt: Any) -> dict[int, int]:
    """Each key's update count; the optimizer keeps one table per device id (they agree
    after synchronous training): the largest count any device recorded."""
    counts: dict[int, int] = {}
    for table in opt._all_index_update_counts.values():
        for key, count in table.items():
            counts[key] = max(int(count), counts.get(key, 0))
    return counts


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


def _item(name: str, k: int, leaf: Any) -> WriteItem:
    return WriteItem(f'{OPTIMIZER_PREFIX}{name}/{k}', onp.dtype(leaf.dtype),
                     tuple(int(d) for d in leaf.shape), partial(_host_values, leaf))


def _host_values(arr: Any) -> onp.ndarray:
    view = _compat.host_array(arr)
    return view if view is not None else arr.asnumpy()


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, onp.generic) else value


def _hyperparameters(opt: Any) -> dict[str, Any]:
    return {k: _plain(v) for k, v in sorted(vars(opt).items())
            if not k.startswith('_') and k not in _NOT_HYPERPARAMETERS
            and isinstance(_plain(v), _PLAIN)}


def _scheduler_record(scheduler: Any) -> dict[str, Any] | None:
    if scheduler is None:
        return None
    state = {}
    for key, value in sorted(vars(scheduler).items()):
        value = _plain(value)
        if isinstance(value, (list, tuple)):
            value = [_plain(v) for v in value]
        if not all(isinstance(v, _PLAIN) for v in (value if isinstance(value, list) else [value])):
            raise CheckpointError(f'cannot save lr_scheduler {type(scheduler).__name__}: its '
                                  f'attribute {key!r} holds a {type(value).__name__}, not a '
                                  f'number, string, boolean or list of them; save without '
                                  f'trainer= or keep such state in plain attributes')
        state[key] = value
    return {'type': type(scheduler).__name__, 'state': state}
