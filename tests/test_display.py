"""Where ``gp.summary`` prints: sys.stdout at call time, nothing inside an IPython kernel.

A kernel is simulated here by an ``IPython`` module whose ``get_ipython()`` returns a
shell whose class derives from one named ``ZMQInteractiveShell`` (as Colab's does);
tests/test_notebook.py runs the real thing.
"""

import contextlib
import io
import sys
import types

import pytest
from IPython.lib.pretty import pretty

import gluonparams as gp
from gluonparams import _display

import nets


class ZMQInteractiveShell:          # the name is what the check looks for
    pass


class ColabShell(ZMQInteractiveShell):
    pass


class TerminalInteractiveShell:
    pass


@pytest.fixture
def shell(monkeypatch):
    """``shell(cls)`` makes ``IPython.get_ipython()`` return an instance of ``cls``."""
    def use(cls):
        fake = types.ModuleType('IPython')
        fake.get_ipython = lambda: cls() if cls is not None else None
        monkeypatch.setitem(sys.modules, 'IPython', fake)
    return use


def test_the_default_prints_to_the_stdout_of_the_moment():
    net = nets.deck_tied()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        s = gp.summary(net)
    assert out.getvalue() == str(s) + '\n'


def test_the_default_is_seen_by_capsys(capsys):
    s = gp.summary(nets.deck_tied())
    assert capsys.readouterr().out == str(s) + '\n'


@pytest.mark.parametrize('cls', [ZMQInteractiveShell, ColabShell])
def test_inside_a_kernel_nothing_is_printed_and_the_result_shows_the_tree(shell, capsys, cls):
    shell(cls)
    assert _display.in_ipython_kernel()
    s = gp.summary(nets.deck_tied())
    assert capsys.readouterr().out == ''
    assert pretty(s) == str(s)          # the text a kernel sends beside the HTML


def test_inside_a_kernel_an_explicit_file_still_prints(shell, capsys):
    shell(ZMQInteractiveShell)
    s = gp.summary(nets.deck_tied(), file=sys.stdout)
    assert capsys.readouterr().out == str(s) + '\n'
    out = io.StringIO()
    gp.summary(nets.deck_tied(), file=out)
    assert out.getvalue() == str(s) + '\n'


@pytest.mark.parametrize('cls', [TerminalInteractiveShell, None])
def test_the_ipython_terminal_and_plain_python_print_and_echo_the_short_repr(shell, capsys, cls):
    shell(cls)
    assert not _display.in_ipython_kernel()
    s = gp.summary(nets.deck_tied())
    assert capsys.readouterr().out == str(s) + '\n'
    assert pretty(s) == repr(s) and repr(s).startswith('Summary(type=')


def test_none_never_prints(shell, capsys):
    for cls in (ZMQInteractiveShell, TerminalInteractiveShell):
        shell(cls)
        gp.summary(nets.deck_tied(), file=None)
    assert capsys.readouterr().out == ''


def test_without_ipython_loaded_nothing_imports_it(monkeypatch):
    monkeypatch.delitem(sys.modules, 'IPython', raising=False)
    assert not _display.in_ipython_kernel()
    assert 'IPython' not in sys.modules
    assert _display.resolve_file(_display.AUTO) is sys.stdout
    assert repr(_display.AUTO) == 'AUTO'


def test_reports_show_their_text_in_ipython(tmp_path):
    net = nets.deck_tied()
    path = tmp_path / 'deck.safetensors'
    gp.save(net, path)
    for value in (gp.stats(net), gp.inspect(path), gp.load(net, path), gp.verify(path)):
        assert pretty(value) == str(value)
