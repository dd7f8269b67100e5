"""Checkpoint files by path: writing one atomically, reading tensors' values, checking
checksums. The format comes from the path (:func:`.formats.format_of`)."""

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Union

import numpy as onp

from .._parallel import WORKERS, parallel_map
from ._atomic import atomic_write
from ._io import CheckpointFile
from ._model import TensorInfo, WriteItem
from .formats import format_of

__all__ = ['PathLike', 'check_checksums', 'read_into', 'read_stretch', 'read_values',
           'write_file']

PathLike = Union[str, 'os.PathLike[str]']      # what the public functions take as a path


def write_file(path: str, items: list[WriteItem], meta: dict[str, str], fsync: bool) -> None:
    """Write ``items`` to ``path`` in the format of its extension, atomically; each
    tensor's CRC-32 is computed on a second thread while the bytes are written."""
    fmt = format_of(path)
    with ThreadPoolExecutor(max_workers=WORKERS) as background, \
            atomic_write(path, fsync=fsync) as f:
        fmt.write(f, items, meta, background)


def read_values(cf: CheckpointFile, tensor: TensorInfo) -> onp.ndarray:
    """A new array holding one tensor's values."""
    out = onp.empty(tensor.shape, onp.dtype(tensor.dtype))
    read_into(cf, tensor, out)
    return out


def read_into(cf: CheckpointFile, tensor: TensorInfo, out: onp.ndarray) -> None:
    """Fill ``out`` (the tensor's dtype and shape, C-contiguous) with its values."""
    if tensor.nbytes:
        format_of(cf.path).read_into(cf, tensor, out)


def read_stretch(cf: CheckpointFile, tensor: TensorInfo, start: int, out: onp.ndarray) -> None:
    """Fill ``out`` (the tensor's dtype, C-contiguous) with the tensor's elements from
    ``start`` on, in C order: only those bytes where they lie in the file as they are;
    a tensor compressed in a zip member is decompressed whole."""
    if tensor.offset is None:
        out.reshape(-1)[:] = read_values(cf, tensor).reshape(-1)[start:start + out.size]
    elif out.size:
        cf.readinto(tensor.offset + start * out.itemsize, out, 'its data', tensor.name)


def check_checksums(cf: CheckpointFile, tensors: list[TensorInfo]) -> None:
    """Every tensor's bytes against its recorded CRC-32; one error names all that differ."""
    fmt = format_of(cf.path)
    results = parallel_map(lambda t: (t, fmt.stored_crc32(cf, t)), tensors,
                           lambda t: t.crc_length)
    bad = [(t, found) for t, found in results if found != t.crc32]
    if bad:
        listed = ', '.join(f'{t.name!r} (recorded {t.crc32:08x}, found '
                           f'{"unreadable" if found is None else format(found, "08x")})'
                           for t, found in bad)
        raise cf.error(f'{len(bad)} of {len(tensors)} tensors do not match their checksums: '
                       f'{listed}; the file is corrupt: restore it from a copy or save again')
