"""Loading a checkpoint into a network (and a Trainer): match, check, then fill.

Names, shapes and dtypes are matched first (:mod:`._plan`, by the rules of
:mod:`._match`, which also read MXNet's export, Module and 1.x files), then the
checksums of the tensors to load are checked; only then are parameters filled, each
tied parameter once, straight into its memory where it lives on the host.
"""

import os
import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as onp
from mxnet import gluon

from .. import _compat
from .._arrays import difference
from .._html import report_html
from .._parallel import parallel_map
from .._text import first_of, shape_text
from ..devices import as_devices, check_replicas
from ..distributed import DEFAULT_TIMEOUT, load_on_every_worker
from ..errors import CheckpointError, PatternError, check_option
from ..select import as_matcher
from ..tree import named_groups
from . import optimizer
from ._background import wait_for
from ._files import PathLike, check_checksums, read_into, read_stretch, read_values
from ._inspect import inspect
from ._io import CheckpointFile
from ._match import Rename, as_renamer, describe_rules
from ._plan import Assignment, make_plan, param_shape
from ._symbol import beside, variables
from .formats import format_of
from .optimizer import OptimizerReport

__all__ = ['LoadReport', 'load']


@dataclass
class LoadReport:
    """What [`load`][gluonparams.load] did: ``loaded`` (the network's names that got a value),
    ``missing`` (in the network, not in the file), ``unexpected`` (in the file, not in
    the network) and ``mismatched`` (``(name, in the network, in the file)``, not
    loaded); with ``strict=True`` the last three are empty or the load failed.
    ``matched_by`` says, for each loaded name, the rule that matched it: ``'exact'``
    for the files gluonparams and Gluon write, others for MXNet's export, Module and
    1.x files (see the guide *Legacy files*). With ``trainer=``, ``optimizer`` is an
    [`OptimizerReport`][gluonparams.OptimizerReport]."""

    path: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)
    optimizer: OptimizerReport | None = None   # with trainer=: what the Trainer got
    matched_by: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        text = (f'{self.path}: loaded {len(self.loaded)}, missing {len(self.missing)}, '
                f'unexpected {len(self.unexpected)}, mismatched {len(self.mismatched)}')
        if any(rule != 'exact' for rule in self.matched_by.values()):
            text += f' (matched: {describe_rules(self.matched_by)})'
        return text if self.optimizer is None else f'{text}; {self.optimizer}'

    def _repr_html_(self) -> str:
        """For a notebook: the verdict, then each list of names; problems open."""
        mismatched = [f'{n} (network {a}, file {b})' for n, a, b in self.mismatched]
        parts = [('loaded', self.loaded, ''), ('missing', self.missing, 'w'),
                 ('unexpected', self.unexpected, 'w'), ('mismatched', mismatched, 'e')]
        opt = self.optimizer
        if opt is not None and not opt.fresh:
            parts += [(f'optimizer state {title}', items, kind) for title, items, kind in (
                ('restored', opt.restored, ''), ('missing', opt.missing, 'w'),
                ('unexpected', opt.unexpected, 'w'),
                ('mismatched', [f'{n} (Trainer {a}, file {b})' for n, a, b in opt.mismatched],
                 'e'),
                ('hyperparameters from the file', [f'{k}: {a} → {b}' for k, a, b in opt.changed],
                 '')) if items]
        clean = not (self.missing or self.unexpected or self.mismatched) and (
            opt is None or not (opt.missing or opt.unexpected or opt.mismatched))
        return report_html(clean, str(self), parts)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def load(block: gluon.Block, path: PathLike, *, device: Any = None, strict: bool = True,
         select: Any = None, trainer: gluon.Trainer | None = None, rename: Rename = None,
         symbol: PathLike | None = None, kvstore: Any = None,
         timeout: float | None = DEFAULT_TIMEOUT) -> LoadReport:
    """Load a checkpoint into ``block``; nothing changes unless everything checks out.

    Names, shapes and dtypes are matched first and, with ``strict=True``, every
    problem is reported in one error. Then the checksums of the tensors to load are
    checked; only then are parameters filled, each tied parameter once. A background
    save still writing ``path`` is waited for first.

    Any file MXNet writes loads: ``save_parameters`` (1.x and 2.0), ``export`` pairs
    (``P-symbol.json`` + ``P-0000.params``, 1.x and 2.0), 1.x ``Module`` checkpoints
    and ``collect_params().save`` files. Their names are matched by rules tried in
    order (exact; ``arg:``/``aux:`` stripped; SymbolBlock names re-counted; 1.x
    global names through the network's own; where names say nothing about structure,
    by position with every shape checked, ambiguity refused); the report's
    ``matched_by`` says which rule matched each name.

    Args:
        block: the network. Parameters not initialized yet (or deferred) take their
            shape from the file; matching by position checks shapes, so run the
            network once first for the strictest check.
        path: a ``.safetensors``, ``.params`` (either MXNet format) or ``.npz`` file.
        device: where the loaded parameters live: a device, a name (``'cpu(1)'``,
            ``'gpu(0)'``) or a list (one replica each). ``None`` keeps each
            initialized parameter where it is and puts the others on ``cpu(0)``.
        strict: raise when a name is missing or unexpected, or a shape or dtype
            differs; ``False`` loads what matches and reports the rest.
        select: load only names matching this pattern (the semantics of
            [`select`][gluonparams.select.select]), on both sides.
        trainer: a fresh ``gluon.Trainer`` over ``block``'s parameters, built with
            the saved optimizer class (and scheduler class): its state is restored by
            name, as the parameters are (``strict`` applies to both), so training
            continues exactly; the file's hyperparameters replace the Trainer's.
        rename: the file's names rewritten before matching: a mapping of regular
            expressions to replacements (applied in turn, as ``re.sub``), or a
            callable taking a name as stored (``'arg:conv1_weight'``) and returning
            the name to match.
        symbol: the ``-symbol.json`` whose graph order matches a file by position;
            by default ``P-symbol.json`` beside ``P-NNNN.params``, when present.
        kvstore: a distributed KVStore (data-parallel training): every worker calls
            ``load`` with a path it can read; each reads the header, then (when every
            worker could) loads, then the replicas are checked as by
            ``gp.check_replicas(block, kvstore=kvstore)``.
        timeout: with ``kvstore``, seconds to wait for the other workers (``None``:
            no limit).

    Returns:
        How each name matched (``loaded``, ``missing``, ``unexpected``, ``mismatched``,
        ``matched_by``) and, with ``trainer=``, what the Trainer got (``optimizer``).

    Raises:
        CheckpointError: a bad or corrupt file, a mismatch with ``strict=True``, or
            names the network ties that the file stores with different values; the
            background save the load waited for failed (the file holds the previous
            checkpoint, which a second load reads); with ``trainer=``, another
            optimizer or scheduler class than the file's; a Trainer that updates the
            parameters on the servers of a distributed KVStore once it has started
            (load before its first step, or build it with ``update_on_kvstore=False``);
            with ``kvstore``, on every worker when some workers could not read or load
            it.
        ReplicaError: with ``kvstore``, the replicas differ after loading.
        DistributedError: with ``kvstore``, a worker did not answer within ``timeout``.

    Warns:
        UserWarning: the file records ties the network does not have; each name got
            the stored value. With ``trainer=``: the file holds no optimizer state,
            so the Trainer starts fresh (``report.optimizer.fresh``).

    Examples:
        >>> gp.save(net, 'model.safetensors')
        >>> print(gp.load(net, 'model.safetensors', device='cpu(0)'))
        model.safetensors: loaded 8, missing 0, unexpected 0, mismatched 0
        >>> trainer = gluon.Trainer(net.collect_params(), 'adam')
        >>> gp.save(net, 'step100.safetensors', trainer=trainer)
        >>> print(gp.load(net, 'step100.safetensors', trainer=trainer).optimizer)
        optimizer Adam: restored 6, missing 0, unexpected 0, mismatched 0, num_update 0
    """
    path = os.fspath(path)
    here = partial(_load_here, block, path, device=device, strict=strict, select=select,
                   trainer=trainer, rename=rename, symbol=symbol)
    if kvstore is not None:
        return load_on_every_worker(
            kvstore, path, partial(_readable, path), here,
            partial(check_replicas, block, kvstore=kvstore, timeout=timeout), timeout=timeout)
    wait_for(path)                 # a background save writing it: read what it writes
    return here()


def _load_here(block: gluon.Block, path: str, *, device: Any, strict: bool, select: Any,
               trainer: gluon.Trainer | None, rename: Rename,
               symbol: PathLike | None) -> LoadReport:
    """This process's load, once any background save writing ``path`` has ended."""
    fmt = format_of(path)
    check_option('strict', strict, (True, False))
    devices = as_devices(device) if device is not None else None
    matcher = as_matcher(select)
    renamer = as_renamer(rename)
    if symbol is not None:            # given: read (and checked) now
        symbol_path: str | None = os.fspath(symbol)
        order: Any = variables(os.fspath(symbol))
    else:                             # found beside the file: read if a rule needs it
        symbol_path = beside(path)
        order = None if symbol_path is None else partial(variables, symbol_path)
    groups = named_groups(block)
    if matcher is not None and not any(matcher(n) for _, names in groups for n in names):
        raise PatternError(f'select={select!r} matches no parameter of the network')
    with CheckpointFile(path) as cf:
        info = fmt.read_header(cf)
        plan = make_plan(groups, info, matcher, symbol=order, symbol_path=symbol_path,
                         root_prefix=_compat.block_prefix(block), rename=renamer)
        states = None if trainer is None else optimizer.plan_restore(
            groups, type(block).__name__, info, trainer, plan, matcher, devices)
        problems = [plan.describe(path, block)] if plan.has_problems else []
        problems += [states.describe()] if states is not None and states.has_problems else []
        if strict and problems:
            raise CheckpointError('\n'.join(problems))
        _check_not_on_servers(path, plan.assignments)
        tensors = list({t.name: t for a in plan.assignments for t in a.tensors}.values())
        tensors += [] if states is None else states.tensors
        check_checksums(cf, [t for t in tensors if t.crc32 is not None])
        _check_separate_copies(cf, plan.assignments)
        _fill_all(cf, plan.assignments, devices)
        restored = None if states is None else optimizer.restore(cf, states, strict)
    if plan.untied:
        warnings.warn(f'{path}: the file ties {", ".join(map(str, plan.untied))} but the network '
                      f'does not: each of these names got the stored value; tie them if they '
                      f'should stay one parameter while training', UserWarning, stacklevel=3)
    if restored is not None and restored.fresh:
        warnings.warn(f'{path}: the file holds no optimizer state (saved without trainer=): '
                      f'the Trainer keeps its {restored.optimizer} state as it was, so '
                      f'momentum, moments and update counts start fresh; save with '
                      f'gp.save(net, path, trainer=trainer) to resume exactly',
                      UserWarning, stacklevel=3)
    return LoadReport(path, [n for a in plan.assignments for n in a.names], plan.missing,
                      plan.unexpected, plan.mismatched, restored, plan.matched_by)


def _readable(path: str) -> None:
    """What every worker checks before any loads (``kvstore=``): a background save
    writing ``path`` (rank 0's) ended well, and the file's header reads."""
    wait_for(path)
    inspect(path)


def _check_not_on_servers(path: str, assignments: list[Assignment]) -> None:
    """Refuse to fill parameters whose values the servers of a distributed KVStore
    hold (a started Trainer with ``update_on_kvstore``): the next step would pull the
    servers' values over the loaded ones, and MXNet cannot reset such a KVStore."""
    held = [a.names[0] for a in assignments if _compat.held_by_servers(a.param)]
    if held:
        shown = first_of(held, 5)
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
    if first.shape != other.shape:
        return f'different shapes {shape_text(first.shape)} and {shape_text(other.shape)}'
    if first.dtype != other.dtype:
        return f'different dtypes {first.dtype} and {other.dtype}'
    found = difference(first, other)
    return None if found is None else f'different values ({found.text("max difference")})'


def _fill_all(cf: CheckpointFile, assignments: list[Assignment], devices) -> None:
    """Move every parameter to ``devices``, wait for MXNet's engine once (the moves and
    whatever was queued before the load), then fill each: straight into its host memory
    where every copy lives there, else through MXNet."""
    for a in assignments:
        _place(a.param, devices)
    _compat.sync()
    direct: list[tuple[Assignment, list[onp.ndarray]]] = []
    for a in assignments:
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


def _fill_direct(cf: CheckpointFile, a: Assignment, views: list[onp.ndarray]) -> None:
    """Read straight into the parameter's memory on the first device, copy to the rest."""
    _read_assigned(cf, a, views[0])
    for view in views[1:]:
        onp.copyto(view, views[0])


def _read_assigned(cf: CheckpointFile, a: Assignment, out: onp.ndarray) -> None:
    """Fill ``out`` (the parameter's shape and dtype, C-contiguous) with its value."""
    if a.window is not None:          # a stretch of a fused vector: its bytes only
        read_stretch(cf, a.source, a.window[0], out)
    elif a.parts:
        flat, at = out.reshape(-1), 0
        for part in a.parts:
            read_into(cf, part, flat[at:at + part.size].reshape(part.shape))
            at += part.size
    else:
        read_into(cf, a.source, out)


def _fill_through_mxnet(cf: CheckpointFile, a: Assignment, devices) -> None:
    if a.window is None and not a.parts:
        values = read_values(cf, a.source)
    else:
        known = param_shape(a.param) or ()     # a window's shape is known (checked)
        shape = (sum(t.size for t in a.parts),) if a.parts else tuple(d or 0 for d in known)
        values = onp.empty(shape, onp.dtype(a.source.dtype))
        _read_assigned(cf, a, values)
    if _compat.is_initialized(a.param):
        a.param.set_data(_compat.array_from_numpy(values))
        return
    if devices is None and not _compat.param_devices(a.param):
        devices = as_devices('cpu(0)')
    _compat.load_init(a.param, _compat.array_from_numpy(values), devices)
