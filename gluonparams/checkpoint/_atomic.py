"""Writing a file all at once or not at all: a temporary file beside the target, flushed,
renamed over it; the folder flushed after.

A failed or killed save leaves the previous checkpoint whole; a process killed
outright leaves at most a hidden ``.<name>.<random>.tmp`` file beside it.
"""

import errno
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from ..errors import CheckpointError

__all__ = ['atomic_write', 'preallocate']


def preallocate(f: BinaryIO, size: int) -> None:
    """Reserve ``size`` bytes for a file about to be written in full.

    A full disk fails here, before any data is written. On ext4 it also makes the
    final rename cheap: without it, renaming over an existing file forces the new
    file's delayed block allocation first (``auto_da_alloc``), about 0.3 s per
    0.5 GiB here. Where the file system cannot preallocate, nothing happens.
    """
    if size <= 0 or not hasattr(os, 'posix_fallocate'):
        return
    try:
        os.posix_fallocate(f.fileno(), 0, size)
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise


@contextmanager
def atomic_write(path: str, fsync: bool = True) -> Iterator[BinaryIO]:
    """Write ``path`` all at once or not at all.

    Yields an unbuffered file object on a new temporary file in the same folder;
    when the block ends, flushes it to disk (``fsync=True``), renames it over
    ``path`` (atomic on POSIX) and flushes the folder entry. If anything fails, or
    the process is interrupted, the temporary file is removed and ``path`` keeps
    its previous content; a process killed outright leaves at most a hidden
    ``.<name>.<random>.tmp`` file beside it, never a partial ``path``.

    Raises:
        CheckpointError: the folder cannot be written (permission, full disk, file
            size limit, missing folder); the message says which and what to do.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CheckpointError(f'cannot save to {path}: it is a folder; give a file name '
                              f'such as {os.path.join(path, "model.safetensors")}')
    temp = os.path.join(folder, f'.{os.path.basename(path)}.{secrets.token_hex(4)}.tmp')
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_CLOEXEC', 0),
                     0o666)
    except OSError as e:
        raise CheckpointError(_failure(path, folder, e, 'cannot create a temporary file in '
                                       'its folder')) from e
    try:
        with open(fd, 'wb', buffering=0) as f:
            yield f
            if fsync:
                os.fsync(fd)
        os.replace(temp, path)
    except BaseException as e:
        _remove_quietly(temp)
        if isinstance(e, OSError):
            raise CheckpointError(_failure(path, folder, e, 'writing failed')) from e
        raise
    if fsync:
        _fsync_folder(folder)


def _failure(path: str, folder: str, e: OSError, what: str) -> str:
    old = ('the previous checkpoint there is untouched' if os.path.exists(path)
           else 'nothing was written there')
    reason = f'{e.strerror or e} ({errno.errorcode.get(e.errno or 0, e.errno)})'
    if e.errno in (errno.ENOSPC, errno.EFBIG, getattr(errno, 'EDQUOT', -1)):
        fix = 'free some space (or raise the file size limit) or save to another disk'
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = f'make {folder} writable or save somewhere you can write'
    elif e.errno == errno.ENOENT:
        fix = f'create the folder {folder} first'
    else:
        fix = 'check the path and the disk'
    return f'cannot save {path}: {what}: {reason}; {old} and no temporary file is left; {fix}'


def _remove_quietly(temp: str) -> None:
    try:
        os.remove(temp)
    except OSError:
        pass


def _fsync_folder(folder: str) -> None:
    """Make the rename durable: flush the folder's entry (not possible everywhere)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
