"""The set-up the README promises is the one CI runs."""

import configparser
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import gluonnlp_problem

from gluonparams import _compat

ROOT = Path(__file__).resolve().parent.parent


def readme_commands():
    return re.findall(r'```sh\n(pip install [^\n]+)\n```', (ROOT / 'README.md').read_text())


def test_readme_has_the_two_commands():
    main_job, tests = readme_commands()[:2]
    assert main_job == "pip install '.[cpu]' && gluonparams summary"
    assert tests.startswith("pip install '.[cpu,test]' && python -m pytest")


def test_ci_runs_the_readme_test_command():
    assert readme_commands()[1] in (ROOT / '.ci' / 'run').read_text()


def test_extras_pin_mxnet_and_numpy():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / 'setup.cfg')
    extras = cfg['options.extras_require']
    assert extras['cpu'].split() == ['mxnet==2.0.0b1']
    assert extras['gpu'].split() == ['mxnet-cu112==2.0.0b1']
    assert 'numpy<1.24' in cfg['options']['install_requires'].split()


def _pytest_with(require_gpu, **more):
    """A small pytest session (test_errors.py) with GLUONPARAMS_REQUIRE_GPU set."""
    env = dict(os.environ, GLUONPARAMS_REQUIRE_GPU=require_gpu, **more)
    done = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                           'tests/test_errors.py'], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def test_a_gpu_session_fails_without_a_gpu_instead_of_passing_on_cpu():
    code, out = _pytest_with('1')
    if _compat.num_gpus():
        assert code == 0 and ' passed' in out
        return
    assert code == pytest.ExitCode.USAGE_ERROR, out
    assert 'GLUONPARAMS_REQUIRE_GPU=1 but MXNet' in out and 'sees no GPU' in out
    assert ' passed' not in out and ' skipped' not in out


@pytest.mark.parametrize('value, code', [('0', 0), ('maybe', pytest.ExitCode.USAGE_ERROR)])
def test_require_gpu_off_runs_normally_and_a_wrong_value_is_refused(value, code):
    status, out = _pytest_with(value)
    assert status == code, out
    if code:
        assert "GLUONPARAMS_REQUIRE_GPU='maybe' is not understood" in out
    else:
        assert re.search(r'\b\d+ passed\b', out)


def test_ci_runs_the_suite_on_mxnet_1_9_1_in_a_second_environment():
    text = (ROOT / '.ci' / 'run').read_text()
    assert text.count(' -m venv ') == 2
    assert "install --quiet 'mxnet==1.9.1' 'gluonnlp==0.10.0' 'numpy<1.24' '.[test]'" in text
    assert text.count('python -m pytest') == 2


def test_ci_requires_gluonnlp_in_the_mxnet_1_9_1_run_only():
    set_up_and_mx20, mx19 = (ROOT / '.ci' / 'run').read_text().split('\ndeactivate\n')
    assert 'export GLUONPARAMS_REQUIRE_GLUONNLP' not in set_up_and_mx20
    assert 'export GLUONPARAMS_REQUIRE_GLUONNLP=1' in mx19


def test_a_session_requiring_gluonnlp_fails_where_it_cannot_run(tmp_path):
    stub = tmp_path / 'gluonnlp'
    stub.mkdir()
    (stub / '__init__.py').write_text("raise ImportError('simulated: not installed')\n")
    code, out = _pytest_with('0', GLUONPARAMS_REQUIRE_GLUONNLP='1', PYTHONPATH=str(tmp_path))
    assert code == pytest.ExitCode.USAGE_ERROR, out
    assert 'GLUONPARAMS_REQUIRE_GLUONNLP=1 but' in out and ' passed' not in out
    assert ('simulated: not installed' in out) == _compat.HAS_GLOBAL_NAMES
    if _compat.HAS_GLOBAL_NAMES and gluonnlp_problem() is None:   # the real one is here
        code, out = _pytest_with('0', GLUONPARAMS_REQUIRE_GLUONNLP='1')
        assert code == 0 and ' passed' in out


def test_tox_matrix_pins_the_same_mxnet_as_the_extras():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / 'tox.ini')
    assert tox['tox']['envlist'].split() == ['py{310,311}-mx{19,20}-{cpu,gpu}', 'lint', 'type']
    deps = dict(line.split(': ') for line in tox['testenv']['deps'].split('\n') if ': ' in line)
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / 'setup.cfg')
    extras = cfg['options.extras_require']
    assert deps['mx20-cpu'] == extras['cpu'].strip() and deps['mx20-gpu'] == extras['gpu'].strip()
    assert deps == {'mx19-cpu': 'mxnet==1.9.1', 'mx20-cpu': 'mxnet==2.0.0b1',
                    'mx19-gpu': 'mxnet-cu112==1.9.1', 'mx20-gpu': 'mxnet-cu112==2.0.0b1'}
    assert 'numpy<1.24' in tox['testenv']['deps'].split()
    assert tox['testenv']['set_env'].split() == ['gpu:', 'GLUONPARAMS_REQUIRE_GPU', '=', '1']
