"""Saving a network's parameters (and a Trainer's optimizer state) to a checkpoint file."""

import os
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Literal, overload

import numpy as onp
from mxnet import gluon

from .. import _compat
from .._arrays import host_values
from .._text import first_of
from ..distributed import DEFAULT_TIMEOUT, save_from_rank0, start_from_rank0
from ..errors import CheckpointError, OptionError, check_option
from ..tree import named_groups
from . import optimizer
from ._background import IN_FLIGHT, SaveHandle, Snapshot, Writer, settle
from ._files import PathLike, write_file
from ._model import OPTIMIZER_KEY, WriteItem, check_dtype
from .formats import format_of

__all__ = ['save']

# How a save reads an array: its memory when it is written (after waiting for MXNet's
# engine), or a snapshot's copy (Snapshot.take).
Take = Callable[[Any], Callable[[], onp.ndarray]]


@overload
def save(block: gluon.Block, path: PathLike, *, fsync: bool = ...,
         metadata: Mapping[str, str] | None = ..., trainer: gluon.Trainer | None = ...,
         background: Literal[False] = ..., in_flight: str = ..., kvstore: Any = ...,
         timeout: float | None = ...) -> None: ...


@overload
def save(block: gluon.Block, path: PathLike, *, fsync: bool = ...,
         metadata: Mapping[str, str] | None = ..., trainer: gluon.Trainer | None = ...,
         background: Literal[True], in_flight: str = ..., kvstore: Any = ...,
         timeout: float | None = ...) -> SaveHandle: ...


def save(block: gluon.Block, path: PathLike, *, fsync: bool = True,
         metadata: Mapping[str, str] | None = None, trainer: gluon.Trainer | None = None,
         background: bool = False, in_flight: str = 'wait', kvstore: Any = None,
         timeout: float | None = DEFAULT_TIMEOUT) -> SaveHandle | None:
    """Save every parameter of ``block`` to ``path``, atomically.

    A tied parameter is stored once and the tie recorded (``.params`` stores it
    under every name, as Gluon does, and records the tie). The file is written to a
    temporary file beside ``path`` and renamed over it: a failed or killed save
    leaves the previous checkpoint whole.

    With ``background=True`` the call returns a [`SaveHandle`][gluonparams.SaveHandle]
    as soon as it has taken a snapshot of the values (queued copies, on each array's
    own device where memory allows: no wait for MXNet's engine), and a thread writes
    the same file: training may go on and change the parameters; the file holds the
    values of this call, bit for bit. The snapshot holds one more copy of what the file
    holds until each tensor is written. ``handle.wait()`` raises if the save failed,
    and so does the next ``save``; the interpreter waits for unfinished saves at exit.

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
        background: take a snapshot and return a handle at once; write the file on a
            thread (see above).
        in_flight: what this save does to a background save still writing ``path``:
            ``'wait'`` for it to end, or ``'cancel'`` it (it stops before its next
            tensor; the file is not replaced by it).
        kvstore: a distributed KVStore (data-parallel training): every worker calls
            ``save``; once all have arrived, rank 0 alone writes the file, and every
            worker returns when it is complete (with ``background=True``: every
            worker's ``handle.wait()`` returns then). The metadata records
            ``gluonparams.num_workers`` and ``gluonparams.writer_rank``.
        timeout: with ``kvstore``, seconds to wait for the other workers (``None``:
            no limit).

    Returns:
        ``None``; with ``background=True``, the save's
        [`SaveHandle`][gluonparams.SaveHandle] (``wait()``, ``done()``, ``path``).

    Raises:
        CheckpointError: unknown extension, uninitialized parameters, a dtype no
            format holds, the file cannot be written (permission, full disk), or the
            Trainer optimizes parameters ``block`` does not hold; an earlier background
            save failed (this save is then not started); with ``kvstore``, on every
            worker when rank 0 could not write.
        OptionError: ``metadata`` is not a mapping of strings to strings, ``trainer``
            is not a Trainer, ``background`` is not a bool, or ``in_flight`` is not
            ``'wait'`` or ``'cancel'``.
        DistributedError: with ``kvstore``, a worker did not answer within ``timeout``.

    Examples:
        >>> gp.save(net, 'model.safetensors', metadata={'epoch': '3'})
        >>> trainer = gluon.Trainer(net.collect_params(), 'adam')
        >>> gp.save(net, 'step100.safetensors', trainer=trainer)
        >>> handle = gp.save(net, 'step200.safetensors', trainer=trainer, background=True)
        >>> # training goes on; the file will hold the values of the call
        >>> handle.wait()
        >>> handle.done(), handle.path
        (True, 'step200.safetensors')
    """
    path = os.fspath(path)
    format_of(path)
    meta = _check_metadata(metadata)
    if trainer is not None:
        optimizer.optimizer_of(trainer)     # a Trainer, checked before any save is touched
    check_option('in_flight', in_flight, IN_FLIGHT)
    if not isinstance(background, bool):
        raise OptionError(f'background must be True or False, found {background!r}')
    cancel = in_flight == 'cancel'

    def contents(take: Take) -> tuple[list[WriteItem], dict[str, str]]:
        groups = named_groups(block)
        items = _write_items(block, groups, take)
        own = dict(meta)
        if trainer is not None:
            own[OPTIMIZER_KEY], state = optimizer.capture(groups, type(block).__name__,
                                                          trainer, take)
            items += state
        return items, own

    def write(workers: dict[str, str]) -> None:
        settle(path, in_flight)
        _compat.sync()
        items, own = contents(_live)
        write_file(path, items, {**own, **workers}, fsync)

    def prepare(workers: dict[str, str], shared: bool = False) -> Writer:
        settle(path, in_flight)
        snapshot = Snapshot(path)
        items, own = contents(snapshot.take)
        return Writer(path, items, {**own, **workers}, fsync, snapshot, shared)

    if not background:
        if kvstore is None:
            write({})
        else:
            save_from_rank0(kvstore, path, write, timeout=timeout, cancel=cancel)
        return None
    if kvstore is None:
        writer = prepare({})
        writer.start()
        return SaveHandle(path, writer)
    shared = start_from_rank0(kvstore, path, partial(prepare, shared=True), timeout=timeout,
                              cancel=cancel)
    return SaveHandle(path, shared.job if isinstance(shared.job, Writer) else None, shared)


def _live(arr: Any) -> Callable[[], onp.ndarray]:
    """Reads ``arr``'s memory when the tensor is written (the engine waited for first)."""
    return partial(host_values, arr)


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


def _write_items(block: gluon.Block, groups: list[tuple[gluon.Parameter, list[str]]],
                 take: Take) -> list[WriteItem]:
    """One item per distinct Parameter, under its first name, tied names as aliases;
    ``take(array)`` gives its ``values``."""
    waiting = [names[0] for param, names in groups if not _compat.is_initialized(param)]
    if waiting:
        raise CheckpointError(f'cannot save {type(block).__name__}: {len(waiting)} parameters '
                              f'hold no data yet: {first_of(waiting)}; initialize the network '
                              f'and run one forward pass (deferred shapes) first')
    items = []
    for param, names in groups:
        first = _compat.param_arrays(param)[0][1]
        dtype = check_dtype(first.dtype)
        if dtype is None:
            raise CheckpointError(f'cannot save parameter {names[0]!r}: dtype {first.dtype} is '
                                  f'not one checkpoints hold; cast it (net.cast("float32"))')
        items.append(WriteItem(names[0], dtype, tuple(int(d) for d in first.shape),
                               take(first), tuple(names[1:])))
    return items
