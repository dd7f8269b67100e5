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

``_restore`` puts such a record back into a Trainer.
"""

import json
from collections.abc import Callable
from typing import Any

import numpy as onp
from mxnet import gluon

from ... import _compat
from ...errors import CheckpointError
from .._model import OPTIMIZER_PREFIX, WriteItem
from ._record import FORMAT, in_network_order, layout_of, names_in, optimizer_of, updaters_of

__all__ = ['capture']

# Public optimizer attributes that are not hyperparameters: counters restored on their
# own, the array semantics the optimizer was created under, a speed setting the
# Trainer's updaters read once, at construction, and the gradient scale Trainer.step
# sets from the batch size before every update.
_NOT_HYPERPARAMETERS = {'num_update', 'allow_np_array', 'aggregate_num', 'rescale_grad'}
_PLAIN = (bool, int, float, str, type(None))


def capture(groups: list[tuple[gluon.Parameter, list[str]]], owner: str, trainer: Any,
            take: Callable[[Any], Callable[[], onp.ndarray]]) -> tuple[str, list[WriteItem]]:
    """The Trainer's state as a JSON record and tensors to write, keyed by the
    structural names the network (its ``groups``, see ``names_in``) gives the
    Trainer's parameters. ``take(array)`` gives each state tensor's ``values``: a read
    of its memory when it is written (after the caller waited for MXNet's engine), or
    a snapshot's copy (a background save). Never waits for the engine itself: the
    record (counts, hyperparameters) is Python state, set when updates are queued."""
    opt = optimizer_of(trainer)
    names = names_in(groups, owner, trainer)
    updaters, keys, _ = updaters_of(trainer, for_saving=True)
    counts = _counts(opt)
    entries, items = {}, []
    for i in in_network_order(groups, names):
        param_names, key = names[i], keys[i]
        entry: dict[str, Any] = {}
        if len(param_names) > 1:
            entry['tied'] = param_names[1:]
        if key in counts:
            entry['count'] = counts[key]
        if key in updaters[0].states:
            leaves: list[Any] = []
            entry['state'] = layout_of(updaters[0].states[key], param_names[0], leaves)
            items += [_item(param_names[0], k, leaf, take) for k, leaf in enumerate(leaves)]
        entries[param_names[0]] = entry
    record = {'format': FORMAT, 'mxnet': _compat.MXNET_VERSION, 'optimizer': type(opt).__name__,
              'hyperparameters': _hyperparameters(opt), 'num_update': int(opt.num_update),
              'lr_scheduler': _scheduler_record(opt.lr_scheduler), 'params': entries}
    return json.dumps(record, separators=(',', ':')), items


def _counts(opt: Any) -> dict[int, int]:
    """Each key's update count; the optimizer keeps one table per device id (they agree
    after synchronous training): the largest count any device recorded."""
    counts: dict[int, int] = {}
    for table in opt._all_index_update_counts.values():
        for key, count in table.items():
            counts[key] = max(int(count), counts.get(key, 0))
    return counts


def _item(name: str, k: int, leaf: Any,
          take: Callable[[Any], Callable[[], onp.ndarray]]) -> WriteItem:
    return WriteItem(f'{OPTIMIZER_PREFIX}{name}/{k}', onp.dtype(leaf.dtype),
                     tuple(int(d) for d in leaf.shape), take(leaf))


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
