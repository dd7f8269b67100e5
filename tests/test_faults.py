"""Faults injected while checkpoints are written and read: a save killed after any of its
system calls, disks that fill up, a folder that cannot be written, two saves racing
for one path, and a load racing a save. Each fault runs in a forked process
(``faults.py`` counts the system calls and acts at one), so the tests are
deterministic: the same save makes the same calls in the same order.

A background save (``gp.save(..., background=True)``) makes the same calls, on its
writer thread; it is killed and fails at every one of them too, while the parameters
it saves keep changing."""

import os
import signal
import tempfile
from functools import partial
from pathlib import Path

import faults
import pytest
from mxnet.gluon import nn
from test_checkpoint import FORMATS, fill_random, values_of

import gluonparams as gp
from gluonparams import zoo
from gluonparams.checkpoint import _io


def layered(seed=None):
    """Ten Dense layers, the last tied to the first: 20 names, 18 tensors stored, about
    11 KB in any format."""
    net = nn.Sequential()
    net.add(*[nn.Dense(16, in_units=16) for _ in range(9)])
    net.add(gp.share(nn.Dense(16, in_units=16), net[0]))
    zoo.initialize(net)
    if seed is not None:
        fill_random(net, seed)
    return net


def found(path, **candidates):
    """Which of ``candidates`` (name -> network) ``path`` holds, bit for bit: loaded
    into a fresh network; ``'missing'`` when there is no file. Anything else (a file
    that fails to load, values that match none) fails the test."""
    if not path.exists():
        return 'missing'
    gp.verify(path)
    fresh = layered()
    gp.load(fresh, path)
    got = values_of(fresh)
    for name, net in candidates.items():
        want = values_of(net)
        if all(got[n][0].tobytes() == want[n][0].tobytes() for n in want):
            return name
    raise AssertionError(f'{path} holds values that are neither {" nor ".join(candidates)}')


def leftovers(path):
    """Other files in the folder: killed saves may leave their hidden temporary files."""
    others = [p for p in path.parent.iterdir() if p != path]
    assert all(p.name.startswith(f'.{path.name}.') and p.name.endswith('.tmp') for p in others)
    return others


def events_of_a_save(net, folder, fmt, how='sync'):
    """The system calls saving ``net`` in format ``fmt`` makes, counted in a forked
    process (saving to a file in ``folder`` that is removed after)."""
    path = folder / f'probe.{fmt}'
    read, write = os.pipe()

    def child():
        hooks = faults.Hooks().install(setattr)
        save(how, net, path)
        os.write(write, ' '.join(hooks.events).encode())
    assert faults.run(child) == 0
    os.close(write)
    with os.fdopen(read) as f:
        events = f.read().split()
    path.unlink()
    assert events[0] == 'open' and 'rename' in events and events.count('write') >= 10
    return events


def save(how, net, path):
    """``gp.save(net, path)``, or in the background while every parameter of ``net``
    keeps changing (training goes on): either way the file holds the values of the call."""
    if how == 'sync':
        gp.save(net, path)
        return
    handle = gp.save(net, path, background=True)
    for _ in range(20):
        for _, param in gp.named_parameters(net):
            param.set_data(param.data() * 1.5 + 1)
    handle.wait()


@pytest.fixture(scope='module')
def old_and_new():
    return layered(seed=1), layered(seed=2)


@pytest.fixture
def save_case(fmt, old_and_new, tmp_path):
    """``(old, new, path, events)``: two networks, the file to save them to, and the
    system calls saving ``new`` there makes."""
    old, new = old_and_new
    return old, new, tmp_path / f'net.{fmt}', events_of_a_save(new, tmp_path, fmt)


def spread(numbers, count):
    """At most ``count`` of ``numbers``, evenly spaced, the first and the last included."""
    if len(numbers) <= count:
        return list(numbers)
    return [numbers[round(i * (len(numbers) - 1) / (count - 1))] for i in range(count)]


def kill_points(events, writes=24):
    """``(event number, action)``: SIGKILL before every call but the writes, before and
    in the middle of ``writes`` writes spread evenly over the save."""
    chosen = set(spread([k for k, e in enumerate(events, 1) if e == 'write'], writes))
    points = [(k, 'kill') for k, e in enumerate(events, 1) if e != 'write' or k in chosen]
    return points + [(k, 'kill-mid') for k in sorted(chosen)]


@pytest.mark.parametrize('fmt', FORMATS)
def test_a_background_save_makes_the_same_system_calls_in_the_same_order(save_case, fmt):
    _, new, path, events = save_case
    assert events_of_a_save(new, path.parent, fmt, 'background') == events


# --- SIGKILL after every system call ----------------------------------------------------

@pytest.mark.parametrize('how', ['sync', 'background'])
@pytest.mark.parametrize('existing', [True, False], ids=['over-a-checkpoint', 'first-save'])
@pytest.mark.parametrize('fmt', FORMATS)
def test_a_save_killed_at_any_system_call_leaves_the_old_or_the_new_file(save_case, existing,
                                                                         how):
    old, new, path, events = save_case
    points = kill_points(events, writes=24 if how == 'sync' else 8)
    assert len(points) >= 20
    for at, action in points:
        if existing:
            gp.save(old, path, fsync=False)
        # the child's copy of ``new`` may change: the file must hold it as it was
        status = faults.run(faults.in_child_installed(action, at, lambda: save(how, new, path)))
        assert status == -signal.SIGKILL, (at, action)
        renamed = 'rename' in events[:at - 1]
        expected = 'new' if renamed else ('old' if existing else 'missing')
        assert found(path, old=old, new=new) == expected, (at, action, events[at - 1])
        for temp in leftovers(path):
            temp.unlink()
        if not existing and path.exists():
            path.unlink()


# --- failing system calls: a full disk, no permission ---------------------------------

@pytest.mark.parametrize('how', ['sync', 'background'])
@pytest.mark.parametrize('fmt', FORMATS)
def test_a_save_failing_at_any_system_call_raises_and_keeps_the_old_file(save_case, how,
                                                                         monkeypatch):
    old, new, path, events = save_case
    gp.save(old, path)
    before = path.read_bytes()
    for at in range(1, len(events) + 1):
        with monkeypatch.context() as patch:
            faults.Hooks('enospc', at).install(partial(patch.setattr, raising=False))
            if 'rename' in events[:at - 1]:     # only the folder's flush is left: it may fail
                save_unchanged(how, new, path)
                assert found(path, old=old, new=new) == 'new'
                gp.save(old, path, fsync=False)
                continue
            with pytest.raises(gp.CheckpointError, match=r'No space left on device \(ENOSPC\); '
                                                         r'the previous checkpoint there is '
                                                         r'untouched and no temporary file'):
                save_unchanged(how, new, path)
        if how == 'background':                 # raised at wait(), and at the next save once
            with pytest.raises(gp.CheckpointError, match=r'^1 earlier background save failed: '
                                                         r'background save: .*\(ENOSPC\)'):
                gp.save(old, path)
        assert path.read_bytes() == before, events[at - 1]
        assert leftovers(path) == []


def save_unchanged(how, net, path):
    if how == 'sync':
        gp.save(net, path)
    else:
        gp.save(net, path, background=True).wait()


SIZE_LIMITS = [0, 1, 100, 1 / 4, 1 / 2, 3 / 4, -1]   # bytes, fractions of the file, size - 1


@pytest.mark.parametrize('fallocate', [True, False], ids=['fallocate', 'no-fallocate'])
@pytest.mark.parametrize('fmt', FORMATS)
def test_file_size_limit_fails_the_save_cleanly(fmt, fallocate, old_and_new, tmp_path):
    """RLIMIT_FSIZE, the disk-full a process can set for itself: the save fails with
    EFBIG where the file grows past the limit (at once when the file system can
    reserve the size, in the middle of the data when it cannot)."""
    old, new = old_and_new
    path = tmp_path / f'net.{fmt}'
    gp.save(new, path)
    size = path.stat().st_size
    gp.save(old, path)
    before = path.read_bytes()
    limits = [int(size * x) if isinstance(x, float) else (size - 1 if x == -1 else x)
              for x in SIZE_LIMITS] + [size]
    for limit in limits:
        message = tmp_path / 'message.txt'

        def child(limit=limit, message=message):
            import resource
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a failed write, not a kill
            if not fallocate:
                os.posix_fallocate = unsupported
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            try:
                gp.save(new, path)
            except gp.CheckpointError as e:
                resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
                message.write_text(str(e))
                return 10
        code = faults.run(child)
        if limit >= size:
            assert code == 0 and found(path, old=old, new=new) == 'new'
            continue
        assert code == 10, (limit, code)
        assert 'File too large (EFBIG); the previous checkpoint there is untouched and no ' \
               'temporary file is left' in message.read_text()
        message.unlink()
        assert path.read_bytes() == before and leftovers(path) == []


def unsupported(*args):
    raise OSError(95, 'Operation not supported')   # EOPNOTSUPP: a file system without it


@pytest.mark.parametrize('fmt', FORMATS)
def test_read_only_folder_fails_the_save_cleanly(fmt, old_and_new):
    old, new = old_and_new
    folder = Path(tempfile.mkdtemp(dir='/tmp'))     # reachable by another user
    path = folder / f'net.{fmt}'
    try:
        gp.save(old, path)
        before = path.read_bytes()
        os.chmod(folder, 0o555)

        def child():
            if os.geteuid() == 0:          # root ignores permissions: act as nobody
                os.setgid(65534)
                os.setuid(65534)
            try:
                gp.save(new, path)
            except gp.CheckpointError as e:
                expected = ('Permission denied (EACCES)', 'previous checkpoint there is '
                            'untouched', f'make {folder} writable')
                return 10 if all(part in str(e) for part in expected) else 11
        assert faults.run(child) == 10
        assert path.read_bytes() == before and os.listdir(folder) == [path.name]
    finally:
        os.chmod(folder, 0o755)
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


# --- two saves at once ------------------------------------------------------------------

@pytest.mark.parametrize('fmt', FORMATS)
def test_two_saves_to_one_path_leave_one_of_them_whole(save_case):
    """A pauses before one of its system calls (each but the writes, and writes spread
    over the save) while B saves from start to end; the file is whoever renamed last,
    whole."""
    b, a, path, events = save_case
    for at, action in kill_points(events, writes=12):
        if action != 'kill':
            continue
        paused, resume = os.pipe(), os.pipe()
        first = faults.fork(faults.in_child_installed('pause', at, lambda: gp.save(a, path),
                                                      (paused[1], resume[0])))
        assert os.read(paused[0], 1) == b'p'
        assert faults.run(lambda: gp.save(b, path)) == 0
        os.write(resume[1], b'g')
        assert faults.wait(first) == 0
        for fd in (*paused, *resume):
            os.close(fd)
        renamed_first = 'rename' in events[:at - 1]
        assert found(path, a=a, b=b) == ('b' if renamed_first else 'a'), events[at - 1]
        assert leftovers(path) == []


@pytest.mark.parametrize('fmt', FORMATS)
def test_saves_racing_freely_leave_one_of_them_whole(fmt, old_and_new, tmp_path):
    a, b = old_and_new
    path = tmp_path / f'net.{fmt}'
    start = os.pipe()

    def saver(net):
        def save_many():
            os.read(start[0], 1)
            for _ in range(10):
                gp.save(net, path, fsync=False)
        return save_many
    children = [faults.fork(saver(a)), faults.fork(saver(b))]
    os.write(start[1], b'gg')
    assert [faults.wait(pid) for pid in children] == [0, 0]
    assert found(path, a=a, b=b) in ('a', 'b')
    assert leftovers(path) == []


# --- a load while the file is replaced --------------------------------------------------

@pytest.mark.parametrize('fmt', FORMATS)
def test_a_load_while_another_process_replaces_the_file_reads_the_old_one(fmt, old_and_new,
                                                                          tmp_path, monkeypatch):
    """At each read the load makes, another process saves new values over the file; the
    load still gets the old values, all of them."""
    old, new = old_and_new
    path = tmp_path / f'net.{fmt}'
    reads = []
    real = _io.CheckpointFile.readinto

    def counting(self, *args, **kwargs):
        reads.append(1)
        return real(self, *args, **kwargs)
    monkeypatch.setattr(_io.CheckpointFile, 'readinto', counting)
    gp.save(old, path)
    gp.load(layered(), path)
    assert len(reads) >= 10
    for at in spread(range(1, len(reads) + 1), 24):
        gp.save(old, path)
        calls = [0]

        def replacing(self, *args, at=at, **kwargs):
            calls[0] += 1
            if calls[0] == at:
                assert faults.run(lambda: gp.save(new, path)) == 0
            return real(self, *args, **kwargs)
        monkeypatch.setattr(_io.CheckpointFile, 'readinto', replacing)
        fresh = layered()
        gp.load(fresh, path)
        assert calls[0] >= at
        assert all(x[0].tobytes() == y[0].tobytes()
                   for x, y in zip(values_of(fresh).values(), values_of(old).values())), at
        assert found(path, old=old, new=new) == 'new'


@pytest.mark.parametrize('fmt', FORMATS)
def test_loads_racing_a_writer_get_old_or_new_never_a_mix(fmt, old_and_new, tmp_path):
    old, new = old_and_new
    path = tmp_path / f'net.{fmt}'
    gp.save(old, path)
    stop = os.pipe()
    os.set_blocking(stop[0], False)

    def writer():
        while True:
            for net in (new, old):
                gp.save(net, path, fsync=False)
                try:
                    if os.read(stop[0], 1):
                        return
                except BlockingIOError:
                    pass
    pid = faults.fork(writer)
    try:
        seen = [found(path, old=old, new=new) for _ in range(30)]
    finally:
        os.write(stop[1], b's')
        assert faults.wait(pid) == 0
    assert set(seen) <= {'old', 'new'}
