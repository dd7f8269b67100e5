"""Checkpoint files under stress: bad files are refused, saves are atomic, inspect reads
only the header, and the files cross MXNet versions."""

import io
import json
import re
import os
import struct
import subprocess
import textwrap
import tracemalloc
import warnings
import zipfile
from pathlib import Path

import mxnet as mx
import numpy as onp
import pytest
from nets import deck_tied
from test_checkpoint import FORMATS, assert_same_values, fill_random, values_of

import gluonparams as gp
from gluonparams.checkpoint import _atomic
from gluonparams.checkpoint.formats import params as _params_format

ROOT = Path(__file__).resolve().parent.parent


def saved(tmp_path, fmt, seed=0, name='net'):
    net = deck_tied()
    fill_random(net, seed)
    path = tmp_path / f'{name}.{fmt}'
    gp.save(net, path)
    return net, path


def load_outcome(path, original):
    """Load into a fresh network: 'refused' (CheckpointError) or 'same' (bit-identical
    to ``original``); anything else (another exception, other values) fails."""
    fresh = deck_tied()
    try:
        gp.load(fresh, path)
    except gp.CheckpointError as e:
        assert str(path) in str(e)
        return 'refused'
    assert_same_values(original, fresh)
    return 'same'


# --- bad files -------------------------------------------------------------------------

@pytest.mark.parametrize('fmt', FORMATS)
def test_empty_and_random_files_are_refused_naming_the_file(fmt, tmp_path):
    path = tmp_path / f'bad.{fmt}'
    rng = onp.random.default_rng(0)
    for content in [b'', b'\0', rng.bytes(7), rng.bytes(100), rng.bytes(5000)]:
        path.write_bytes(content)
        for call in (gp.inspect, gp.verify, lambda p: gp.load(deck_tied(), p)):
            with pytest.raises(gp.CheckpointError, match=str(path)):
                call(path)


@pytest.mark.parametrize('fmt', FORMATS)
def test_every_truncation_is_refused_or_harmless(fmt, tmp_path):
    net, path = saved(tmp_path, fmt)
    whole = path.read_bytes()
    cut = tmp_path / f'cut.{fmt}'
    outcomes = set()
    for size in sorted(set(range(0, len(whole), max(1, len(whole) // 97))) | {len(whole) - 1}):
        cut.write_bytes(whole[:size])
        outcomes.add(load_outcome(cut, net))
    assert 'refused' in outcomes


@pytest.mark.parametrize('fmt', FORMATS)
def test_random_corruption_never_loads_wrong_values(fmt, tmp_path):
    """Flip, zero or overwrite bytes anywhere: a CheckpointError or the exact values."""
    net, path = saved(tmp_path, fmt)
    whole = bytearray(path.read_bytes())
    bad = tmp_path / f'bad.{fmt}'
    rng = onp.random.default_rng(1)
    outcomes = []
    for trial in range(150):
        data = bytearray(whole)
        at = int(rng.integers(len(data)))
        if trial % 3 == 0:
            data[at] ^= 1 << int(rng.integers(8))
        elif trial % 3 == 1:
            data[at:at + 16] = bytes(len(data[at:at + 16]))
        else:
            data[at:at + 4] = rng.bytes(len(data[at:at + 4]))
        bad.write_bytes(bytes(data))
        outcomes.append(load_outcome(bad, net))
    assert outcomes.count('refused') > len(outcomes) // 2


@pytest.mark.parametrize('fmt', FORMATS)
def test_flipped_or_zeroed_data_fails_its_checksum_naming_the_tensor(fmt, tmp_path):
    net, path = saved(tmp_path, fmt)
    tensor = next(t for t in gp.inspect(path).tensors if t.name == '3.weight')
    for damage in ('flip', 'zero'):
        data = bytearray(path.read_bytes())
        at = tensor.offset + 17
        if damage == 'flip':
            data[at] ^= 0x10
        else:
            data[at:at + 8] = bytes(8)
        path.write_bytes(bytes(data))
        fresh = deck_tied()
        before = values_of(fresh)
        for call in (gp.verify, lambda p, net=fresh: gp.load(net, p)):
            with pytest.raises(gp.CheckpointError,
                               match=r"1 of \d+ tensors do not match their checksums: "
                                     r"'3\.weight' \(recorded [0-9a-f]{8}, found [0-9a-f]{8}\)"):
                call(path)
        assert_same_values_dicts(before, values_of(fresh))   # nothing loaded
        gp.save(net, path)


def assert_same_values_dicts(a, b):
    for name in a:
        assert a[name][0].tobytes() == b[name][0].tobytes()


def safetensors_bytes(header, data=b''):
    raw = json.dumps(header).encode()
    return struct.pack('<Q', len(raw)) + raw + data


LYING_SAFETENSORS = {
    'header longer than the file': struct.pack('<Q', 1 << 40) + b'{}',
    'not JSON': struct.pack('<Q', 4) + b'{{{{',
    'huge shape': safetensors_bytes({'w': {'dtype': 'F32', 'shape': [1 << 28],
                                           'data_offsets': [0, 1 << 30]}}, b'\0' * 64),
    'offsets past the end': safetensors_bytes({'w': {'dtype': 'F32', 'shape': [4],
                                                     'data_offsets': [0, 16]}}, b'\0' * 8),
    'shape and offsets disagree': safetensors_bytes({'w': {'dtype': 'F32', 'shape': [3],
                                                           'data_offsets': [0, 16]}}, b'\0' * 16),
    'overlapping tensors': safetensors_bytes({
        'a': {'dtype': 'F32', 'shape': [2], 'data_offsets': [0, 8]},
        'b': {'dtype': 'F32', 'shape': [2], 'data_offsets': [4, 12]}}, b'\0' * 12),
    'negative dimension': safetensors_bytes({'w': {'dtype': 'F32', 'shape': [-1],
                                                   'data_offsets': [0, 0]}}),
    'bfloat16': safetensors_bytes({'w': {'dtype': 'BF16', 'shape': [2],
                                         'data_offsets': [0, 4]}}, b'\0' * 4),
    'bad checksum text': safetensors_bytes({
        '__metadata__': {'gluonparams.checksums': '{"w": "xyz"}'},
        'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}, b'\0' * 4),
    'tie to nothing': safetensors_bytes({
        '__metadata__': {'gluonparams.ties': '[["ghost", "w"]]'},
        'w': {'dtype': 'F32', 'shape': [1], 'data_offsets': [0, 4]}}, b'\0' * 4),
}


def legacy_params(count=1, ndim=1, dims=(4,), flag=0, data=b'\0' * 16, names=(b'w',)):
    out = struct.pack('<QQQ', 0x112, 0, count)
    out += struct.pack(f'<Iii{len(dims)}qiii', 0xF993FAC9, 0, ndim, *dims, 1, 0, flag) + data
    out += struct.pack('<Q', len(names))
    for n in names:
        out += struct.pack('<Q', len(n)) + n
    return out


LYING_PARAMS = {
    'a billion arrays': legacy_params(count=1 << 30),
    'huge dimension': legacy_params(dims=(1 << 40,)),
    'too many dimensions': struct.pack('<QQQIii', 0x112, 0, 1, 0xF993FAC9, 0, 1000),
    'unknown dtype flag': legacy_params(flag=99),
    'name longer than the file': legacy_params(names=(b'w',))[:-9] + struct.pack('<Q', 1 << 50)
    + b'w',
    'fewer names than arrays': legacy_params(names=()),
    'bytes after the names': legacy_params() + b'garbage',
    'sparse storage': struct.pack('<QQQIi', 0x112, 0, 1, 0xF993FAC9, 1) + b'\0' * 40,
}


@pytest.mark.parametrize('case', sorted(LYING_SAFETENSORS))
def test_lying_safetensors_header_is_refused_without_allocating(case, tmp_path):
    check_refused_cheaply(tmp_path / 'lie.safetensors', LYING_SAFETENSORS[case])


@pytest.mark.parametrize('case', sorted(LYING_PARAMS))
def test_lying_params_header_is_refused_without_allocating(case, tmp_path):
    check_refused_cheaply(tmp_path / 'lie.params', LYING_PARAMS[case])


def test_lying_npz_headers_are_refused_without_allocating(tmp_path):
    path = tmp_path / 'lie.npz'
    npy = b"\x93NUMPY\x01\x00" + struct.pack('<H', 118) + \
        b"{'descr': '<f4', 'fortran_order': False, 'shape': (268435456,), }".ljust(117) + b'\n'
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('w.npy', npy + b'\0' * 16)
    check_refused_cheaply(path, path.read_bytes())
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('w.npy', npy.replace(b"'<f4'", b"'>f4'") + b'\0' * 16)
    check_refused_cheaply(path, path.read_bytes())
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('w.txt', b'hello')
    check_refused_cheaply(path, path.read_bytes())


def test_compressed_member_larger_than_the_file_is_refused_without_allocating(tmp_path):
    """Found by the fuzzer: a deflated member whose compressed size (central directory)
    claims 4 GiB made verify read 8 MiB buffers for a 1 KiB file."""
    path = tmp_path / 'lie.npz'
    onp.savez_compressed(path, w=onp.zeros(64, onp.float32))
    data = bytearray(path.read_bytes())
    central = data.index(b'PK\x01\x02')
    struct.pack_into('<I', data, central + 20, 0xFFFFFFFD)
    check_refused_cheaply(path, bytes(data))
    with pytest.raises(gp.CheckpointError, match=r"tensor 'w': its compressed zip member "
                                                 r"needs bytes .* but the file has"):
        gp.inspect(path)


@pytest.mark.parametrize('descr', [',', '(,)f4', '1f4'])
def test_npy_dtype_text_numpy_cannot_parse_is_refused_without_other_errors(descr, tmp_path):
    """Found by atheris (MXNet 1.9.1): numpy's dtype parser raises SyntaxError for some
    text (',') and warns about other (a FutureWarning for '1f4')."""
    path = tmp_path / 'odd.npz'
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': (4,), }}".ljust(117)
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('w.npy', b"\x93NUMPY\x01\x00" + struct.pack('<H', 118) + text.encode()
                   + b'\n' + bytes(16))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        if descr == '1f4':   # numpy still reads it as float32: the file loads
            gp.inspect(path)
            return
        with pytest.raises(gp.CheckpointError, match=f"tensor 'w': dtype '{re.escape(descr)}' is "
                                                     f"not one MXNet parameters use"):
            gp.inspect(path)


def check_refused_cheaply(path, content):
    path.write_bytes(content)
    tracemalloc.start()
    try:
        for call in (gp.inspect, gp.verify, lambda p: gp.load(deck_tied(), p)):
            with pytest.raises(gp.CheckpointError, match=str(path)):
                call(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < (4 << 20), f'{peak:,} bytes allocated for a {len(content)}-byte file'


# --- inspect reads only the header ------------------------------------------------------

def bytes_read():
    with open('/proc/self/io') as f:
        return int(next(line for line in f if line.startswith('rchar')).split()[1])


def sparse_file(path, head, size, tail=b''):
    with open(path, 'wb') as f:
        f.write(head)
        f.seek(size - len(tail))
        f.write(tail)
        f.truncate(size)


@pytest.mark.skipif(not os.path.exists('/proc/self/io'), reason='counts bytes with /proc')
def test_inspect_reads_only_the_header_of_a_large_file(tmp_path):
    gib = 1 << 30
    st = safetensors_bytes({'big': {'dtype': 'F32', 'shape': [gib // 4], 'data_offsets': [0, gib]},
                            'small': {'dtype': 'F32', 'shape': [2],
                                      'data_offsets': [gib, gib + 8]}})
    sparse_file(tmp_path / 'big.safetensors', st, len(st) + gib + 8)
    head = struct.pack('<QQQIiiqiii', 0x112, 0, 1, 0xF993FAC9, 0, 1, gib // 4, 1, 0, 0)
    names = struct.pack('<QQ', 1, 3) + b'big'
    sparse_file(tmp_path / 'big.params', head, len(head) + gib + len(names), names)
    for name in ('big.safetensors', 'big.params'):
        before = bytes_read()
        info = gp.inspect(tmp_path / name)
        assert bytes_read() - before < (1 << 20)
        assert info.tensors[0].nbytes == gib


def test_inspect_of_npz_reads_only_headers(tmp_path):
    with zipfile.ZipFile(tmp_path / 'big.npz', 'w') as z, \
            z.open('big.npy', 'w', force_zip64=True) as member:
        onp.lib.format.write_array_header_1_0(
            member, {'descr': '<f4', 'fortran_order': False, 'shape': (16 << 20,)})
        zeros = bytes(1 << 20)
        for _ in range(64):
            member.write(zeros)
    before = bytes_read()
    info = gp.inspect(tmp_path / 'big.npz')
    assert bytes_read() - before < (1 << 20)
    assert info.tensors[0].shape == (16 << 20,)


# --- atomic saves (the systematic kills, failures and races are in test_faults.py) ------

class ShortWrites(io.FileIO):
    """A file whose every write writes at most 7 bytes, as POSIX allows (a disk filling
    up, a signal): the writer must write the rest."""

    def write(self, data):
        return super().write(memoryview(data).cast('B')[:7])


@pytest.mark.parametrize('fmt', FORMATS)
def test_short_writes_are_finished_in_every_format(fmt, tmp_path, monkeypatch):
    """Found by the fault-injection tests: zipfile ignores how much a write wrote, so a
    .npz save that hit a short write renamed a truncated file over the old one."""
    net = deck_tied()
    fill_random(net, 3)
    monkeypatch.setattr(_atomic, 'open', lambda fd, mode, buffering=-1: ShortWrites(fd, mode),
                        raising=False)
    gp.save(net, tmp_path / f'net.{fmt}')
    assert load_outcome(tmp_path / f'net.{fmt}', net) == 'same'


def test_saving_over_the_file_a_network_was_loaded_from_is_safe(tmp_path):
    from safetensors import safe_open
    old, path = saved(tmp_path, 'safetensors', seed=1)
    old_bytes = path.read_bytes()
    net = deck_tied()
    gp.load(net, path)
    mapped = onp.memmap(path, dtype=onp.uint8, mode='r')       # someone maps the file
    with safe_open(str(path), 'np') as reader:                 # and safetensors reads it lazily
        fill_random(net, 5)
        gp.save(net, path)                                     # over the very same file
        assert reader.get_tensor('3.weight').tobytes() == \
            old[3].weight.data().asnumpy().tobytes()
    assert bytes(mapped) == old_bytes                          # the old file lives on for them
    del mapped
    fresh = deck_tied()
    gp.load(fresh, path)
    assert_same_values(net, fresh)


# --- MXNet versions ---------------------------------------------------------------------

def test_params_use_the_format_every_mxnet_loads(tmp_path):
    """MXNet 1.9.1 reads arrays saved with legacy shapes (magic 0xF993FAC9) under both
    semantics, but NumPy-shape arrays (0xF993FACA) only after npx.set_np() (measured):
    gp.save writes the legacy magic unless a scalar or zero-size array needs the other."""
    _, path = saved(tmp_path, 'params')
    data = path.read_bytes()
    assert struct.unpack('<I', data[24:28])[0] == 0xF993FAC9
    from gluonparams.checkpoint._model import WriteItem
    scalar = WriteItem('s', onp.dtype('float32'), (), lambda: onp.zeros(()))
    assert _params_format.needs_numpy_shapes([scalar])


OTHER_PYTHON = os.environ.get('GLUONPARAMS_OTHER_MXNET_PYTHON')


@pytest.mark.skipif(not OTHER_PYTHON, reason='set GLUONPARAMS_OTHER_MXNET_PYTHON to a Python '
                                             'with another MXNet version')
def test_files_cross_mxnet_versions(tmp_path):
    """Each version's save_parameters and gp.save, read by the other version."""
    net = deck_tied()
    fill_random(net, 3)
    gp.save(net, tmp_path / 'ours.params')
    gp.save(net, tmp_path / 'ours.safetensors')
    net.save_parameters(str(tmp_path / 'theirs.params'))
    script = tmp_path / 'other.py'
    script.write_text(textwrap.dedent(f'''
        import sys
        sys.path[:0] = [{str(ROOT)!r}]
        import mxnet as mx
        from mxnet import gluon
        from mxnet.gluon import nn
        import gluonparams as gp

        def deck_tied(run=True):    # built here: only this file's module is under test
            net = nn.Sequential()
            shared = nn.Dense(8, activation='relu')
            if hasattr(gluon.Block, 'share_parameters'):
                clone = nn.Dense(8, activation='relu')
                clone.share_parameters(shared.collect_params())
            else:
                clone = nn.Dense(8, activation='relu', params=shared.params)
            net.add(nn.Dense(8, activation='relu'), shared, clone, nn.Dense(10))
            net.initialize()
            if run:
                net(mx.nd.ones((2, 20)) if not mx.util.is_np_array() else mx.np.ones((2, 20)))
            return net

        folder = {str(tmp_path)!r}
        for name in ('ours.params', 'ours.safetensors', 'theirs.params'):
            net = deck_tied(run=False)
            gp.load(net, folder + '/' + name)
            gp.save(net, folder + '/back-' + name.replace('.', '-') + '.safetensors')
        net = deck_tied()
        net.load_parameters(folder + '/ours.params')
        gp.save(net, folder + '/back-gluon.safetensors')
        net.save_parameters(folder + '/other-theirs.params')
    '''))
    done = subprocess.run([OTHER_PYTHON, str(script)], capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    for back in tmp_path.glob('back-*.safetensors'):
        assert load_outcome(back, net) == 'same', back.name
    assert load_outcome(tmp_path / 'other-theirs.params', net) == 'same'
    assert mx.__version__ != subprocess.run(
        [OTHER_PYTHON, '-c', 'import mxnet; print(mxnet.__version__)'],
        capture_output=True, text=True, check=True).stdout.strip()


def test_compressed_npz_is_read_and_checked(tmp_path):
    net = deck_tied()
    fill_random(net, 6)
    arrays = {n: a[0] for n, a in values_of(net).items()}
    onp.savez_compressed(tmp_path / 'small.npz', **arrays)
    assert len(gp.verify(tmp_path / 'small.npz').checked) == 8
    assert load_outcome(tmp_path / 'small.npz', net) == 'same'
    with zipfile.ZipFile(tmp_path / 'small.npz') as z:   # corrupt one member's stream
        member = z.getinfo('3.weight.npy')
        start = member.header_offset + 30 + len(member.filename) + len(member.extra)
    data = bytearray((tmp_path / 'small.npz').read_bytes())
    data[start + member.compress_size // 2] ^= 0xFF
    (tmp_path / 'small.npz').write_bytes(bytes(data))
    with pytest.raises(gp.CheckpointError, match="'3.weight'"):
        gp.verify(tmp_path / 'small.npz')
    assert load_outcome(tmp_path / 'small.npz', net) == 'refused'


def test_saving_into_a_missing_folder_says_so(tmp_path):
    with pytest.raises(gp.CheckpointError, match=r'create the folder .*missing first'):
        gp.save(deck_tied(), tmp_path / 'missing' / 'net.safetensors')
    (tmp_path / 'dir.safetensors').mkdir()
    with pytest.raises(gp.CheckpointError, match='it is a folder'):
        gp.save(deck_tied(), tmp_path / 'dir.safetensors')
