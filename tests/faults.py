"""Fault injection for checkpoint writes and reads: count the system calls a save
makes and act at any one of them, in a forked process.

``Hooks(action, at)`` replaces, in the process it is installed in, the calls a save
goes through: creating the temporary file (``os.open``), reserving its size
(``os.posix_fallocate``), each ``write`` of the unbuffered file ``atomic_write``
opens, ``os.fsync`` (file and folder) and ``os.replace``. Event ``at`` (1-based)
triggers ``action``: ``'kill'`` (SIGKILL before the call), ``'kill-mid'`` (half of a
write reaches the file, then SIGKILL), ``'enospc'`` (the call fails: disk full) or
``'pause'`` (wait for the parent, see :func:`fork`). Deterministic: the same save
makes the same calls in the same order.
"""

import errno
import io
import os
import signal
import time
import traceback
from collections.abc import Callable

from gluonparams.checkpoint import _atomic

EVENTS = ('open', 'fallocate', 'write', 'fsync', 'rename')


class Hooks:
    def __init__(self, action: str | None = None, at: int = 0, pipes=None) -> None:
        self.action, self.at, self.pipes = action, at, pipes
        self.events: list[str] = []

    def tick(self, event: str) -> bool:
        """Record ``event``; True when this is the one to act at (after acting)."""
        self.events.append(event)
        if len(self.events) != self.at:
            return False
        if self.action == 'kill':
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.action == 'enospc':
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        elif self.action == 'pause':
            paused, resume = self.pipes
            os.write(paused, b'p')
            os.read(resume, 1)
        return True

    def install(self, patch: Callable[[object, str, object], None]) -> 'Hooks':
        """Wrap the calls; ``patch(owner, name, value)`` sets an attribute (pytest's
        ``monkeypatch.setattr`` in the test process, ``setattr`` in a child)."""
        for name, event in (('open', 'open'), ('posix_fallocate', 'fallocate'),
                            ('fsync', 'fsync'), ('replace', 'rename')):
            patch(os, name, self._wrap(getattr(os, name), event))
        hooks = self

        class CountingFile(io.FileIO):
            def write(self, data):
                if hooks.tick('write') is True and hooks.action == 'kill-mid':
                    view = memoryview(data).cast('B')
                    super().write(view[:max(1, len(view) // 2)])
                    os.kill(os.getpid(), signal.SIGKILL)
                return super().write(data)

        patch(_atomic, 'open', lambda fd, mode, buffering=-1: CountingFile(fd, mode))
        return self

    def _wrap(self, function, event):
        def wrapper(*args, **kwargs):
            flags = args[1] if len(args) > 1 else kwargs.get('flags', 0)
            creates = event != 'open' or flags & os.O_CREAT
            self.tick(event if creates else 'open-folder')   # the folder, to flush it
            return function(*args, **kwargs)
        return wrapper


def fork(function: Callable[[], int | None]) -> int:
    """Run ``function`` in a forked process; its pid. It exits with what ``function``
    returns (0 for None), 98 after an exception; it never returns to pytest."""
    pid = os.fork()
    if pid == 0:   # pragma: no cover - the child
        code = 98
        try:
            code = function() or 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def wait(pid: int, timeout: float = 120) -> int:
    """The child's wait status; kills it and raises after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise TimeoutError(f'child {pid} still running after {timeout} s')
        time.sleep(0.002)


def run(function: Callable[[], int | None]) -> int:
    """Run ``function`` in a forked process and wait: its exit code, or minus the
    signal that ended it."""
    status = wait(fork(function))
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def in_child_installed(action: str | None, at: int, job: Callable[[], None],
                       pipes=None) -> Callable[[], None]:
    """``job`` with ``Hooks(action, at)`` installed first (for :func:`fork`)."""
    def child() -> None:
        Hooks(action, at, pipes).install(setattr)
        job()
    return child
