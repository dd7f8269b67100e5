"""Replica checks and checkpoints across the workers of a distributed KVStore.

The cluster tests start a real KVStore cluster on loopback: a scheduler, a server and
two or three workers, each a separate process configured with the DMLC_* variables
(examples/launch_local.py), every process ended by the fixture, which then checks
that none is left. The workers run tests/dist_worker.py and print what they saw.
"""

import importlib.util
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as onp
import pytest

import gluonparams as gp
from gluonparams.distributed import _channel as _kv_channel
from gluonparams.errors import DistributedError, OptionError, ReplicaError

import nets

HERE = Path(__file__).resolve().parent
WORKER = HERE / 'dist_worker.py'
_spec = importlib.util.spec_from_file_location('launch_local',
                                               HERE.parent / 'examples' / 'launch_local.py')
launch_local = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(launch_local)

DEADLINE = 90.0     # seconds before the fixture ends a cluster's workers


def _leftovers(cluster):
    """Processes still running that carry this cluster's port in their environment."""
    mark = f'DMLC_PS_ROOT_PORT={cluster.port}'.encode()
    found = [p.pid for p in cluster.processes if p.poll() is None]
    for entry in Path('/proc').glob('[0-9]*'):
        try:
            if mark in (entry / 'environ').read_bytes().split(b'\0'):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.fixture
def cluster():
    """``start(num_workers, *worker_args)``: a new cluster running dist_worker.py."""
    started = []

    def start(num_workers, *args):
        running = launch_local.LocalCluster(num_workers).__enter__()
        started.append(running)
        running.start_workers([str(WORKER), *map(str, args)])
        return running
    yield start
    for running in started:
        running.close()
        assert _leftovers(running) == []


def results(finished):
    """``{rank: {step: outcome}}`` from the workers' RESULT lines."""
    by_rank = {}
    for worker in finished:
        lines = [json.loads(line[7:]) for line in worker.stdout.splitlines()
                 if line.startswith('RESULT ')]
        steps = {line.pop('step'): line for line in lines}
        by_rank[steps['started']['rank']] = steps
    return by_rank


def reference_net():
    """The network every worker builds, with the same initial values."""
    mx.random.seed(7)
    return nets.deck_tied([mx.cpu(0), mx.cpu(1)])


def values(net):
    mx.nd.waitall()
    return {name: p.data(mx.cpu(0)).asnumpy() for name, p in gp.named_parameters(net)}


@pytest.mark.parametrize('num_workers', [2, 3])
def test_replicas_checked_saved_and_loaded_across_workers(cluster, tmp_path, num_workers):
    finished = cluster(num_workers, 'replicas', tmp_path).wait(DEADLINE)
    assert [w.returncode for w in finished] == [0] * num_workers, finished[0].stderr
    seen = results(finished)
    assert sorted(seen) == list(range(num_workers))
    names = [name for name, _ in gp.named_parameters(reference_net())]
    ranks = [f'rank {r}' for r in range(num_workers)]
    last = num_workers - 1
    for mode in ('exact', 'optimizer'):
        for steps in seen.values():
            for step in (f'{mode}: equal', f'{mode}: equal after load'):
                assert steps[step]['value'] == {n: ['cpu(0)', 'cpu(1)', *ranks] for n in names}
            off = steps[f'{mode}: one ulp']
            assert off['error'] == 'ReplicaError'
            assert off['divergent'] == [['3.weight', [last]]]
            assert f"'3.weight': rank {last} differs from rank 0" in off['message']
            assert steps[f'{mode}: save'] == {'value': None}
            checked, metadata = steps[f'{mode}: file on return']['value']
            assert checked == names
            assert metadata == {'step': '7', 'gluonparams.num_workers': str(num_workers),
                                'gluonparams.writer_rank': '0'}
        messages = {steps[f'{mode}: one ulp']['message'] for steps in seen.values()}
        assert len(messages) == 1                       # the same error on every worker
        # rank 0 wrote its own values, not the perturbed ones of the last rank
        saved = reference_net()
        gp.load(saved, tmp_path / f'{mode}.safetensors')
        expected = values(reference_net())
        assert all(onp.array_equal(v, expected[n]) for n, v in values(saved).items())
    assert all(steps['optimizer mode']['value'] is True for steps in seen.values())


def wait_for(path, cluster, seconds=DEADLINE):
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f'{path} never appeared'
        assert all(w.poll() is None for w in cluster.workers), 'a worker ended too early'
        time.sleep(0.05)
    return int(path.read_text())


@pytest.mark.parametrize('victim', [0, 1], ids=['writer', 'other'])
def test_a_worker_killed_during_a_save(cluster, tmp_path, victim):
    running = cluster(2, 'kill', tmp_path, victim)
    os.kill(wait_for(tmp_path / f'ready-{victim}', running), signal.SIGKILL)
    finished = running.wait(DEADLINE)
    seen = results(finished)
    survivor = seen[1 - victim]
    assert sorted(w.returncode for w in finished) == [-signal.SIGKILL, 1]
    assert survivor['first save'] == {'value': True}
    error = survivor['second save']
    assert error['error'] == 'DistributedError'
    waited = 'waiting for rank 0 to write the file' if victim == 0 else 'waiting for every worker'
    assert waited in error['message']
    assert 'no answer from the other workers within 3 s' in error['message']
    assert survivor['after the timeout']['error'] == 'DistributedError'
    # the previous checkpoint is whole and holds the first save's values
    path = tmp_path / 'model.safetensors'
    assert gp.verify(path).checked
    loaded = reference_net()
    gp.load(loaded, path)
    expected = values(reference_net())
    assert all(onp.array_equal(v, expected[n]) for n, v in values(loaded).items())
    temporary = list(tmp_path.glob('.model.safetensors.*.tmp'))
    assert len(temporary) == (1 if victim == 0 else 0)   # the writer died before renaming


def test_a_background_save_from_rank_0_while_training_goes_on(cluster, tmp_path):
    finished = cluster(2, 'background', tmp_path).wait(DEADLINE)
    assert [w.returncode for w in finished] == [0, 0], finished[0].stderr
    seen = results(finished)
    assert seen[0]['file holds the values of the call'] == {'value': [True, True]}
    for rank, steps in seen.items():
        assert steps['wait'] == {'value': [None, True, 12]}      # 6 parameters, 6 momenta
        failed = steps['failed save']
        assert failed['error'] == 'CheckpointError' and 'create the folder' in failed['message']
        assert failed['message'].startswith('background save to ' if rank == 0 else
                                            f'{tmp_path}/missing/x.safetensors: rank 0 could '
                                            f'not write the checkpoint in the background')
        assert steps['next save']['error'] == 'CheckpointError'
        assert '1 earlier background save with this KVStore failed' in steps['next save'][
            'message']
        assert steps['save after'] == {'value': None}
        assert steps['completed by the next save'] == {'value': [True, None, True]}


# --- without a cluster: one process, and the exchange itself -------------------------

def test_a_single_process_kvstore_checks_saves_and_loads(tmp_path):
    kv = mx.kv.create('local')
    net = nets.deck_tied([mx.cpu(0), mx.cpu(1)])
    names = [name for name, _ in gp.named_parameters(net)]
    assert gp.check_replicas(net, kvstore=kv) == {n: ['cpu(0)', 'cpu(1)', 'rank 0'] for n in names}
    gp.save(net, tmp_path / 'one.safetensors', kvstore=kv)
    assert gp.inspect(tmp_path / 'one.safetensors').metadata == {
        'gluonparams.num_workers': '1', 'gluonparams.writer_rank': '0'}
    assert gp.load(net, tmp_path / 'one.safetensors', kvstore=kv).loaded
    gp.get(net, '0.bias').data(mx.cpu(1))[:] = 1
    with pytest.raises(ReplicaError, match="'0.bias'.*cpu\\(1\\) differs from cpu\\(0\\)"):
        gp.check_replicas(net, kvstore=kv)


class _FakeKVStore:
    def __init__(self, kind, workers):
        self.type, self.num_workers, self.rank = kind, workers, 0

    def init(self, *args):
        pass
    pull = pushpull = init


@pytest.mark.parametrize('kvstore, found', [
    ('dist_sync', "kvstore='dist_sync' (str) is not an MXNet KVStore"),
    (_FakeKVStore('dist_async', 2), "type 'dist_async' with 2 workers"),
    (_FakeKVStore('horovod', 4), "type 'horovod' with 4 workers"),
])
def test_a_kvstore_that_cannot_carry_the_check_is_refused(kvstore, found):
    with pytest.raises(OptionError, match=re.escape(found)):
        gp.check_replicas(nets.deck_toy(), kvstore=kvstore)


@pytest.mark.parametrize('timeout', [0, -1, 'ten', math.nan, True])
def test_a_bad_timeout_is_refused(timeout):
    with pytest.raises(OptionError, match='must be a number of seconds above 0, or None'):
        gp.save(nets.deck_toy(), 'x.safetensors', kvstore=mx.kv.create('local'), timeout=timeout)


def test_a_call_that_does_not_return_in_time_fails_and_the_channel_refuses_more(monkeypatch):
    exits = []
    monkeypatch.setattr(_kv_channel, '_exit_when_python_exits', exits.append)
    kv = mx.kv.create('local')
    channel = _kv_channel.Channel(kv)
    start = time.monotonic()
    with pytest.raises(DistributedError, match='no answer from the other workers within 0.2 s'):
        channel.run('the test', lambda: time.sleep(5), timeout=0.2)
    assert time.monotonic() - start < 5 and exits == [kv]
    with pytest.raises(DistributedError, match='cannot be used any more: rank 0 of 1 waited'):
        channel.run('the next call', lambda: 1, timeout=1)


def test_the_exchange_is_exact_and_switches_when_the_servers_run_an_optimizer():
    # A local KVStore combines pushes as parameter servers do: without an updater it
    # stores their sum; with an optimizer it applies an update step instead.
    kv = mx.kv.create('local')
    channel = _kv_channel.Channel(kv)
    words = onp.array([0, 1, 2 ** 16 - 1, 12345, 40000])
    for _ in range(3):                       # a reused key, again and again
        assert channel.broadcast(words).tolist() == words.tolist()
        assert channel.gather([True, False, True]).tolist() == [[True, False, True]]
    assert not channel.optimizer_mode
    kv.set_optimizer(mx.optimizer.create('adam', learning_rate=0.01))
    assert channel.broadcast(words).tolist() == words.tolist()
    assert channel.optimizer_mode
    assert channel.gather([False, True, True]).tolist() == [[False, True, True]]
    assert channel.broadcast(words[::-1]).tolist() == words[::-1].tolist()


def test_the_exchange_uses_string_keys_on_a_kvstore_that_does():
    kv = mx.kv.create('local')
    kv.init('weight', mx.nd.zeros(3))
    channel = _kv_channel.Channel(kv)
    assert channel.broadcast([7, 8]).tolist() == [7, 8]
    assert channel.string_keys is True


def test_an_optimizer_that_loses_the_flags_is_reported():
    kv = mx.kv.create('local')
    kv.set_optimizer(mx.optimizer.create('sgd', learning_rate=0.0))
    channel = _kv_channel.Channel(kv)
    with pytest.raises(DistributedError, match='update_on_kvstore=False'):
        channel.gather([True])


def test_the_launcher_ends_a_worker_at_its_deadline():
    with launch_local.LocalCluster(1) as running:
        running.start_workers(['-c', 'import time; print("up", flush=True); time.sleep(60)'])
        (finished,) = running.wait(2.0)
    assert finished.returncode == launch_local.TIMED_OUT and finished.stdout == 'up\n'
    assert _leftovers(running) == []


def test_a_trainer_whose_servers_hold_the_weights_is_not_loaded_behind_its_back(cluster,
                                                                                tmp_path):
    # After a step, the servers of a 'dist' KVStore hold the weights (update_on_kvstore):
    # values loaded on the workers would be replaced at the next step.
    finished = cluster(2, 'trainer', tmp_path).wait(DEADLINE)
    assert [w.returncode for w in finished] == [0, 0], finished[0].stderr
    for steps in results(finished).values():
        for step in ('load', 'load with kvstore'):
            assert steps[step]['error'] == 'CheckpointError'
            assert 'nothing was loaded' in steps[step]['message']
            assert 'update_on_kvstore=False' in steps[step]['message']
        assert steps['unchanged'] == {'value': True}
        assert steps['replicas'] == {'value': len(list(gp.named_parameters(reference_net())))}
        assert steps['save state']['error'] == 'CheckpointError'
        assert "optimizer state lives on its servers" in steps['save state']['message']
        assert steps['file kept'] == {'value': True}


def test_the_distributed_benchmark_runs_at_a_tiny_size():
    # its numbers are not checked here: speed belongs to benchmarks/, not to the suite
    done = subprocess.run([sys.executable, str(HERE.parent / 'benchmarks' / 'bench_distributed.py'),
                           '--model', 'deck-tied', '--repeat', '1', '--timeout', '60'],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for line in ('deck-tied: 6 parameters', 'check_replicas(kvstore=)', 'of which hashing',
                 'one kv.pushpull of all params', 'check_replicas / pushpull'):
        assert line in done.stdout


def test_the_drift_measurement_runs_at_a_tiny_size():
    done = subprocess.run([sys.executable, str(HERE.parent / 'benchmarks' / 'measure_drift.py'),
                           '--runs', '1', '--steps', '2'], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    for setting in ('False', 'True'):
        assert re.search(rf'update_on_kvstore={setting}: replicas differed in [01] of 1 runs '
                         rf'of 2 steps', done.stdout)
