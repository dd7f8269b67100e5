"""``import gluonparams`` refuses a numpy MXNet cannot import with, before MXNet is imported.

The environment's numpy is never changed: a child Python finds a fake ``numpy`` package
(only ``__version__``) first on ``sys.path``, then imports gluonparams.
"""

import subprocess
import sys

import numpy
import pytest

import gluonparams as gp
from gluonparams import _numpy_guard

CHILD = r'''
import sys
sys.path.insert(0, sys.argv[1])          # the fake numpy first
try:
    import gluonparams
except ImportError as e:
    print('ERROR', type(e).__name__, type(e).__mro__[1].__name__, isinstance(e, ImportError))
    print('MESSAGE', e)
else:
    print('IMPORTED')
print('MXNET_IMPORTED', 'mxnet' in sys.modules)
'''


def import_with_numpy(tmp_path, version):
    fake = tmp_path / 'fake'
    (fake / 'numpy').mkdir(parents=True)
    (fake / 'numpy' / '__init__.py').write_text(f'__version__ = {version!r}\n')
    done = subprocess.run([sys.executable, '-c', CHILD, str(fake)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout, fake / 'numpy'


@pytest.mark.parametrize('version, removed', [('1.24.0', 'np.bool'), ('1.26.4', 'np.bool'),
                                              ('2.2.6', 'np.PZERO')])
def test_import_refuses_numpy_124_or_newer_before_mxnet(tmp_path, version, removed):
    out, where = import_with_numpy(tmp_path, version)
    assert 'ERROR DependencyError GluonParamsError True' in out, out
    message = out.split('MESSAGE ', 1)[1].split('\nMXNET_IMPORTED')[0]
    assert message == (
        f'gluonparams needs numpy<1.24, but numpy {version} is installed ({where}). '
        f'{_numpy_guard.mxnet_version()} uses np.bool and np.PZERO, which numpy 1.24 and 2.0 '
        f'removed, so "import mxnet" fails with an AttributeError about {removed}. This often '
        f'happens after installing another package that upgrades numpy. '
        f'Fix: {sys.executable} -m pip install "numpy<1.24"')
    assert 'MXNET_IMPORTED False' in out


@pytest.mark.parametrize('version, refused', [
    ('1.23.5', False), ('1.21.6', False), ('1.16.6', False), ('1.24.0rc1', True),
    ('1.25.0.dev0+1234', True), ('2.0.0', True), ('10.1', True), ('not a version', False)])
def test_which_versions_are_refused(version, refused):
    assert (_numpy_guard.numpy_problem(version) is not None) == refused


def test_the_numpy_of_this_environment_passes_and_mxnet_version_is_read_without_mxnet():
    assert _numpy_guard.numpy_problem(numpy.__version__) is None
    from gluonparams import _compat
    named = _numpy_guard.mxnet_version()
    assert named.startswith('MXNet ')
    # the distribution's version (2.0.0b1) and the module's (2.0.0beta1) spell beta apart
    assert named.split()[1] == _compat.MXNET_VERSION.replace('beta', 'b')
    assert issubclass(gp.DependencyError, ImportError)
