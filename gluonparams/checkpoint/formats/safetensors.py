"""The safetensors format, read and written here with bounds checks.

Layout: an 8-byte little-endian header length N, N bytes of JSON, then the
tensors' bytes. The JSON maps each tensor name to ``dtype``, ``shape`` and
``data_offsets`` (relative to the data section, which they must tile exactly);
``__metadata__`` maps strings to strings. gluonparams adds its own keys there
(``gluonparams.*``): versions, tie groups, and each tensor's CRC-32, so any
safetensors reader still reads the file.
"""

import json
import struct
from concurrent.futures import Executor
from typing import Any, BinaryIO

import numpy as onp

from ...errors import CheckpointError
from .._atomic import preallocate
from .._io import CheckpointFile, Later, check_no_overlap, write_all
from .._model import (
    CheckpointInfo,
    TensorInfo,
    WriteItem,
    nbytes_of,
    own_versions,
    split_optimizer,
)
from ._contract import read_stored_into as read_into
from ._contract import stored_bytes_crc32 as stored_crc32

__all__ = ['KEYS', 'NAME', 'read_header', 'read_into', 'stored_crc32', 'write']

NAME = 'safetensors'

_CODES = {'BOOL': 'bool', 'U8': 'uint8', 'I8': 'int8', 'I16': 'int16', 'U16': 'uint16',
          'I32': 'int32', 'U32': 'uint32', 'I64': 'int64', 'U64': 'uint64',
          'F16': 'float16', 'F32': 'float32', 'F64': 'float64'}
_NAMES = {v: k for k, v in _CODES.items()}

# gluonparams' own keys in __metadata__
KEYS = {'version': 'gluonparams.version', 'mxnet': 'gluonparams.mxnet_version',
        'ties': 'gluonparams.ties', 'checksums': 'gluonparams.checksums'}
_PLACEHOLDER = '00000000'


def read_header(cf: CheckpointFile) -> CheckpointInfo:
    """Parse and check the header; read no tensor data."""
    if cf.size < 8:
        raise cf.error(f'{cf.size} bytes is too short for a safetensors file (it starts '
                       f'with an 8-byte header length): the file is empty or truncated')
    (length,) = struct.unpack('<Q', cf.read(0, 8, 'the header length'))
    if length > cf.size - 8:
        raise cf.error(f'the header claims {length:,} bytes but the file has only '
                       f'{cf.size - 8:,} after the length field: the file is truncated or '
                       f'not a safetensors file')
    header = _parse_json(cf, cf.read(8, length, 'the header'))
    meta = header.pop('__metadata__', None) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                             for k, v in meta.items()):
        raise cf.error('__metadata__ must map strings to strings')
    start = 8 + length
    tensors = [_tensor(cf, name, entry, start) for name, entry in header.items()]
    check_no_overlap(cf, [(t.offset - start, t.offset - start + t.nbytes, t.name)
                          for t in tensors], 0, cf.size - start)
    ties = _ties(cf, meta, {t.name for t in tensors})
    tensors = _with_checksums_and_aliases(cf, tensors, meta, ties)
    return split_optimizer(CheckpointInfo(
        path=cf.path, format=NAME, file_size=cf.size, tensors=tensors, ties=ties,
        metadata={k: v for k, v in meta.items() if k not in KEYS.values()},
        gluonparams_version=meta.get(KEYS['version']), mxnet_version=meta.get(KEYS['mxnet'])),
        cf.error)


def _parse_json(cf: CheckpointFile, raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError) as e:
        raise cf.error(f'the header is not valid JSON ({e}): the file is corrupt or not a '
                       f'safetensors file') from None
    if not isinstance(header, dict):
        raise cf.error('the header is not a JSON object: not a safetensors file')
    return header


def _tensor(cf: CheckpointFile, name: str, entry: Any, start: int) -> TensorInfo:
    if not isinstance(entry, dict):
        raise cf.error('its header entry is not an object', name)
    code, shape, offsets = entry.get('dtype'), entry.get('shape'), entry.get('data_offsets')
    if code not in _CODES:
        raise cf.error(f'dtype {code!r} is not one MXNet parameters can hold; supported: '
                       f'{", ".join(_CODES)}', name)
    if (not isinstance(shape, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                       for d in shape)):
        raise cf.error(f'shape {shape!r} is not a list of non-negative integers', name)
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]):
        raise cf.error(f'data_offsets {offsets!r} is not a pair [begin, end] with '
                       f'0 <= begin <= end', name)
    dtype = _CODES[code]
    nbytes = nbytes_of(dtype, shape)
    if offsets[1] - offsets[0] != nbytes:
        raise cf.error(f'shape {tuple(shape)} of {dtype} needs {nbytes:,} bytes but its '
                       f'data_offsets span {offsets[1] - offsets[0]:,}: the header is wrong',
                       name)
    cf.check_range(start + offsets[0], nbytes, 'its data', name)
    return TensorInfo(name=name, dtype=dtype, shape=tuple(shape), nbytes=nbytes,
                      offset=start + offsets[0], crc_start=start + offsets[0],
                      crc_length=nbytes)


def _ties(cf: CheckpointFile, meta: dict[str, str], stored: set) -> list[list[str]]:
    raw = meta.get(KEYS['ties'])
    if raw is None:
        return []
    try:
        ties = json.loads(raw)
    except ValueError:
        ties = None
    if (not isinstance(ties, list)
            or not all(isinstance(g, list) and len(g) > 1 and all(isinstance(n, str) for n in g)
                       for g in ties)):
        raise cf.error(f'{KEYS["ties"]} in __metadata__ is not a list of name lists')
    seen = set()
    for group in ties:
        if group[0] not in stored:
            raise cf.error(f'tie group {group} names {group[0]!r} first, which the file does '
                           f'not store')
        for alias in group[1:]:
            if alias in stored or alias in seen:
                raise cf.error(f'tie group {group}: {alias!r} is stored or tied twice')
            seen.add(alias)
    return ties


def _with_checksums_and_aliases(cf, tensors, meta, ties) -> list[TensorInfo]:
    raw = meta.get(KEYS['checksums'])
    sums: Any = {}
    if raw is not None:
        try:
            sums = json.loads(raw)
        except ValueError:
            sums = None
        if not isinstance(sums, dict):
            raise cf.error(f'{KEYS["checksums"]} in __metadata__ is not a JSON object')
    aliases = {group[0]: tuple(group[1:]) for group in ties}
    out = []
    for t in tensors:
        value = sums.get(t.name)
        if value is None and raw is not None:
            raise cf.error('the file records checksums but none for this tensor', t.name)
        out.append(TensorInfo(t.name, t.dtype, t.shape, t.nbytes, t.offset,
                              _crc_value(cf, t.name, value), t.crc_start, t.crc_length,
                              aliases.get(t.name, ())))
    return out


def _crc_value(cf, name, text):
    if text is None:
        return None
    try:
        if len(text) != 8:
            raise ValueError
        return int(text, 16)
    except (TypeError, ValueError):
        raise cf.error(f'recorded checksum {text!r} is not 8 hexadecimal digits',
                       name) from None


def write(f: BinaryIO, items: list[WriteItem], meta: dict[str, str],
          background: Executor) -> None:
    """Write ``items`` (each stored once, its aliases recorded as a tie) and ``meta``.

    The header goes first with placeholder checksums; the data follow while
    ``background`` (an executor) computes each CRC-32; then the header is written
    again, same length, with the real checksums.
    """
    order = sorted(range(len(items)), key=lambda i: -items[i].dtype.itemsize)  # aligned data
    offsets: dict[int, tuple[int, int]] = {}
    at = 0
    for i in order:
        offsets[i] = (at, at + items[i].nbytes)
        at += items[i].nbytes
    ties = [[item.name, *item.aliases] for item in items if item.aliases]
    draft = _header(items, offsets, meta, ties, {item.name: _PLACEHOLDER for item in items})
    preallocate(f, len(draft) + at)
    write_all(f, onp.frombuffer(draft, onp.uint8))
    futures = {}
    for i in order:
        values = items[i].values()
        futures[items[i].name] = Later(background, values)
        write_all(f, values)
    sums = {name: f'{future.result():08x}' for name, future in futures.items()}
    final = _header(items, offsets, meta, ties, sums)
    if len(final) != len(draft):  # pragma: no cover - fixed-width checksums
        raise CheckpointError('internal error: the header changed length')
    f.seek(0)
    write_all(f, onp.frombuffer(final, onp.uint8))


def _header(items, offsets, meta, ties, sums) -> bytes:
    metadata = dict(meta)
    metadata[KEYS['version']], metadata[KEYS['mxnet']] = own_versions()
    metadata[KEYS['checksums']] = json.dumps(sums, separators=(',', ':'))
    if ties:
        metadata[KEYS['ties']] = json.dumps(ties, separators=(',', ':'))
    header: dict[str, Any] = {'__metadata__': metadata}
    for i, item in enumerate(items):   # definition order; the data are in size order
        header[item.name] = {'dtype': _NAMES[item.dtype.name], 'shape': list(item.shape),
                             'data_offsets': list(offsets[i])}
    raw = json.dumps(header, separators=(',', ':')).encode('utf-8')
    raw += b' ' * (-(8 + len(raw)) % 8)  # the data start 8-byte aligned
    return struct.pack('<Q', len(raw)) + raw
