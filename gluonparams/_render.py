"""Renderings of a Summary: the tree the deck draws (text and HTML) and a flat table."""

from typing import List, Tuple

from tabulate import tabulate

from ._html import TreeHtml, TreeRow, escape
from ._text import shape_text, size_text, tree_text


def _count_text(row) -> str:
    if row.kind == 'param':
        if row.shared_with is not None:
            return ''
        return '?' if row.size is None else f'{row.size:,}'
    if not row.uses:
        return '--'
    text = f'{row.params:,}'
    return text + ' +?' if row.unknown else text


def _name_type(row) -> Tuple[str, str]:
    """A row's name and what it is: ``('0', 'Dense')``, ``('1-3', '3 × BasicBlockV1')``
    for a folded run, ``('', 'Sequential')`` for the root, ``('weight', '')``."""
    if row.kind == 'param':
        return row.name, ''
    if row.repeat > 1:
        return f'{row.name}-{row.last_name}', f'{row.repeat} × {row.type}'
    return row.name, row.type


def _label(row) -> str:
    name, kind = _name_type(row)
    return f'{name}: {kind}' if name and kind else name or kind


def _folded(row) -> List[str]:
    if row.kind == 'block' and row.folded_rows:
        plural = 's' if row.folded_rows > 1 else ''
        return [f'… {row.folded_rows} row{plural} folded']
    return []


def _notes(row) -> str:
    notes = [f'→ shared with {row.shared_with}'] if row.shared_with is not None else []
    return ', '.join(notes + _folded(row))


def _columns(rows) -> List[str]:
    """The tree's columns: Output, Devices and Global name only when some row has one."""
    header = ['Name', 'Shape', 'Dtype', 'Grad', 'Params', 'Notes']
    if len({r.devices for r in rows if r.kind == 'param'}) > 1:
        header.insert(5, 'Devices')
    if any(r.output_shape for r in rows):
        header.insert(1, 'Output')
    if any(r.global_name for r in rows):
        header.insert(header.index('Notes'), 'Global name')
    return header


# The value of each column but the name and the notes, as text.
_CELLS = {'Output': lambda r: r.output_shape or '',
          'Shape': lambda r: shape_text(r.shape) if r.kind == 'param' else '',
          'Dtype': lambda r: r.dtype or '', 'Grad': lambda r: r.grad_req or '',
          'Params': _count_text, 'Devices': lambda r: ','.join(r.devices),
          'Global name': lambda r: r.global_name or ''}


def render_tree(summary) -> str:
    header = _columns(summary.rows)
    return tree_text(header, summary.rows,
                     lambda row: [_label(row)] + [_CELLS[h](row) for h in header[1:-1]]
                     + [_notes(row)], footer(summary))


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


def render_html(summary) -> str:
    """The tree as HTML for a notebook (see :mod:`gluonparams._html`): the tree's columns,
    blocks folding, tie marks linking to the first use, the footer's lines."""
    header = _columns(summary.rows)
    rows = []
    for row in summary.rows:
        param = row.kind == 'param'
        rows.append(TreeRow(row.depth, *_name_type(row), [_CELLS[h](row) for h in header[1:-1]],
                            key=row.path if param else None, shared_with=row.shared_with,
                            frozen=param and row.grad_req == 'null', notes=_folded(row)))
    tree = TreeHtml(header, rows)
    lines = []
    for i, line in enumerate(footer(summary)):
        text = escape(line)
        if i == 0:
            text = f'<b>{text}</b>'
        elif line.startswith('Unknown:'):
            text = f'<span class="w">{text}</span>'
        elif line.startswith('Shared:'):
            text += ': ' + '; '.join(' = '.join(tree.link(n) for n in group)
                                     for group in summary.ties)
        lines.append(text)
    return tree.render(lines)


def render_table(summary, tablefmt: str = 'simple') -> str:
    headers = ['Name', 'Type', 'Shape', 'Dtype', 'Grad', 'Params', 'Shared with', 'Devices']
    body = []
    for row in summary.rows:
        body.append([row.path or '(root)', _name_type(row)[1] or row.type,
                     shape_text(row.shape) if row.kind == 'param' else '',
                     row.dtype or '', row.grad_req or '', _count_text(row),
                     row.shared_with or '', ','.join(row.devices)])
    for title, attr in (('Output', 'output_shape'), ('Global name', 'global_name')):
        if any(getattr(r, attr) for r in summary.rows):
            headers.append(title)
            for line, row in zip(body, summary.rows):
                line.append(getattr(row, attr) or '')
    return tabulate(body, headers=headers, tablefmt=tablefmt, disable_numparse=True)
