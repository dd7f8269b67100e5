"""An MXNet ``-symbol.json``: the graph ``export`` and ``Module.save_checkpoint`` write
beside ``P-0000.params``. gluonparams reads one thing from it: the order of the graph's
variables (its inputs, parameters and auxiliary states), which is the order the
network uses them in."""

import json
import os
import re

from ..errors import CheckpointError

__all__ = ['MAX_SYMBOL_BYTES', 'beside', 'variables']

MAX_SYMBOL_BYTES = 1 << 28    # a graph of a million nodes takes far less
_EPOCH = re.compile(r'^(?P<prefix>.+)-\d{4}\.params$')


def beside(path: str) -> str | None:
    """The ``P-symbol.json`` next to ``P-NNNN.params`` when there is one.

    Examples:
        >>> beside('no-such-model-0000.params') is None
        True
    """
    found = _EPOCH.match(os.path.basename(path))
    if not found:
        return None
    candidate = os.path.join(os.path.dirname(path), found.group('prefix') + '-symbol.json')
    return candidate if os.path.isfile(candidate) else None


def variables(path: str) -> list[str]:
    """The names of the graph's variables, in node order (the graph's order).

    Raises:
        CheckpointError: the file cannot be read or is not an MXNet symbol file.
    """
    try:
        size = os.path.getsize(path)
        if size > MAX_SYMBOL_BYTES:
            raise CheckpointError(f'{path}: {size:,} bytes is more than an MXNet symbol file '
                                  f'holds ({MAX_SYMBOL_BYTES:,} at most)')
        with open(path, 'rb') as f:
            graph = json.loads(f.read().decode('utf-8'))
    except FileNotFoundError:
        raise CheckpointError(f'{path}: no such file') from None
    except OSError as e:
        raise CheckpointError(f'{path}: cannot read: {e.strerror}') from e
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError(f'{path}: not an MXNet symbol file (not JSON)') from None
    nodes = graph.get('nodes') if isinstance(graph, dict) else None
    if not isinstance(nodes, list) or not all(
            isinstance(n, dict) and isinstance(n.get('op'), str) and isinstance(n.get('name'), str)
            for n in nodes):
        raise CheckpointError(f'{path}: not an MXNet symbol file (no list of nodes with an op '
                              f'and a name)')
    return [n['name'] for n in nodes if n['op'] == 'null']
