"""The set-up the README promises is the one CI runs, and the documentation holds together:
a short README, a site whose pages and links exist, an API reference of every public name,
built strictly in CI."""

import configparser
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import gluonnlp_problem

import gluonparams as gp
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


def test_ci_installs_chromium_for_the_browser_tests_of_both_runs():
    """Without a browser the browser tests fail in CI, unless .ci/run says why it could not
    install one (tests/test_browser.py); apt waits for other users' locks, asks nothing."""
    text = (ROOT / '.ci' / 'run').read_text()
    setup = text[:text.index('python -m pytest')]
    assert 'install -y --no-install-recommends chromium' in setup
    assert 'DEBIAN_FRONTEND=noninteractive' in setup and 'DPkg::Lock::Timeout=' in setup
    assert 'export GLUONPARAMS_REQUIRE_BROWSER=1' in setup
    assert 'export GLUONPARAMS_NO_BROWSER="' in setup
    done = subprocess.run(['bash', '-n', str(ROOT / '.ci' / 'run')], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / 'setup.cfg')
    test_extra = {re.split(r'[<>=]', line)[0] for line in
                  cfg['options.extras_require']['test'].split()}
    assert {'playwright', 'nbclient', 'nbconvert', 'ipykernel', 'nbformat'} <= test_extra


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
    assert tox['tox']['envlist'].split() == [
        'py{310,311}-mx{19,20}-{cpu,gpu}', 'lint', 'type', 'docs']
    deps = dict(line.split(': ') for line in tox['testenv']['deps'].split('\n') if ': ' in line)
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / 'setup.cfg')
    extras = cfg['options.extras_require']
    assert deps['mx20-cpu'] == extras['cpu'].strip() and deps['mx20-gpu'] == extras['gpu'].strip()
    assert deps == {'mx19-cpu': 'mxnet==1.9.1', 'mx20-cpu': 'mxnet==2.0.0b1',
                    'mx19-gpu': 'mxnet-cu112==1.9.1', 'mx20-gpu': 'mxnet-cu112==2.0.0b1',
                    'mx19': 'gluonnlp==0.10.0'}
    assert 'numpy<1.24' in tox['testenv']['deps'].split()
    assert tox['testenv']['set_env'].split() == ['gpu:', 'GLUONPARAMS_REQUIRE_GPU', '=', '1',
                                                 'mx19:', 'GLUONPARAMS_REQUIRE_GLUONNLP', '=', '1']
    assert 'GLUONPARAMS_OTHER_MXNET_PYTHON' in tox['testenv']['passenv'].split()


# --- the README and the documentation site ---

README_MAX_BYTES = 10_000
DOCS = ROOT / 'docs'


def test_readme_stays_short():
    size = len((ROOT / 'README.md').read_bytes())
    assert size <= README_MAX_BYTES, (
        f'README.md is {size:,} bytes, over {README_MAX_BYTES:,}: it says what gluonparams is, '
        f'how to set it up, a short tour and links; move the rest to a page under docs/')


def test_readme_and_the_tree_guide_show_the_golden_tree():
    tree = (ROOT / 'tests' / 'golden' / 'deck_tied.txt').read_text()
    for page in (ROOT / 'README.md', DOCS / 'guide' / 'tree.md'):
        assert f'```\n{tree}```' in page.read_text(), \
            f'{page.name} does not show tests/golden/deck_tied.txt verbatim (regenerated?)'


def nav_pages() -> list[str]:
    """The pages mkdocs.yml's nav names, read without a YAML parser (the test extra has none):
    every ``*.md`` from ``nav:`` to the next top-level key."""
    text = (ROOT / 'mkdocs.yml').read_text()
    nav = re.search(r'^nav:\n(.*?)(?=^\S)', text, re.M | re.S)
    assert nav, 'mkdocs.yml has no nav'
    return re.findall(r'^\s+-\s+(?:[^:\n]+:\s+)?([\w./-]+\.md)\s*$', nav.group(1), re.M)


def test_every_page_of_the_nav_exists_and_every_page_is_in_the_nav():
    pages = nav_pages()
    assert len(pages) >= 10, pages
    missing = [p for p in pages if not (DOCS / p).is_file()]
    assert not missing, f'mkdocs.yml nav names pages that do not exist under docs/: {missing}'
    unlisted = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob('*.md')
                      if str(p.relative_to(DOCS)) not in pages)
    assert not unlisted, f'pages under docs/ missing from mkdocs.yml nav: {unlisted}'


def markdown_links(text: str) -> list[str]:
    """Targets of inline links and images, outside code blocks and code spans."""
    text = re.sub(r'^```.*?^```', '', text, flags=re.M | re.S)
    text = re.sub(r'(`+)(?:(?!\1).)+?\1', '', text, flags=re.S)
    return re.findall(r'\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)', text)


def local_links(page: Path) -> list[tuple[str, Path]]:
    """``(link, the file it points to)`` for every link to a local file."""
    found = []
    for link in markdown_links(page.read_text()):
        if re.match(r'[a-z][a-z0-9+.-]*:', link, re.I) or link.startswith('#'):
            continue
        found.append((link, (page.parent / link.split('#')[0]).resolve()))
    return found


MARKDOWN = sorted([ROOT / 'README.md', ROOT / 'CONTRIBUTING.md', ROOT / 'benchmarks' / 'README.md',
                   *DOCS.rglob('*.md')])


@pytest.mark.parametrize('page', MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_local_links_resolve(page):
    broken = [link for link, target in local_links(page) if not target.exists()]
    assert not broken, f'{page.relative_to(ROOT)} links to files that do not exist: {broken}'
    if page.is_relative_to(DOCS):
        outside = [link for link, target in local_links(page) if not target.is_relative_to(DOCS)]
        assert not outside, (f'{page.relative_to(ROOT)} links outside docs/, which the site '
                             f'cannot follow: {outside}; name such files as code')


def test_the_benchmark_figures_page_has_no_relative_links():
    """docs/benchmarks.md includes benchmarks/README.md, where a relative link would break."""
    assert '--8<-- "benchmarks/README.md"' in (DOCS / 'benchmarks.md').read_text()
    assert local_links(ROOT / 'benchmarks' / 'README.md') == []


def test_the_readme_links_the_documentation_contributing_and_benchmarks():
    targets = {link.split('#')[0] for link, _ in local_links(ROOT / 'README.md')}
    assert {'docs/index.md', 'CONTRIBUTING.md', 'benchmarks/README.md',
            'docs/formats.md', 'docs/reference/index.md'} <= targets


def reference_objects() -> dict[str, object]:
    """Each ``::: dotted.path`` of the API reference pages, resolved to its object."""
    found = {}
    for page in sorted((DOCS / 'reference').glob('*.md')):
        for path in re.findall(r'^::: ([\w.]+)\s*$', page.read_text(), re.M):
            module, _, name = path.rpartition('.')
            found[path] = getattr(importlib.import_module(module), name)
    return found


def test_the_api_reference_documents_every_public_name_by_its_public_path():
    objects = reference_objects()
    for path, obj in objects.items():
        name = path.rpartition('.')[2]
        assert name in gp.__all__ and getattr(gp, name) is obj, \
            f'{path} in docs/reference/ is not gluonparams.{name}, a public name'
    documented = {path.rpartition('.')[2] for path in objects}
    missing = sorted(set(gp.__all__) - documented)
    assert not missing, f'public names missing from docs/reference/: {missing}'


def test_ci_builds_the_documentation_strictly_after_the_mxnet_2_suite():
    text = (ROOT / '.ci' / 'run').read_text()
    tests = text.index(readme_commands()[1])
    install = text.index("pip install --quiet '.[docs]' 'numpy<1.24'")
    build = text.index('mkdocs build --strict --site-dir "$work/site"')
    assert tests < install < build < text.index('deactivate', build), \
        'the docs are built in the MXNet 2.0 environment, after its suite'


def test_the_docs_extra_and_the_tox_environment():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / 'setup.cfg')
    docs = cfg['options.extras_require']['docs'].split()
    assert {re.split(r'[<>=\[]', d)[0] for d in docs} >= {
        'mkdocs', 'mkdocs-material', 'mkdocstrings', 'mkdocstrings-python'}
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / 'tox.ini')
    assert tox['testenv:docs']['extras'].strip() == 'docs'
    assert tox['testenv:docs']['commands'].startswith('mkdocs build --strict')
    assert 'site/' in (ROOT / '.gitignore').read_text().split()
