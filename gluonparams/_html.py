"""HTML for notebooks: one tree renderer, one table renderer, one report renderer.

``Summary``, ``CheckpointInfo``, ``Stats``, ``LoadReport`` and ``VerifyReport`` show
themselves in a notebook through ``_repr_html_``; each builds plain rows and hands them
here. Every output follows the same rules, because notebook hosts differ in what they
keep (nbconvert keeps everything; JupyterLab drops ``<style>`` from untrusted outputs
and renames ``id``; VS Code puts every output in one document):

- no JavaScript, no URL, no ``<svg>``/``<iframe>``: folding is ``<details>``;
- every piece of text is escaped (:func:`escape`), names included;
- one ``<style>`` per output, every selector under the output's own ``#<uid>``; the
  uid is random per rendering, so two outputs in one notebook never share an id;
- no colour on text or background: text inherits the host's colour (light and dark
  themes alike), tints mix ``currentColor`` with transparent, accents come from
  JupyterLab's and VS Code's theme variables;
- meaning is in words, not only in CSS (``null``, ``shared with 1.weight``, flag
  names), and children sit in ``<ul><li>``: without the style it is still a tree.
"""

import html
import secrets
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

__all__ = ['OPEN_ROWS', 'TreeRow', 'TreeHtml', 'escape', 'new_uid', 'open_depth',
           'report_html', 'table_html']

OPEN_ROWS = 60   # blocks start open down to the deepest level that keeps this many rows visible

# Placeholders in the CSS below: {u} the output's id selector, {cols} the tree's column
# widths, and the theme colours. color-mix() needs Chromium 111, Firefox 113, Safari 16.2;
# the rgba() declared before it is what older engines keep.
_COLOURS = {
    '{font}': 'var(--jp-code-font-family,var(--vscode-editor-font-family,'
              'ui-monospace,Menlo,Consolas,monospace))',
    '{size}': 'var(--jp-code-font-size,var(--vscode-editor-font-size,12px))',
    '{line}': 'border-color:rgba(127,127,127,.5);'
              'border-color:color-mix(in srgb,currentColor 35%,transparent)',
    '{link}': 'var(--jp-content-link-color,var(--vscode-textLink-foreground,LinkText))',
    '{warn}': 'var(--jp-warn-color1,var(--vscode-editorWarning-foreground,#b26a00))',
    '{error}': 'var(--jp-error-color1,var(--vscode-errorForeground,#d32f2f))',
    '{ok}': 'var(--jp-success-color1,var(--vscode-testing-iconPassed,#2e7d32))',
    '{mark}': 'var(--jp-warn-color1,var(--vscode-editorWarning-foreground,#f0ad00))',
}
# One rule per line; a line that does not end a rule continues it.
_COMMON = """
{u}{font-family:{font};font-size:{size};color:inherit;max-width:100%;overflow-x:auto;
    line-height:1.45}
{u} a{color:{link};text-decoration:none}
{u} a:hover{text-decoration:underline}
{u} .f{margin-top:.3em;padding-top:.3em;border-top:1px solid;{line};white-space:normal}
{u} .w{color:{warn}}
{u} .e{color:{error}}
{u} .ok{color:{ok}}
"""
# .r: a row (a CSS grid, the same columns in every row); .hd: the header; .n: a name
# cell (.i<d>: its depth); .t: a block's class; .c: a count; .z: a frozen row, .g its
# grad cell; .k<N>: the first cell written after empty ones (grid column N)
_TREE = """
{u} ul{list-style:none;margin:0;padding:0}
{u} .r{display:grid;grid-template-columns:{cols};column-gap:2ch;padding:0 .5ch;
    white-space:nowrap}
{u} summary.r{cursor:pointer;list-style:none}
{u} summary.r::-webkit-details-marker{display:none}
{u} .n::before{content:"\\2003";display:inline-block;width:2ch}
{u} summary>.n::before{content:"\\25B8"}
{u} details[open]>summary>.n::before{content:"\\25BE"}
{u} .hd{font-weight:bold;border-bottom:1px solid;{line}}
{u} .r:hover{background:rgba(127,127,127,.12);
    background:color-mix(in srgb,currentColor 8%,transparent)}
{u} .c{text-align:right}
{u} .t{opacity:.7}
{u} .z{opacity:.55;font-style:italic}
{u} .z .g::after{content:" \\2744"}
{u} .r:target{background:rgba(255,193,7,.35);
    background:color-mix(in srgb,{mark} 35%,transparent);outline:1px solid {mark}}
"""
_TABLE = """
{u} table{border-collapse:collapse;color:inherit;background:transparent}
{u} th,{u} td{padding:1px 1ch;text-align:right;white-space:nowrap;border:0;color:inherit;
    background:transparent}
{u} th:first-child,{u} td:first-child,{u} .l{text-align:left}
{u} thead th{border-bottom:1px solid;{line}}
{u} tbody tr:nth-child(odd){background:rgba(127,127,127,.07);
    background:color-mix(in srgb,currentColor 5%,transparent)}
{u} tr.x td{background:rgba(220,50,50,.15);background:color-mix(in srgb,{error} 18%,transparent)}
{u} tr.x td:first-child::before{content:"\\26A0\\FE0E  "}
{u} details>div{padding-left:2ch;white-space:normal}
{u} summary{cursor:pointer}
"""
_FROZEN_TITLE = 'frozen: grad_req=null, not trained'


def escape(value: object) -> str:
    """``value`` as text, safe inside an element or a quoted attribute."""
    return html.escape(str(value), quote=True)


def new_uid() -> str:
    """A fresh id for one output: ``gp`` and 8 hex digits."""
    return 'gp' + secrets.token_hex(4)


def _style(uid: str, *parts: str, cols: str = '', extra: Iterable[str] = ()) -> str:
    text = ''.join(parts)
    for key, value in {**_COLOURS, '{u}': '#' + uid, '{cols}': cols}.items():
        text = text.replace(key, value)
    rules = ''.join(line.strip() for line in text.strip().splitlines())
    return '<style>' + rules + ''.join(extra) + '</style>'


@dataclass
class TreeRow:
    """One row of a tree: a block or a parameter (``key`` set: a tie link can point here).

    ``name`` and ``type`` make the label (``0: Dense``); ``cells`` are the columns
    between the name and the notes, plain text, ``''`` when empty; ``shared_with``
    is the key of the row a tied use points to; ``notes`` are plain-text notes.
    """

    depth: int
    name: str
    type: str = ''
    cells: Sequence[str] = ()
    key: Optional[str] = None
    shared_with: Optional[str] = None
    frozen: bool = False
    notes: List[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f'{self.name}: {self.type}' if self.name and self.type else self.name or self.type


def open_depth(rows: Sequence[TreeRow], budget: int = OPEN_ROWS) -> int:
    """Blocks shallower than the returned depth start open: the deepest level at which
    the rows then visible stay within ``budget`` (at least the root's children)."""
    counts: Dict[int, int] = {}
    for row in rows:
        counts[row.depth] = counts.get(row.depth, 0) + 1
    visible = 0
    best = 1
    for depth in range(max(counts, default=0) + 1):
        visible += counts.get(depth, 0)
        if visible > budget:
            break
        best = max(best, depth)
    return best


class TreeHtml:
    """A tree drawn as nested ``<details>``: ``header`` names the columns (the first is
    the name, the last the notes); ``Params`` is aligned right, ``Grad`` is marked on
    frozen rows."""

    def __init__(self, header: Sequence[str], rows: Sequence[TreeRow]) -> None:
        self.uid = new_uid()
        self.header = list(header)
        self.rows = list(rows)
        self.right = {self.header.index('Params')} if 'Params' in self.header else set()
        self.grad = self.header.index('Grad') if 'Grad' in self.header else None
        self.ids = {r.key: f'{self.uid}-{i}' for i, r in enumerate(self.rows)
                    if r.key is not None}
        self.tied_to: Dict[str, List[str]] = {}
        for r in self.rows:
            if r.shared_with is not None and r.key is not None:
                self.tied_to.setdefault(r.shared_with, []).append(r.key)
        self.linked: set = set()
        self.columns: set = set()

    def link(self, key: str, text: Optional[str] = None, title: str = '') -> str:
        """A link to ``key``'s row (plain text when it is not drawn)."""
        shown = escape(key if text is None else text)
        if key not in self.ids:
            return shown
        self.linked.add(self.ids[key])
        title = f' title="{escape(title)}"' if title else ''
        return f'<a href="#{self.ids[key]}"{title}>{shown}</a>'

    def _notes(self, row: TreeRow) -> str:
        parts = []
        if row.shared_with is not None:
            parts.append(self.link(row.shared_with, f'→ shared with {row.shared_with}',
                                   f'tied: the same Parameter as {row.shared_with}'))
        elif row.key in self.tied_to:
            parts.append('tied: also ' + ', '.join(self.link(k) for k in self.tied_to[row.key]))
        return ', '.join(parts + [escape(n) for n in row.notes])

    def _label(self, row: TreeRow) -> str:
        if row.name and row.type:
            return f'{escape(row.name)}: <span class="t">{escape(row.type)}</span>'
        return escape(row.label)

    def _cells(self, row: TreeRow) -> str:
        """The row's cells; empty ones are not written, and the next written cell after a
        gap names its column (class k<N>), where grid auto-placement continues."""
        cells = [(self._label(row), f'n i{row.depth}')]
        cells += [(escape(c), 'c' if i in self.right else
                   'g' if i == self.grad and row.frozen else '')
                  for i, c in enumerate(row.cells, start=1)]
        cells.append((self._notes(row), ''))
        parts, gap = [], False
        for col, (inner, cls) in enumerate(cells, start=1):
            if not inner:
                gap = True
                continue
            if gap:
                cls = f'{cls} k{col}'.strip()
                self.columns.add(col)
                gap = False
            title = f' title="{_FROZEN_TITLE}"' if cls.split()[:1] == ['g'] else ''
            parts.append(f'<span class="{cls}"{title}>{inner}</span>' if cls
                         else f'<span>{inner}</span>')
        return ' '.join(parts)

    def _widths(self) -> str:
        widths = [len(h) for h in self.header]
        for row in self.rows:
            texts = [2 * row.depth + 2 + len(row.label)] + [
                len(c) + (2 if i == self.grad and row.frozen else 0)
                for i, c in enumerate(row.cells, start=1)]
            widths = [max(w, t) for w, t in zip(widths, texts)] + widths[len(texts):]
        return ' '.join(f'{w}ch' for w in widths[:-1]) + ' auto'

    def render(self, footer: Sequence[str]) -> str:
        """The whole output; ``footer`` lines are HTML (escape their text)."""
        open_to = open_depth(self.rows)
        body: List[str] = []
        stack: List[int] = []           # depths of the open <details>
        for i, row in enumerate(self.rows):
            while stack and stack[-1] >= row.depth:
                stack.pop()
                body.append('</ul></details>')
            li = '<li>' if stack else ''
            line = self._cells(row)
            if i + 1 < len(self.rows) and self.rows[i + 1].depth > row.depth:
                state = ' open' if row.depth < open_to else ''
                body.append(f'{li}<details{state}><summary class="r">{line}</summary><ul>')
                stack.append(row.depth)
                continue
            rid = f' id="{self.ids[row.key]}"' if row.key is not None else ''
            body.append(f'{li}<div class="r{" z" if row.frozen else ""}"{rid}>{line}</div>')
        body += ['</ul></details>'] * len(stack)
        right = ' class="c"'
        head = '<div class="r hd">' + ' '.join(
            f'<span{right if i in self.right else ""}>{escape(h)}</span>'
            for i, h in enumerate(self.header)) + '</div>'
        u = '#' + self.uid
        # hovering or focusing a tie link lights its target up where the host swallows
        # the navigation (JupyterLab, VS Code: no :target there)
        extra = [f'{u}:has(a[href="#{t}"]:is(:hover,:focus)) #{t}'
                 f'{{background:rgba(255,193,7,.25)}}' for t in sorted(self.linked)]
        extra += [f'{u} .k{c}{{grid-column:{c}}}' for c in sorted(self.columns)]
        extra += [f'{u} .i{d}{{padding-left:{2 * d}ch}}'
                  for d in sorted({r.depth for r in self.rows}) if d]
        style = _style(self.uid, _COMMON, _TREE, cols=self._widths(), extra=extra)
        return (f'<div class="gpv" id="{self.uid}">{style}{head}{"".join(body)}'
                f'<div class="f">{"<br>".join(footer)}</div></div>')


def table_html(header: Sequence[str], rows: Sequence[Sequence[str]], *,
               left: Sequence[str] = (), flagged: Sequence[bool] = (),
               titles: Sequence[Tuple[int, str]] = (), classes: Optional[Dict[int, str]] = None,
               footer: Sequence[str] = ()) -> str:
    """A table of plain-text cells: numbers align right, ``left`` columns (and the
    first) left; a ``flagged`` row is tinted and marked; ``titles`` are
    ``(column, text)`` tooltips per row (``''``: none); ``classes`` maps a column to
    a class; ``footer`` lines are HTML."""
    uid = new_uid()
    classes = classes or {}
    lefts = {header.index(h) for h in left}
    head = ''.join(f'<th class="l">{escape(h)}</th>' if i in lefts else f'<th>{escape(h)}</th>'
                   for i, h in enumerate(header))
    body = []
    for i, row in enumerate(rows):
        mark = ' class="x"' if i < len(flagged) and flagged[i] else ''
        tips = dict([titles[i]]) if i < len(titles) and titles[i][1] else {}
        cells = []
        for c, text in enumerate(row):
            cls = ' '.join(x for x in ('l' if c in lefts else '', classes.get(c, '')) if x)
            attrs = (f' class="{cls}"' if cls else '') + (
                f' title="{escape(tips[c])}"' if c in tips else '')
            cells.append(f'<td{attrs}>{escape(text)}</td>')
        body.append(f'<tr{mark}>{"".join(cells)}</tr>')
    return (f'<div class="gpv" id="{uid}">{_style(uid, _COMMON, _TABLE)}<table><thead><tr>'
            f'{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            f'<div class="f">{"<br>".join(footer)}</div></div>')


def report_html(ok: bool, status: str, parts: Sequence[Tuple[str, Sequence[str], str]]) -> str:
    """A status line (``ok``: a check mark, else a warning sign; ``status`` plain
    text), then one foldable list per part ``(title, items, kind)``: ``kind`` ``''``
    folds it, ``'w'`` or ``'e'`` opens and colours it (an empty list is one line)."""
    uid = new_uid()
    mark = '<span class="ok">&#10003;</span>' if ok else '<span class="w">&#9888;&#xFE0E;</span>'
    lines = [f'<div>{mark} {escape(status)}</div>']
    for title, items, kind in parts:
        if not items:
            lines.append(f'<div>{escape(title)}: 0</div>')
            continue
        state = ' open' if kind else ''
        cls = f' class="{kind}"' if kind else ''
        lines.append(f'<details{state}><summary{cls}>{escape(title)}: {len(items)}</summary>'
                     f'<div>{", ".join(escape(i) for i in items)}</div></details>')
    return f'<div class="gpv" id="{uid}">{_style(uid, _COMMON, _TABLE)}{"".join(lines)}</div>'
