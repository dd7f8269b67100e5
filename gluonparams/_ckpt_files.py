"""Checkpoint files by path: the format of a path, writing a file, reading tensors'
values, checking checksums."""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as onp

from . import _npz_format, _params_format, _safetensors_format
from ._ckpt_io import WORKERS, CheckpointFile, atomic_write, parallel_map
from ._ckpt_model import TensorInfo, WriteItem
from .errors import CheckpointError

__all__ = ['FORMATS', 'check_checksums', 'format_of', 'read_into', 'read_values', 'write_file']

FORMATS = {'.safetensors': _safetensors_format, '.params': _params_format, '.npz': _npz_format}


def format_of(path: str):
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise CheckpointError(f'{path}: unknown checkpoint format {ext or "(no extension)"!r}; '
                              f'use one of {", ".join(FORMATS)} (.safetensors recommended)')
    return FORMATS[ext]


def write_file(path: str, items: list[WriteItem], meta: dict[str, str], fsync: bool) -> None:
    """Write ``items`` to ``path`` in the format of its extension, atomically; each
    tensor's CRC-32 is computed on a second thread while the bytes are written."""
    fmt = format_of(path)
    with ThreadPoolExecutor(max_workers=WORKERS) as background, \
            atomic_write(path, fsync=fsync) as f:
        fmt.write(f, items, meta, background)


def read_values(cf: CheckpointFile, tensor: TensorInfo) -> onp.ndarray:
    out = onp.empty(tensor.shape, onp.dtype(tensor.dtype))
    read_into(cf, tensor, out)
    return out


def read_into(cf: CheckpointFile, tensor: TensorInfo, out: onp.ndarray) -> None:
    if tensor.nbytes == 0:
        return
    if tensor.offset is not None:
        cf.readinto(tensor.offset, out, 'its data', tensor.name)
    else:
        _npz_format.read_member_into(cf, tensor, out)


def check_checksums(cf: CheckpointFile, tensors: list[TensorInfo]) -> None:
    results = parallel_map(lambda t: (t, _crc_found(cf, t)), tensors, lambda t: t.crc_length)
    bad = [(t, found) for t, found in results if found != t.crc32]
    if bad:
        listed = ', '.join(f'{t.name!r} (recorded {t.crc32:08x}, found '
                           f'{"unreadable" if found is None else format(found, "08x")})'
                           for t, found in bad)
        raise cf.error(f'{len(bad)} of {len(tensors)} tensors do not match their checksums: '
                       f'{listed}; the file is corrupt: restore it from a copy or save again')


def _crc_found(cf: CheckpointFile, tensor: TensorInfo) -> int | None:
    if tensor.offset is not None:
        return cf.crc32(tensor.crc_start, tensor.crc_length, tensor.name)
    return _npz_format.member_crc32(cf, tensor)
