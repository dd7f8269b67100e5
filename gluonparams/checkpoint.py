"""Checkpoints: save, load, inspect and verify a network's parameters.

The format follows the file's extension: ``.safetensors`` (recommended: ties,
checksums and metadata in its header, readable by any safetensors reader),
``.params`` (MXNet's own: ``net.load_parameters`` reads what :func:`save` writes,
on MXNet 1.9.1 and 2.0, and :func:`load` reads both formats MXNet writes) and
``.npz`` (numpy's). Saving is atomic; loading checks every name, shape, dtype and
checksum before it changes anything. With ``trainer=``, the Trainer's optimizer state
is saved and restored too, keyed by structural name (see ``_trainer_state``).
"""

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Union

import numpy as onp
from mxnet import gluon

from . import _compat, _trainer_restore, _trainer_state
from ._ckpt_files import check_checksums, format_of, read_into, read_values, write_file
from ._ckpt_io import CheckpointFile, parallel_map
from ._ckpt_model import OPTIMIZER_KEY, CheckpointInfo, WriteItem, check_dtype
from ._ckpt_plan import Assignment, make_plan
from ._render import shape_text
from ._trainer_state import OptimizerReport
from .devices import as_devices, check_replicas
from .distributed import DEFAULT_TIMEOUT, load_on_every_worker, save_from_rank0
from .errors import CheckpointError, OptionError, PatternError, check_option
from .select import as_matcher
from .ties import named_groups
from .tree import named_parameters

__all__ = ['LoadReport', 'OptimizerReport', 'VerifyReport', 'inspect', 'load', 'save', 'verify']

PathLike = Union[str, 'os.PathLike[str]']


@dataclass
class LoadReport:
    """What :func:`load` did: ``loaded`` (the network's names that got a value),
    ``missing`` (in the network, not in the file), ``unexpected`` (in the file, not in
    the network) and ``mismatched`` (``(name, in the network, in the file)``, not
    loaded); with ``strict=True`` the last three are empty or the load failed."""

    path: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)
    optimizer: OptimizerReport | None = None   # with trainer=: what the Trainer got

    def __str__(self) -> str:
        text = (f'{self.path}: loaded {len(self.loaded)}, missing {len(self.missing)}, '
                f'unexpected {len(self.unexpected)}, mismatched {len(self.mismatched)}')
        return text if self.optimizer is None else f'{text}; {self.optimizer}'


@dataclass
class VerifyReport:
    """What :func:`verify` checked: ``checked`` tensors matched their recorded
    CRC-32; ``unchecked`` ones have none recorded (a file another tool wrote)."""

    path: str
    format: str
    checked: list[str]
    unchecked: list[str]
    bytes_checked: int

    def __str__(self) -> str:
        if self.unchecked and not self.checked:
            return (f'{self.path}: structure OK ({len(self.unchecked)} tensors); no checksums '
                    f'recorded, so the data cannot be checked')
        text = (f'{self.path}: OK, {len(self.checked)} tensors match their CRC-32 '
                f'({self.bytes_checked:,} bytes)')
        if self.unchecked:
            text += f'; {len(self.unchecked)} have no checksum'
        return text


def save(block: gluon.Block, path: PathLike, *, fsync: bool = True,
         metadata: Mapping[str, str] | None = None, trainer: gluon.Trainer | None = None,
         kvstore: Any = None, timeout: float | None = DEFAULT_TIMEOUT) -> None:
    """Save every parameter of ``block`` to ``path``, atomically.

    A tied parameter is stored once and the tie recorded (``.params`` stores it
    under every name, as Gluon does, and records the tie). The file is written to a
    temporary file beside ``path`` and renamed over it: a failed or killed save
    leaves the previous checkpoint whole.

    Args:
        block: the network; every parameter must be initialized (run one forward
            pass to settle deferred shapes). A parameter on several devices is
            saved from its first device.
        path: the file; the extension picks the format (``.safetensors``,
            ``.params``, ``.npz``).
        fsync: flush the file and its folder to disk before returning (durable
            across a power cut); ``False`` is faster and still atomic.
        metadata: strings to record with the tensors (``{'epoch': '3'}``).
        trainer: a ``gluon.Trainer`` over parameters of ``block``: its optimizer state
            (momentum, moments, update counts, hyperparameters, scheduler) is saved
            too, keyed by structural name, each tied parameter once; no pickle.
            ``.params`` keeps it where ``load_parameters`` does not look; ``.npz``
            holds its record in the zip comment (64 KiB at most).
        kvstore: a distributed KVStore (data-parallel training): every worker calls
            ``save``; once all have arrived, rank 0 alone writes the file, and every
            worker returns when it is complete. The metadata records
            ``gluonparams.num_workers`` and ``gluonparams.writer_rank``.
        timeout: with ``kvstore``, seconds to wait for the other workers (``None``:
            no limit).

    Raises:
        CheckpointError: unknown extension, uninitialized parameters, a dtype no
            format holds, the file cannot be written (permission, full disk), or the
            Trainer optimizes parameters ``block`` does not hold; with ``kvstore``,
            on every worker when rank 0 could not write.
        OptionError: ``metadata`` is not a mapping of strings to strings, or
            ``trainer`` is not a Trainer.
        DistributedError: with ``kvstore``, a worker did not answer within ``timeout``.

    Examples:
        >>> gp.save(net, 'model.safetensors', metadata={'epoch': '3'})  # doctest: +SKIP
        >>> gp.save(net, 'step100.safetensors', trainer=trainer)      # doctest: +SKIP
    """
    path = os.fspath(path)
    format_of(path)
    meta = _check_metadata(metadata)

    def write(own: dict[str, str]) -> None:
        items = _write_items(block)
        if trainer is not None:
            meta[OPTIMIZER_KEY], state = _trainer_state.capture(block, trainer)
            items += state
        write_file(path, items, {**meta, **own}, fsync)
    if kvstore is None:
        write({})
    else:
        save_from_rank0(kvstore, path, write, timeout=timeout)


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise OptionError(f'metadata must be a dict of strings, found {type(metadata).__name__}')
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise OptionError(f'metadata must map strings to strings (what safetensors '
                              f'stores); found {key!r}: {value!r}; convert it, e.g. '
                              f'{{{str(key)!r}: {str(value)!r}}} or json.dumps(value)')
        if key.startswith('gluonparams.'):
            raise OptionError(f'metadata key {key!r}: keys starting with "gluonparams." are '
                              f'reserved for gluonparams\' own records')
    return dict(metadata)


def _write_items(block: gluon.Block) -> list[WriteItem]:
    """One item per distinct Parameter, under its first name, tied names as aliases."""
    _compat.sync()
    groups = named_groups(list(named_parameters(block, remove_duplicate=False)))
    waiting = [names[0] for param, names in groups if not _compat.is_initialized(param)]
    if waiting:
        raise CheckpointError(f'cannot save {type(block).__name__}: {len(waiting)} parameters '
                              f'hold no data yet: {", ".join(map(repr, waiting))}; initialize '
                              f'the network and run one forward pass (deferred shapes) first')
    items = []
    for param, names in groups:
        first = _compat.param_arrays(param)[0][1]
        dtype = check_dtype(first.dtype)
        if dtype is None:
            raise CheckpointError(f'cannot save parameter {names[0]!r}: dtype {first.dtype} is '
                                  f'not one checkpoints hold; cast it (net.cast("float32"))')
        items.append(WriteItem(names[0], dtype, tuple(int(d) for d in first.shape),
                               partial(_values, first), tuple(names[1:])))
    return items


def _values(arr: Any) -> onp.ndarray:
    """The array's bytes: its own memory on the host, a copy from a GPU."""
    view = _compat.host_array(arr)
    return view if view is not None else arr.asnumpy()


def inspect(path: PathLike) -> CheckpointInfo:
    """A checkpoint's header: names, shapes, dtypes, bytes, ties, metadata.

    Reads only the header, not the tensors: milliseconds even for a file of many
    gigabytes. ``print(gp.inspect(path))`` draws the parameter tree.

    Raises:
        CheckpointError: unknown extension, or a file that is not a valid checkpoint.

    Examples:
        >>> info = gp.inspect('model.safetensors')          # doctest: +SKIP
        >>> info.total_params, info.ties, info.metadata     # doctest: +SKIP
        (330, [['1.weight', '2.weight'], ['1.bias', '2.bias']], {'epoch': '3'})
    """
    path = os.fspath(path)
    fmt = format_of(path)
    with CheckpointFile(path) as cf:
        return fmt.read_header(cf)


def verify(path: PathLike) -> VerifyReport:
    """Check every tensor of a checkpoint against its recorded CRC-32.

    Returns:
        A :class:`VerifyReport`: the tensors ``checked`` and those ``unchecked`` (no
        checksum recorded: a file another tool wrote).

    Raises:
        CheckpointError: a bad header, or tensors whose bytes do not match their
            checksums (all of them named in one message).

    Examples:
        >>> print(gp.verify('model.safetensors'))           # doctest: +SKIP
        model.safetensors: OK, 6 tensors match their CRC-32 (1,320 bytes)
    """
    path = os.fspath(path)
    fmt = format_of(path)
    with CheckpointFile(path) as cf:
        info = fmt.read_header(cf)
        every = info.tensors + (info.optimizer.tensors if info.optimizer else [])
        checked = [t for t in every if t.crc32 is not None]
        check_checksums(cf, checked)
    return VerifyReport(path, info.format, [t.name for t in checked],
                        [t.name for t in every if t.crc32 is None],
                        sum(t.crc_length for t in checked))


def load(block: gluon.Block, path: PathLike, *, device: Any = None, strict: bool = True,
         select: Any = None, trainer: gluon.Trainer | None = None, kvstore: Any = None,
         timeout: float | None = DEFAULT_TIMEOUT) -> LoadReport:
    """Load a checkpoint into ``block``; nothing changes unless everything checks out.

    Names, shapes and dtypes are matched first and, with ``strict=True``, every
    problem is reported in one error. Then the checksums of the tensors to load are
    checked; only then are parameters filled, each tied parameter once.

    Args:
        block: the network. Parameters not initialized yet (or deferred) take their
            shape from the file.
        path: a ``.safetensors``, ``.params`` (either MXNet format) or ``.npz`` file.
        device: where the loaded parameters live: a device, a name (``'cpu(1)'``,
            ``'gpu(0)'``) or a list (one replica each). ``None`` keeps each
            initialized parameter where it is and puts the others on ``cpu(0)``.
        strict: raise when a name is missing or unexpected, or a shape or dtype
            differs; ``False`` loads what matches and reports the rest.
        select: load only names matching this pattern (``gp.select`` semantics), on
            both sides.
        trainer: a fresh ``gluon.Trainer`` over ``block``'s parameters, built with
            the saved optimizer class (and scheduler class): its state is restored by
            name, as the parameters are (``strict`` applies to both), so training
            continues exactly; the file's hyperparameters replace the Trainer's.
        kvstore: a distributed KVStore (data-parallel training): every worker calls
            ``load`` with a path it can read; each reads the header, then (when every
            worker could) loads, then the replicas are checked as by
            ``gp.check_replicas(block, kvstore=kvstore)``.
        timeout: with ``kvstore``, seconds to wait for the other workers (``None``:
            no limit).

    Returns:
        A :class:`LoadReport` (``loaded``, ``missing``, ``unexpected``, ``mismatched``;
        with ``trainer=``, ``optimizer``: an ``OptimizerReport``).

    Raises:
        CheckpointError: a bad or corrupt file, a mismatch with ``strict=True``, or
            names the network ties that the file stores with different values; with
            ``trainer=``, another optimizer or scheduler class than the file's; a
            Trainer that updates the parameters on the servers of a distributed
            KVStore once it has started (load before its first step, or build it with
            ``update_on_kvstore=False``); with ``kvstore``, on every worker when some
            workers could not read or load it.
        ReplicaError: with ``kvstore``, the replicas differ after loading.
        DistributedError: with ``kvstore``, a worker did not answer within ``timeout``.

    Warns:
        UserWarning: the file records ties the network does not have; each name got
            the stored value. With ``trainer=``: the file holds no optimizer state,
            so the Trainer starts fresh (``report.optimizer.fresh``).

    Examples:
        >>> gp.load(net, 'model.safetensors', device='cpu(0)')  # doctest: +SKIP
        LoadReport(path='model.safetensors', loaded=['0.weight', ...], missing=[], ...)
        >>> trainer = gluon.Trainer(net.collect_params(), 'adam')     # doctest: +SKIP
        >>> gp.load(net, 'step100.safetensors', trainer=trainer).optimizer  # doctest: +SKIP
        OptimizerReport(optimizer='Adam', restored=['0.weight', ...], missing=[], ...)
    """
    if kvstore is not None:
        return load_on_every_worker(
            kvstore, os.fspath(path), partial(inspect, path),
            partial(load, block, path, device=device, strict=strict, select=select,
                    trainer=trainer),
            partial(check_replicas, block, kvstore=kvstore, timeout=timeout), timeout=timeout)
    path = os.fspath(path)
    fmt = format_of(path)
    check_option('strict', strict, (True, False))
    devices = as_devices(device) if device is not None else None
    matcher = as_matcher(select)
    if matcher is not None and not any(matcher(n) for n, _ in named_parameters(block)):
        raise PatternError(f'select={select!r} matches no parameter of the network')
    with CheckpointFile(path) as cf:
        info = fmt.read_header(cf)
        plan = make_plan(block, info, matcher)
        states = None if trainer is None else _trainer_restore.plan_restore(
            block, info, trainer, plan, matcher, devices)
        problems = [plan.describe(path, block)] if plan.has_problems else []
        problems += [states.describe()] if states is not None and states.has_problems else []
        if strict and problems:
            raise CheckpointError('\n'.join(problems))
        _check_not_on_servers(path, plan.assignments)
        tensors = [t for a in plan.assignments for t in (a.source, *a.separate)]
        tensors += [] if states is None else states.tensors
        check_checksums(cf, [t for t in tensors if t.crc32 is not None])
        _check_separate_copies(cf, plan.assignments)
        _fill_all(cf, plan.assignments, devices)
        optimizer = None if states is None else _trainer_restore.restore(cf, states, strict)
    if plan.untied:
        warnings.warn(f'{path}: the file ties {", ".join(map(str, plan.untied))} but the network '
                      f'does not: each of these names got the stored value; tie them if they '
                      f'should stay one parameter while training', UserWarning, stacklevel=2)
    if optimizer is not None and optimizer.fresh:
        warnings.warn(f'{path}: the file holds no optimizer state (saved without trainer=): '
                      f'the Trainer keeps its {optimizer.optimizer} state as it was, so '
                      f'momentum, moments and update counts start fresh; save with '
                      f'gp.save(net, path, trainer=trainer) to resume exactly',
                      UserWarning, stacklevel=2)
    return LoadReport(path, [n for a in plan.assignments for n in a.names], plan.missing,
                      plan.unexpected, plan.mismatched, optimizer)


def _check_not_on_servers(path: str, assignments: list[Assignment]) -> None:
    """Refuse to fill parameters whose values the servers of a distributed KVStore
    hold (a started Trainer with ``update_on_kvstore``): the next step would pull the
    servers' values over the loaded ones, and MXNet cannot reset such a KVStore."""
    held = [a.names[0] for a in assignments if _compat.held_by_servers(a.param)]
    if held:
        more = f' and {len(held) - 5} more' if len(held) > 5 else ''
        shown = ', '.join(map(repr, held[:5])) + more
        raise CheckpointError(
            f'{path}: nothing was loaded: {shown} are updated on the parameter servers of a '
            f'distributed KVStore (a Trainer with update_on_kvstore that has taken a step), '
            f'which would replace the loaded values at the next step, and MXNet cannot reset '
            f'a distributed KVStore; load before the Trainer\'s first step (it then sends the '
            f'loaded values to the servers), or build the Trainer with '
            f'update_on_kvstore=False (each worker then updates its own replica)')


def _check_separate_copies(cf: CheckpointFile, assignments: list[Assignment]) -> None:
    """Names the network ties but the file stores separately must hold equal values."""
    for a in assignments:
        if not a.separate:
            continue
        first = read_values(cf, a.source)
        for other in a.separate:
            problem = _copies_differ(first, read_values(cf, other))
            if problem:
                raise CheckpointError(
                    f'{cf.path}: the network ties {", ".join(map(repr, a.names))} (one '
                    f'parameter) but the file stores {a.source.name!r} and {other.name!r} '
                    f'with {problem}; one parameter cannot hold two values: untie them in '
                    f'the network, or load with select= to take one of them')


def _copies_differ(first: onp.ndarray, other: onp.ndarray) -> str | None:
    """How two stored copies of one parameter differ, or ``None`` when bit-identical."""
    if first.shape != other.shape or first.dtype != other.dtype:
        return (f'different shapes {shape_text(first.shape)} and {shape_text(other.shape)}'
                if first.shape != other.shape else
                f'different dtypes {first.dtype} and {other.dtype}')
    if first.tobytes() == other.tobytes():
        return None
    with onp.errstate(invalid='ignore', over='ignore'):   # inf - inf, NaN: no warning
        gaps = onp.abs(first.astype(onp.float64) - other.astype(onp.float64)).ravel()
    gaps = gaps[~onp.isnan(gaps)]
    return f'different values (max difference {gaps.max() if gaps.size else onp.nan:g})'


def _fill_all(cf: CheckpointFile, assignments: list[Assignment], devices) -> None:
    _compat.sync()
    direct: list[tuple[Assignment, list[onp.ndarray]]] = []
    for a in assignments:
        _place(a.param, devices)
        found = [_compat.host_array(x) for _, x in _compat.param_arrays(a.param)]
        views = [v for v in found if v is not None]
        if views and len(views) == len(found):
            direct.append((a, views))
        else:
            _fill_through_mxnet(cf, a, devices)
    parallel_map(lambda job: _fill_direct(cf, *job), direct, lambda job: job[0].source.nbytes)
    for a, _ in direct:
        _compat.written_directly(a.param)
    _compat.sync()


def _place(param: gluon.Parameter, devices) -> None:
    """Move an initialized or deferred parameter to ``devices`` when it is elsewhere."""
    current = _compat.param_devices(param)
    if devices is None or not current:
        return
    if {_compat.device_name(d) for d in current} != {_compat.device_name(d) for d in devices}:
        _compat.reset_device(param, devices)
        _compat.sync()


def _fill_direct(cf: CheckpointFile, a: Assignment, views: list[onp.ndarray]) -> None:
    """Read straight into the parameter's memory on the first device, copy to the rest."""
    read_into(cf, a.source, views[0])
    for view in views[1:]:
        onp.copyto(view, views[0])


def _fill_through_mxnet(cf: CheckpointFile, a: Assignment, devices) -> None:
    values = read_values(cf, a.source)
    if _compat.is_initialized(a.param):
        a.param.set_data(_compat.array_from_numpy(values))
        return
    if devices is None and not _compat.param_devices(a.param):
        devices = as_devices('cpu(0)')
    _compat.load_init(a.param, _compat.array_from_numpy(values), devices)
