"""Saving in the background (``gp.save(..., background=True)``): a snapshot now, the file
written by a thread with the same ``write_file`` as a synchronous save (temporary file,
checksums, ties, rename), so the file is the same, byte for byte.

**The snapshot.** MXNet runs array operations on its engine, which orders them by the
arrays they read and write. :class:`Snapshot` queues one copy of each array the file
holds (``_compat.copy_on_engine``): the copy reads the array after every write queued
before the save and before every write queued after it, so it holds exactly the values
the save was called with, whatever the training loop queues next, and the save never
waits for the engine. Each copy goes on the array's own device (host memory for a CPU);
on a GPU while the snapshot leaves the device 10% of its memory (at least 512 MiB) free,
else to host memory. A snapshot that would leave less than that of the host's available
memory (Linux's ``MemAvailable``) free is refused at the call. The writer waits for each
copy only when it writes that tensor, reads a host copy in place (a GPU copy: one tensor
at a time through host memory) and drops it once written. Writes that bypass the engine
are not ordered: writing into a numpy view of a parameter's host memory, as ``gp.load``
does after waiting for the engine (by then every pending copy is done).

**One save per path** (its real path): a new save to it, in the background or not,
first waits for the one in flight, or cancels it (``in_flight='cancel'``: the writer
stops before its next tensor and removes its temporary file). **Errors are never lost**:
a failed background save raises at :meth:`SaveHandle.wait`, every time, and once more at
the next save to any path, which is then not started; failures no save raised are
printed when the interpreter exits. **At exit**, the interpreter waits for unfinished
saves (a hook that runs before ``concurrent.futures`` stops its thread pools, which the
writer's checksums use); Ctrl-C there cancels them. A forked child (a DataLoader worker)
forgets its parent's saves.
"""

import atexit
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from math import prod
from typing import Any

import numpy as onp

from .. import _compat
from .._arrays import host_values
from ..distributed import RankZeroSave, earlier_failures
from ..errors import CheckpointError, OptionError
from ._files import write_file
from ._model import WriteItem

__all__ = ['IN_FLIGHT', 'KEEP_FREE', 'SaveHandle', 'Snapshot', 'Writer', 'host_room',
           'settle', 'wait_for']

IN_FLIGHT = ('wait', 'cancel')        # what a new save does to the one writing its path
KEEP_FREE = (0.10, 512 << 20)         # a snapshot leaves a device this share (and bytes) free
_UNREAD: Any = object()               # host memory not read yet (read at the first host copy)


class Snapshot:
    """Copies of arrays, queued now on MXNet's engine, each read once by the writer."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.bytes: dict[str, int] = {}     # device name -> bytes copied there
        self._room: dict[int, int] = {}     # GPU id -> bytes the snapshot may still take
        self._host: int | None = _UNREAD    # host memory it may still take (None: unknown)
        self._host_taken = 0                # bytes copied to host memory

    def take(self, arr: Any) -> Callable[[], onp.ndarray]:
        """Queue a copy of ``arr``; the function the writer calls for its values."""
        device = _compat.array_device(arr)
        nbytes = prod(int(d) for d in arr.shape) * onp.dtype(arr.dtype).itemsize
        on_host = _compat.is_host_device(device)
        to_host = not on_host and not self._fits(device.device_id, nbytes)
        if on_host or to_host:
            self._take_host(nbytes)
        copy = _Copy(_compat.copy_on_engine(arr, to_host=to_host))
        where = 'cpu(0)' if to_host else _compat.device_name(device)
        self.bytes[where] = self.bytes.get(where, 0) + nbytes
        return copy.values

    def _fits(self, gpu: int, nbytes: int) -> bool:
        if gpu not in self._room:
            free, total = _compat.gpu_free_memory(gpu)
            self._room[gpu] = free - _kept(total)
        if nbytes > self._room[gpu]:
            return False
        self._room[gpu] -= nbytes
        return True

    def _take_host(self, nbytes: int) -> None:
        if self._host is _UNREAD:
            self._host = host_room()
        self._host_taken += nbytes
        if self._host is None:
            return
        if nbytes > self._host:
            share, least = KEEP_FREE
            raise CheckpointError(
                f'cannot save {self.path} in the background: its snapshot needs more host '
                f'memory than the system has available ({self._host_taken / 2**20:,.0f} MiB '
                f'so far; a background save keeps {share:.0%} of the memory, at least '
                f'{least >> 20} MiB, free); save with background=False, which writes from '
                f'the parameters\' own memory')
        self._host -= nbytes


def host_room() -> int | None:
    """Bytes of host memory a snapshot may take: Linux's ``MemAvailable`` less what is
    kept free; ``None`` where it cannot be read."""
    try:
        with open('/proc/meminfo') as f:
            info = {line.split(':')[0]: int(line.split()[1]) << 10 for line in f
                    if line.startswith(('MemAvailable:', 'MemTotal:'))}
        return info['MemAvailable'] - _kept(info['MemTotal'])
    except (OSError, ValueError, IndexError, KeyError):
        return None


def _kept(total: int) -> int:
    share, least = KEEP_FREE
    return max(int(total * share), least)


class _Copy:
    __slots__ = ('array',)

    def __init__(self, array: Any) -> None:
        self.array = array

    def values(self) -> onp.ndarray:
        """On the writer thread: wait for this copy only (MXNet releases the GIL), then
        its values, in place on the host; the snapshot lets go of the copy."""
        array, self.array = self.array, None
        array.wait_to_read()
        return host_values(array)


class _Cancelled(BaseException):
    """Raised in the writer before a tensor: ``atomic_write`` removes the temporary file."""


class Writer:
    """The thread writing one background save (rank 0's job with ``kvstore=``)."""

    def __init__(self, path: str, items: list[WriteItem], meta: dict[str, str], fsync: bool,
                 snapshot: Snapshot, shared: bool = False) -> None:
        self.path = path
        self.key = os.path.realpath(path)
        self.snapshot_bytes = dict(snapshot.bytes)
        self.shared = shared          # outcome exchanged with the other workers (kvstore=)
        self.error: BaseException | None = None
        self.cancelled = False
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._items = [replace(i, values=partial(self._next, i.values)) for i in items]
        self._meta, self._fsync = meta, fsync
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f'gluonparams save {os.path.basename(path)}')

    def start(self) -> None:
        _register(self)
        self._thread.start()

    def cancel(self) -> None:
        self._stop.set()

    def done(self) -> bool:
        return self._finished.is_set()

    def result(self) -> BaseException | None:
        self._finished.wait()
        return self.error

    def outcome(self) -> BaseException | None:
        """With ``kvstore=``: the error, which the KVStore's workers now report."""
        error = self.result()
        with _lock:
            if self in _failed:
                _failed.remove(self)
        return error

    def _next(self, values: Callable[[], onp.ndarray]) -> onp.ndarray:
        if self._stop.is_set():
            raise _Cancelled()
        return values()

    def _run(self) -> None:
        try:
            if self._stop.is_set():
                raise _Cancelled()
            write_file(self.path, self._items, self._meta, self._fsync)
        except _Cancelled:
            self.cancelled = True
        except BaseException as e:    # noqa: B902 - a full disk, or the thread killed
            self.error = e
        finally:
            self._items = []          # the copies not written yet
            with _lock:
                if _writing.get(self.key) is self:
                    del _writing[self.key]
                if self.error is not None:
                    _failed.append(self)
            self._finished.set()


class SaveHandle:
    """A checkpoint being written in the background: what
    [`save(..., background=True)`][gluonparams.save] returns.

    The values were taken when ``save`` returned; the file appears at ``path``, whole,
    once written. With ``kvstore=``, rank 0 writes and every worker holds a handle.
    ``gp.save`` makes it; it is not built directly.

    Attributes:
        path: the file being written.
        snapshot_bytes: the bytes the snapshot copied, by device (``{'cpu(0)': ...}``,
            ``{'gpu(0)': ...}``); empty on the workers other than rank 0.
    """

    def __init__(self, path: str, writer: Writer | None,
                 shared: RankZeroSave | None = None) -> None:
        self.path = path
        self.snapshot_bytes: dict[str, int] = {} if writer is None else writer.snapshot_bytes
        self._writer, self._shared = writer, shared

    def done(self) -> bool:
        """True once the save has ended (written, failed or cancelled). With
        ``kvstore=``: on rank 0, once its writer has ended; on the other workers, once
        :meth:`wait` (or the next save) has learned the outcome from rank 0."""
        if self._shared is not None:
            return self._shared.done()
        assert self._writer is not None
        return self._writer.done()

    def wait(self) -> None:
        """Wait until the file is complete (or the save was cancelled).

        With ``kvstore=`` every worker calls it, in the same order as its other
        collective calls; every one returns once rank 0 has written the file.

        Raises:
            CheckpointError: the save failed (full disk, no permission, the writer
                stopped); every call raises it, and so does the next ``save``, once.
                The previous checkpoint at ``path`` is whole.
            DistributedError: with ``kvstore=``, a worker did not answer in time.
        """
        if self._shared is not None:
            error = self._shared.wait()
            if error is not None:
                raise CheckpointError(str(error)) from error
            return
        assert self._writer is not None
        if self._writer.result() is not None:
            raise CheckpointError(failure_text(self._writer)) from self._writer.error

    def cancel(self) -> bool:
        """Stop the save before its next tensor and wait: ``True`` when the file was
        not replaced (its temporary file is removed), ``False`` when the save had ended.

        Raises:
            OptionError: with ``kvstore=`` (cancel with ``save(..., in_flight='cancel')``
                on every worker instead).
        """
        if self._shared is not None or self._writer is None:
            raise OptionError(f'a background save with kvstore= cannot be cancelled on one '
                              f'worker; start the next save to {self.path} with '
                              f'in_flight="cancel" on every worker instead')
        if self._writer.done():
            return False
        self._writer.cancel()
        self._writer.result()
        return self._writer.cancelled

    def __repr__(self) -> str:
        writer = self._writer
        if not self.done():
            state = 'writing'
        elif writer is None:
            state = 'ended'
        else:
            state = 'cancelled' if writer.cancelled else 'failed' if writer.error else 'written'
        return f'<SaveHandle {self.path}: {state}>'


def failure_text(writer: Writer) -> str:
    """What went wrong, naming the file; the previous checkpoint is whole."""
    error = writer.error
    if isinstance(error, CheckpointError):    # from atomic_write: says what to do
        return f'background save: {error}'
    detail = f'{type(error).__name__}: {error}' if str(error) else type(error).__name__
    return (f'background save: cannot save {writer.path}: the writer stopped on {detail}; a '
            f'save replaces the file only once it is complete, so the previous checkpoint '
            f'there is whole')


# --- the registry: saves in flight by path, failures not raised yet ---
_lock = threading.Lock()
_writing: dict[str, Writer] = {}      # real path -> the save writing it
_failed: list[Writer] = []            # failed, not raised by a save yet
_exit_hook: list[bool] = []


def settle(path: str, in_flight: str) -> None:
    """What every save does first: wait for (or cancel) the background save writing
    ``path``, then raise the failures of earlier background saves no save raised yet."""
    writer = _writing_to(path)
    if writer is not None:
        if in_flight == 'cancel':
            writer.cancel()
        writer.result()
    with _lock:       # a failure with kvstore= is raised through the workers' exchange
        failed = [w for w in _failed if not w.shared]
        _failed[:] = [w for w in _failed if w.shared]
    if failed:
        raise earlier_failures([failure_text(w) for w in failed]) from failed[0].error


def wait_for(path: str) -> None:
    """Wait for the background save writing ``path``, if any (a load reads it after).

    Raises:
        CheckpointError: that save failed, so ``path`` holds the previous checkpoint,
            not the values the load was waiting for; the failure is raised at the next
            save too, as any other.
    """
    writer = _writing_to(path)
    if writer is not None and writer.result() is not None:
        raise CheckpointError(f'cannot load {path}: the background save writing it failed, so '
                              f'it still holds the previous checkpoint (load again to read '
                              f'that one); {failure_text(writer)}') from writer.error


def _writing_to(path: str) -> Writer | None:
    with _lock:
        return _writing.get(os.path.realpath(path))


def _register(writer: Writer) -> None:
    """Make ``writer`` the one save writing its path (after any other one there)."""
    while True:
        with _lock:
            if not _exit_hook:
                _install_exit_hook()
            other = _writing.get(writer.key)
            if other is None:
                _writing[writer.key] = writer
                return
        other.result()


def _install_exit_hook() -> None:
    """Hooks registered with ``threading._register_atexit`` run (last registered first)
    when the main thread ends, before ``concurrent.futures``' own, which stops its
    thread pools (registered at its import, before this one), and before ``atexit``."""
    try:
        threading._register_atexit(_wait_at_exit)   # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):          # no such hook, or already exiting
        atexit.register(_wait_at_exit)
    _exit_hook.append(True)


def _wait_at_exit() -> None:
    with _lock:
        pending = list(_writing.values())
    try:
        if pending:
            _say(f'waiting for {len(pending)} background save(s) to finish: '
                 f'{", ".join(w.path for w in pending)} (Ctrl-C abandons them; the previous '
                 f'checkpoints stay whole)')
        for writer in pending:
            writer.result()
    except KeyboardInterrupt:
        for writer in pending:
            writer.cancel()
        for writer in pending:
            writer._finished.wait(5.0)
        _say('background saves abandoned: ' + ', '.join(
            f'{w.path} ({"cancelled" if w.cancelled else "ended" if w.done() else "stopped"})'
            for w in pending))
    with _lock:
        failed, _failed[:] = list(_failed), []
    for writer in failed:
        _say(failure_text(writer))


def _say(text: str) -> None:
    print(f'gluonparams: {text}', file=sys.stderr, flush=True)


def _forget_in_child() -> None:
    """After ``fork``: the writer threads exist only in the parent, which owns their
    files; the child forgets them (waiting would never end)."""
    global _lock
    _lock = threading.Lock()
    for writer in list(_writing.values()):
        writer.error = CheckpointError(f'background save to {writer.path}: written by the '
                                       f'parent process, not by this forked child')
        writer._finished.set()
    _writing.clear()
    _failed.clear()


os.register_at_fork(before=lambda: _lock.acquire(), after_in_parent=lambda: _lock.release(),
                    after_in_child=_forget_in_child)
