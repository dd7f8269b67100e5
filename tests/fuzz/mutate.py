"""A deterministic mutator for checkpoint files: bytes, and the fields of each format.

``mutate(data, rng, others)`` applies one to three edits drawn from ``rng`` (a
``random.Random``): bit flips, interesting bytes and integers, truncations,
extensions, deleted, repeated or inserted ranges, splices with another file, and
edits that know the formats: the safetensors header (its length, each tensor's
dtype, shape and offsets, the metadata gluonparams records), the fields of MXNet's
legacy ``.params`` binary and its footer, and the zip records and ``.npy`` headers
of ``.npz`` and MXNet 2.0's ``.params``. Half the time the checksums are then made
to match again, so the edit reaches the code behind the checksum checks.
"""

import json
import random
import re
import struct
import zlib
from collections.abc import Callable

INTERESTING = [0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 255, 256, 0x7FFF, 0x8000,
               0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, 1 << 40,
               (1 << 63) - 1, 1 << 63, (1 << 64) - 1]
DTYPE_CODES = ['BOOL', 'U8', 'I8', 'I16', 'U16', 'I32', 'U32', 'I64', 'U64', 'F16', 'F32',
               'F64', 'BF16', 'F8_E4M3', 'C64', 'X', '']
NPY_DESCRS = ["'<f4'", "'<f8'", "'<f2'", "'|u1'", "'|i1'", "'<i8'", "'|b1'", "'>f4'", "'<c8'",
              "'O'", "'<U3'", "'V8'", "[('a', '<f4')]", "'<M8[s]'", "','", "'(,)f4'", "'1f4'"]
LEGACY_MAGIC = 0x112
ZIP_FIELDS = {  # signature -> (offset, width) of each field worth editing
    b'PK\x03\x04': [(4, 2), (6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)],
    b'PK\x01\x02': [(8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2),
                    (34, 2), (42, 4)],
    b'PK\x05\x06': [(4, 2), (8, 2), (10, 2), (12, 4), (16, 4), (20, 2)],
    b'PK\x06\x06': [(4, 8), (24, 8), (32, 8), (40, 8), (48, 8)],
    b'PK\x06\x07': [(8, 8), (16, 4)],
}


def interesting(rng: random.Random, size: int) -> int:
    """An integer likely to break a parser: limits, powers of two, the file's size."""
    value = rng.choice(INTERESTING + [size, size - 1, size + 1, size // 2])
    return value if rng.random() < 0.8 else -value


def put_int(out: bytearray, at: int, width: int, value: int) -> None:
    """Write ``value`` little endian over ``width`` bytes at ``at`` (wrapped to fit)."""
    if 0 <= at and at + width <= len(out):
        out[at:at + width] = (value % (1 << (8 * width))).to_bytes(width, 'little')


# --- plain byte edits ------------------------------------------------------------------

def flip_bits(out: bytearray, rng: random.Random, _) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        if out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return out


def set_bytes(out: bytearray, rng: random.Random, _) -> bytearray:
    for _ in range(rng.randint(1, 4)):
        if out:
            out[rng.randrange(len(out))] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, 0x20, 0x22, 0x7B])
    return out


def overwrite_int(out: bytearray, rng: random.Random, _) -> bytearray:
    width = rng.choice([1, 2, 4, 8])
    if len(out) >= width:
        at = rng.randrange(len(out) - width + 1)
        put_int(out, at - at % width if rng.random() < 0.5 else at, width,
                interesting(rng, len(out)))
    return out


def truncate(out: bytearray, rng: random.Random, _) -> bytearray:
    return out[:rng.randrange(len(out) + 1)]


def extend(out: bytearray, rng: random.Random, _) -> bytearray:
    tail = rng.choice([bytes(rng.randint(1, 64)), rng.randbytes(rng.randint(1, 64)),
                       b'PK\x05\x06' + bytes(18), b'GLUONPRM'])
    return out + tail


def delete_range(out: bytearray, rng: random.Random, _) -> bytearray:
    if out:
        at = rng.randrange(len(out))
        del out[at:at + rng.randint(1, 32)]
    return out


def repeat_range(out: bytearray, rng: random.Random, _) -> bytearray:
    if out:
        at = rng.randrange(len(out))
        piece = out[at:at + rng.randint(1, 64)]
        where = rng.randrange(len(out) + 1)
        out[where:where] = piece
    return out


def insert_bytes(out: bytearray, rng: random.Random, _) -> bytearray:
    where = rng.randrange(len(out) + 1)
    out[where:where] = rng.randbytes(rng.randint(1, 16))
    return out


def splice(out: bytearray, rng: random.Random, others: list[bytes]) -> bytearray:
    """The head of this file, the tail of another."""
    if not others:
        return out
    other = rng.choice(others)
    return out[:rng.randrange(len(out) + 1)] + other[rng.randrange(len(other) + 1):]


# --- format-aware edits -----------------------------------------------------------------

def safetensors_header(out: bytes) -> tuple[int, dict] | None:
    """``(length, header)`` when the first bytes hold a JSON object header, else None."""
    if len(out) < 8:
        return None
    (length,) = struct.unpack('<Q', out[:8])
    try:
        header = json.loads(out[8:8 + length].decode('utf-8'))
    except (UnicodeDecodeError, ValueError):
        return None
    return (length, header) if isinstance(header, dict) else None


def edit_safetensors(out: bytearray, rng: random.Random, _) -> bytearray:
    parsed = safetensors_header(bytes(out))
    if parsed is None:
        return overwrite_int(out, rng, _)
    length, header = parsed
    tensors = [k for k, v in header.items() if k != '__metadata__' and isinstance(v, dict)]
    edit = rng.randrange(7)
    if edit == 0 or not tensors:
        put_int(out, 0, 8, interesting(rng, len(out)))
        return out
    name = rng.choice(tensors)
    entry = header[name]
    if edit == 1:
        entry['dtype'] = rng.choice(DTYPE_CODES)
    elif edit == 2:
        entry['shape'] = _edit_list(entry.get('shape'), rng, len(out))
    elif edit == 3:
        entry['data_offsets'] = _edit_list(entry.get('data_offsets'), rng, len(out))
    elif edit == 4:
        header[rng.choice([name + '.x', 'a' * rng.randint(0, 300), ''])] = dict(entry)
        if rng.random() < 0.5:
            del header[name]
    else:
        header['__metadata__'] = edit_metadata(header.get('__metadata__'), rng,
                                               [*tensors, 'ghost'])
    raw = json.dumps(header).encode('utf-8')
    if rng.random() < 0.7:   # keep the data where the header says it starts
        raw = raw.ljust(length) if len(raw) <= length else raw
    return bytearray(struct.pack('<Q', len(raw)) + raw + out[8 + length:])


def _edit_list(values, rng: random.Random, size: int):
    values = list(values) if isinstance(values, list) else []
    edit = rng.randrange(4)
    if edit == 0 and values:
        values[rng.randrange(len(values))] = interesting(rng, size)
    elif edit == 1:
        values.append(rng.choice([0, 1, 2, size]))
    elif edit == 2 and values:
        values.pop(rng.randrange(len(values)))
    else:
        values = rng.choice([[], [1.5], ['1'], [True], None, {}, [[1]], -1])
    return values


def odd_values(rng: random.Random, names: list[str]):
    """A value for one of gluonparams' records: checksums, ties, or something else."""
    return rng.choice([
        {n: rng.choice(['00000000', 'zzzzzzzz', '0', 7, None]) for n in names},
        [rng.sample(names, min(len(names), rng.randint(0, 3))) for _ in range(rng.randint(0, 2))],
        [[names[0], names[0]]], None, [], {}, 'x', 7, {'k': 1}])


def edit_metadata(meta, rng: random.Random, names: list[str]):
    """gluonparams' records in safetensors metadata (JSON text), or the metadata itself."""
    meta = dict(meta) if isinstance(meta, dict) else {}
    key = rng.choice(['gluonparams.checksums', 'gluonparams.ties', 'gluonparams.version',
                      'user', None])
    if key is None:
        return rng.choice([None, [], 'x', {'k': 1}, {'k': None}])
    meta[key] = rng.choice([json.dumps(odd_values(rng, names)), '{', 'x' * rng.randint(0, 99)])
    return meta


def legacy_fields(data: bytes) -> list[tuple[int, int]]:
    """``(offset, width)`` of each field of MXNet's legacy ``.params`` binary, found the
    way a reader walks it; stops where the file stops making sense."""
    fields = [(0, 8), (8, 8), (16, 8)]
    if len(data) < 24 or struct.unpack('<Q', data[:8])[0] != LEGACY_MAGIC:
        return fields
    count = struct.unpack('<Q', data[16:24])[0]
    at = 24
    sizes = {0: 4, 1: 8, 2: 2, 3: 1, 4: 4, 5: 1, 6: 8, 7: 1, 8: 2, 9: 2, 10: 4, 11: 8}
    for _ in range(min(count, 64)):
        if at + 12 > len(data):
            return fields
        ndim = struct.unpack('<i', data[at + 8:at + 12])[0]
        if not 0 <= ndim <= 32 or at + 24 + 8 * ndim > len(data):
            return fields
        dims = struct.unpack(f'<{ndim}q', data[at + 12:at + 12 + 8 * ndim])
        fields += [(at, 4), (at + 4, 4), (at + 8, 4)] + [(at + 12 + 8 * i, 8) for i in range(ndim)]
        at += 12 + 8 * ndim
        flag = struct.unpack('<i', data[at + 8:at + 12])[0]
        fields += [(at, 4), (at + 4, 4), (at + 8, 4)]
        nbytes = sizes.get(flag, 4)
        for d in dims:
            nbytes *= max(d, 0)
        at += 12 + nbytes
    fields.append((at, 8))
    at += 8
    while at + 8 <= len(data):
        (length,) = struct.unpack('<Q', data[at:at + 8])
        fields.append((at, 8))
        if length > len(data):
            break
        at += 8 + length
    if len(data) >= 16:
        fields.append((len(data) - 16, 8))
    return fields


def edit_legacy(out: bytearray, rng: random.Random, _) -> bytearray:
    if out.endswith(b'GLUONPRM') and rng.random() < 0.4:
        return edit_footer(out, rng)
    at, width = rng.choice(legacy_fields(bytes(out)))
    put_int(out, at, width, interesting(rng, len(out)))
    return out


def footer_span(data: bytes) -> tuple[int, int] | None:
    """Where gluonparams' JSON footer of a legacy ``.params`` file lies."""
    if len(data) < 16 or not data.endswith(b'GLUONPRM'):
        return None
    (length,) = struct.unpack('<Q', data[-16:-8])
    start = len(data) - 16 - length
    return (start, len(data) - 16) if start >= 0 else None


def edit_footer(out: bytearray, rng: random.Random) -> bytearray:
    """Edit one record of gluonparams' JSON footer; the length field follows."""
    span = footer_span(bytes(out))
    if span is None:
        return out
    try:
        footer = json.loads(out[span[0]:span[1]])
    except ValueError:
        return out
    if not isinstance(footer, dict):
        return out
    sums = footer.get('checksums')
    names = list(sums) if isinstance(sums, dict) and sums else ['w']
    footer[rng.choice(['checksums', 'ties', 'metadata', 'gluonparams'])] = odd_values(rng, names)
    raw = json.dumps(footer).encode('utf-8')
    return out[:span[0]] + raw + struct.pack('<Q', len(raw)) + b'GLUONPRM'


def zip_fields(data: bytes) -> list[tuple[int, int]]:
    """``(offset, width)`` of the fields of every zip record found in ``data``."""
    fields = []
    for signature, spots in ZIP_FIELDS.items():
        for found in re.finditer(re.escape(signature), data):
            fields += [(found.start() + at, width) for at, width in spots]
    return fields


def edit_zip(out: bytearray, rng: random.Random, _) -> bytearray:
    headers = [m.start() for m in re.finditer(rb'\x93NUMPY', bytes(out))]
    if headers and rng.random() < 0.4:
        return edit_npy_header(out, rng.choice(headers), rng)
    fields = zip_fields(bytes(out))
    if not fields:
        return overwrite_int(out, rng, _)
    at, width = rng.choice(fields)
    value = rng.choice([interesting(rng, len(out)), 0, 8, 99, 12])   # 0 stored, 8 deflated
    put_int(out, at, width, value)
    return out


def edit_npy_header(out: bytearray, at: int, rng: random.Random) -> bytearray:
    """Edit the dict of the ``.npy`` header at ``at``; keep its length most of the time."""
    if at + 10 > len(out):
        return out
    length = struct.unpack('<H', out[at + 8:at + 10])[0]
    text = bytes(out[at + 10:at + 10 + length]).decode('latin1')
    edit = rng.randrange(5)
    if edit == 0:
        text = re.sub(r"'shape': \([^)]*\)",
                      f"'shape': {rng.choice(['()', '(0,)', '(-1,)', '(1, 2, 3, 4)'])}"
                      if rng.random() < 0.5 else
                      f"'shape': ({interesting(rng, len(out))},)", text)
    elif edit == 1:
        text = re.sub(r"'descr': '[^']*'", f"'descr': {rng.choice(NPY_DESCRS)}", text)
    elif edit == 2:
        text = text.replace('False', 'True')
    elif edit == 3:
        text = rng.choice(["{'descr': '<f4'}", '[1, 2]', '{', "{'a': __import__('os')}",
                           '(' * 200])
    else:
        put_int(out, at + 6, 1, rng.choice([0, 2, 3, 4, 255]))
        return out
    raw = text.encode('latin1', 'replace')
    if rng.random() < 0.8:
        raw = raw.ljust(length)[:length] if len(raw) <= length else raw
    out[at + 10:at + 10 + length] = raw
    struct.pack_into('<H', out, at + 8, len(raw) % (1 << 16))
    return out


# --- making checksums match again -------------------------------------------------------

def fix_checksums(data: bytes) -> bytes:
    """Recompute the checksums a file records for what it now holds (safetensors and
    legacy ``.params`` by gluonparams, zip members), where the structure still parses."""
    if data[:4] == b'PK\x03\x04':
        return _fix_zip_crcs(data)
    parsed = safetensors_header(data)
    if parsed is not None:
        return _fix_safetensors(data, *parsed)
    return data


def _fix_safetensors(data: bytes, length: int, header: dict) -> bytes:
    meta = header.get('__metadata__')
    if not isinstance(meta, dict) or 'gluonparams.checksums' not in meta:
        return data
    start, sums = 8 + length, {}
    for name, entry in header.items():
        try:
            begin, end = entry['data_offsets']
            sums[name] = f'{zlib.crc32(data[start + begin:start + end]):08x}'
        except (TypeError, KeyError, ValueError):
            continue
    meta['gluonparams.checksums'] = json.dumps(sums, separators=(',', ':'))
    raw = json.dumps(header, separators=(',', ':')).encode('utf-8')
    if len(raw) > length:
        return data
    return struct.pack('<Q', length) + raw.ljust(length) + data[start:]


def _fix_zip_crcs(data: bytes) -> bytes:
    """Each stored member's CRC-32, in its local header and its central directory entry."""
    out = bytearray(data)
    crcs = {}
    for found in re.finditer(rb'PK\x03\x04', data):
        at = found.start()
        if at + 30 > len(data):
            continue
        (method,) = struct.unpack('<H', data[at + 8:at + 10])
        (size,) = struct.unpack('<I', data[at + 18:at + 22])
        name_length, extra_length = struct.unpack('<HH', data[at + 26:at + 30])
        start = at + 30 + name_length + extra_length
        if method != 0 or start + size > len(data):
            continue
        crc = zlib.crc32(data[start:start + size])
        struct.pack_into('<I', out, at + 14, crc)
        crcs[bytes(data[at + 30:at + 30 + name_length])] = crc
    for found in re.finditer(rb'PK\x01\x02', data):
        at = found.start()
        if at + 46 > len(data):
            continue
        name_length = struct.unpack('<H', data[at + 28:at + 30])[0]
        name = bytes(data[at + 46:at + 46 + name_length])
        if name in crcs:
            struct.pack_into('<I', out, at + 16, crcs[name])
    return bytes(out)


PLAIN: list[Callable] = [flip_bits, set_bytes, overwrite_int, truncate, extend, delete_range,
                         repeat_range, insert_bytes, splice]


def aware(data: bytes) -> Callable:
    """The format-aware edit for ``data``, chosen by its first bytes."""
    if data[:4] in (b'PK\x03\x04', b'PK\x05\x06'):
        return edit_zip
    if data[:8] == struct.pack('<Q', LEGACY_MAGIC):
        return edit_legacy
    return edit_safetensors


def mutate(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """One to three edits of ``data``; half the time the checksums are fixed up after."""
    out = bytearray(data)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        edit = aware(bytes(out)) if rng.random() < 0.5 else rng.choice(PLAIN)
        out = edit(out, rng, others)
    result = bytes(out)
    return fix_checksums(result) if rng.random() < 0.5 else result
