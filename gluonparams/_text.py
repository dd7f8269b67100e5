"""Text every module writes the same way: shapes, sizes, lists of names, ASCII.

A shape, a size in bytes or a list cut after a few names, built here once, reads the
same in the tree, in an error message and on the command line.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

__all__ = ['ASCII', 'first_of', 'for_stream', 'shape_text', 'size_text', 'to_ascii',
           'tree_prefixes', 'tree_text']

# Box drawing and typography, and the ASCII drawn where an output cannot encode them.
ASCII = str.maketrans({'├': '|', '└': '`', '│': '|', '─': '-', '→': '>', '×': 'x',
                       '·': '-', '…': '.'})


def to_ascii(text: str) -> str:
    """``text`` with box-drawing characters and arrows replaced by ASCII ones."""
    return text.translate(ASCII)


def for_stream(text: str, stream: Any) -> str:
    """``text``, or its ASCII form (:func:`to_ascii`) where ``stream``'s encoding cannot
    encode it (``PYTHONIOENCODING=ascii``, a C locale); a stream without an encoding is
    taken as UTF-8."""
    try:
        text.encode(getattr(stream, 'encoding', None) or 'utf-8')
    except (UnicodeEncodeError, LookupError):
        return to_ascii(text)
    return text


def shape_text(shape: Sequence[int | None] | None) -> str:
    """``(8, 20)``, ``(8,)``, ``(?, 20)`` for an unknown dimension, ``?`` for no shape.

    Examples:
        >>> shape_text((8, None))
        '(8, ?)'
        >>> shape_text((8,))
        '(8,)'
    """
    if shape is None:
        return '?'
    dims = ['?' if d is None else str(d) for d in shape]
    return '(' + ', '.join(dims) + (',)' if len(dims) == 1 else ')')


def size_text(n: float) -> str:
    """A number of bytes in B, KiB, MiB or GiB.

    Examples:
        >>> size_text(1320)
        '1.29 KiB'
    """
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if n < 1024 or unit == 'GiB':
            return f'{n} {unit}' if unit == 'B' else f'{n:.2f} {unit}'
        n /= 1024
    return f'{n} B'  # pragma: no cover


def first_of(items: Iterable[Any], limit: int = 12, quote: bool = True) -> str:
    """The first ``limit`` items, comma-separated, then how many more there are.

    Examples:
        >>> first_of(['a', 'b', 'c'], limit=2)
        "'a', 'b' and 1 more"
    """
    items = list(items)
    shown = ', '.join(repr(x) if quote else str(x) for x in items[:limit])
    more = len(items) - limit
    return f'{shown} and {more} more' if more > 0 else shown


def tree_prefixes(rows: Sequence[Any]) -> list[str]:
    """Branch drawing (``├─ ``, ``│  └─ ``) for each row, from the rows' ``depth``
    alone (rows in tree order, the root first)."""
    last = [True] * len(rows)
    sibling_follows: dict[int, bool] = {}
    for i in range(len(rows) - 1, 0, -1):
        d = rows[i].depth
        last[i] = not sibling_follows.get(d, False)
        sibling_follows = {k: v for k, v in sibling_follows.items() if k < d}
        sibling_follows[d] = True
    prefixes = [''] * len(rows)
    stems: list[str] = []
    for i in range(1, len(rows)):
        del stems[rows[i].depth - 1:]
        prefixes[i] = ''.join(stems) + ('└─ ' if last[i] else '├─ ')
        stems.append('   ' if last[i] else '│  ')
    return prefixes


def tree_text(header: Sequence[str], rows: Sequence[Any], cells: Callable[[Any], list[str]],
              footer: Sequence[str], right: str = 'Params') -> str:
    """The text tree: ``header``, a rule, each row's branch drawing (:func:`tree_prefixes`)
    and ``cells(row)`` (its label first), a rule, the ``footer`` lines. Columns are two
    spaces apart, the ``right`` column aligned right, the others left."""
    table = [list(header)] + [[prefix + first] + rest for prefix, (first, *rest)
                              in zip(tree_prefixes(rows), map(cells, rows))]
    count_col = header.index(right)
    widths = [max(len(line[c]) for line in table) for c in range(len(header))]
    lines = ['  '.join(cell.rjust(w) if c == count_col else cell.ljust(w)
                       for c, (cell, w) in enumerate(zip(line, widths))).rstrip()
             for line in table]
    rule = '─' * max(len(line) for line in lines)
    return '\n'.join([lines[0], rule] + lines[1:] + [rule] + list(footer))
