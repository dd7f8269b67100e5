"""Saving a network's parameters (and a Trainer's optimizer state) to a checkpoint file."""

import os
from collections.abc import Mapping
from functools import partial
from typing import Any, Union

from mxnet import gluon

from .. import _compat
from .._arrays import host_values
from .._text import first_of
from ..distributed import DEFAULT_TIMEOUT, save_from_rank0
from ..errors import CheckpointError, OptionError
from ..tree import named_groups
from . import optimizer
from ._files import write_file
from ._model import OPTIMIZER_KEY, WriteItem, check_dtype
from .formats import format_of

__all__ = ['PathLike', 'save']

PathLike = Union[str, 'os.PathLike[str]']


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
        >>> gp.save(net, 'model.safetensors', metadata={'epoch': '3'})
        >>> trainer = gluon.Trainer(net.collect_params(), 'adam')
        >>> gp.save(net, 'step100.safetensors', trainer=trainer)
    """
    path = os.fspath(path)
    format_of(path)
    meta = _check_metadata(metadata)

    def write(own: dict[str, str]) -> None:
        _compat.sync()
        groups = named_groups(block)
        items = _write_items(block, groups)
        if trainer is not None:
            meta[OPTIMIZER_KEY], state = optimizer.capture(groups, type(block).__name__, trainer)
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


def _write_items(block: gluon.Block, groups: list[tuple[gluon.Parameter, list[str]]]
                 ) -> list[WriteItem]:
    """One item per distinct Parameter, under its first name, tied names as aliases."""
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
                               partial(host_values, first), tuple(names[1:])))
    return items
