"""Run a Python script as the workers of an MXNet KVStore cluster on this machine.

    python launch_local.py -n 2 distributed_training.py [its arguments]

starts a scheduler, one server and ``-n`` workers as separate processes that talk
over loopback, configured with the ``DMLC_*`` variables MXNet's own launcher
(``tools/launch.py``) sets on a real cluster: ``DMLC_ROLE``, ``DMLC_PS_ROOT_URI``
(127.0.0.1), ``DMLC_PS_ROOT_PORT`` (a free port), ``DMLC_NUM_SERVER`` and
``DMLC_NUM_WORKER``. It prints each worker's output once all have finished and
exits with the first nonzero exit status of a worker (0 when all succeeded). Every
process is ended after ``--timeout`` seconds; none is left running.

With no script, each worker creates a 'dist_sync' KVStore and reports its rank.
``LocalCluster`` is the same machinery for a program (the tests use it).
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

HELLO = ('import mxnet as mx; kv = mx.kv.create("dist_sync"); '
         'print(f"rank {kv.rank} of {kv.num_workers} ready", flush=True)')
TIMED_OUT = -1000       # the exit status reported for a process ended at the deadline


def free_port() -> int:
    """A TCP port nobody listens on now (the scheduler binds it a moment later)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@dataclass
class Finished:
    """A worker that ended: its exit status (TIMED_OUT if it was ended) and output."""

    returncode: int
    stdout: str
    stderr: str


class LocalCluster:
    """A scheduler, servers and workers on this machine; a context manager that ends
    every process it started when it closes."""

    def __init__(self, num_workers: int = 2, num_servers: int = 1,
                 python: str = sys.executable, env: Optional[Dict[str, str]] = None) -> None:
        self.python = python
        self.port = free_port()
        self.env = {**os.environ, **(env or {}), 'DMLC_PS_ROOT_URI': '127.0.0.1',
                    'DMLC_PS_ROOT_PORT': str(self.port), 'DMLC_NUM_SERVER': str(num_servers),
                    'DMLC_NUM_WORKER': str(num_workers)}
        self.num_servers = num_servers
        self.folder = Path(tempfile.mkdtemp(prefix='kvcluster-'))
        self.processes: List[subprocess.Popen] = []
        self.workers: List[subprocess.Popen] = []
        self.logs: Dict[subprocess.Popen, Path] = {}     # process -> its log files' stem

    def __enter__(self) -> 'LocalCluster':
        try:
            # importing mxnet with DMLC_ROLE=scheduler or server runs that node, then exits
            self._spawn('scheduler', ['-c', 'import mxnet'])
            for _ in range(self.num_servers):
                self._spawn('server', ['-c', 'import mxnet'])
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _spawn(self, role: str, argv: Sequence[str]) -> subprocess.Popen:
        stem = self.folder / f'{role}{len(self.processes)}'
        with open(f'{stem}.out', 'w') as out, open(f'{stem}.err', 'w') as err:
            process = subprocess.Popen([self.python, *argv], env={**self.env, 'DMLC_ROLE': role},
                                       stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.processes.append(process)
        self.logs[process] = stem
        return process

    def start_workers(self, argv: Sequence[str]) -> List[subprocess.Popen]:
        """Start the ``DMLC_NUM_WORKER`` workers, each running ``python *argv``."""
        count = int(self.env['DMLC_NUM_WORKER'])
        self.workers = [self._spawn('worker', argv) for _ in range(count)]
        return self.workers

    def wait(self, timeout: float) -> List[Finished]:
        """Wait for every worker (ending those still running after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        done = []
        for process in self.workers:
            try:
                code = process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                code = TIMED_OUT
            done.append(Finished(code, self._read(process, 'out'), self._read(process, 'err')))
        return done

    def _read(self, process: subprocess.Popen, stream: str) -> str:
        return Path(f'{self.logs[process]}.{stream}').read_text(errors='replace')

    def close(self) -> None:
        """End every process still running (SIGKILL) and reap all of them."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
        for process in self.processes:
            process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def run(argv: Sequence[str], num_workers: int = 2, timeout: float = 120.0,
        env: Optional[Dict[str, str]] = None) -> List[Finished]:
    """Run ``python *argv`` as ``num_workers`` workers of a new local cluster."""
    with LocalCluster(num_workers, env=env) as cluster:
        cluster.start_workers(argv)
        return cluster.wait(timeout)


def main(args: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('-n', '--num-workers', type=int, default=2)
    parser.add_argument('--timeout', type=float, default=120.0,
                        help='seconds before every process is ended (default 120)')
    parser.add_argument('script', nargs='?', help='the Python script each worker runs')
    parser.add_argument('script_args', nargs=argparse.REMAINDER)
    options = parser.parse_args(args)
    argv = [options.script, *options.script_args] if options.script else ['-c', HELLO]
    finished = run(argv, options.num_workers, options.timeout)
    for i, worker in enumerate(finished):
        sys.stdout.write(worker.stdout)
        if worker.returncode:
            status = ('ended at the deadline' if worker.returncode == TIMED_OUT
                      else f'exit status {worker.returncode}')
            sys.stderr.write(f'--- worker process {i}: {status}\n{worker.stderr}')
    return next((w.returncode for w in finished if w.returncode), 0)


if __name__ == '__main__':
    sys.exit(main())
