"""gp.save(..., background=True): a snapshot at the call, the file written by a thread.

The central test trains on while a background save of step K is being written (the
writer held back after its first tensor until every later update has landed in the
parameters): the file is byte for byte the one a synchronous save of step K writes, on
every device of the fixture, ties and optimizer state included, and training resumed
from it matches the run that never stopped. The same fault injection as synchronous
saves (SIGKILL, ENOSPC at every system call) runs in test_faults.py; the distributed
case in test_distributed.py.
"""

import ctypes
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from functools import partial
from pathlib import Path

import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd, gluon
from test_checkpoint import DTYPES, FORMATS, AllDtypes, Shapes, fill_random, random_bits, values_of
from test_faults import found, layered, leftovers
from test_trainer_state import BATCH, batches, build, other, values

import faults
import gluonparams as gp
import nets
from gluonparams import _compat
from gluonparams.checkpoint import _background

HERE = Path(__file__).resolve().parent
K, M = 3, 4          # save at step K, train M more steps while the file is written


@pytest.fixture(autouse=True)
def _no_save_left_behind():
    """Every test's saves end inside it; failures it left unraised do not leak."""
    yield
    for writer in list(_background._writing.values()):
        writer.result()
    _background._failed.clear()


class Gate:
    """Holds a background writer back at its ``at``-th tensor until :meth:`open` (or until
    the save is cancelled)."""

    def __init__(self, monkeypatch, at=2):
        self.calls, self.at = 0, at
        self.reached, self._open = threading.Event(), threading.Event()
        real = _background.host_values

        def held(array):
            self.calls += 1
            if self.calls == self.at:
                this = threading.current_thread()
                stop = next((w._stop for w in list(_background._writing.values())
                             if w._thread is this), threading.Event())
                self.reached.set()
                end = time.monotonic() + 120
                while not self._open.wait(0.01) and not stop.is_set():  # or cancelled
                    assert time.monotonic() < end, 'the test never opened the gate'
            return real(array)
        monkeypatch.setattr(_background, 'host_values', held)

    def rearm(self):
        """Hold the next writer at its ``at``-th tensor again."""
        self.calls = 0
        self.reached.clear()
        self._open.clear()

    def open(self, after=0.0):
        if after:
            threading.Timer(after, self._open.set).start()
        else:
            self._open.set()


@pytest.fixture
def gate(monkeypatch):
    held = Gate(monkeypatch)
    yield held
    held.open()


def adam(net):
    return gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.01})


def step(net, trainer, device, x):
    """One training step, queued: nothing waits for MXNet's engine."""
    devices = nets.devices_of(device)
    with autograd.record():
        losses = [((net(_compat.array(part, d)) - 1) ** 2).sum()
                  for part, d in zip(onp.split(x, len(devices)), devices)]
    for loss in losses:
        loss.backward()
    trainer.step(BATCH)


# --- the snapshot -------------------------------------------------------------------

def test_the_file_holds_the_values_of_the_call_while_training_goes_on(device, tmp_path, gate):
    data = batches(K + M)
    net = build(device)                       # the deck's tied network: ties stored once
    trainer = adam(net)
    for x in data[:K]:
        step(net, trainer, device, x)         # the engine may still be running step K
    handle = gp.save(net, tmp_path / 'bg.safetensors', trainer=trainer, background=True)
    for x in data[K:]:
        step(net, trainer, device, x)         # updates queued while the file is written
    assert gate.reached.wait(60)
    mx.nd.waitall()                           # ... and every one of them has landed
    assert not handle.done()                  # the writer is held after its first tensor
    gate.open()
    handle.wait()
    trained_on = values(net)

    again = build(device)                     # the same run, saved at once at step K
    again_trainer = adam(again)
    for x in data[:K]:
        step(again, again_trainer, device, x)
    gp.save(again, tmp_path / 'sync.safetensors', trainer=again_trainer)
    assert (tmp_path / 'bg.safetensors').read_bytes() == \
        (tmp_path / 'sync.safetensors').read_bytes()
    assert values(again) != trained_on

    resumed = build(other(device))            # resumed from the file on another device
    resumed_trainer = adam(resumed)
    report = gp.load(resumed, tmp_path / 'bg.safetensors', trainer=resumed_trainer)
    assert report.optimizer.num_update == K and len(report.optimizer.restored) == 6
    for x in data[K:]:
        step(resumed, resumed_trainer, other(device), x)
    assert values(resumed) == trained_on


@pytest.mark.parametrize('fmt', FORMATS)
def test_every_dtype_is_written_as_a_synchronous_save_writes_it(fmt, tmp_path, gate):
    net = AllDtypes()
    net.initialize(mx.cpu(1))
    fill_random(net)
    handle = gp.save(net, tmp_path / f'bg.{fmt}', background=True)
    assert handle.snapshot_bytes == {'cpu(1)': sum(15 * onp.dtype(d).itemsize for d in DTYPES)}
    gp.save(net, tmp_path / f'sync.{fmt}', in_flight='wait')
    fill_random(net, seed=9)                  # set_data after the call: not in the file
    gate.open()
    handle.wait()
    assert (tmp_path / f'bg.{fmt}').read_bytes() == (tmp_path / f'sync.{fmt}').read_bytes()


@pytest.mark.parametrize('fmt', FORMATS)
def test_scalars_and_zero_size_arrays(fmt, tmp_path):
    with mx.util.np_shape(True), mx.util.np_array(True):
        net = Shapes('float32')
        gp.load(net, _shapes_file(tmp_path), device='cpu(1)')
        gp.save(net, tmp_path / f'bg.{fmt}', background=True).wait()
        gp.save(net, tmp_path / f'sync.{fmt}')
    assert (tmp_path / f'bg.{fmt}').read_bytes() == (tmp_path / f'sync.{fmt}').read_bytes()


def _shapes_file(folder):
    from safetensors.numpy import save_file
    path = folder / 'shapes.safetensors'
    save_file({'scalar': random_bits((), 'float32', 1), 'empty': random_bits((0, 3), 'float32'),
               'matrix': random_bits((4, 2), 'float32', 2)}, str(path))
    return path


def test_the_snapshot_goes_to_the_host_when_the_gpu_has_no_room(monkeypatch):
    monkeypatch.setattr(_compat, 'gpu_free_memory', lambda gpu: (1 << 30, 2 << 30))
    snapshot = _background.Snapshot('x')       # keeps 512 MiB free (> 10%): 512 MiB of room
    assert snapshot._fits(0, 500 << 20) and not snapshot._fits(0, 20 << 20)
    assert snapshot._fits(0, 12 << 20) and snapshot._fits(1, 500 << 20)   # each GPU its own
    monkeypatch.setattr(_compat, 'gpu_free_memory', lambda gpu: (2 << 30, 10 << 30))
    snapshot = _background.Snapshot('x')       # keeps 10% of 10 GiB free: 1 GiB of room
    assert not snapshot._fits(0, (1 << 30) + 1) and snapshot._fits(0, 1 << 30)


def test_a_snapshot_that_would_not_fit_in_host_memory_is_refused(tmp_path, monkeypatch):
    assert _background.host_room() > 0                    # Linux: MemAvailable, less 10%
    net = nets.deck_tied(mx.cpu(1))                        # 330 float32: 1,320 bytes
    monkeypatch.setattr(_background, 'host_room', lambda: 1000)
    with pytest.raises(gp.CheckpointError, match=rf'^cannot save {tmp_path}/n.safetensors in '
                                                 rf'the background: its snapshot needs more '
                                                 rf'host memory than the system has available '
                                                 rf'.*save with background=False'):
        gp.save(net, tmp_path / 'n.safetensors', background=True)
    assert list(tmp_path.iterdir()) == [] and not _background._writing
    gp.save(net, tmp_path / 'n.safetensors')               # a synchronous save takes none
    monkeypatch.setattr(_background, 'host_room', lambda: 2000)
    gp.save(net, tmp_path / 'n.safetensors', background=True).wait()


def test_the_refusal_counts_host_copies_only_and_says_what_is_kept_free(monkeypatch):
    monkeypatch.setattr(_background, 'host_room', lambda: 1 << 20)
    snapshot = _background.Snapshot('x')
    snapshot.bytes['gpu(0)'] = 5 << 30                     # copies on a GPU take no host memory
    snapshot.take(mx.nd.zeros((1 << 18,), ctx=mx.cpu(1)))  # 1 MiB: all the room there is
    with pytest.raises(gp.CheckpointError, match=r'\(2 MiB so far; a background save keeps 10% '
                                                 r'of the memory, at least 512 MiB, free\)'):
        snapshot.take(mx.nd.zeros((1 << 18,), ctx=mx.cpu(1)))


# --- the handle, one save per path --------------------------------------------------

def test_wait_done_path_and_what_the_snapshot_took(tmp_path, gate):
    path = tmp_path / 'n.safetensors'
    handle = gp.save(nets.deck_tied(mx.cpu(1)), path, background=True)
    assert isinstance(handle, gp.SaveHandle) and handle.path == str(path)
    assert handle.snapshot_bytes == {'cpu(1)': 330 * 4}
    assert gate.reached.wait(60) and not handle.done() and not path.exists()
    assert repr(handle) == f'<SaveHandle {path}: writing>'
    gate.open()
    handle.wait()
    handle.wait()
    assert handle.done() and repr(handle) == f'<SaveHandle {path}: written>'
    assert len(gp.verify(path).checked) == 6 and leftovers(path) == []


def test_a_new_save_to_the_same_file_waits_for_the_one_in_flight(tmp_path, gate):
    old, new = layered(seed=1), layered(seed=2)
    (tmp_path / 'ckpt').mkdir()
    (tmp_path / 'link').symlink_to(tmp_path / 'ckpt')
    path = tmp_path / 'ckpt' / 'n.safetensors'
    first = gp.save(old, path, background=True)
    assert gate.reached.wait(60)
    elsewhere = gp.save(new, tmp_path / 'other.safetensors', background=True)
    elsewhere.wait()                          # another file: written meanwhile
    assert not first.done()
    gate.open(after=0.3)
    second = gp.save(new, tmp_path / 'link' / 'n.safetensors', background=True)
    assert first.done()                       # the same file by another path: waited for
    second.wait()
    assert found(path, old=old, new=new) == 'new'
    gate.rearm()
    third = gp.save(old, path, background=True)
    gate.open(after=0.3)
    gp.save(new, path)                        # a synchronous save waits too
    assert third.done() and found(path, old=old, new=new) == 'new' and leftovers(path) == []


def test_a_save_can_cancel_the_one_in_flight_and_a_handle_can_cancel_its_own(tmp_path, gate):
    old, new = layered(seed=1), layered(seed=2)
    path = tmp_path / 'n.safetensors'
    gp.save(old, path)
    first = gp.save(new, path, background=True)
    assert gate.reached.wait(60)
    second = gp.save(old, path, background=True, in_flight='cancel')
    assert repr(first).endswith(': cancelled>')
    first.wait()                              # a cancelled save is not an error
    second.wait()
    assert found(path, old=old, new=new) == 'old' and leftovers(path) == []
    gate.rearm()
    third = gp.save(new, path, background=True)
    assert gate.reached.wait(60)
    assert third.cancel() is True and third.done()
    assert third.cancel() is False            # it has ended
    assert found(path, old=old, new=new) == 'old' and leftovers(path) == []


def test_a_load_of_the_file_waits_for_the_save_writing_it(tmp_path, gate):
    old, new = layered(seed=1), layered(seed=2)
    path = tmp_path / 'n.safetensors'
    gp.save(old, path)
    handle = gp.save(new, path, background=True)
    assert gate.reached.wait(60)
    gate.open(after=0.3)
    assert found(path, old=old, new=new) == 'new' and handle.done()


def test_options_and_networks_are_checked_at_the_call(tmp_path):
    net = nets.deck_tied()
    with pytest.raises(gp.OptionError, match=r"in_flight='later' is not supported; use one "
                                             r"of 'wait', 'cancel'"):
        gp.save(net, tmp_path / 'n.safetensors', background=True, in_flight='later')
    with pytest.raises(gp.OptionError, match='background must be True or False, found 1'):
        gp.save(net, tmp_path / 'n.safetensors', background=1)
    with pytest.raises(gp.CheckpointError, match='hold no data yet'):
        gp.save(nets.deck_tied(run=False), tmp_path / 'n.safetensors', background=True)
    assert list(tmp_path.iterdir()) == [] and not _background._writing


def test_a_bad_trainer_is_refused_before_the_save_in_flight_is_touched(tmp_path, gate):
    old, new = layered(seed=1), layered(seed=2)
    path = tmp_path / 'n.safetensors'
    gp.save(old, path)
    handle = gp.save(new, path, background=True)
    assert gate.reached.wait(60)
    with pytest.raises(gp.OptionError, match='trainer= must be a gluon.Trainer, found str'):
        gp.save(old, path, trainer='adam', in_flight='cancel')
    assert not handle.done()                  # neither cancelled nor waited for
    gate.open()
    handle.wait()
    assert found(path, old=old, new=new) == 'new' and leftovers(path) == []


# --- errors are never lost ----------------------------------------------------------

def test_a_failure_raises_at_wait_every_time_and_once_at_the_next_save(tmp_path, monkeypatch):
    old, new = layered(seed=1), layered(seed=2)
    (tmp_path / 'ckpt').mkdir()
    path = tmp_path / 'ckpt' / 'n.safetensors'
    gp.save(old, path)
    with monkeypatch.context() as patch:
        faults.Hooks('enospc', 3).install(partial(patch.setattr, raising=False))  # 1st write
        handle = gp.save(new, path, background=True)
        expected = (rf'^background save: cannot save {path}: writing failed: No space left on '
                    rf'device \(ENOSPC\); the previous checkpoint there is untouched and no '
                    rf'temporary file is left; free some space')
        with pytest.raises(gp.CheckpointError, match=expected):
            handle.wait()
    with pytest.raises(gp.CheckpointError, match=expected):
        handle.wait()
    assert repr(handle).endswith(': failed>')
    other = tmp_path / 'other.npz'
    with pytest.raises(gp.CheckpointError, match=r'^1 earlier background save failed: '
                                                 r'background save: cannot save .*ENOSPC.*\. '
                                                 r'This save was not started; call it again'):
        gp.save(new, other)
    assert not other.exists()
    gp.save(new, other)                       # raised once: this one goes ahead
    assert found(path, old=old, new=new) == 'old' and leftovers(path) == []


def test_a_load_that_waited_for_a_failed_save_raises_and_changes_nothing(tmp_path, gate,
                                                                         monkeypatch):
    old, new = layered(seed=1), layered(seed=2)
    path = tmp_path / 'n.safetensors'
    gp.save(old, path)
    gp.save(new, path, background=True)
    assert gate.reached.wait(60)
    fresh = layered(seed=3)
    before = values_of(fresh)
    with monkeypatch.context() as patch:
        faults.Hooks('enospc', 1).install(partial(patch.setattr, raising=False))  # its next call
        gate.open(after=0.3)
        with pytest.raises(gp.CheckpointError, match=rf'^cannot load {path}: the background save '
                                                     rf'writing it failed, so it still holds the '
                                                     rf'previous checkpoint \(load again to read '
                                                     rf'that one\); background save: cannot save '
                                                     rf'{path}: .*No space left on device'):
            gp.load(fresh, path)
    after = values_of(fresh)
    assert all(after[n][0].tobytes() == before[n][0].tobytes() for n in before)
    assert found(path, old=old, new=new) == 'old' and leftovers(path) == []
    with pytest.raises(gp.CheckpointError, match='1 earlier background save failed'):
        gp.save(new, path)                    # still raised once by the next save


def test_a_killed_writer_thread_is_an_error_and_the_previous_file_stays(tmp_path, gate):
    old, new = layered(seed=1), layered(seed=2)
    path = tmp_path / 'n.safetensors'
    gp.save(old, path)
    handle = gp.save(new, path, background=True)
    assert gate.reached.wait(60)
    thread = handle._writer._thread
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                               ctypes.py_object(SystemExit))
    gate.open()
    with pytest.raises(gp.CheckpointError, match=r'the writer stopped on SystemExit; a save '
                                                 r'replaces the file only once it is complete'):
        handle.wait()
    with pytest.raises(gp.CheckpointError, match='1 earlier background save failed'):
        gp.save(new, path, background=True)
    assert found(path, old=old, new=new) == 'old' and leftovers(path) == []


# --- exit and fork ------------------------------------------------------------------

EXIT_SCRIPT = textwrap.dedent('''
    import signal, sys, threading, time
    sys.path[:0] = [{tests!r}]
    # Ctrl-C acts here even where the suite runs as a background job (which ignores SIGINT
    # and hands that on to its children)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    import mxnet as mx
    from test_faults import layered
    import gluonparams as gp
    from gluonparams.checkpoint import _background

    real = _background.host_values
    def held():
        if {hold!r}:                        # until Ctrl-C cancels the save
            return not ('handle' in globals() and handle._writer._stop.is_set())
        return not threading._SHUTTING_DOWN  # until the interpreter begins to exit
    def slow(array):
        end = time.monotonic() + 60         # the save is still writing then, however slow
        while time.monotonic() < end and held():  # the machine
            time.sleep(0.01)
        time.sleep(0.05)
        return real(array)
    old, new = layered(seed=1), layered(seed=2)
    gp.save(old, {path!r})
    _background.host_values = slow
    handle = gp.save(new, {path!r}, background=True)
    # two saves to a folder that does not exist, neither waited for (the first one's
    # failure is the KVStore's workers' to raise: the second save does not raise it)
    gp.save(new, {failed!r} + '.npz', background=True, kvstore=mx.kv.create('local'))
    gp.save(new, {failed!r}, background=True)
    while len(_background._failed) < 2:
        time.sleep(0.01)
    print('saving', flush=True)
    if {how!r} == 'exception':
        raise RuntimeError('the training loop crashed')
''')


@pytest.mark.parametrize('how', ['return', 'exception', 'ctrl-c'])
def test_the_interpreter_waits_for_unfinished_saves_at_exit(how, tmp_path):
    old, new = layered(seed=1), layered(seed=2)
    path, failed = tmp_path / 'n.safetensors', tmp_path / 'missing' / 'failed.safetensors'
    script = EXIT_SCRIPT.format(tests=str(HERE), path=str(path), failed=str(failed),
                                how='return' if how == 'ctrl-c' else how,
                                hold=how == 'ctrl-c')
    with subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            errors = ''
            if proc.stdout.readline() != 'saving\n':
                pytest.fail(f'the script failed: {proc.stderr.read()}')
            if how == 'ctrl-c':
                while 'waiting for 1 background save(s)' not in errors:
                    line = proc.stderr.readline()
                    assert line, f'the interpreter did not wait for the save: {errors}'
                    errors += line
                proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=120)
            errors += proc.stderr.read()
        finally:
            proc.kill()
    for name in (failed, f'{failed}.npz'):
        assert f'gluonparams: background save: cannot save {name}: cannot create a ' \
               f'temporary file in its folder: No such file or directory (ENOENT)' in errors
    if how == 'ctrl-c':
        assert f'background saves abandoned: {path} (cancelled)' in errors
        assert found(path, old=old, new=new) == 'old' and leftovers(path) == []
        return
    assert code == (1 if how == 'exception' else 0), errors
    assert f'gluonparams: waiting for 1 background save(s) to finish: {path}' in errors, errors
    assert found(path, old=old, new=new) == 'new' and leftovers(path) == []


def test_a_forked_child_forgets_the_parents_saves(tmp_path, gate):
    old, new = layered(seed=1), layered(seed=2)
    path = tmp_path / 'n.safetensors'
    handle = gp.save(new, path, background=True)
    assert gate.reached.wait(60)

    def child():
        assert handle.done() and not _background._writing
        with pytest.raises(gp.CheckpointError, match='written by the parent process'):
            handle.wait()
        gp.save(old, tmp_path / 'child.safetensors', background=True).wait()
        return 0 if found(tmp_path / 'child.safetensors', old=old) == 'old' else 3
    assert faults.run(child) == 0
    assert not handle.done()
    gate.open()
    handle.wait()
    assert found(path, old=old, new=new) == 'new'


# --- a distributed KVStore of one worker (clusters: test_distributed.py) -------------

def test_a_single_process_kvstore_saves_in_the_background(tmp_path):
    kv = mx.kv.create('local')
    net = nets.deck_tied([mx.cpu(0), mx.cpu(1)])
    handle = gp.save(net, tmp_path / 'one.safetensors', kvstore=kv, background=True)
    handle.wait()
    assert handle.done()
    assert gp.inspect(tmp_path / 'one.safetensors').metadata == {
        'gluonparams.num_workers': '1', 'gluonparams.writer_rank': '0'}
    with pytest.raises(gp.OptionError, match='cannot be cancelled on one worker'):
        handle.cancel()
    failing = gp.save(net, tmp_path / 'missing' / 'x.safetensors', kvstore=kv, background=True)
    with pytest.raises(gp.CheckpointError, match=r'background save to .*x.safetensors failed: '
                                                 r'.*create the folder'):
        failing.wait()
    with pytest.raises(gp.CheckpointError, match='1 earlier background save with this '
                                                 'KVStore failed'):
        gp.save(net, tmp_path / 'two.safetensors', kvstore=kv)
    assert not _background._failed           # reported through the KVStore's workers only
    gp.save(net, tmp_path / 'two.safetensors', kvstore=kv)
    assert os.path.exists(tmp_path / 'two.safetensors')


def test_with_a_kvstore_the_wait_for_a_failed_save_is_part_of_every_workers_check(
        tmp_path, gate, monkeypatch):
    kv = mx.kv.create('local')
    old, new = layered(seed=1), layered(seed=2)
    path = tmp_path / 'n.safetensors'
    gp.save(old, path, kvstore=kv)
    handle = gp.save(new, path, kvstore=kv, background=True)
    assert gate.reached.wait(60)
    with monkeypatch.context() as patch:
        faults.Hooks('enospc', 1).install(partial(patch.setattr, raising=False))
        gate.open(after=0.3)
        with pytest.raises(gp.CheckpointError, match=rf'^cannot load {path}: the background '
                                                     rf'save writing it failed'):
            gp.load(layered(), path, kvstore=kv)
    with pytest.raises(gp.CheckpointError, match='No space left on device'):
        handle.wait()
    assert found(path, old=old, new=new) == 'old'
