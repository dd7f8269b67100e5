"""Text renderings of a Summary: the tree the deck draws and a flat table."""

from typing import List, Optional

from tabulate import tabulate

from ._text import shape_text, size_text, to_ascii, tree_prefixes


def _count_text(row) -> str:
    if row.kind == 'param':
        if row.shared_with is not None:
            return ''
        return '?' if row.size is None else f'{row.size:,}'
    if not row.uses:
        return '--'
    text = f'{row.params:,}'
    return text + ' +?' if row.unknown else text


def _label(row) -> str:
    if row.kind == 'param':
        return row.name
    if not row.path:
        return row.type
    if row.repeat > 1:
        return f'{row.name}-{row.last_name}: {row.repeat} × {row.type}'
    return f'{row.name}: {row.type}'


def _notes(row) -> str:
    notes = []
    if row.shared_with is not None:
        notes.append(f'→ shared with {row.shared_with}')
    if row.kind == 'block' and row.folded_rows:
        plural = 's' if row.folded_rows > 1 else ''
        notes.append(f'… {row.folded_rows} row{plural} folded')
    return ', '.join(notes)


def render_tree(summary, ascii: bool = False) -> str:
    rows = summary.rows
    prefixes = tree_prefixes(rows)
    uniform = len({r.devices for r in rows if r.kind == 'param'}) <= 1
    outputs = any(r.output_shape for r in rows)
    header = ['Name', 'Shape', 'Dtype', 'Grad', 'Params', 'Notes']
    if not uniform:
        header.insert(5, 'Devices')
    if outputs:
        header.insert(1, 'Output')
    table = [header]
    for prefix, row in zip(prefixes, rows):
        line = [prefix + _label(row),
                shape_text(row.shape) if row.kind == 'param' else '',
                row.dtype or '', row.grad_req or '', _count_text(row), _notes(row)]
        if not uniform:
            line.insert(5, ','.join(row.devices))
        if outputs:
            line.insert(1, row.output_shape or '')
        table.append(line)
    _insert_global_names(table, rows)
    count_col = header.index('Params')
    widths = [max(len(line[c]) for line in table) for c in range(len(header))]
    lines = []
    for line in table:
        cells = [cell.rjust(w) if c == count_col else cell.ljust(w)
                 for c, (cell, w) in enumerate(zip(line, widths))]
        lines.append('  '.join(cells).rstrip())
    rule = '─' * max(len(line) for line in lines)
    text = '\n'.join([lines[0], rule] + lines[1:] + [rule] + footer(summary))
    return to_ascii(text) if ascii else text


def _insert_global_names(table: List[List[str]], rows) -> None:
    """A 'Global name' column before Notes when the rows carry MXNet 1.x global names."""
    if not any(r.global_name for r in rows):
        return
    at = table[0].index('Notes')
    table[0].insert(at, 'Global name')
    for line, row in zip(table[1:], rows):
        line.insert(at, row.global_name or '')


def footer(summary) -> List[str]:
    what = 'Selected params' if summary.selected else 'Total params'
    lines = [f'{what}: {summary.total_params:,} ({size_text(summary.total_bytes)})',
             f'Trainable params: {summary.trainable_params:,}',
             f'Non-trainable params: {summary.non_trainable_params:,}']
    if summary.unknown_params:
        lines.append(f'Unknown: {summary.unknown_params} parameters have shapes not known yet '
                     '(deferred initialization) and are not in the totals; '
                     'pass an input to count them')
    if summary.ties:
        n, uses = len(summary.ties), sum(len(group) for group in summary.ties)
        lines.append(f'Shared: {n} tied parameter{"s" if n > 1 else ""} used {uses} times, '
                     'each counted once')
    devices = ', '.join(summary.devices) if summary.devices else 'none (not initialized)'
    lines.append(f'Devices: {devices}')
    return lines


def render_table(summary, tablefmt: str = 'simple') -> str:
    headers = ['Name', 'Type', 'Shape', 'Dtype', 'Grad', 'Params', 'Shared with', 'Devices']
    body = []
    for row in summary.rows:
        body.append([row.path or '(root)', _table_type(row),
                     shape_text(row.shape) if row.kind == 'param' else '',
                     row.dtype or '', row.grad_req or '', _count_text(row),
                     row.shared_with or '', ','.join(row.devices)])
    for title, attr in (('Output', 'output_shape'), ('Global name', 'global_name')):
        if any(getattr(r, attr) for r in summary.rows):
            headers.append(title)
            for line, row in zip(body, summary.rows):
                line.append(getattr(row, attr) or '')
    return tabulate(body, headers=headers, tablefmt=tablefmt, disable_numparse=True)


def _table_type(row) -> Optional[str]:
    if row.kind == 'param':
        return 'Parameter'
    return f'{row.repeat} × {row.type}' if row.repeat > 1 else row.type
