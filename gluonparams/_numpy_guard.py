"""Refuse a numpy MXNet cannot import with, before MXNet is imported.

MXNet 1.9.1 and 2.0.0b1 use ``np.bool`` (removed in numpy 1.24) and ``np.PZERO``
(removed in numpy 2.0): with a newer numpy, ``import mxnet`` fails with an
``AttributeError`` that does not say what to do. It happens after installing another
package that upgrades numpy (``pip install matplotlib`` in a fresh environment, for
one), since MXNet's own metadata allows numpy up to 2.0. ``gluonparams/__init__.py``
imports this module first; it raises :class:`~gluonparams.errors.DependencyError` (an
``ImportError``) that names the numpy found, the reason and the command that fixes it.

numpy itself is imported (MXNet imports it next anyway) rather than read from pip's
metadata: its ``__version__`` is the numpy Python really loads, whatever is installed.
"""

import os
import re
import sys
from importlib import metadata

import numpy

from .errors import DependencyError

__all__ = ['NUMPY_LIMIT', 'check_numpy', 'numpy_problem']

NUMPY_LIMIT = (1, 24)   # the first numpy release MXNet cannot import with
MXNET_DISTRIBUTIONS = ('mxnet', 'mxnet-cu112', 'mxnet-cu117', 'mxnet-cu110', 'mxnet-mkl',
                       'mxnet-native')


def mxnet_version() -> str:
    """``'MXNet 2.0.0b1'``, from the installed distribution's metadata (MXNet is not
    imported), or ``'MXNet'`` when none is found."""
    for name in MXNET_DISTRIBUTIONS:
        try:
            return f'MXNet {metadata.version(name)}'
        except metadata.PackageNotFoundError:
            continue
    return 'MXNet'


def numpy_problem(version: str, where: str = '') -> str | None:
    """The message for numpy ``version`` (installed at ``where``), or ``None`` when MXNet
    can import with it.

    Examples:
        >>> numpy_problem('1.23.5') is None
        True
        >>> print(numpy_problem('2.2.6', '/site-packages/numpy'))   # doctest: +ELLIPSIS
        gluonparams needs numpy<1.24, but numpy 2.2.6 is installed (/site-packages/numpy). \
MXNet ... uses np.bool and np.PZERO, which numpy 1.24 and 2.0 removed, so "import mxnet" \
fails with an AttributeError about np.PZERO. ... Fix: ... -m pip install "numpy<1.24"
    """
    found = re.match(r'(\d+)\.(\d+)', version)
    if found is None or (int(found.group(1)), int(found.group(2))) < NUMPY_LIMIT:
        return None
    removed = 'np.PZERO' if int(found.group(1)) >= 2 else 'np.bool'
    at = f' ({where})' if where else ''
    return (f'gluonparams needs numpy<1.24, but numpy {version} is installed{at}. '
            f'{mxnet_version()} uses np.bool and np.PZERO, which numpy 1.24 and 2.0 removed, '
            f'so "import mxnet" fails with an AttributeError about {removed}. This often '
            f'happens after installing another package that upgrades numpy. '
            f'Fix: {sys.executable} -m pip install "numpy<1.24"')


def check_numpy() -> None:
    """Raise :class:`DependencyError` when the numpy Python loads is 1.24 or newer."""
    where = getattr(numpy, '__file__', None)
    problem = numpy_problem(str(getattr(numpy, '__version__', '0')),
                            os.path.dirname(where) if where else '')
    if problem is not None:
        raise DependencyError(problem)


check_numpy()
