"""MXNet's ``.params`` files: two formats under one extension.

* The legacy NDArray-list binary (``mx.nd.save``, 1.x ``save_parameters``), little
  endian: ``u64 0x112``, ``u64 0``, ``u64 count``, then per array ``u32 magic``
  (``0xF993FAC9``: legacy shapes, ``0xF993FACA``: NumPy shapes), ``i32 storage
  type`` (0 dense), ``i32 ndim``, ``i64`` dims, ``i32 device type``, ``i32 device
  id``, ``i32 dtype flag``, the data; then ``u64 count`` and each name as ``u64
  length`` + UTF-8 bytes.
* The NPZ zip MXNet 2.0's ``save_parameters`` writes (see :mod:`.npz`).

Names are kept as stored, ``arg:``/``aux:`` included (``export`` and ``Module``
files): loading strips them as a matching rule, and says so.

gluonparams writes the legacy binary, which both MXNet 1.9.1 and 2.0 read with
``load_parameters``, and appends a footer (JSON, ``u64`` length, ``GLUONPRM``)
with versions, ties, metadata and each tensor's CRC-32; MXNet ignores bytes after
the names. A tied parameter is stored under every name, as Gluon's default does,
so an untied network's ``load_parameters`` reads the file too. Optimizer state
(``gp.save(..., trainer=)``) goes between the names and the footer, its tensors
described in the footer's ``after_names``: ``load_parameters`` never sees them, so
it still reads the file with its default arguments.
"""

import json
import struct
from concurrent.futures import Executor
from typing import BinaryIO

import numpy as onp

from .._atomic import preallocate
from .._io import CheckpointFile, Later, check_no_overlap, write_all
from .._model import (
    OPTIMIZER_PREFIX,
    CheckpointInfo,
    TensorInfo,
    WriteItem,
    nbytes_of,
    own_versions,
    split_optimizer,
)
from . import npz
# a tensor's values and checksum: npz's reads cover both variants (the legacy binary's
# bytes lie plain at their offset, as a stored zip member's do)
from .npz import read_into as read_into
from .npz import stored_crc32 as stored_crc32

__all__ = ['NAME', 'read_header', 'read_into', 'stored_crc32', 'write']

NAME = 'params'

_LIST_MAGIC = 0x112
_V2, _V3 = 0xF993FAC9, 0xF993FACA   # legacy shape semantics, NumPy shape semantics
_FLAGS = {0: 'float32', 1: 'float64', 2: 'float16', 3: 'uint8', 4: 'int32', 5: 'int8',
          6: 'int64', 7: 'bool', 8: 'int16', 9: 'uint16', 10: 'uint32', 11: 'uint64'}
_FLAG_OF = {v: k for k, v in _FLAGS.items()}
_FOOTER_MAGIC = b'GLUONPRM'
_MAX_NDIM = 32
_FORMAT = 'params (MXNet NDArray binary)'


def read_header(cf: CheckpointFile) -> CheckpointInfo:
    """Either format of ``.params``, told apart by the first bytes."""
    if cf.size < 4:
        raise cf.error(f'{cf.size} bytes is too short for an MXNet .params file: the file is '
                       f'empty or truncated')
    head = cf.read(0, 4, 'the first bytes')
    if head in (b'PK\x03\x04', b'PK\x05\x06'):
        return npz.read_header(cf, fmt='params (MXNet 2.0 NPZ)')
    return _read_legacy(cf)


class _Cursor:
    """Sequential bounded reads through the legacy binary."""

    def __init__(self, cf: CheckpointFile) -> None:
        self.cf, self.at = cf, 0

    def take(self, fmt: str, what: str, tensor=None) -> tuple:
        n = struct.calcsize(fmt)
        raw = self.cf.read(self.at, n, what, tensor)
        self.at += n
        return struct.unpack(fmt, raw)


def _read_legacy(cf: CheckpointFile) -> CheckpointInfo:
    cur = _Cursor(cf)
    if cf.size < 24:
        raise cf.error('too short for an MXNet .params file (24-byte header): the file is '
                       'truncated or not a .params file')
    magic, _reserved, count = cur.take('<QQQ', 'the header')
    if magic != _LIST_MAGIC:
        raise cf.error(f'not an MXNet .params file: it starts with {magic:#x}, not the '
                       f'NDArray list magic {_LIST_MAGIC:#x} nor a zip (MXNet 2.0)')
    if count > (cf.size - 24) // 24:   # each array takes at least 24 bytes
        raise cf.error(f'the header claims {count:,} arrays, more than the file can hold: '
                       f'it is truncated or corrupt')
    arrays = [_read_array(cur, i) for i in range(count)]
    (n_names,) = cur.take('<Q', 'the number of names')
    if n_names != count:
        raise cf.error(f'{count} arrays but {n_names} names: only a file of named arrays '
                       f'(save_parameters, mx.nd.save of a dict) can be loaded')
    names = [_read_name(cur, i) for i in range(count)]
    footer, footer_start = _read_footer(cf, cur.at)
    sums = footer.get('checksums', {})
    tensors = [TensorInfo(name, dtype, shape, nbytes, offset, _crc(cf, name, sums),
                          offset, nbytes)
               for name, (dtype, shape, nbytes, offset) in zip(names, arrays)]
    tensors += _after_names(cf, footer, cur.at, footer_start)
    if len({t.name for t in tensors}) != len(tensors):
        raise cf.error('a name appears twice')
    info = CheckpointInfo(path=cf.path, format=_FORMAT, file_size=cf.size, tensors=tensors,
                          ties=_ties(cf, footer, set(names)),
                          metadata=_strings(cf, footer, 'metadata', {}),
                          gluonparams_version=_strings(cf, footer, 'gluonparams', None),
                          mxnet_version=_strings(cf, footer, 'mxnet', None))
    return split_optimizer(info, cf.error)


def _strings(cf: CheckpointFile, footer: dict, key: str, default):
    """The footer's ``key``: a string, or (``metadata``) an object of strings."""
    value = footer.get(key, default)
    if isinstance(default, dict):
        valid = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        expected = 'an object of strings'
    else:
        valid, expected = value is None or isinstance(value, str), 'a string'
    if not valid:
        raise cf.error(f'the footer\'s {key} is {type(value).__name__}, not {expected}: the '
                       f'file is corrupt')
    return dict(value) if isinstance(value, dict) else value


def _read_array(cur: _Cursor, index: int):
    tensor = f'#{index}'
    magic, stype = cur.take('<Ii', 'an array header', tensor)
    if magic not in (_V2, _V3):
        raise cur.cf.error(f'array magic {magic:#x} is neither {_V2:#x} nor {_V3:#x}: the '
                           f'file is corrupt, or written by MXNet before 1.0', tensor)
    if stype != 0:
        raise cur.cf.error(f'storage type {stype} is sparse; only dense arrays can be loaded '
                           f'into parameters', tensor)
    (ndim,) = cur.take('<i', 'the number of dimensions', tensor)
    if not 0 <= ndim <= _MAX_NDIM or (ndim == 0 and magic == _V2):
        raise cur.cf.error(f'{ndim} dimensions: not an array a parameter can hold', tensor)
    shape = cur.take(f'<{ndim}q', 'the shape', tensor)
    if any(d < 0 for d in shape):
        raise cur.cf.error(f'shape {shape} has a negative dimension', tensor)
    _dev_type, _dev_id, flag = cur.take('<iii', 'the device and dtype', tensor)
    if flag not in _FLAGS:
        known = ', '.join(_FLAGS.values())
        raise cur.cf.error(f'dtype flag {flag} is not one parameters use ({known})',
                           tensor)
    dtype = _FLAGS[flag]
    nbytes = nbytes_of(dtype, shape)
    cur.cf.check_range(cur.at, nbytes, f'shape {shape} of {dtype}', tensor)
    offset = cur.at
    cur.at += nbytes
    return dtype, tuple(shape), nbytes, offset


def _read_name(cur: _Cursor, index: int) -> str:
    (length,) = cur.take('<Q', 'a name length')
    raw = cur.cf.read(cur.at, length, f'name #{index}')
    cur.at += length
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError:
        raise cur.cf.error(f'name #{index} is not UTF-8: the file is corrupt') from None


def _read_footer(cf: CheckpointFile, end: int) -> tuple[dict, int]:
    """gluonparams' footer at the end of the file, if present, and where it starts;
    nothing else may follow the names but the tensors the footer describes."""
    extra = cf.size - end
    if extra == 0:
        return {}, end
    if extra < 16 or cf.read(cf.size - 8, 8, 'the footer') != _FOOTER_MAGIC:
        raise cf.error(f'{extra:,} unexpected bytes after the last name: the file is corrupt')
    (length,) = struct.unpack('<Q', cf.read(cf.size - 16, 8, 'the footer length'))
    if length > extra - 16:
        raise cf.error(f'the footer claims {length:,} bytes but {extra - 16:,} are there: '
                       f'the file is corrupt')
    start = cf.size - 16 - length
    try:
        footer = json.loads(cf.read(start, length, 'the footer').decode('utf-8'))
    except (UnicodeDecodeError, ValueError):
        footer = None
    if not isinstance(footer, dict):
        raise cf.error('the gluonparams footer is not a JSON object: the file is corrupt')
    return footer, start


def _after_names(cf: CheckpointFile, footer: dict, end: int, start: int) -> list[TensorInfo]:
    """The tensors stored between the names (``end``) and the footer (``start``); they
    must fill that span exactly."""
    described = footer.get('after_names', {})
    if not isinstance(described, dict):
        raise cf.error('the footer\'s after_names is not an object: the file is corrupt')
    tensors = [_after_name(cf, name, entry, footer.get('checksums', {}))
               for name, entry in described.items()]
    check_no_overlap(cf, [(t.crc_start, t.crc_start + t.nbytes, t.name) for t in tensors],
                     end, start)
    return tensors


def _after_name(cf: CheckpointFile, name: str, entry, sums) -> TensorInfo:
    try:
        dtype, shape, offset = entry['dtype'], tuple(entry['shape']), entry['offset']
        valid = (dtype in _FLAG_OF and isinstance(offset, int)
                 and all(isinstance(d, int) and d >= 0 for d in shape))
    except (TypeError, KeyError):
        valid = False
    if not valid:
        raise cf.error('its footer entry (dtype, shape, offset) is malformed: the file is '
                       'corrupt', name)
    nbytes = nbytes_of(dtype, shape)
    cf.check_range(offset, nbytes, f'shape {shape} of {dtype}', name)
    return TensorInfo(name, dtype, shape, nbytes, offset, _crc(cf, name, sums), offset, nbytes)


def _crc(cf: CheckpointFile, name: str, sums):
    if not isinstance(sums, dict):
        raise cf.error('the footer\'s checksums are not an object: the file is corrupt')
    if not sums:
        return None
    text = sums.get(name)
    if not isinstance(text, str) or len(text) != 8:
        raise cf.error(f'recorded checksum {text!r} is not 8 hexadecimal digits', name)
    try:
        return int(text, 16)
    except ValueError:
        raise cf.error(f'recorded checksum {text!r} is not hexadecimal', name) from None


def _ties(cf: CheckpointFile, footer: dict, stored: set) -> list[list[str]]:
    ties = footer.get('ties', [])
    if (not isinstance(ties, list)
            or not all(isinstance(g, list) and all(isinstance(n, str) and n in stored for n in g)
                       for g in ties)):
        raise cf.error('the footer\'s tie groups do not name stored arrays: the file is corrupt')
    return ties


def needs_numpy_shapes(items: list[WriteItem]) -> bool:
    """Scalars and zero-size arrays exist only under NumPy shape semantics."""
    return any(len(item.shape) == 0 or 0 in item.shape for item in items)


def write(f: BinaryIO, items: list[WriteItem], meta: dict[str, str],
          background: Executor) -> None:
    """Write every name of every item (a tie's aliases as copies), then the optimizer
    state's tensors, then the footer."""
    hidden = [item for item in items if item.name.startswith(OPTIMIZER_PREFIX)]
    items = [item for item in items if not item.name.startswith(OPTIMIZER_PREFIX)]
    magic = _V3 if needs_numpy_shapes(items) else _V2
    names = [name for item in items for name in (item.name, *item.aliases)]
    listed = 24 + sum((24 + 8 * len(item.shape) + item.nbytes) * (1 + len(item.aliases))
                      for item in items) + 8 + sum(8 + len(n.encode()) for n in names)
    preallocate(f, listed + sum(item.nbytes for item in hidden))
    write_all(f, _pack('<QQQ', _LIST_MAGIC, 0, len(names)))
    futures = {}
    for item in items:
        head = _pack(f'<Iii{len(item.shape)}qiii', magic, 0, len(item.shape), *item.shape,
                     1, 0, _FLAG_OF[item.dtype.name])
        values = item.values()
        futures[item.name] = Later(background, values)
        for _ in (item.name, *item.aliases):
            write_all(f, head)
            write_all(f, values)
    write_all(f, _pack('<Q', len(names)))
    for name in names:
        raw = name.encode('utf-8')
        write_all(f, _pack(f'<Q{len(raw)}s', len(raw), raw))
    after_names = {}
    for item in hidden:
        after_names[item.name] = {'dtype': item.dtype.name, 'shape': list(item.shape),
                                  'offset': listed}
        listed += item.nbytes
        values = item.values()
        futures[item.name] = Later(background, values)
        write_all(f, values)
    sums = {name: f'{futures[item.name].result():08x}'
            for item in items + hidden for name in (item.name, *item.aliases)}
    gluonparams, mxnet = own_versions()
    footer = {'gluonparams': gluonparams, 'mxnet': mxnet, 'checksums': sums,
              'ties': [[item.name, *item.aliases] for item in items if item.aliases],
              'metadata': meta}
    if after_names:
        footer['after_names'] = after_names
    raw = json.dumps(footer, separators=(',', ':')).encode('utf-8')
    write_all(f, onp.frombuffer(raw + struct.pack('<Q', len(raw)) + _FOOTER_MAGIC, onp.uint8))


def _pack(fmt: str, *values) -> onp.ndarray:
    return onp.frombuffer(struct.pack(fmt, *values), onp.uint8)
