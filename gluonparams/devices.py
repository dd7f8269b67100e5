"""Devices: parsing what a user passes as ``device=``, moving a network, checking replicas.

A device is given as a Context/Device object, a string (``'cpu'``, ``'cpu(1)'``,
``'gpu(0)'``) or a list of either. MXNet treats ``cpu(0)`` and ``cpu(1)`` as distinct
devices, which is how multi-device behaviour is exercised without a GPU.
"""

import re
from dataclasses import dataclass
from functools import partial
from typing import Any, Dict, List, Optional, Tuple

import mxnet as mx
from mxnet import gluon

from . import _compat
from ._arrays import difference, host_values
from .distributed import DEFAULT_TIMEOUT, check_workers
from .errors import DeviceError, ReplicaError
from .tree import named_groups, named_parameters

__all__ = ['as_devices', 'available_devices', 'to_device', 'check_replicas', 'Divergence']

_DEVICE_TEXT = re.compile(r'\s*(cpu|gpu|cpu_pinned|cpu_shared)\s*(?:\(\s*(\d+)\s*\))?\s*')


def available_devices() -> List[str]:
    """Names of the devices a parameter can live on here: ``cpu(N)`` and each GPU."""
    return ['cpu(N)'] + [f'gpu({i})' for i in range(_compat.num_gpus())]


def _one(device: Any) -> Any:
    if isinstance(device, str):
        match = _DEVICE_TEXT.fullmatch(device)
        if not match:
            raise DeviceError(f'device {device!r} is not a device name such as "cpu(1)" '
                              f'or "gpu(0)"; available here: {", ".join(available_devices())}')
        kind, index = match.group(1), int(match.group(2) or 0)
        device = getattr(mx, kind)(index)
    elif not _compat.is_device(device):
        raise DeviceError(f'device {device!r} ({type(device).__name__}) is not a device; '
                          f'pass a name such as "cpu(1)", a device object, or a list of them')
    if device.device_type == 'gpu' and device.device_id >= _compat.num_gpus():
        raise DeviceError(f'device {_compat.device_name(device)!r} is not available: '
                          f'this machine has {_compat.num_gpus()} GPU(s); available here: '
                          f'{", ".join(available_devices())}')
    return device


def as_devices(device: Any) -> List[Any]:
    """A list of MXNet devices from a device, a device name or a list of them.

    Raises:
        DeviceError: a malformed name, something that is not a device, an empty list
            or a list that names a device twice, or a GPU that does not exist here;
            the message names it and lists the available devices.
    """
    items = list(device) if isinstance(device, (list, tuple)) else [device]
    if not items:
        raise DeviceError('device=[] names no device; pass at least one, e.g. "cpu(0)"')
    out = [_one(d) for d in items]
    names = [_compat.device_name(d) for d in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DeviceError(f'device list {names} names {", ".join(twice)} more than once')
    return out


def to_device(block: gluon.Block, device: Any) -> gluon.Block:
    """Move every parameter of ``block`` to ``device`` (one device or a list: one copy each).

    Values arrive bit for bit (MXNet's own ``reset_device`` averages the copies it had;
    here the one verified copy is written to each new device), ties are kept (a tied
    parameter is one object and is moved once), gradients are re-created as zeros on
    the new devices. Parameters waiting for deferred initialization will initialize
    there; parameters never initialized are left alone; a parameter already on exactly
    these devices is left as it is.

    Args:
        block: the network.
        device: ``'cpu(1)'``, ``mx.gpu(0)``, ``['cpu(0)', 'cpu(1)']``, ...

    Returns:
        ``block`` itself, moved.

    Raises:
        DeviceError: ``device`` is malformed or not available, or a copy failed (every
            parameter is then back where it was, with its values).
        ReplicaError: the copies a parameter already has differ, so no value could be
            chosen; nothing is moved.

    Examples:
        >>> net = gp.to_device(net, ['cpu(0)', 'cpu(1)'])
        >>> gp.check_replicas(net)['0.weight']
        ['cpu(0)', 'cpu(1)']
    """
    targets = as_devices(device)
    check_replicas(block)
    names = [_compat.device_name(d) for d in targets]
    moved: List[Tuple[gluon.Parameter, List[Any], Any]] = []
    for name, param in named_parameters(block):
        before = _compat.param_devices(param)
        if not before or [_compat.device_name(d) for d in before] == names:
            continue
        value = param.list_data()[0] if _compat.is_initialized(param) else None
        try:
            _place(param, targets, value)
        except Exception as e:
            _undo(moved)
            _place(param, before, value)
            raise DeviceError(f'moving parameter {name!r} to {", ".join(names)} failed: {e}; '
                              f'every parameter is back where it was') from e
        moved.append((param, before, value))
    return block


def _place(param: gluon.Parameter, devices: List[Any], value: Any) -> None:
    """Put ``param`` on ``devices``, every copy equal to ``value`` (None: deferred)."""
    _compat.reset_device(param, devices)
    if value is not None:
        param.set_data(value)


def _undo(moved: List[Tuple[gluon.Parameter, List[Any], Any]]) -> None:
    for param, before, value in reversed(moved):
        _place(param, before, value)


@dataclass
class Divergence:
    """One device copy of a parameter that differs from the parameter's first copy.

    Attributes:
        name: the parameter's first structural name.
        also: its other names (ties).
        reference: the device of the first copy, such as ``'cpu(0)'``.
        device: the device of the copy that differs.
        differing: how many values differ in their bits.
        size: how many values the parameter has.
        max_abs_diff: the largest ``|difference|`` over values that are not NaN.
        nan_mismatch: values NaN on one device and not on the other.
    """

    name: str                 # the parameter's first structural name
    also: List[str]           # its other names (ties)
    reference: str            # the device of the first copy, 'cpu(0)'
    device: str               # the device of the copy that differs
    differing: int            # how many values differ in their bits
    size: int                 # how many values the parameter has
    max_abs_diff: float       # the largest |difference| over values that are not NaN
    nan_mismatch: int         # values NaN on one device and not on the other

    def describe(self) -> str:
        tied = f' (tied: {", ".join(repr(n) for n in self.also)})' if self.also else ''
        largest = ('n/a (every difference involves NaN)' if self.max_abs_diff != self.max_abs_diff
                   else f'{self.max_abs_diff:.6g}')
        text = (f'{self.name!r}{tied}: {self.device} differs from {self.reference} in '
                f'{self.differing} of {self.size} values, max |difference| {largest}')
        if self.nan_mismatch:
            text += f', NaN on one device only in {self.nan_mismatch}'
        elif self.max_abs_diff == 0:
            text += ' (bit patterns differ: -0.0 versus 0.0, or NaN payloads)'
        return text


def check_replicas(block: gluon.Block, *, device: Any = None, kvstore: Any = None,
                   timeout: Optional[float] = DEFAULT_TIMEOUT) -> Dict[str, List[str]]:
    """Verify that every device copy of every parameter holds identical values.

    Data-parallel training keeps one copy of each parameter per device; an update
    that forgets one device lets the copies drift silently. Copies are compared
    bit for bit (so NaN equals NaN only when both are NaN with the same bits, and
    -0.0 differs from 0.0), after MXNet's pending work has finished.

    With ``kvstore=`` (a distributed KVStore such as ``mx.kv.create('dist_sync')``),
    every worker must make this call: each checks its own device copies, then
    every worker's replica is compared with rank 0's through one 128-bit hash per
    parameter (of its dtype, shape and bytes; the tensors are not sent), and every
    worker returns or raises the same error.

    Args:
        block: the network.
        device: compare only the copies on these devices (a device, a name such as
            ``'cpu(1)'``, or a list); default: every device each parameter lives on.
        kvstore: the KVStore of a data-parallel job (the one the Trainer uses) to
            compare the replicas of all its workers; ``None``: this process only.
        timeout: with ``kvstore``, seconds to wait for the other workers (``None``:
            no limit); a worker that does not answer in time leaves this process
            unable to leave the cluster (see
            [`DistributedError`][gluonparams.DistributedError]).

    Returns:
        For each parameter with two or more copies, its first structural name and the
        names of the devices compared (``{'0.weight': ['cpu(0)', 'cpu(1)']}``); empty
        when every parameter lives on one device. With ``kvstore``: every initialized
        parameter, its device names (when several) followed by ``'rank 0'``, ...
        ``'rank N-1'``.

    Raises:
        ReplicaError: copies differ; the message names each parameter (and its tied
            names), the two devices, how many values differ and the largest
            difference; ``error.divergent`` holds them as
            [`Divergence`][gluonparams.Divergence]. With ``kvstore``, on every
            worker: the parameters and the ranks whose values differ from rank 0's
            (``error.divergent``: [`WorkerDivergence`][gluonparams.WorkerDivergence]),
            or the ranks whose own device copies or network differ.
        DeviceError: ``device`` is malformed, or no parameter lives on a device given.
        DistributedError: with ``kvstore``, a worker did not answer within
            ``timeout``, or the KVStore cannot carry the exchange.
        OptionError: ``kvstore`` is not a synchronous KVStore, or a bad ``timeout``.

    Examples:
        >>> gp.check_replicas(net)                    # one device: nothing to compare
        {}
        >>> gp.check_replicas(net, kvstore=kv)        # every worker  # doctest: +SKIP
        {'0.weight': ['rank 0', 'rank 1'], '0.bias': ['rank 0', 'rank 1']}
    """
    if kvstore is not None:
        return check_workers(block, kvstore, partial(check_replicas, block, device=device),
                             timeout=timeout)
    wanted = None if device is None else [_compat.device_name(d) for d in as_devices(device)]
    _compat.sync()
    checked: Dict[str, List[str]] = {}
    found: List[Divergence] = []
    seen_devices: set = set()
    for param, (name, *also) in named_groups(block):
        copies = _copies(param)
        seen_devices.update(d for d, _ in copies)
        copies = [(d, arr) for d, arr in copies if wanted is None or d in wanted]
        if len(copies) > 1:
            checked[name] = [d for d, _ in copies]
            found += _compare(name, also, copies)
    _check_wanted(wanted, seen_devices)
    if found:
        raise ReplicaError(_replica_message(found), found)
    return checked


def _copies(param: gluon.Parameter) -> List[Tuple[str, Any]]:
    """``(device name, array)`` for each copy of an initialized parameter."""
    if not _compat.is_initialized(param):
        return []
    pairs = zip(_compat.param_devices(param), param.list_data())
    return [(_compat.device_name(d), arr) for d, arr in pairs]


def _compare(name: str, also: List[str], copies: List[Tuple[str, Any]]) -> List[Divergence]:
    """Each copy after the first whose bits differ from the first's (read after the
    engine has finished: host copies in place)."""
    reference_device, reference = copies[0][0], host_values(copies[0][1])
    out = []
    for device, arr in copies[1:]:
        found = difference(reference, host_values(arr))
        if found is not None:
            out.append(Divergence(name, list(also), reference_device, device, found.differing,
                                  found.size, found.max_abs, found.nan_mismatch))
    return out


def _check_wanted(wanted: Optional[List[str]], seen: set) -> None:
    missing = [d for d in wanted or [] if d not in seen]
    if missing:
        where = ', '.join(sorted(seen)) if seen else 'no device (nothing is initialized)'
        raise DeviceError(f'check_replicas(device=...) names {", ".join(missing)}, where no '
                          f'parameter of the network lives; its parameters live on {where}')


def _replica_message(found: List[Divergence]) -> str:
    params = {d.name for d in found}
    n = len(params)
    lines = [f'{n} parameter{"s" if n > 1 else ""} differ{"" if n > 1 else "s"} between '
             f'device copies that must be identical:']
    lines += [f'  {d.describe()}' for d in found]
    first = found[0]
    lines.append(f'fix: find the update that skipped a device, or copy the right value to '
                 f'every device, e.g. gp.get(net, {first.name!r}).set_data('
                 f'gp.get(net, {first.name!r}).data(mx.{first.reference}))')
    return '\n'.join(lines)
