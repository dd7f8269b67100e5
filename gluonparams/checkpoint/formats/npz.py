"""NumPy's ``.npz`` (a zip of ``.npy`` members), also MXNet 2.0's ``.params``.

Reading uses ``zipfile`` for the directory and parses each member's ``.npy``
header here, with bounds checks. Stored (uncompressed) members, which ``np.savez``
and MXNet write, are read in place; compressed ones (``np.savez_compressed``)
through ``zipfile``; a compressed member may claim no more than deflate's maximum
ratio (1032:1) of its compressed size. The zip's own CRC-32 of each member is the
checksum.

gluonparams writes stored members; a tied tensor once, its other names in the
member's comment; versions and metadata as JSON in the archive's comment.
NumPy ignores both comments.
"""

import ast
import io
import json
import struct
import zipfile
import zlib
from concurrent.futures import Executor
from typing import Any, BinaryIO

import numpy as onp

from ...errors import CheckpointError
from .._io import CHUNK, CheckpointFile, write_all
from .._model import (
    CheckpointInfo,
    TensorInfo,
    WriteItem,
    check_dtype,
    nbytes_of,
    own_versions,
    split_optimizer,
)
from ._contract import read_stored_into, stored_bytes_crc32

__all__ = ['NAME', 'read_header', 'read_into', 'stored_crc32', 'write']

NAME = 'npz'

_NPY_MAGIC = b'\x93NUMPY'
_MAX_NPY_HEADER = 1 << 20
_MAX_DEFLATE_RATIO = 1032   # deflate's limit: a member cannot claim more than this
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError,
               struct.error, NotImplementedError, RuntimeError, OverflowError, zlib.error)


def read_header(cf: CheckpointFile, fmt: str = NAME) -> CheckpointInfo:
    """The members' names, shapes and dtypes; reads each ``.npy`` header only."""
    with cf.stream() as stream:
        try:
            archive = zipfile.ZipFile(stream)
            members = archive.infolist()
            comment = archive.comment
        except _ZIP_ERRORS as e:
            raise cf.error(f'not a readable zip archive ({e}): the file is truncated or '
                           f'corrupt') from None
        tensors = [_member(cf, archive, m) for m in members]
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise cf.error('an array name appears twice in the archive')
    meta = _archive_meta(comment)
    ties = [[t.name, *t.aliases] for t in tensors if t.aliases]
    return split_optimizer(
        CheckpointInfo(path=cf.path, format=fmt, file_size=cf.size, tensors=tensors, ties=ties,
                       metadata=dict(meta.get('metadata', {})),
                       gluonparams_version=meta.get('gluonparams'),
                       mxnet_version=meta.get('mxnet')),
        cf.error)


def _archive_meta(comment: bytes) -> dict[str, Any]:
    """gluonparams' JSON in the archive comment; any other comment is not ours."""
    try:
        meta = json.loads(comment.decode('utf-8')) if comment else {}
    except (UnicodeDecodeError, ValueError):
        return {}
    if not isinstance(meta, dict) or 'gluonparams' not in meta:
        return {}
    metadata = meta.get('metadata', {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        return {}
    if not all(isinstance(meta.get(k), (str, type(None))) for k in ('gluonparams', 'mxnet')):
        return {}
    return meta


def _member(cf: CheckpointFile, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> TensorInfo:
    if not info.filename.endswith('.npy'):
        raise cf.error(f'archive member {info.filename!r} is not a .npy array')
    name = info.filename[:-4]
    aliases = _aliases(cf, name, info.comment)
    if info.compress_type == zipfile.ZIP_STORED:
        start = _data_start(cf, name, info)
        cf.check_range(start, info.file_size, 'its zip member', name)
        dtype, shape, header_length = _npy_header(
            cf, name, info.file_size,
            lambda at, n: cf.read(start + at, n, 'its .npy header', name))
        offset: int | None = start + header_length
        member = None
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        cf.check_range(_data_start(cf, name, info), info.compress_size,
                       'its compressed zip member', name)   # before zipfile reads it
        if info.file_size > _MAX_DEFLATE_RATIO * max(info.compress_size, 1):
            raise cf.error(f'its zip member claims {info.file_size:,} bytes from '
                           f'{info.compress_size:,} compressed, more than deflate can give: '
                           f'the archive is corrupt', name)
        try:
            with archive.open(info) as stream:
                dtype, shape, header_length = _npy_header(cf, name, info.file_size,
                                                          _sequential(stream))
        except _ZIP_ERRORS as e:
            raise cf.error(f'cannot read its zip member ({e})', name) from None
        start, offset, member = 0, None, info.filename
    else:
        raise cf.error(f'zip compression method {info.compress_type} is not supported; '
                       f'numpy writes stored or deflated members', name)
    nbytes = nbytes_of(dtype, shape)
    if nbytes != info.file_size - header_length:
        raise cf.error(f'shape {shape} of {dtype.name} needs {nbytes:,} bytes but its zip '
                       f'member holds {info.file_size - header_length:,}', name)
    return TensorInfo(name=name, dtype=dtype.name, shape=shape, nbytes=nbytes, offset=offset,
                      crc32=info.CRC, crc_start=start, crc_length=info.file_size,
                      aliases=aliases, member=member)


def _sequential(stream):
    """``read(at, n)`` over a stream read front to back (a zip member), buffered."""
    buffer = bytearray()

    def read(at: int, n: int) -> bytes:
        while len(buffer) < at + n:
            chunk = stream.read(at + n - len(buffer))
            if not chunk:
                break
            buffer.extend(chunk)
        return bytes(buffer[at:at + n])

    return read


def _aliases(cf: CheckpointFile, name: str, comment: bytes) -> tuple[str, ...]:
    if not comment:
        return ()
    try:
        aliases = json.loads(comment.decode('utf-8')).get('aliases', [])
    except (UnicodeDecodeError, ValueError, AttributeError):
        return ()
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise cf.error('the names tied to it (member comment) are not a list of strings', name)
    return tuple(aliases)


def _data_start(cf: CheckpointFile, name: str, info: zipfile.ZipInfo) -> int:
    """Where a stored member's bytes begin: after its local header (30 bytes + name +
    extra field, whose lengths may differ from the central directory's)."""
    local = cf.read(info.header_offset, 30, 'its zip local header', name)
    if local[:4] != b'PK\x03\x04':
        raise cf.error('its zip local header is missing: the archive is corrupt', name)
    name_length, extra_length = struct.unpack('<HH', local[26:30])
    return info.header_offset + 30 + name_length + extra_length


def _npy_header(cf: CheckpointFile, name: str, size: int,
                read) -> tuple[onp.dtype, tuple[int, ...], int]:
    """dtype, shape and header length of a ``.npy`` of ``size`` bytes; ``read(at, n)``
    gives its bytes."""
    if size < 10 or read(0, 6) != _NPY_MAGIC:
        raise cf.error('its member does not start with the .npy magic: the file is corrupt',
                       name)
    major = read(6, 1)[0]
    if major == 1:
        (length,), start = struct.unpack('<H', read(8, 2)), 10
    elif major in (2, 3) and size >= 12:
        (length,), start = struct.unpack('<I', read(8, 4)), 12
    else:
        raise cf.error(f'.npy format version {major} is not one numpy writes', name)
    if start + length > min(size, _MAX_NPY_HEADER):
        raise cf.error(f'its .npy header claims {length:,} bytes, more than its member holds',
                       name)
    try:
        text = read(start, length).decode('utf-8' if major == 3 else 'latin1')
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError):
        raise cf.error('its .npy header is not a Python literal: the file is corrupt',
                       name) from None
    dtype, shape = _check_npy_fields(cf, name, header)
    return dtype, shape, start + length


def _check_npy_fields(cf, name, header) -> tuple[onp.dtype, tuple[int, ...]]:
    if not isinstance(header, dict) or not {'descr', 'fortran_order', 'shape'} <= set(header):
        raise cf.error('its .npy header lacks descr, fortran_order or shape', name)
    descr, shape = header['descr'], header['shape']
    dtype = check_dtype(descr) if isinstance(descr, str) else None
    if dtype is None:
        raise cf.error(f'dtype {descr!r} is not one MXNet parameters use', name)
    if dtype.byteorder == '>':
        raise cf.error(f'dtype {descr!r} is big-endian; save it little-endian', name)
    if (not isinstance(shape, tuple)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise cf.error(f'shape {shape!r} is not a tuple of non-negative integers', name)
    if header['fortran_order'] and sum(d > 1 for d in shape) > 1:
        raise cf.error('the array is in Fortran order; save it C-contiguous', name)
    return dtype.newbyteorder('<') if dtype.byteorder == '=' else dtype, shape


def _open_member(stream, tensor: TensorInfo) -> Any:
    """The decompressing reader of a compressed member (``zipfile.ZipExtFile``)."""
    return zipfile.ZipFile(stream).open(str(tensor.member))


def read_into(cf: CheckpointFile, tensor: TensorInfo, out: onp.ndarray) -> None:
    """A stored member's bytes in place; a compressed one decompressed into ``out``
    (zipfile checks its CRC-32)."""
    if tensor.offset is not None:
        read_stored_into(cf, tensor, out)
        return
    view = out.reshape(-1).view(onp.uint8).data
    header_length = tensor.crc_length - tensor.nbytes
    with cf.stream() as stream:
        try:
            with _open_member(stream, tensor) as member:
                header = member.read(header_length)
                got = member.readinto(view)
                if got != tensor.nbytes or member.read(1) or len(header) != header_length:
                    raise cf.error('its zip member is shorter or longer than its header says',
                                   tensor.name)
        except _ZIP_ERRORS as e:
            raise cf.error(f'its data cannot be read ({e}): the file is corrupt',
                           tensor.name) from None


def stored_crc32(cf: CheckpointFile, tensor: TensorInfo) -> int | None:
    """CRC-32 of a member's bytes (a compressed one decompressed in chunks); ``None``
    when it cannot be decompressed."""
    if tensor.offset is not None:
        return stored_bytes_crc32(cf, tensor)
    value = 0
    with cf.stream() as stream:
        try:
            with _open_member(stream, tensor) as member:
                member._expected_crc = None   # compared by the caller, with every other tensor
                while True:
                    chunk = member.read(CHUNK)
                    if not chunk:
                        return value
                    value = zlib.crc32(chunk, value)
        except _ZIP_ERRORS:
            return None


def write(f: BinaryIO, items: list[WriteItem], meta: dict[str, str],
          background: Executor) -> None:
    """One stored ``<name>.npy`` member per item (zip computes the CRC-32 itself)."""
    del background
    gluonparams, mxnet = own_versions()
    comment = json.dumps({'gluonparams': gluonparams, 'mxnet': mxnet, 'metadata': meta},
                         separators=(',', ':')).encode('utf-8')
    if len(comment) > 0xFFFF:
        raise CheckpointError(f'the metadata take {len(comment):,} bytes, more than a zip '
                              f'comment holds (65,535); save to .safetensors instead')
    with zipfile.ZipFile(_WritesFully(f), 'w', zipfile.ZIP_STORED, allowZip64=True) as archive:
        for item in items:
            member = zipfile.ZipInfo(item.name + '.npy', date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_STORED
            if item.aliases:
                member.comment = json.dumps({'aliases': list(item.aliases)}).encode('utf-8')
            header = _npy_header_bytes(item)
            with archive.open(member, 'w', force_zip64=item.nbytes + len(header) >= 1 << 31) as out:
                out.write(header)
                write_all(out, item.values())
        archive.comment = comment


class _WritesFully:
    """The file as zipfile needs it: zipfile ignores what ``write`` returns, so a short
    write (a disk filling up, a signal) would silently drop bytes; here every write
    writes everything or raises."""

    def __init__(self, f) -> None:
        self._f = f

    def write(self, data) -> int:
        view = memoryview(data).cast('B')
        write_all(self._f, onp.frombuffer(view, onp.uint8))
        return len(view)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def _npy_header_bytes(item: WriteItem) -> bytes:
    buffer = io.BytesIO()
    onp.lib.format.write_array_header_1_0(
        buffer, {'descr': onp.lib.format.dtype_to_descr(item.dtype), 'fortran_order': False,
                 'shape': tuple(item.shape)})
    return buffer.getvalue()
