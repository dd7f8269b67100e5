"""Small integer vectors exchanged between the workers of a distributed KVStore.

Two collective operations, which every worker calls in the same order:
:meth:`Channel.broadcast` (rank 0's values to every worker) and
:meth:`Channel.gather` (every worker's flags to every worker). Each value is an
integer in ``[0, 2**16)``: MXNet's parameter servers carry and store float32 (a
float64 array arrives rounded to float32), and such integers, and their sums with
zeros, are exact in float32.

How the servers combine the pushes of a round decides the method:

- *Exact* (the servers have no optimizer): one ``pushpull`` on a key reused from
  call to call. A server without an optimizer stores the sum of the round's pushes
  (replacing what it held), so each worker fills its own slot and pushes zeros
  elsewhere. Every slot also carries the key's round counter: a counter that comes
  back different means the servers do something else to the pushes, an optimizer
  (``gluon.Trainer`` sends one to them on a 'dist' KVStore unless
  ``update_on_kvstore=False``), and the channel switches, for good, to
- *Optimizer*: a broadcast is a ``kv.init`` of a fresh key (the servers store rank
  0's initial value as it is: no optimizer step) followed by a ``pull``; a gather
  pushes 0 or 1 to a fresh key initialized to zeros and reads zero / nonzero (one
  optimizer step from a zero weight and a fresh state maps 0 to 0 and 1 to a nonzero
  value for SGD, NAG, Adam, RMSProp, AdaGrad, LAMB, ...); a canary 1 and a guard 0 per
  worker check that the step did so. Fresh keys stay on the servers: each exchange in
  this mode leaves its vector (and the optimizer's state for it) there.

Keys are integers from :data:`KEY_BASE` (the key type ``gluon.Trainer`` uses), or
strings ``'gluonparams:<n>'`` on a KVStore already used with string keys.

ps-lite has no timeout and cannot drop a worker, so every collective call runs on a
helper thread and :meth:`Channel.run` stops waiting after ``timeout`` seconds. The
KVStore is then unusable (a push waits forever for the lost worker, and MXNet's
KVStore would wait for it again at interpreter exit), so the channel refuses further
calls and the process ends with exit status 1 when Python exits.
"""

import atexit
import logging
import math
import os
import sys
import threading
import weakref
from typing import Any, Callable, Dict, Optional, TypeVar

import mxnet as mx
import numpy as onp

from ..errors import DistributedError, OptionError

__all__ = ['KEY_BASE', 'KEY_END', 'LIMIT', 'Channel', 'channel_for', 'check_timeout']

KEY_BASE = 100_000
KEY_END = 215_000       # ps-lite places a small key on server (key * 9973) % servers in a C int
LIMIT = 1 << 16         # values are integers in [0, LIMIT)
_REUSED = 64            # KEY_BASE .. KEY_BASE + 63: reused keys, two per power-of-two length

T = TypeVar('T')


def check_timeout(timeout: Optional[float]) -> Optional[float]:
    """``timeout`` as seconds (``None``: no limit), or :class:`OptionError`."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or not timeout > 0 or math.isnan(timeout):
        raise OptionError(f'timeout={timeout!r} must be a number of seconds above 0, or None '
                          f'to wait without limit')
    return float(timeout)


_CHANNELS: 'weakref.WeakKeyDictionary[Any, Channel]' = weakref.WeakKeyDictionary()


def channel_for(kv: Any) -> 'Channel':
    """The one channel of a KVStore object (its round counters must persist)."""
    for attribute in ('rank', 'num_workers', 'type', 'pushpull', 'init', 'pull'):
        if not hasattr(kv, attribute):
            raise OptionError(f'kvstore={kv!r} ({type(kv).__name__}) is not an MXNet KVStore: '
                              f'it has no {attribute!r}; pass the KVStore your Trainer uses, '
                              f'e.g. kv = mx.kv.create("dist_sync")')
    if kv not in _CHANNELS:
        _CHANNELS[kv] = Channel(kv)
    return _CHANNELS[kv]


class Channel:
    """Collective exchanges over one KVStore; see the module's documentation."""

    def __init__(self, kv: Any) -> None:
        # a weak reference: a KVStore kept alive until interpreter teardown never calls
        # ps::Finalize, and ps-lite's threads then abort the process at exit
        self._kv = weakref.ref(kv)
        self.rank = int(kv.rank)
        self.size = int(kv.num_workers)
        self.kind = str(kv.type)
        if self.size > 1 and ('dist' not in self.kind or 'async' in self.kind):
            raise OptionError(f'kvstore of type {self.kind!r} with {self.size} workers: '
                              f'gluonparams exchanges through MXNet\'s synchronous parameter '
                              f'servers; create the KVStore with mx.kv.create("dist_sync") or '
                              f'"dist_device_sync"')
        self.optimizer_mode = False
        self.string_keys: Optional[bool] = None
        self.rounds: Dict[int, int] = {}
        self.fresh = KEY_BASE + _REUSED
        self.lost: Optional[str] = None

    @property
    def kv(self) -> Any:
        kv = self._kv()
        if kv is None:
            raise DistributedError('the KVStore of this exchange no longer exists')
        return kv

    # --- running a collective call with a time limit ---
    def check_usable(self, what: str) -> None:
        """Refuse a call after a timeout (even waiting for MXNet's engine would hang)."""
        if self.lost is not None:
            raise DistributedError(f'{what}: this KVStore cannot be used any more: {self.lost}; '
                                   f'the process has to exit (see the first error)')

    def run(self, what: str, call: Callable[[], T], timeout: Optional[float]) -> T:
        """``call()`` on a helper thread; :class:`DistributedError` after ``timeout`` s."""
        self.check_usable(what)
        box: Dict[str, Any] = {}

        def target() -> None:
            try:
                box['value'] = call()
            except BaseException as e:          # handed to the calling thread
                box['error'] = e

        thread = threading.Thread(target=target, name='gluonparams-kvstore', daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            self.lost = (f'rank {self.rank} of {self.size} waited {timeout:g} s for the other '
                         f'workers at {what}')
            _exit_when_python_exits(self.kv)
            raise DistributedError(_timeout_message(what, self.rank, self.size, timeout))
        if 'error' in box:
            error = box['error']
            if isinstance(error, mx.base.MXNetError):
                raise DistributedError(f'{what}: the KVStore failed on rank {self.rank}: '
                                       f'{error}') from error
            raise error
        return box['value']

    # --- the two collective operations ---
    def broadcast(self, values: onp.ndarray) -> onp.ndarray:
        """Rank 0's ``values`` on every worker (every worker passes as many)."""
        values = _payload(values)
        if not self.optimizer_mode:
            found = self._exact_broadcast(values)
            if found is not None:
                return found
            self.optimizer_mode = True
        return self._fresh_broadcast(values)

    def gather(self, flags: Any) -> onp.ndarray:
        """Every worker's boolean ``flags`` (as many on each): a ``(size, len)`` array."""
        flags = onp.asarray(flags, dtype=bool).reshape(-1)
        if not self.optimizer_mode:
            found = self._exact_gather(flags)
            if found is not None:
                return found
            self.optimizer_mode = True
        return self._fresh_gather(flags)

    def _exact_broadcast(self, values: onp.ndarray) -> Optional[onp.ndarray]:
        n, length = self.size, len(values)
        key, counter, padded = self._reused(0, n + length)
        push = onp.zeros(padded, onp.float32)
        push[self.rank] = counter
        if self.rank == 0:
            push[n:n + length] = values
        out = self._pushpull(key, push)
        found = out[n:n + length]
        if not (onp.all(out[:n] == counter) and _integers(found) and not out[n + length:].any()):
            return None
        return found.astype(onp.int64)

    def _exact_gather(self, flags: onp.ndarray) -> Optional[onp.ndarray]:
        n, width = self.size, 1 + len(flags)
        key, counter, padded = self._reused(1, n * width)
        push = onp.zeros(padded, onp.float32)
        push[self.rank * width] = counter
        push[self.rank * width + 1:(self.rank + 1) * width] = flags
        out = self._pushpull(key, push)
        table = out[:n * width].reshape(n, width)
        if not (onp.all(table[:, 0] == counter) and onp.isin(table[:, 1:], (0, 1)).all()
                and not out[n * width:].any()):
            return None
        return table[:, 1:] == 1

    def _fresh_broadcast(self, values: onp.ndarray) -> onp.ndarray:
        key = self._fresh_key()
        self._init(key, values if self.rank == 0 else onp.zeros_like(values))
        out = mx.nd.zeros(len(values), dtype='float32')
        self.kv.pull(self._name(key), out=out)
        found = out.asnumpy()
        if not _integers(found):
            raise DistributedError(_unusable('a value rank 0 sent came back changed'))
        return found.astype(onp.int64)

    def _fresh_gather(self, flags: onp.ndarray) -> onp.ndarray:
        n, width = self.size, 2 + len(flags)
        key = self._fresh_key()
        self._init(key, onp.zeros(n * width, onp.float32))
        push = onp.zeros(n * width, onp.float32)
        push[self.rank * width] = 1                      # canary: must come back nonzero
        push[self.rank * width + 2:(self.rank + 1) * width] = flags   # [+1]: guard, stays 0
        table = self._pushpull(key, push).reshape(n, width)
        if not (onp.all(table[:, 0] != 0) and onp.all(table[:, 1] == 0)
                and onp.isfinite(table).all()):
            raise DistributedError(_unusable(
                'one optimizer step on the servers did not map 1 to a nonzero value and 0 to '
                'zero (a learning rate of 0, or an optimizer that adds noise)'))
        return table[:, 2:] != 0

    # --- keys and KVStore calls ---
    def _reused(self, kind: int, length: int) -> tuple:
        padded = 1 << max(0, (length - 1).bit_length())
        key = KEY_BASE + 2 * (padded.bit_length() - 1) + kind
        done = self.rounds.get(key)
        if done is None:
            self._init(key, onp.zeros(padded, onp.float32))
            done = 0
        self.rounds[key] = done + 1
        return key, done % (LIMIT - 1) + 1, padded

    def _fresh_key(self) -> int:
        if self.fresh >= KEY_END:
            raise DistributedError(_unusable(f'{KEY_END - KEY_BASE - _REUSED} exchanges through '
                                             f'the servers\' optimizer have used every key '
                                             f'gluonparams reserves'))
        self.fresh += 1
        return self.fresh - 1

    def _name(self, key: int) -> Any:
        return f'gluonparams:{key}' if self.string_keys else key

    def _init(self, key: int, values: onp.ndarray) -> None:
        array = mx.nd.array(values, dtype='float32')
        if self.string_keys is None:
            try:
                self.kv.init(key, array)
                self.string_keys = False
                return
            except mx.base.MXNetError as e:
                if 'Mixed key types' not in str(e):
                    raise
                self.string_keys = True
        self.kv.init(self._name(key), array)

    def _pushpull(self, key: int, push: onp.ndarray) -> onp.ndarray:
        out = mx.nd.zeros(len(push), dtype='float32')
        # the KVStore may receive into the pushed array's memory: push a fresh one
        self.kv.pushpull(self._name(key), mx.nd.array(push, dtype='float32'), out=out)
        return out.asnumpy()


def _payload(values: Any) -> onp.ndarray:
    values = onp.asarray(values, dtype=onp.int64).reshape(-1)
    if values.size and (values.min() < 0 or values.max() >= LIMIT):
        raise ValueError(f'channel values must be integers in [0, {LIMIT})')
    return values


def _integers(values: onp.ndarray) -> bool:
    return bool(onp.all((values >= 0) & (values < LIMIT) & (values == onp.floor(values))))


def _unusable(why: str) -> str:
    return (f'the KVStore\'s servers cannot carry gluonparams\' exchange: {why}. Create the '
            f'Trainer with update_on_kvstore=False, so that the servers only add up what the '
            f'workers push (each worker then updates its own replica, which is what '
            f'check_replicas verifies)')


def _timeout_message(what: str, rank: int, size: int, timeout: Optional[float]) -> str:
    return (f'{what}: no answer from the other workers within {timeout:g} s (this is rank '
            f'{rank} of {size}): a worker has died, hangs, or is not making the same '
            f'gluonparams call (every worker must make the same calls, in the same order). '
            f'ps-lite cannot go on without a worker, so this process has to end: it will exit '
            f'with status 1 when Python exits (MXNet would otherwise wait for the lost worker '
            f'forever). Fix: read the other workers\' logs and restart the job from the last '
            f'checkpoint; pass a larger timeout= if a worker is only slow (rank 0 writing a '
            f'large checkpoint)')


_LOST_STORES: list = []


def _exit_when_python_exits(kv: Any) -> None:
    """Make the interpreter's exit end the process (status 1) before MXNet's KVStore
    destructor waits for the lost worker; the log and the standard streams are flushed.
    The KVStore is kept alive till then: its destructor would wait for ever."""
    if not _LOST_STORES:
        atexit.register(_hard_exit)
    _LOST_STORES.append(kv)


def _hard_exit() -> None:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(1)
