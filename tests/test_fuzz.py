"""The checkpoint readers, fuzzed: mutated files of every format go to gp.inspect,
gp.verify and gp.load, which must load them or raise CheckpointError, nothing else.

``tests/fuzz/fuzz_loader.py`` does the work in a subprocess, so a crash or a hang
fails the test (with the input that caused it kept) instead of ending the run. The
run is short and fixed: ``MUTATIONS`` mutants of each corpus file from seed 0
(``GLUONPARAMS_FUZZ_MUTATIONS`` for more; atheris runs it for as long as you like,
see the fuzzer's docstring).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FUZZER = HERE / 'fuzz' / 'fuzz_loader.py'
CORPUS = HERE / 'corpus'
MUTATIONS = int(os.environ.get('GLUONPARAMS_FUZZ_MUTATIONS', '100'))
ALL_REFUSED = 'refused refused refused refused'
ALL_LOADED = 'ok ok ok ok'


def fuzz(work: Path, *args: str, timeout: float = 600) -> dict:
    """Run the fuzzer; its report. A crash or a hang fails, naming the input (kept
    in ``work``)."""
    try:
        done = subprocess.run([sys.executable, str(FUZZER), '--work', str(work), *args],
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f'the fuzzer hung on {current_case(work)}')
    if done.returncode != 0:
        ended = (f'signal {signal.Signals(-done.returncode).name}' if done.returncode < 0
                 else f'exit code {done.returncode}')
        pytest.fail(f'the fuzzer ended with {ended} on {current_case(work)}\n{done.stderr[-3000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def current_case(work: Path) -> str:
    case = json.loads((work / 'current.json').read_text())
    kept = work / f'crash{case["ext"]}'
    shutil.copy(work / 'current.bin', kept)
    return f'{case["label"]} (kept as {kept}; add it to tests/corpus/)'


def failures(report: dict) -> str:
    return '\n'.join(f'{f["label"]}: {f["error"]} (kept as {f["file"]})'
                     for f in report['failures'])


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    return fuzz(tmp_path_factory.mktemp('fuzz'), '--mutations', str(MUTATIONS), '--seed', '0')


def test_mutated_checkpoints_are_loaded_or_refused_never_anything_else(report):
    assert not report['failures'], failures(report)
    assert report['executions'] == report['seeds'] * (MUTATIONS + 1)
    outcomes = report['outcomes']
    assert outcomes[ALL_REFUSED] > report['executions'] // 2
    assert outcomes[ALL_LOADED] > report['seeds']           # the corpus, and harmless edits
    # and mutants that pass the header but are refused when loaded
    assert any(o.startswith('ok') and 'refused' in o for o in outcomes)
    assert report['address_space_limit']


def test_every_file_in_the_corpus_replays(report):
    """Valid files load; the inputs fuzzing found (``fuzz-*``) give CheckpointError at
    least where they once failed (each has a regression test of its own)."""
    files = sorted(p.name for p in CORPUS.iterdir()
                   if p.suffix in ('.safetensors', '.params', '.npz'))
    as_is = {name.removeprefix('corpus/'): outcome for name, outcome in report['as_is'].items()
             if name.startswith('corpus/')}
    assert sorted(as_is) == files
    for name, outcome in as_is.items():
        assert outcome == ALL_LOADED or name.startswith('fuzz-') and 'refused' in outcome, name
    generated = {n: o for n, o in report['as_is'].items() if not n.startswith('corpus/')}
    assert len(generated) >= 9 and set(generated.values()) == {ALL_LOADED}
