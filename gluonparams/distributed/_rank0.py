"""Checkpoints rank 0 writes for every worker: at once (:func:`save_from_rank0`) or in the
background (:func:`start_from_rank0`). See :mod:`gluonparams.distributed`.

A background save is one collective call to start it and one to learn its outcome; both
run on the calling thread (never on the writer's: the KVStore and the channel's round
counters are not safe from two threads, and every worker must make the same exchanges in
the same order). So that the order is the same on every worker whatever each one calls:

* every ``save(kvstore=)`` first completes this KVStore's earlier background saves, in
  the order they were started (a collective exchange each), then raises their failures,
  on every worker: one distributed background save runs at a time;
* :meth:`RankZeroSave.wait` completes the earlier ones too, then its own.
"""

import weakref
from typing import Any, Callable, Dict, List, Optional, Protocol

import numpy as onp

from ..errors import CheckpointError
from ._channel import Channel, channel_for, check_timeout
from ._workers import DEFAULT_TIMEOUT

__all__ = ['Job', 'RankZeroSave', 'earlier_failures', 'save_from_rank0', 'start_from_rank0']

_MESSAGE_BYTES = 400          # rank 0's error message, as sent to the other workers


class Job(Protocol):
    """Rank 0's side of a background save: prepared (the snapshot taken), then started
    once every worker has arrived."""

    def start(self) -> None:
        """Start writing."""

    def cancel(self) -> None:
        """Stop before the next tensor (the previous file stays)."""

    def done(self) -> bool:
        """True once the write has ended, written, failed or cancelled."""

    def outcome(self) -> Optional[BaseException]:
        """Wait for the write to end; its error (from now on reported by the caller,
        on every worker), or ``None``."""


class _State:
    """What one channel's workers all know about its background saves."""

    def __init__(self) -> None:
        self.pending: List['RankZeroSave'] = []     # started, outcome not exchanged yet
        self.failed: List[CheckpointError] = []     # exchanged, not raised by a save yet


_STATES: 'weakref.WeakKeyDictionary[Channel, _State]' = weakref.WeakKeyDictionary()


def _state(channel: Channel) -> _State:
    if channel not in _STATES:
        _STATES[channel] = _State()
    return _STATES[channel]


def _metadata(channel: Channel) -> Dict[str, str]:
    return {'gluonparams.num_workers': str(channel.size),
            'gluonparams.writer_rank': str(channel.rank)}


def save_from_rank0(kvstore: Any, path: str, write: Callable[[Dict[str, str]], None], *,
                    timeout: Optional[float] = DEFAULT_TIMEOUT, cancel: bool = False) -> None:
    """Once every worker has arrived, rank 0 calls ``write(metadata)``; every worker
    returns when it has finished, or raises the same error if it failed. Earlier
    background saves of the KVStore are completed first (``cancel``: those to ``path``
    are cancelled) and their failures raised, on every worker."""
    timeout = check_timeout(timeout)
    channel = channel_for(kvstore)
    channel.check_usable(f'save({path!r}, kvstore=...)')
    _settle(channel, path if cancel else None, timeout)
    if channel.size == 1:
        write(_metadata(channel))
        return
    channel.run(f'save({path!r}, kvstore=...) waiting for every worker',
                lambda: channel.gather([True]), timeout)
    failure: Optional[BaseException] = None
    if channel.rank == 0:
        try:
            write(_metadata(channel))
        except Exception as e:          # every worker learns that the write failed
            failure = e
    reported = _from_rank0(channel, f'save({path!r}, kvstore=...) waiting for rank 0 to '
                                    f'write the file', failure, timeout)
    if failure is not None:
        raise failure
    if reported is not None:
        raise CheckpointError(f'{path}: rank 0 could not write the checkpoint: {reported}')


def start_from_rank0(kvstore: Any, path: str, prepare: Callable[[Dict[str, str]], Job], *,
                     timeout: Optional[float] = DEFAULT_TIMEOUT,
                     cancel: bool = False) -> 'RankZeroSave':
    """Every worker: complete the KVStore's earlier background saves (as
    :func:`save_from_rank0`); rank 0: ``prepare(metadata)`` (take the snapshot); once
    every worker has arrived and rank 0 has prepared, rank 0 starts writing and every
    worker gets a :class:`RankZeroSave` to wait on. A failure to prepare raises the
    same error on every worker."""
    timeout = check_timeout(timeout)
    channel = channel_for(kvstore)
    what = f'save({path!r}, kvstore=..., background=True)'
    channel.check_usable(what)
    _settle(channel, path if cancel else None, timeout)
    job: Optional[Job] = None
    failure: Optional[BaseException] = None
    if channel.rank == 0:
        try:
            job = prepare(_metadata(channel))
        except Exception as e:          # every worker raises it (below)
            failure = e
    reported = _from_rank0(channel, f'{what} waiting for every worker', failure, timeout)
    if failure is None and reported is not None:
        raise CheckpointError(f'{path}: rank 0 could not start the checkpoint: {reported}')
    if failure is not None:
        raise failure
    if job is not None:
        job.start()
    save = RankZeroSave(channel, path, job, timeout)
    _state(channel).pending.append(save)
    return save


class RankZeroSave:
    """A background save rank 0 writes; every worker waits for it with :meth:`wait`."""

    def __init__(self, channel: Channel, path: str, job: Optional[Job],
                 timeout: Optional[float]) -> None:
        self.path = path
        self.job = job                    # rank 0's writer; None on the other workers
        self._channel, self._timeout = channel, timeout
        self._exchanged = False
        self._error: Optional[CheckpointError] = None

    def done(self) -> bool:
        """Rank 0: its write has ended; the others: its outcome has been exchanged
        (they cannot know earlier without asking)."""
        return self._exchanged or (self.job is not None and self.job.done())

    def wait(self) -> Optional[CheckpointError]:
        """Collective: the earlier background saves of the KVStore, then this one, are
        completed on every worker; this save's error (the same on every worker), or
        ``None`` once the file is complete."""
        for earlier in list(_state(self._channel).pending):
            if self._exchanged:
                break
            earlier._exchange()
        return self._error

    def _exchange(self) -> None:
        channel = self._channel
        failure = self.job.outcome() if self.job is not None else None
        reported = _from_rank0(channel, f'save({self.path!r}, kvstore=..., background=True) '
                                        f'waiting for rank 0 to write the file', failure,
                               self._timeout)
        state = _state(channel)
        state.pending.remove(self)
        self._exchanged = True
        if failure is not None:
            self._error = CheckpointError(f'background save to {self.path} failed: {failure}')
        elif reported is not None:
            self._error = CheckpointError(f'{self.path}: rank 0 could not write the checkpoint '
                                          f'in the background: {reported}')
        if self._error is not None:
            state.failed.append(self._error)


def _settle(channel: Channel, cancel: Optional[str], timeout: Optional[float]) -> None:
    """Complete the channel's background saves in flight (rank 0 cancels those to
    ``cancel``), then raise the failures no save has raised yet (every worker)."""
    state = _state(channel)
    for save in list(state.pending):
        if save.job is not None and save.path == cancel:
            save.job.cancel()
        save._timeout = timeout
        save._exchange()
    failed, state.failed = state.failed, []
    if failed:
        raise earlier_failures([str(e) for e in failed], ' with this KVStore') from failed[0]


def earlier_failures(texts: List[str], where: str = '') -> CheckpointError:
    """The error of a save that was not started because earlier background saves
    failed (``texts``: what went wrong in each; ``where``: which saves)."""
    return CheckpointError(f'{len(texts)} earlier background save{"s" * (len(texts) > 1)}'
                           f'{where} failed: {"; ".join(texts)}. This save was not started; '
                           f'call it again to save')


def _from_rank0(channel: Channel, what: str, failure: Optional[BaseException],
                timeout: Optional[float]) -> Optional[str]:
    """Collective: rank 0 sends ``failure`` (its error, or ``None``) to every worker;
    rank 0's error as text, or ``None`` when it did not fail or is the only worker."""
    if channel.size == 1:
        return None
    sent = channel.run(what, lambda: channel.broadcast(_encode(failure)), timeout)
    return _decode(sent) if sent[0] else None


def _encode(failure: Optional[BaseException]) -> onp.ndarray:
    """[failed, message length, message bytes...] of fixed length."""
    out = onp.zeros(2 + _MESSAGE_BYTES, onp.int64)
    if failure is not None:
        text = f'{type(failure).__name__}: {failure}'.encode()[:_MESSAGE_BYTES]
        out[0], out[1] = 1, len(text)
        out[2:2 + len(text)] = list(text)
    return out


def _decode(sent: onp.ndarray) -> str:
    return bytes(sent[2:2 + sent[1]].tolist()).decode(errors='replace')
