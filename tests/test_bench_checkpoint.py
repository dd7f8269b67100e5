"""The checkpoint benchmarks run (at a tiny size, so that they cannot rot); their numbers
are not checked here: speed belongs to benchmarks/, not to the test suite."""

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / 'benchmarks'


def run_tiny(name, folder):
    done = subprocess.run([sys.executable, str(BENCHMARKS / name), '--mib', '1', '--repeat', '1',
                           '--folder', str(folder)], capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    assert list(folder.iterdir()) == []          # it cleans up after itself
    return done.stdout


def test_checkpoint_benchmark_runs_at_a_tiny_size(tmp_path):
    out = run_tiny('bench_checkpoint.py', tmp_path)
    for line in ('save fsync=False vs save_parameters', 'load vs load_parameters',
                 'load time / readinto time', 'fsync cost', 'peak memory of gp.load',
                 'peak memory of load_parameters', 'targets:',
                 'background save blocks the training loop', 'training time lost per save',
                 'extra peak memory of a background save', 'target: background blocks'):
        assert line in out


def test_trainer_state_benchmark_runs_at_a_tiny_size(tmp_path):
    out = run_tiny('bench_trainer_state.py', tmp_path)
    for line in ('save vs save_parameters + save_states', 'load vs load_parameters + load_states',
                 "Gluon's two files"):
        assert line in out
