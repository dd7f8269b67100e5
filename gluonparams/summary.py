"""The parameter tree, as the deck draws it: ``gp.summary(net)``.

One pass over the network builds plain rows; totals and renderings (tree, flat
table, HTML, dict) are computed from the rows. No data is read and no forward pass
runs unless inputs are given, so it works on hybridized networks, on networks whose
parameters are not initialized yet, and on parameters spread over several devices.
"""

from dataclasses import asdict, dataclass, field
from math import prod
from typing import Any, Dict, List, Optional, TextIO, Tuple

import numpy as onp
from mxnet import gluon

from . import _compat, _names
from ._display import AUTO, in_ipython_kernel, resolve_file
from ._render import footer, render_html, render_table, render_tree
from ._text import for_stream
from .errors import OptionError
from .select import as_matcher
from .tree import Node, checked, groups_by_identity

__all__ = ['summary', 'Summary', 'Row', 'print_tree']

Shape = Optional[Tuple[Optional[int], ...]]


@dataclass
class Row:
    """One line of the tree: a block, or one use of a parameter.

    ``params`` is what the row counts toward the totals: for a parameter, its size
    at its first use and 0 at a tied use (``shared_with`` names the first); for a
    block, everything counted in its subtree. ``folded`` is what hidden rows below a
    visible block count (``depth=``, repeated siblings): the parameter rows shown plus
    every block's ``folded`` add up to the total.
    """

    kind: str                      # 'block' or 'param'
    path: str                      # structural name; the root is ''
    depth: int                     # root 0, its children and own parameters 1, ...
    name: str                      # last part of the path ('0', 'weight'); root ''
    type: str                      # block class, or 'Parameter'
    shape: Shape = None            # unknown dimensions are None
    dtype: Optional[str] = None
    grad_req: Optional[str] = None
    size: Optional[int] = None     # elements, None while the shape is unknown
    params: int = 0
    unknown: int = 0               # parameters of unknown size counted here
    uses: int = 0                  # parameter rows at or below this row, tied uses included
    shared_with: Optional[str] = None
    devices: Tuple[str, ...] = ()
    output_shape: Optional[str] = None
    folded: int = 0
    folded_rows: int = 0
    repeat: int = 1                # > 1: this row stands for a run of identical siblings
    last_name: Optional[str] = None  # the name of the run's last block when repeat > 1
    global_name: Optional[str] = None  # MXNet 1.x Parameter.name, with global_names=True

    @property
    def trainable(self) -> bool:
        return self.grad_req not in (None, 'null')

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out['shape'] = None if self.shape is None else list(self.shape)
        out['devices'] = list(self.devices)
        out['trainable'] = self.trainable
        return out


@dataclass
class Summary:
    """What [`summary`][gluonparams.summary.summary] found. ``str()`` is the tree; see
    also ``table()``, ``footer()``, ``to_dict()`` and, in a notebook, the HTML rendering.

    In a notebook a Summary shows itself as a foldable tree (``_repr_html_``: no
    JavaScript, no network): blocks fold, open down to about 60 visible rows; each
    parameter row has its shape, dtype, ``grad_req`` and count; frozen rows
    (``grad_req='null'``) are dimmed and italic; a tied use links to the parameter's
    first use; totals, unknown counts, ties and devices close it. Front ends that show
    only text (``jupyter console``, nbconvert to Markdown) get the text tree.
    """

    type: str
    rows: List[Row]
    total_params: int
    trainable_params: int
    non_trainable_params: int
    unknown_params: int
    total_bytes: int
    shared_references: int
    ties: List[List[str]]
    devices: List[str]
    selected: bool = False
    extra: Dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return render_tree(self)

    def __repr__(self) -> str:
        return (f'Summary(type={self.type!r}, total_params={self.total_params}, '
                f'trainable_params={self.trainable_params}, ties={len(self.ties)}, '
                f'rows={len(self.rows)})')

    def table(self, tablefmt: str = 'simple') -> str:
        """A flat table of the visible rows, one per line, with full names (tabulate)."""
        return render_table(self, tablefmt)

    def footer(self) -> List[str]:
        """The totals, unknown counts, ties and devices, one line each (the tree's footer)."""
        return footer(self)

    def _repr_html_(self) -> str:
        return render_html(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's text: the tree inside a kernel, where ``summary()`` printed
        nothing; the short repr in the IPython terminal, where it printed the tree."""
        printer.text(str(self) if in_ipython_kernel() else repr(self))

    def to_dict(self) -> Dict[str, Any]:
        """Everything as JSON-serializable data."""
        out = {k: v for k, v in asdict(self).items() if k != 'rows'}
        out['rows'] = [row.to_dict() for row in self.rows]
        return out


def summary(block: gluon.Block, *inputs: Any, depth: Optional[int] = None,
            select: Any = None, fold_repeats: bool = False,
            file: Optional[TextIO] = AUTO, global_names: bool = False) -> Summary:
    """Print the parameter tree of ``block`` and return it as a [`Summary`][gluonparams.Summary].

    In a notebook, ``gp.summary(net)`` as a cell's last expression shows the tree once,
    as a foldable HTML tree: inside an IPython kernel nothing is printed and the returned
    ``Summary`` shows itself as the cell's result. Scripts, the Python REPL and the
    IPython terminal print the tree, as ``file=sys.stdout`` does.

    Args:
        block: the network.
        *inputs: optional inputs; when given, the network runs once (hooks record
            each block's output shape, deferred shapes become known).
        depth: show blocks and parameters down to this depth (root is 0); deeper rows
            fold into their nearest shown ancestor, which says how many it holds.
        select: keep only parameters whose names match (the semantics of
            [`select`][gluonparams.select.select]), and the blocks above them; totals
            count the selection.
        fold_repeats: draw a run of structurally identical sibling blocks as one row
            (``3 × Dense``).
        file: where to print the tree. By default ``sys.stdout`` (looked up at each
            call), except inside a Jupyter/IPython kernel (JupyterLab, Notebook, VS Code,
            Colab), where nothing is printed. The trade-off: in a kernel, a call that is
            not the cell's last expression (in a loop, in a function, in a ``%run``
            script) shows nothing; pass ``file=sys.stdout`` to print there too (always
            printed, a notebook then also shows the result when it is the last
            expression), ``None`` never to print (``print(gp.summary(net, file=None))``
            prints the text tree once, anywhere).
        global_names: MXNet 1.x only: add a column with each parameter's global name
            (``Parameter.name``, ``'dense0_weight'``), the keys of 1.x's
            ``collect_params()``. Tied uses show the same global name.

    Returns:
        The tree's rows and totals; ``total_params`` counts each tied parameter once.

    Raises:
        OptionError: ``global_names=True`` on MXNet 2.0, whose parameters have no
            global names.

    Examples:
        >>> s = gp.summary(net, file=None)
        >>> s.total_params, s.ties
        (330, [['1.weight', '2.weight'], ['1.bias', '2.bias']])
    """
    if global_names and not _compat.HAS_GLOBAL_NAMES:
        raise OptionError(
            f'global_names=True shows MXNet 1.x global names such as dense0_weight; '
            f'MXNet {_compat.MXNET_VERSION} names parameters by structure only '
            f'(\'0.weight\', shown already): drop global_names=True')
    rows, parents, uses = _collect(block, as_matcher(select), inputs, global_names)
    _aggregate(rows, parents)
    hidden = _hide(rows, parents, depth, select is not None, fold_repeats)
    result = _totals(block, rows, uses, select is not None)
    result.rows = [row for i, row in enumerate(rows) if i not in hidden]
    out = resolve_file(file)
    if out is not None:
        print_tree(result, out)
    return result


def _collect(block, matcher, inputs=(), global_names=False):
    """One walk: a row per block and per parameter use, the parent of each row,
    and the selected ``(name, Parameter)`` uses in Gluon's order. With ``inputs``,
    the network runs once between the walk and the rows, hooked on the walk's blocks:
    the rows read the shapes it settles and the output shapes it records.

    Names and their order are Gluon's, also where a block renames (``_names``); each
    parameter row sits under the block registering the parameter, named below that
    block's path (the whole name where an override gave the block another prefix)."""
    nodes: List[Node] = []
    found = _names.collect(checked(block), nodes=nodes)    # the blocks too, in one pass
    outputs = _record_outputs(block, nodes, inputs) if inputs else None
    return _rows(found, nodes, matcher, outputs, global_names)


def _rows(found, nodes, matcher, outputs, global_names):
    uses: List[Tuple[str, gluon.Parameter]] = []
    first_name: Dict[int, str] = {}
    at_block: Dict[str, List[Tuple[str, gluon.Parameter]]] = {}
    paths = found.paths
    for name, param in found.params.items():
        if matcher is not None and not matcher(name):
            continue
        use = (name, param)
        uses.append(use)
        first_name.setdefault(id(param), name)
        at_block.setdefault(paths[name], []).append(use)
    rows: List[Row] = []
    parents: List[int] = []
    block_row_at_depth: List[int] = []
    seen_output: Dict[int, int] = {}
    for node in nodes:
        del block_row_at_depth[node.depth:]
        parent = block_row_at_depth[-1] if block_row_at_depth else -1
        me = len(rows)
        rows.append(Row('block', node.path, node.depth, node.path.rpartition('.')[2],
                        type(node.block).__name__,
                        output_shape=_output_for(outputs, node.block, seen_output)))
        parents.append(parent)
        block_row_at_depth.append(me)
        dot = node.path + '.' if node.path else ''
        for name, param in at_block.get(node.path, ()):
            short = name[len(dot):] if name.startswith(dot) else name
            rows.append(_param_row(name, short, node.depth + 1, param, first_name[id(param)]))
            if global_names:
                rows[-1].global_name = _compat.global_name(param)
            parents.append(me)
    return rows, parents, uses


def _param_row(full: str, name: str, depth: int, param, first: str) -> Row:
    shape = _compat.param_shape(param)
    dims = [d for d in shape or () if d is not None]
    known = shape is not None and len(dims) == len(shape)
    size = prod(dims) if known else None
    counted = first == full
    return Row('param', full, depth, name, 'Parameter', shape=shape, uses=1,
               dtype=_compat.param_dtype(param), grad_req=param.grad_req, size=size,
               params=size if counted and size is not None else 0,
               unknown=1 if counted and size is None else 0,
               shared_with=None if counted else first,
               devices=tuple(_compat.device_name(d) for d in _compat.param_devices(param)))


def _aggregate(rows: List[Row], parents: List[int]) -> None:
    """Add each row's counts into its parent, children before parents."""
    for i in range(len(rows) - 1, 0, -1):
        parent = rows[parents[i]]
        parent.params += rows[i].params
        parent.unknown += rows[i].unknown
        parent.uses += rows[i].uses


def _hide(rows, parents, depth, selected, fold_repeats) -> set:
    """Indices of rows not drawn, their counts folded into the nearest drawn ancestor."""
    hidden: set = set()
    if depth is not None:
        hidden.update(i for i, row in enumerate(rows) if row.depth > depth)
    # a selection drops blocks without selected parameters: dropped, not folded
    dropped = {i for i, row in enumerate(rows) if i and not row.uses} if selected else set()
    hidden -= dropped
    redirect = _fold_repeats(rows, parents, hidden, dropped) if fold_repeats else {}
    anchor = list(range(len(rows)))
    for i in range(1, len(rows)):
        if i in hidden and i not in dropped:
            anchor[i] = redirect.get(i, anchor[parents[i]])
            target = rows[anchor[i]]
            target.folded_rows += 1
            if rows[i].kind == 'param':
                target.folded += rows[i].params
    return hidden | dropped


def _fold_repeats(rows, parents, hidden, dropped) -> Dict[int, int]:
    """Fold each run of identical visible sibling blocks into its first block.

    Returns ``{hidden row: the run's first row}`` for every row the runs hide.
    """
    signature = _signatures(rows, parents)
    siblings: Dict[int, List[int]] = {}
    for i, row in enumerate(rows):
        if i and row.kind == 'block' and i not in hidden and i not in dropped:
            siblings.setdefault(parents[i], []).append(i)
    redirect: Dict[int, int] = {}
    for parent, kids in siblings.items():   # parents before their descendants
        kids = [i for i in kids if i not in hidden]   # not inside a run folded already
        if len(kids) < 2:
            continue
        run = [kids[0]]
        for i in kids[1:] + [-1]:
            if i >= 0 and signature[i] == signature[run[0]]:
                run.append(i)
                continue
            if len(run) > 1:
                _fold_run(rows, run, hidden, redirect)
            run = [i]
    return redirect


def _fold_run(rows, run, hidden, redirect) -> None:
    head = rows[run[0]]
    head.repeat = len(run)
    head.last_name = rows[run[-1]].name
    for member in run:
        if member != run[0]:
            head.params += rows[member].params
            head.unknown += rows[member].unknown
            hidden.add(member)
            redirect[member] = run[0]
        j = member + 1
        while j < len(rows) and rows[j].depth > rows[member].depth:
            hidden.add(j)
            redirect[j] = run[0]
            j += 1


def _signatures(rows, parents) -> List[Any]:
    """A hashable description of each block's subtree: classes, names, shapes, ties."""
    parts: List[List[Any]] = [[] for _ in rows]
    sig: List[Any] = [None] * len(rows)
    for i in range(len(rows) - 1, -1, -1):
        row = rows[i]
        if row.kind == 'param':
            sig[i] = (row.name, row.shape, row.dtype, row.grad_req, row.shared_with)
        else:
            sig[i] = (row.type, tuple(reversed(parts[i])))
        if i:
            parts[parents[i]].append((row.name if row.kind == 'param' else '', sig[i]))
    return sig


def _totals(block, rows: List[Row], uses, selected: bool) -> Summary:
    counted = [r for r in rows if r.kind == 'param' and r.shared_with is None]
    sizes = [(r, r.size) for r in counted if r.size is not None]
    known = [r for r, _ in sizes]
    devices: Dict[str, None] = {}
    for r in counted:
        devices.update(dict.fromkeys(r.devices))
    trainable = sum(size for r, size in sizes if r.trainable)
    total = sum(size for _, size in sizes)
    return Summary(
        type=type(block).__name__, rows=rows, total_params=total,
        trainable_params=trainable, non_trainable_params=total - trainable,
        unknown_params=len(counted) - len(known),
        total_bytes=sum(size * _itemsize(str(r.dtype)) for r, size in sizes),
        shared_references=sum(1 for r in rows if r.shared_with is not None),
        ties=groups_by_identity(uses), devices=list(devices), selected=selected)


def _itemsize(dtype: str) -> int:
    return onp.dtype(dtype).itemsize


def _record_outputs(block, nodes: List[Node], inputs) -> Dict[int, List[str]]:
    """Run the network once with a forward hook on each distinct block of ``nodes``;
    the output shapes of each block, in call order, by block identity."""
    seen: Dict[int, List[str]] = {}

    def hook(blk, _args, out):
        if not _compat.is_symbolic(out):     # a 1.x shape-inference trace, not a call
            seen.setdefault(id(blk), []).append(_shape_text(out))

    blocks = {id(node.block): node.block for node in nodes}
    handles = [blk.register_forward_hook(hook) for blk in blocks.values()]
    try:
        block(*inputs)
    finally:
        for handle in handles:
            handle.detach()
    return seen


def _output_for(outputs, blk, seen_output) -> Optional[str]:
    if outputs is None:
        return None
    calls = outputs.get(id(blk), [])
    k = seen_output.get(id(blk), 0)
    seen_output[id(blk)] = k + 1
    return calls[k] if k < len(calls) else (calls[-1] if calls else None)


def _shape_text(out) -> str:
    if hasattr(out, 'shape'):
        return str(tuple(out.shape))
    if isinstance(out, (list, tuple)):
        return '[' + ', '.join(_shape_text(o) for o in out) + ']'
    return type(out).__name__


def print_tree(result: Summary, file: TextIO) -> None:
    """Print the tree to ``file``, in ASCII where its encoding lacks box drawing."""
    print(for_stream(render_tree(result), file), file=file)
