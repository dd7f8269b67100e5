"""Shared fixtures. ``device`` runs a test on cpu(0), cpu(1), the pair [cpu(0), cpu(1)]
and every GPU present: MXNet treats cpu(0) and cpu(1) as distinct devices, so
multi-device behaviour is tested without a GPU.

``GLUONPARAMS_REQUIRE_GPU=1`` (set by the tox ``gpu`` environments) makes a session that
sees no GPU fail before running any test, so a GPU run can never pass on the CPU alone.
``GLUONPARAMS_REQUIRE_GLUONNLP=1`` (set by ``.ci/run`` in its MXNet 1.9.1 environment)
does the same where GluonNLP 0.10 cannot be imported, so the tests on its BERT and
language models (``test_gluonnlp.py``) never skip there.
"""

import os
from typing import Optional

import pytest
from hypothesis import HealthCheck, settings

REQUIRE_GPU = 'GLUONPARAMS_REQUIRE_GPU'
REQUIRE_GLUONNLP = 'GLUONPARAMS_REQUIRE_GLUONNLP'


def _required(variable: str, what: str) -> bool:
    value = os.environ.get(variable, '').strip().lower()
    if value not in ('', '0', 'false', 'no', '1', 'true', 'yes'):
        pytest.exit(f'{variable}={os.environ[variable]!r} is not understood: use 1 to '
                    f'require {what}, 0 or unset not to', returncode=pytest.ExitCode.USAGE_ERROR)
    return value in ('1', 'true', 'yes')


def _gpu_required() -> bool:
    return _required(REQUIRE_GPU, 'a GPU')


try:
    import mxnet as mx
except OSError as e:          # a CUDA build of MXNet where CUDA, cuDNN or a driver is missing
    if _gpu_required():
        pytest.exit(f'{REQUIRE_GPU}=1 but MXNet cannot load its GPU libraries here ({e}); run '
                    f'this GPU environment on a machine with a GPU, CUDA 11.2 and cuDNN 8',
                    returncode=pytest.ExitCode.USAGE_ERROR)
    raise

from gluonparams import _compat  # noqa: E402  (after the check above)


def pytest_sessionstart(session):
    if _gpu_required() and _compat.num_gpus() == 0:
        pytest.exit(f'{REQUIRE_GPU}=1 but MXNet {_compat.MXNET_VERSION} sees no GPU '
                    f'(num_gpus() == 0), so this GPU run would test the CPU only. Run it where '
                    f'a GPU and a CUDA build of MXNet (mxnet-cu112) are, or unset {REQUIRE_GPU} '
                    f'for a CPU run', returncode=pytest.ExitCode.USAGE_ERROR)
    if _required(REQUIRE_GLUONNLP, 'GluonNLP') and (problem := gluonnlp_problem()):
        pytest.exit(f'{REQUIRE_GLUONNLP}=1 but {problem}, so the tests on its BERT and '
                    f'language models would be skipped. Run this session where MXNet 1.9.1 and '
                    f'gluonnlp==0.10.0 are installed, or unset {REQUIRE_GLUONNLP}',
                    returncode=pytest.ExitCode.USAGE_ERROR)


def gluonnlp_problem() -> Optional[str]:
    """Why GluonNLP 0.10 cannot be tested here, or None when it can."""
    if not _compat.HAS_GLOBAL_NAMES:
        return (f'GluonNLP 0.10 needs MXNet 1.x and this is MXNet {_compat.MXNET_VERSION} (its '
                f'models are tested in the MXNet 1.9.1 environment)')
    try:
        import gluonnlp
    except Exception as e:   # noqa: BLE001 - any failure to import says the same
        return (f'GluonNLP cannot be imported ({type(e).__name__}: {e}; pip install '
                f'gluonnlp==0.10.0)')
    if not gluonnlp.__version__.startswith('0.10.'):
        return f'GluonNLP is {gluonnlp.__version__}, not 0.10'
    return None


def _devices():
    found = [mx.cpu(0), mx.cpu(1), [mx.cpu(0), mx.cpu(1)]]
    found += [mx.gpu(i) for i in range(_compat.num_gpus())]
    return found


def _device_id(device):
    if isinstance(device, list):
        return '+'.join(_compat.device_name(d) for d in device)
    return _compat.device_name(device)


@pytest.fixture(params=_devices(), ids=_device_id)
def device(request):
    """A device, or a list of devices, to initialize networks on."""
    return request.param


@pytest.fixture(autouse=True)
def _settle_engine():
    """MXNet runs asynchronously: let each test's work finish inside the test."""
    yield
    mx.nd.waitall()


# --- for stress tests (issue 7) ---
# The devices the `device` fixture runs on, for hypothesis strategies to draw from (a
# function-scoped fixture cannot vary inside one hypothesis test).
DEVICES = _devices()

# Hypothesis profiles: 'ci' (the default) runs a bounded number of examples from a fixed
# seed, so every run tries the same networks; HYPOTHESIS_PROFILE=thorough runs many more
# from a new seed each time and keeps failing examples in .hypothesis/ to replay them.
settings.register_profile('ci', max_examples=40, derandomize=True, database=None,
                          deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile('thorough', max_examples=600, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))


@pytest.fixture(autouse=True)
def _same_random_state():
    """Every test starts from the same random state, whatever ran before it: networks are
    initialized from MXNet's global generator, and a test whose values depend on the tests
    before it (a ReLU layer that happens to be dead, in ~5% of states) is flaky."""
    mx.random.seed(0)


# --- notebooks (issue 15) ---
# Cells appended to examples/parameter_management.ipynb before it runs (never stored in
# it): how gp.summary shows itself in the cases a learner meets, and figures inline.
PROBES = {
    'probe-assigned': 's = gp.summary(net)',
    'probe-printed': 'print(gp.summary(net, file=None))',
    'probe-explicit': 'import sys\ngp.summary(net, file=sys.stdout)',
    'probe-not-last': "gp.summary(net)\n'the summary is not the last expression'",
    'probe-flagged': 'net2[3].weight.set_data(net2[3].weight.data() * 0)\ngp.stats(net2)',
    'probe-inline': "%matplotlib inline\nimport matplotlib.pyplot as plt\n"
                    "gp.plot_histograms(net, r'bias$')",
}


@pytest.fixture(scope='session')
def executed_notebook(tmp_path_factory):
    """The example notebook with the probe cells, run once in a real IPython kernel of
    this Python (tests/notebooks.py); ``(notebook, its folder, seconds it took)``."""
    import nbformat

    import notebooks
    folder = tmp_path_factory.mktemp('notebook')
    nb = notebooks.read()
    for tag, source in PROBES.items():
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={'tags': [tag]}))
    seconds = notebooks.execute(nb, folder)
    nbformat.write(nb, str(folder / 'executed.ipynb'))
    return nb, folder, seconds
