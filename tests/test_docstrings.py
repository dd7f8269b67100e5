"""Every example in a docstring runs, as doctest, and shows what it says it shows.

Each docstring runs in its own namespace: ``gp``, ``mx``, ``gluon``, ``nn`` and
``net``, a fresh copy of the deck's tied network (layers 1 and 2 share a weight and a
bias; 330 parameters, run once), in a temporary folder, so examples may save files.
An example that cannot run here is marked ``# doctest: +SKIP`` and listed below with
the reason.
"""

import doctest
import importlib
import pkgutil
import warnings

import mxnet as mx
import pytest
from mxnet import gluon
from mxnet.gluon import nn

import gluonparams as gp
from gluonparams import zoo

# (module, the example without its directive) -> why it cannot run in the suite
SKIPPED = {
    ('gluonparams.devices', 'gp.check_replicas(net, kvstore=kv)        # every worker'):
        'needs the workers of a distributed KVStore (tests/test_distributed.py runs it)',
}

MODULES = sorted(m.name for m in pkgutil.walk_packages(gp.__path__, 'gluonparams.')
                 if not m.name.endswith('__main__'))


def namespace() -> dict:
    net, x = zoo.deck_tied_net()
    net(x)
    mx.nd.waitall()
    return {'gp': gp, 'mx': mx, 'gluon': gluon, 'nn': nn, 'net': net}


def examples(module_name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(module_name)
    found = doctest.DocTestFinder(exclude_empty=True).find(module, module_name)
    return [t for t in found if t.examples and t.name.startswith(module_name)]


def test_the_modules_have_examples_to_run():
    with_examples = [m for m in MODULES if examples(m)]
    assert len(with_examples) >= 12, with_examples


@pytest.mark.parametrize('module_name', [m for m in MODULES if examples(m)])
def test_docstring_examples_run(module_name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    skipped = set()
    for test in examples(module_name):
        skipped |= {(module_name, e.source.split('# doctest:')[0].strip())
                    for e in test.examples if e.options.get(doctest.SKIP)}
        test.globs.update(namespace())     # the module's own names, and the namespace
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', UserWarning)   # Gluon's, for tied parameters
            runner.run(test, out=report.append)
    assert runner.failures == 0, ''.join(report)
    assert runner.tries > 0
    assert skipped == {k for k in SKIPPED if k[0] == module_name}, \
        'an example is skipped without a reason in SKIPPED (or a listed one is gone)'
