"""Running notebooks in a real IPython kernel of the Python running the tests.

``execute`` starts ipykernel's built-in ``python3`` kernel spec, which is
``[sys.executable, -m, ipykernel_launcher, ...]``: ``kernel_dirs=[]`` hides every
``kernel.json`` on disk, so no kernel needs installing and a user's own ``python3``
spec for another interpreter is never picked up. Cells are found by their tags.
"""

import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parent.parent / 'examples'
NOTEBOOK = EXAMPLES / 'parameter_management.ipynb'


def read(path=NOTEBOOK) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def tag_of(cell) -> str:
    return cell.metadata.get('tags', [''])[0]


def code_cells(nb) -> dict:
    """``{first tag: cell}`` of every code cell."""
    return {tag_of(c): c for c in nb.cells if c.cell_type == 'code'}


def execute(nb: nbformat.NotebookNode, cwd: Path, timeout: int = 300) -> float:
    """Run every cell in a fresh kernel on this Python, in folder ``cwd``; the outputs
    land in ``nb``. Returns the seconds it took, the kernel's start included."""
    km = AsyncKernelManager(kernel_name='python3',
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    assert km.kernel_spec.argv[0] in (sys.executable, 'python'), km.kernel_spec.argv
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name='python3',
                            resources={'metadata': {'path': str(cwd)}})
    start = time.perf_counter()
    client.execute(cleanup_kc=True)      # km was passed in: shut its kernel down here
    return time.perf_counter() - start


def shown(cell) -> list:
    """The cell's outputs other than stderr streams (MXNet's C++ log goes to stderr)."""
    return [o for o in cell.outputs if not (o.output_type == 'stream' and o.name == 'stderr')]


def result(cell) -> dict:
    """The data of the cell's one result (``execute_result``), by MIME type."""
    found = shown(cell)
    assert [o.output_type for o in found] == ['execute_result'], describe(cell)
    return found[0].data


def describe(cell) -> str:
    """The cell's outputs in a line each, for assertion messages."""
    lines = [f'cell {tag_of(cell)!r}:']
    for o in cell.outputs:
        if o.output_type == 'stream':
            lines.append(f'  stream {o.name}: {o.text[:300]!r}')
        elif o.output_type == 'error':
            lines.append(f'  error {o.ename}: {o.evalue[:300]}')
        else:
            lines.append(f'  {o.output_type}: {sorted(o.data)} '
                         f'{o.data.get("text/plain", "")[:200]!r}')
    return '\n'.join(lines)
