"""The trainer-state benchmark runs (at a tiny size, so that it cannot rot); its numbers
are not checked here: speed belongs to benchmarks/, not to the test suite."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / 'benchmarks' / 'bench_trainer_state.py'


def test_trainer_state_benchmark_runs_at_a_tiny_size(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH), '--mib', '1', '--repeat', '1',
                           '--folder', str(tmp_path)], capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    for line in ('save vs save_parameters + save_states', 'load vs load_parameters + load_states',
                 "Gluon's two files"):
        assert line in done.stdout
    assert list(tmp_path.iterdir()) == []          # it cleans up after itself
