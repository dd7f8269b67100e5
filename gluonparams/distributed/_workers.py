"""The collective calls: replicas compared across workers, a load on every worker (saves
from rank 0: ``_rank0``). See :mod:`gluonparams.distributed`."""

import hashlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

import numpy as onp
from mxnet import gluon

from .. import _compat
from .._arrays import host_values
from .._parallel import parallel_map
from ..errors import CheckpointError, ReplicaError
from ..tree import named_groups
from ._channel import Channel, channel_for, check_timeout

__all__ = ['DEFAULT_TIMEOUT', 'WorkerDivergence', 'check_workers', 'load_on_every_worker']

DEFAULT_TIMEOUT = 600.0       # seconds a worker waits for the others
_WORDS = 8                    # a 128-bit fingerprint as 16-bit words

R = TypeVar('R')


@dataclass
class WorkerDivergence:
    """A parameter whose value on some workers differs from its value on rank 0.

    Attributes:
        name: the parameter's first structural name.
        also: its other names (ties).
        ranks: the ranks whose value differs from rank 0's.
    """

    name: str             # the parameter's first structural name
    also: List[str]       # its other names (ties)
    ranks: List[int]      # the ranks whose value differs from rank 0's

    def describe(self) -> str:
        tied = f' (tied: {", ".join(repr(n) for n in self.also)})' if self.also else ''
        return f'{self.name!r}{tied}: {_ranks(self.ranks)} differ{"s" * (len(self.ranks) == 1)}' \
               f' from rank 0'


def check_workers(block: gluon.Block, kvstore: Any, local_check: Callable[[], Dict[str, List[str]]],
                  *, timeout: Optional[float] = DEFAULT_TIMEOUT) -> Dict[str, List[str]]:
    """Check every worker's replica against rank 0's; ``local_check()`` checks this
    worker's device copies first, after waiting for MXNet's engine (as
    ``gp.check_replicas`` does), so the replicas are then read without waiting again.
    See ``gp.check_replicas(block, kvstore=...)``."""
    timeout = check_timeout(timeout)
    channel = channel_for(kvstore)
    channel.check_usable('check_replicas(kvstore=...)')
    local_error: Optional[ReplicaError] = None
    try:
        checked = local_check()
    except ReplicaError as e:
        local_error, checked = e, {}
    names, aliases, arrays = _initialized(block)
    structure, prints = _structure(names, aliases, arrays), _fingerprints(arrays)
    ranks = [f'rank {r}' for r in range(channel.size)]
    result = {name: checked.get(name, []) + ranks for name in names}
    if channel.size == 1:
        if local_error is not None:
            raise local_error
        return result
    outcome = channel.run('check_replicas(kvstore=...)',
                          lambda: _compare(channel, structure, prints, local_error is not None),
                          timeout)
    _raise_for(outcome, channel, names, aliases, local_error)
    return result


def _initialized(block: gluon.Block) -> Tuple[List[str], Dict[str, List[str]], List[Any]]:
    """Names, tied names and first-device arrays of the initialized parameters (read
    after ``local_check`` has waited for the engine)."""
    groups = [(param, group) for param, group in named_groups(block)
              if _compat.is_initialized(param)]
    aliases = {group[0]: group[1:] for _, group in groups}
    return ([group[0] for _, group in groups], aliases,
            [param.list_data()[0] for param, _ in groups])


def _structure(names: List[str], aliases: Dict[str, List[str]], arrays: List[Any]) -> onp.ndarray:
    """[count (two words), digest of names, ties, dtypes and shapes (eight words)]."""
    text = ';'.join(f'{n}={",".join(aliases[n])}:{onp.dtype(a.dtype).str}:{tuple(a.shape)}'
                    for n, a in zip(names, arrays))
    count = len(names) % (1 << 32)
    return onp.concatenate([[count & 0xFFFF, count >> 16], _words(text.encode())])


def _fingerprints(arrays: List[Any]) -> onp.ndarray:
    """One row of eight 16-bit words per array: BLAKE2b-128 of dtype, shape and bytes."""
    def one(arr: Any) -> onp.ndarray:
        values = onp.ascontiguousarray(host_values(arr))
        head = f'{values.dtype.str}{values.shape}'.encode()
        return _words(head, values.reshape(-1).view(onp.uint8).data)
    rows = parallel_map(one, arrays, lambda a: int(onp.prod(a.shape)) * onp.dtype(a.dtype).itemsize)
    return onp.array(rows, dtype=onp.int64).reshape(len(arrays), _WORDS)


def _words(*parts: Any) -> onp.ndarray:
    digest = hashlib.blake2b(digest_size=2 * _WORDS, person=b'gluonparams')
    for part in parts:
        digest.update(part)
    return onp.frombuffer(digest.digest(), dtype='<u2').astype(onp.int64)


def _compare(channel: Channel, structure: onp.ndarray, prints: onp.ndarray,
             failed: bool) -> Tuple[str, onp.ndarray]:
    """The collective part: ('status', per-rank [failed, structure differs]) when a
    worker failed or built a different network, else ('values', per-rank per-parameter
    differs-from-rank-0 flags). Every worker gets the same answer."""
    head = channel.broadcast(onp.concatenate([[int(failed)], structure]))
    differs = not head[0] and not onp.array_equal(head[1:], structure)
    status = channel.gather([failed, differs])
    if status.any() or head[0]:
        return 'status', status
    reference = channel.broadcast(prints.reshape(-1)).reshape(prints.shape)
    return 'values', channel.gather((reference != prints).any(axis=1))


def _raise_for(outcome: Tuple[str, onp.ndarray], channel: Channel, names: List[str],
               aliases: Dict[str, List[str]], local_error: Optional[ReplicaError]) -> None:
    kind, table = outcome
    if kind == 'status':
        failed = [r for r in range(channel.size) if table[r, 0]]
        other = [r for r in range(channel.size) if table[r, 1]]
        message = _status_message(failed, other)
        if local_error is not None:
            raise ReplicaError(f'{message}\nthis worker (rank {channel.rank}): {local_error}',
                               local_error.divergent) from local_error
        raise ReplicaError(message, [])
    found = [WorkerDivergence(name, aliases[name], [int(r) for r in onp.nonzero(table[:, i])[0]])
             for i, name in enumerate(names) if table[:, i].any()]
    if found:
        raise ReplicaError(_divergence_message(found, channel.size), found)


def _status_message(failed: List[int], other: List[int]) -> str:
    lines = []
    if failed:
        lines.append(f'{_ranks(failed)}: device copies of a parameter differ on that worker '
                     f'(its own error lists them)')
    if other:
        lines.append(f'{_ranks(other)}: the initialized parameters (names, ties, dtypes or '
                     f'shapes) differ from rank 0\'s; build the same network on every worker '
                     f'and run one forward pass (deferred shapes) before checking')
    return 'replicas cannot be compared across workers:\n  ' + '\n  '.join(lines)


def _divergence_message(found: List[WorkerDivergence], size: int) -> str:
    n = len(found)
    disagree = sorted({r for d in found for r in d.ranks})
    lines = [f'{n} parameter{"s" * (n > 1)} differ{"s" * (n == 1)} between the {size} workers '
             f'(compared with rank 0 by a 128-bit hash of dtype, shape and bytes); '
             f'{_ranks(disagree)} disagree{"s" * (len(disagree) == 1)} with rank 0:']
    lines += [f'  {d.describe()}' for d in found]
    lines.append('fix: find the update that skipped a worker (a custom update, a missing '
                 'allreduce, a worker restarted from an older file), then give every worker '
                 'rank 0\'s values: gp.save(net, path, kvstore=kv) and gp.load(net, path, '
                 'kvstore=kv) with a path every worker reads')
    return '\n'.join(lines)


def _ranks(ranks: List[int]) -> str:
    return f'rank{"s" * (len(ranks) > 1)} {", ".join(map(str, ranks))}'


def load_on_every_worker(kvstore: Any, path: str, precheck: Callable[[], Any],
                         load: Callable[[], R], check: Callable[[], Any], *,
                         timeout: Optional[float] = DEFAULT_TIMEOUT) -> R:
    """``precheck()`` (read the header) on every worker, then, when it succeeded on
    all, ``load()`` on every worker, then ``check()`` the replicas."""
    timeout = check_timeout(timeout)
    channel = channel_for(kvstore)
    channel.check_usable(f'load({path!r}, kvstore=...)')
    _on_every_worker(channel, path, 'could not read', precheck, timeout)
    report = _on_every_worker(channel, path, 'could not load', load, timeout)
    check()
    return report


def _on_every_worker(channel: Channel, path: str, verb: str, step: Callable[[], R],
                     timeout: Optional[float]) -> R:
    failure: Optional[Exception] = None
    try:
        value = step()
    except Exception as e:
        failure = e
    if channel.size > 1:
        table = channel.run(f'load({path!r}, kvstore=...)',
                            lambda: channel.gather([failure is not None]), timeout)
        failed = [r for r in range(channel.size) if table[r, 0]]
        if failed and len(failed) < channel.size:     # all failed: each raises its own error
            message = (f'{path}: {_ranks(failed)} {verb} the checkpoint (the error on '
                       f'{"that worker" if len(failed) == 1 else "those workers"} says why); ')
            message += ('the other workers loaded it, so the replicas now differ: fix the '
                        'file on those workers and load again' if verb == 'could not load'
                        else 'no worker changed its parameters')
            if failure is None:
                raise CheckpointError(message)
            raise CheckpointError(f'{message}\nthis worker (rank {channel.rank}): '
                                  f'{failure}') from failure
    if failure is not None:
        raise failure
    return value
