"""Restore a Trainer's optimizer state from a checkpoint's record, by structural name.

Planning (before anything changes) matches the Trainer's parameters with the file's
records by name, ties included, under the same strict rules as parameters; restoring
(after the parameters are loaded) sets the file's hyperparameters and scheduler
state, builds each state with the Trainer's own optimizer on the weight's device,
checks its layout, shapes and dtypes against the file, fills it, and sets the update
counts on every device the Trainer updates on (or in its kvstore's updater when it
updates on the kvstore), so training continues as if it had never stopped.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as onp
from mxnet import gluon
from mxnet.gluon.parameter import DeferredInitializationError

from ... import _compat
from ..._parallel import parallel_map
from ..._text import first_of, shape_text
from ...errors import CheckpointError
from .._files import read_into, read_values
from .._io import CheckpointFile
from .._model import OPTIMIZER_PREFIX, CheckpointInfo, TensorInfo
from .._plan import LoadPlan
from ._record import (
    FORMAT,
    OptimizerReport,
    in_network_order,
    layout_of,
    names_in,
    optimizer_of,
    updaters_of,
)

__all__ = ['StatePlan', 'plan_restore', 'restore']

_ABSENT = object()


@dataclass
class _Fill:
    """Give the Trainer's parameter ``index`` (the network's ``name``) the file's state
    stored under ``source``."""

    index: int
    name: str
    source: str
    layout: Any            # the file's layout, or _ABSENT when it recorded no state
    count: int | None
    tensors: list[TensorInfo]


@dataclass
class StatePlan:
    """What a load will do to the Trainer, worked out before anything changes."""

    trainer: Any
    path: str
    report: OptimizerReport
    record: dict[str, Any] = field(default_factory=dict)
    fills: list[_Fill] = field(default_factory=list)

    @property
    def tensors(self) -> list[TensorInfo]:
        return [t for fill in self.fills for t in fill.tensors]

    @property
    def has_problems(self) -> bool:
        r = self.report
        return bool(r.missing or r.unexpected or r.mismatched)

    def describe(self) -> str:
        """One message listing every problem."""
        r = self.report
        counts = (f'{len(r.missing)} missing, {len(r.unexpected)} unexpected, '
                  f'{len(r.mismatched)} mismatched')
        lines = [f'{self.path}: cannot restore the {r.optimizer} state into the Trainer '
                 f'({counts})']
        if r.missing:
            lines.append('  optimized by the Trainer, no state in the file: ' + first_of(r.missing))
        if r.unexpected:
            lines.append('  state in the file, not optimized by the Trainer: '
                         + first_of(r.unexpected))
        for name, expected, found in r.mismatched:
            lines.append(f'  {name!r}: the Trainer\'s {r.optimizer} makes {expected}, the file '
                         f'holds {found}')
        lines.append('  restore what matches with strict=False (the rest starts from fresh '
                     'state); a Trainer built from the trainable parameters only leaves frozen '
                     'ones unexpected')
        return '\n'.join(lines)


def plan_restore(groups: list[tuple[gluon.Parameter, list[str]]], owner: str,
                 info: CheckpointInfo, trainer: Any, plan: LoadPlan,
                 matcher: Callable[[str], bool] | None, devices: list[Any] | None) -> StatePlan:
    """Match the file's optimizer state with the Trainer's parameters by name (the
    network's ``groups``, see ``names_in``); raise for what no ``strict=False`` can fix
    (another optimizer, a corrupt record)."""
    opt = optimizer_of(trainer)
    names = names_in(groups, owner, trainer)
    _check_devices(info.path, trainer, devices)
    _check_initialized(info.path, trainer, names, plan)
    if info.optimizer is None:
        return StatePlan(trainer, info.path, OptimizerReport(type(opt).__name__, fresh=True))
    record = _checked_record(info.path, info.optimizer.record)
    _check_same_kind(info.path, record, opt)
    out = StatePlan(trainer, info.path,
                    OptimizerReport(record['optimizer'], num_update=record['num_update']), record)
    entries = record['params']
    source_of: dict[str, str] = {}
    for key, entry in entries.items():
        source_of[key] = key
        for alias in entry.get('tied', []):
            source_of.setdefault(alias, key)
    tensors = {t.name: t for t in info.optimizer.tensors}
    misfits = {name: (expected, found) for name, expected, found in plan.mismatched}
    used: set[str] = set()
    for index in in_network_order(groups, names):
        param_names = names[index]
        if matcher is not None and not any(matcher(n) for n in param_names):
            continue
        sources = [source_of[n] for n in param_names if n in source_of]
        if not sources:
            out.report.missing.append(param_names[0])
            continue
        used.update(sources)
        misfit = next((misfits[n] for n in param_names if n in misfits), None)
        if misfit is not None:
            out.report.mismatched.append((param_names[0], f'state for {misfit[0]}',
                                          f'state for {misfit[1]}'))
            continue
        entry = entries[sources[0]]
        out.fills.append(_Fill(index, param_names[0], sources[0], entry.get('state', _ABSENT),
                               entry.get('count'), _leaf_tensors(info.path, sources[0], entry,
                                                                 tensors)))
    out.report.unexpected = [k for k in entries
                             if k not in used and (matcher is None or matcher(k))]
    return out


def _check_devices(path: str, trainer: Any, devices: list[Any] | None) -> None:
    """The parameters must end up on the devices the Trainer was built for (it reads
    them there at its first step, one updater each)."""
    built = {_compat.device_name(d) for d in _compat.trainer_devices(trainer)}
    for param in trainer._params:
        after = {_compat.device_name(d)
                 for d in (devices if devices is not None else _compat.param_devices(param))}
        if after != built:
            raise CheckpointError(f'{path}: the Trainer was built for parameters on '
                                  f'{", ".join(sorted(built))} but they will live on '
                                  f'{", ".join(sorted(after))}; place the network first '
                                  f'(gp.to_device(net, device)), then build the Trainer and '
                                  f'load')


def _check_initialized(path: str, trainer: Any, names: list[list[str]], plan: LoadPlan) -> None:
    """Every parameter of the Trainer must hold data once the parameters are loaded
    (it reads them to decide where it updates)."""
    loaded = {id(a.param) for a in plan.assignments}
    waiting = [names[i][0] for i, p in enumerate(trainer._params)
               if not _compat.is_initialized(p) and id(p) not in loaded]
    if waiting:
        raise CheckpointError(f'{path}: the Trainer optimizes {first_of(waiting)}, which hold no '
                              f'data yet and get none from the file; run one forward pass '
                              f'first (deferred shapes), then load')


def _checked_record(path: str, record: dict[str, Any]) -> dict[str, Any]:
    version = record.get('format')
    if isinstance(version, int) and version > FORMAT:
        raise CheckpointError(f'{path}: optimizer record format {version} was written by a '
                              f'newer gluonparams (this one reads {FORMAT}); upgrade gluonparams')
    scheduler = record.get('lr_scheduler')
    params = record.get('params')
    valid = (version == FORMAT and isinstance(record.get('optimizer'), str)
             and isinstance(record.get('mxnet'), str)
             and isinstance(record.get('hyperparameters'), dict)
             and isinstance(record.get('num_update'), int)
             and (scheduler is None or (isinstance(scheduler, dict)
                                        and isinstance(scheduler.get('type'), str)
                                        and isinstance(scheduler.get('state'), dict)))
             and isinstance(params, dict)
             and all(_valid_entry(e) for e in params.values()))
    if not valid:
        raise CheckpointError(f'{path}: the optimizer record lacks or misspells format, mxnet, '
                              f'optimizer, hyperparameters, num_update, lr_scheduler or params: '
                              f'the file is corrupt')
    return record


def _valid_entry(entry: Any) -> bool:
    return (isinstance(entry, dict)
            and isinstance(entry.get('count', 0), int)
            and isinstance(entry.get('tied', []), list)
            and ('state' not in entry or _validlayout_of(entry['state'])))


def _validlayout_of(layout: Any) -> bool:
    if layout is None or layout == 'array':
        return True
    return (isinstance(layout, dict) and len(layout) == 1
            and next(iter(layout)) in ('tuple', 'list')
            and isinstance(next(iter(layout.values())), list)
            and all(_validlayout_of(x) for x in next(iter(layout.values()))))


def _leaves(layout: Any) -> int:
    if layout is None or layout is _ABSENT:
        return 0
    if layout == 'array':
        return 1
    return sum(_leaves(x) for x in next(iter(layout.values())))


def _leaf_tensors(path: str, key: str, entry: dict[str, Any],
                  tensors: dict[str, TensorInfo]) -> list[TensorInfo]:
    wanted = [f'{OPTIMIZER_PREFIX}{key}/{k}' for k in range(_leaves(entry.get('state', _ABSENT)))]
    lost = [n for n in wanted if n not in tensors]
    if lost:
        raise CheckpointError(f'{path}: the optimizer record gives {key!r} a state of '
                              f'{len(wanted)} arrays but the file lacks {first_of(lost)}: the '
                              f'file is corrupt')
    return [tensors[n] for n in wanted]


def _check_same_kind(path: str, record: dict[str, Any], opt: Any) -> None:
    """The state must come from the same major MXNet version, the Trainer's optimizer be
    of the file's class, and have a scheduler of the file's class when the file records
    one (its state then comes from the file)."""
    if record['mxnet'].split('.')[0] != _compat.MXNET_VERSION.split('.')[0]:
        raise CheckpointError(f'{path}: the optimizer state was written with MXNet '
                              f'{record["mxnet"]}; MXNet {_compat.MXNET_VERSION}\'s optimizers '
                              f'keep some states in other layouts (SGD\'s multi-precision pair '
                              f'is reversed, RMSProp\'s differs), so it is not restored; resume '
                              f'on MXNet {record["mxnet"]}, or load without trainer= and let '
                              f'the optimizer start fresh')
    found = type(opt).__name__
    if found != record['optimizer']:
        raise CheckpointError(f'{path}: the file holds {record["optimizer"]} state but the '
                              f'Trainer\'s optimizer is {found}; build the Trainer with '
                              f'{record["optimizer"].lower()!r} (its hyperparameters come from '
                              f'the file), or load without trainer=')
    wanted = record['lr_scheduler']
    scheduler = opt.lr_scheduler
    if wanted is not None and type(scheduler).__name__ != wanted['type']:
        has = 'none' if scheduler is None else type(scheduler).__name__
        raise CheckpointError(f'{path}: the file records an lr_scheduler {wanted["type"]} but '
                              f'the Trainer\'s optimizer has {has}; build the optimizer with '
                              f'lr_scheduler=mx.lr_scheduler.{wanted["type"]}(...) (its state, '
                              f'such as base_lr and count, comes from the file)')


def restore(cf: CheckpointFile, plan: StatePlan, strict: bool) -> OptimizerReport:
    """Fill the Trainer as planned. Every state is built and checked before the
    Trainer changes; with ``strict=True`` a state that does not fit raises and leaves
    the Trainer as it was."""
    report = plan.report
    if report.fresh:
        return report
    trainer = plan.trainer
    opt = trainer._optimizer
    _init_kvstore(trainer, plan.path)
    updaters, keys, on_kvstore = updaters_of(trainer, for_saving=False)
    undo = _apply_settings(opt, plan.record, report)
    try:
        built = [(fill, _build(trainer, fill, updaters, keys, on_kvstore, report))
                 for fill in plan.fills]
        if strict and report.mismatched:
            raise CheckpointError(plan.describe())
        _compat.sync()    # the new states' zeros are written: fill them
        jobs = [(fill.tensors, [_arrays_of(state) for state in states])
                for fill, states in built if states]
        parallel_map(lambda job: _fill(cf, *job), jobs,
                     lambda job: sum(t.nbytes for t in job[0]))
    except BaseException:
        undo()
        raise
    devices = {_compat.array_device(a).device_id for p in trainer._params for a in p.list_data()}
    for fill, states in built:
        if states is None:
            continue
        key = keys[fill.index]
        for updater, state in zip(updaters, states):
            updater.states[key] = state
            updater.states_synced[key] = not on_kvstore   # the kvstore's updater moves it
        if fill.count is not None:
            for device in devices | ({0} if on_kvstore else set()):
                opt._all_index_update_counts.setdefault(device, {})[key] = fill.count
        report.restored.append(fill.name)
    opt.num_update = plan.record['num_update']
    return report


def _init_kvstore(trainer: Any, path: str) -> None:
    """Decide where the Trainer updates (its devices or its kvstore), as its first step
    would, so the states go where they will be used."""
    try:
        if not trainer._kv_initialized:
            trainer._init_kvstore()
        if trainer._params_to_init:
            trainer._init_params()
    except DeferredInitializationError as e:
        raise CheckpointError(f'{path}: the Trainer\'s parameters are not all initialized '
                              f'({e}); run one forward pass, or load every parameter, before '
                              f'restoring optimizer state') from e


def _apply_settings(opt: Any, record: dict[str, Any], report: OptimizerReport
                    ) -> Callable[[], None]:
    """Set the file's hyperparameters and scheduler state; returns how to undo it."""
    hyper = record['hyperparameters']
    targets = [(opt, k, v) for k, v in hyper.items() if hasattr(opt, k)]
    report.changed = [(k, getattr(opt, k), v) for _, k, v in targets if getattr(opt, k) != v]
    report.ignored = [k for k in hyper if not hasattr(opt, k)]
    if record['lr_scheduler'] is not None:
        targets += [(opt.lr_scheduler, k, v) for k, v in record['lr_scheduler']['state'].items()]
    before = [(obj, k, getattr(obj, k, _ABSENT)) for obj, k, _ in targets]
    for obj, k, v in targets:
        setattr(obj, k, v)

    def undo() -> None:
        for obj, k, v in before:
            if v is _ABSENT:
                delattr(obj, k)
            else:
                setattr(obj, k, v)
    return undo


def _build(trainer: Any, fill: _Fill, updaters: list[Any], keys: list[int], on_kvstore: bool,
           report: OptimizerReport) -> list[Any] | None:
    """One state per updater, made by the Trainer's optimizer on the weight's device;
    ``None`` (and a ``mismatched`` entry) when it does not fit the file's."""
    if fill.layout is _ABSENT:
        return []
    arrays = trainer._params[fill.index].list_data()
    states = []
    for u in range(len(updaters)):
        weight = _compat.as_classic(arrays[0 if on_kvstore else u])
        state = trainer._optimizer.create_state_multi_precision(keys[fill.index], weight)
        leaves: list[Any] = []
        layout = layout_of(state, fill.name, leaves)
        made = [(tuple(int(d) for d in a.shape), onp.dtype(a.dtype).name) for a in leaves]
        stored = [(t.shape, t.dtype) for t in fill.tensors]
        if layout != fill.layout or made != stored:
            report.mismatched.append((fill.name, _state_text(layout, made),
                                      _state_text(fill.layout, stored)))
            return None
        states.append(state)
    return states


def _arrays_of(state: Any) -> list[Any]:
    """The arrays of a state, depth first."""
    leaves: list[Any] = []
    layout_of(state, '', leaves)
    return leaves


def _fill(cf: CheckpointFile, tensors: list[TensorInfo], copies: list[list[Any]]) -> None:
    """Read each tensor into the first copy of its state array (straight into its memory
    when that is on the host), then copy it to the other devices' copies."""
    for k, tensor in enumerate(tensors):
        first = copies[0][k]
        view = _compat.host_array(first)
        if view is not None:
            read_into(cf, tensor, view)
        else:
            first[:] = read_values(cf, tensor)
        for other in copies[1:]:
            first.copyto(other[k])


def _state_text(layout: Any, arrays: list[tuple[tuple[int, ...], str]]) -> str:
    if layout is None:
        return 'no state (None)'
    shapes = ', '.join(f'{shape_text(shape)} {dtype}' for shape, dtype in arrays)
    return f'{json.dumps(layout)} of {shapes}'
