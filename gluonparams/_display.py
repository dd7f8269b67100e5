"""Where a result shows itself: printed to a stream, or displayed by a notebook.

A notebook (any IPython *kernel*: Jupyter, JupyterLab, VS Code, Colab) shows the value
of a cell's last expression through the object's ``_repr_html_``/``_repr_pretty_``. A
function that also prints that value shows it twice. :data:`AUTO`, the default of
``gp.summary(file=)``, resolves at call time: ``sys.stdout`` in scripts, the plain
Python REPL and the IPython terminal, nothing inside a kernel (the returned object
shows itself there, once). The rule is torchinfo's and pandas': print where nothing
else would show the result, return a displayable object everywhere.
"""

import sys
from typing import Any, Optional, TextIO

__all__ = ['AUTO', 'in_ipython_kernel', 'resolve_file']


class _Auto:
    """The type of :data:`AUTO` (one instance)."""

    def __repr__(self) -> str:
        return 'AUTO'


# sys.stdout, looked up when the function runs, except inside an IPython kernel: None.
AUTO: Any = _Auto()

# The shell class of every IPython kernel; Colab's and Spyder's shells subclass it.
_KERNEL_SHELL = 'ZMQInteractiveShell'


def in_ipython_kernel() -> bool:
    """True inside an IPython kernel (its shell is a ``ZMQInteractiveShell`` or a subclass).

    Looks in ``sys.modules`` only and never imports IPython: a script does not pay for
    it, and importing IPython does not create a shell anyway.
    """
    ipython = sys.modules.get('IPython')
    get_ipython = getattr(ipython, 'get_ipython', None)
    shell = get_ipython() if get_ipython is not None else None
    return shell is not None and any(c.__name__ == _KERNEL_SHELL for c in type(shell).__mro__)


def resolve_file(file: Any) -> Optional[TextIO]:
    """The stream a ``file=`` argument means now: :data:`AUTO` becomes ``sys.stdout``
    (read at call time, so ``contextlib.redirect_stdout`` and pytest's ``capsys`` see
    it) or ``None`` inside a kernel; anything else is returned as it is."""
    if file is AUTO:
        return None if in_ipython_kernel() else sys.stdout
    return file
