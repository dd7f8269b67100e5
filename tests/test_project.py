"""The set-up the README promises is the one CI runs."""

import configparser
import re
from pathlib import Path

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
