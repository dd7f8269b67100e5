"""Per-parameter statistics and flags: the deck's "debug, sanity-check init".

``gp.stats(net)`` reads each selected parameter once (one copy, on one device),
streams it through numpy in float64 chunks, and returns one record per parameter:
mean, std, min, max, L2 norm, fraction of exact zeros and the count of NaN/Inf.
Moments are over the finite values, so one NaN does not hide the rest. Records
carry flags for what usually means a bug: NaN/Inf, an all-zero parameter whose
initializer does not give zeros, a gradient that is zero everywhere after
``backward()`` (``grad=True``), and a std far from what the initializer implies.
"""

import io
import math
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import mxnet as mx
import numpy as onp
from mxnet import autograd, gluon
from tabulate import tabulate

from . import _compat
from ._html import escape, table_html
from ._initstd import describe, expected_std, gives_zeros, resolve
from ._moments import histogram, moments
from ._text import shape_text
from .devices import as_devices
from .errors import (
    DependencyError,
    DeviceError,
    GluonParamsError,
    OptionError,
    PathError,
)
from .select import Patterns, select

__all__ = ['stats', 'plot_histograms', 'Stats', 'ParamStats', 'FLAGS', 'STD_FACTOR',
           'MIN_SIZE']

NONFINITE, ALL_ZERO, DEAD_GRAD, STD_OFF = 'NaN/Inf', 'all zero', 'dead gradient', \
    'std far from init'
FLAGS = (NONFINITE, ALL_ZERO, DEAD_GRAD, STD_OFF)
STD_FACTOR = 2.0   # a std more than this factor above or below the expected one is flagged
MIN_SIZE = 32      # below this many values a sample std is too noisy to judge


@dataclass
class ParamStats:
    """Statistics of one parameter's data (or gradient), computed in float64.

    ``mean``, ``std`` (population), ``min``, ``max`` and ``norm`` (L2) are over the
    finite values and ``None`` when there are none; ``zeros`` is the fraction of
    values exactly 0; ``nonfinite`` counts NaN and Inf. ``init`` names the
    initializer and ``expected_std`` the std it implies for this shape (``None``:
    not understood). ``flags`` holds entries of ``gluonparams.stats.FLAGS``: ``'NaN/Inf'``,
    ``'all zero'``, ``'dead gradient'``, ``'std far from init'``.
    """

    name: str
    of: str                      # 'data' or 'grad'
    shape: Tuple[int, ...]
    dtype: str
    device: str
    size: int
    mean: Optional[float]
    std: Optional[float]
    min: Optional[float]
    max: Optional[float]
    norm: Optional[float]
    zeros: float
    nonfinite: int
    init: Optional[str] = None
    expected_std: Optional[float] = None
    flags: Tuple[str, ...] = ()

    def explain(self) -> List[str]:
        """One sentence per flag: what was found and what it usually means."""
        reasons = {
            NONFINITE: f'{self.nonfinite} of {self.size} values are NaN or Inf',
            ALL_ZERO: 'every value is 0' + (f' although {self.init} does not give zeros'
                                            if self.init else ''),
            DEAD_GRAD: 'the gradient is 0 everywhere: the parameter did not reach the loss, '
                       'its units are dead, or backward() has not run',
            STD_OFF: self._std_reason(),
        }
        return [reasons[f] for f in self.flags]

    def _std_reason(self) -> str:
        if not self.expected_std or self.std is None:
            return ''
        return (f'std {self.std:.4g} is {self.std / self.expected_std:.3g} x the '
                f'{self.expected_std:.4g} that {self.init} implies for shape '
                f'{shape_text(self.shape)}')

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        out['shape'] = list(self.shape)
        out['flags'] = list(self.flags)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in out.items()}


@dataclass
class Stats:
    """What [`stats`][gluonparams.stats.stats] found: ``rows`` (one
    [`ParamStats`][gluonparams.ParamStats] per parameter), ``skipped``
    (``{name: reason}``), ``table()``, ``to_dict()``; ``str()`` is the table followed by
    the flags explained. ``report['0.weight']`` is one parameter's record."""

    of: str
    rows: List[ParamStats]
    skipped: Dict[str, str] = field(default_factory=dict)

    @property
    def flagged(self) -> List[ParamStats]:
        """The rows with at least one flag."""
        return [r for r in self.rows if r.flags]

    def __getitem__(self, name: str) -> ParamStats:
        for row in self.rows:
            if row.name == name:
                return row
        raise PathError(f'no statistics for {name!r}; have {[r.name for r in self.rows]}')

    def __iter__(self) -> Iterator[ParamStats]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def _columns(self) -> Tuple[List[str], List[List[str]]]:
        """The table's header and cells, as text."""
        several = len({r.device for r in self.rows}) > 1
        headers = ['Name', 'Shape', 'Mean', 'Std', 'Min', 'Max', 'L2 norm', 'Zeros',
                   'NaN/Inf', 'Init std'] + (['Device'] if several else []) + ['Flags']
        body = [[r.name, shape_text(r.shape)]
                + [_number(v) for v in (r.mean, r.std, r.min, r.max, r.norm)]
                + [f'{r.zeros:.1%}', str(r.nonfinite), _number(r.expected_std)]
                + ([r.device] if several else []) + [', '.join(r.flags)] for r in self.rows]
        return headers, body

    def table(self, tablefmt: str = 'simple') -> str:
        """The records as a table (any ``tabulate`` format: ``'github'``, ``'html'``...)."""
        headers, body = self._columns()
        align = ['left', 'left'] + ['right'] * 8 + ['left'] * (len(headers) - 10)
        return tabulate(body, headers=headers, tablefmt=tablefmt, disable_numparse=True,
                        colalign=align)

    def to_dict(self) -> Dict[str, Any]:
        """Plain data (valid JSON: non-finite numbers become ``None``)."""
        return {'of': self.of, 'rows': [r.to_dict() for r in self.rows],
                'flagged': [r.name for r in self.flagged], 'skipped': dict(self.skipped)}

    def _repr_html_(self) -> str:
        """The table for a notebook: a flagged row is tinted, marked with a warning sign,
        and names its flags (the explanation is the tooltip); the flags explained below."""
        headers, body = self._columns()
        flags, several = len(headers) - 1, 'Device' in headers
        foot = [f'<span class="e">{escape(r.name)}</span>: {escape(why)}'
                for r in self.flagged for why in r.explain()]
        if not self.flagged:
            foot.append(f'<span class="ok">No flags</span>: {len(self.rows)} parameter(s) '
                        f'look sane.')
        foot += [f'skipped {escape(name)}: {escape(why)}' for name, why in self.skipped.items()]
        return table_html(headers, body, left=['Shape', 'Flags'] + ['Device'] * several,
                          flagged=[bool(r.flags) for r in self.rows],
                          titles=[(flags, ' '.join(r.explain())) for r in self.rows],
                          classes={flags: 'e'}, footer=foot)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def __str__(self) -> str:
        lines = [self.table(), '']
        for row in self.flagged:
            lines += [f'{row.name}: {reason}' for reason in row.explain()]
        if not self.flagged:
            lines.append(f'No flags: {len(self.rows)} parameter(s) look sane.')
        lines += [f'skipped {name}: {why}' for name, why in self.skipped.items()]
        return '\n'.join(lines)


def fill_gradients(block: gluon.Block, *inputs: Any) -> None:
    """One forward and backward pass on ``inputs`` (loss: the sum of the outputs), so
    that every trainable parameter holds a gradient to inspect with ``grad=True``."""
    with autograd.record():
        out = block(*inputs)
    out.backward()
    mx.nd.waitall()


def _number(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.4g}'


def stats(block: gluon.Block, pattern: Patterns = None, *, grad: bool = False,
          device: Any = None, exclude: Patterns = None, mode: str = 'search',
          init: Any = 'uniform') -> Stats:
    """Statistics and flags for each selected parameter (or its gradient).

    Args:
        block: the network.
        pattern: the parameters to read, as in [`select`][gluonparams.select.select]
            (``None``: every parameter); a tied parameter is read once.
        grad: the gradients instead of the data (call after ``backward()``);
            parameters with ``grad_req='null'`` are skipped.
        device: which copy to read when a parameter lives on several devices (a
            device or a name such as ``'cpu(1)'``); default: each parameter's first.
        init: the initializer the network was initialized with, the one given to
            ``net.initialize(init)``: an ``mx.init.Initializer`` or a registered name.
            The default, ``'uniform'``, is Gluon's own default, ``Uniform(0.07)``.
            Parameters that carry their own initializer (biases, BatchNorm) use it.
            ``None``: check only those. Understood: Zero, One, Constant, Uniform,
            Normal, Xavier, MSRAPrelu; the std check is skipped for others.
        exclude: names to leave out, as in [`select`][gluonparams.select.select].
        mode: how patterns match: ``'search'``, ``'fullmatch'`` or ``'glob'``.

    Returns:
        One record per selected parameter that holds data, and the names skipped.

    Raises:
        DeviceError: ``device`` is malformed, or a selected parameter has no copy there.
        OptionError: ``init`` is not an initializer or a registered initializer name.
        PatternError: a malformed pattern.

    Examples:
        >>> report = gp.stats(net)
        >>> report['0.weight'].size, report.flagged
        (160, [])
        >>> print(report)                              # doctest: +ELLIPSIS
        Name      Shape     Mean  ...
        No flags: 6 parameter(s) look sane.
    """
    default_init = _checked_init(init)
    want = _one_device(device)
    of = 'grad' if grad else 'data'
    mx.nd.waitall()
    rows: List[ParamStats] = []
    skipped: Dict[str, str] = {}
    selected = _read_selected(block, pattern, exclude, mode, grad, want, skipped)
    for name, param, flat, dev in selected:
        rows.append(_record(name, param, flat, dev, of, default_init))
    return Stats(of=of, rows=rows, skipped=skipped)


def _read_selected(block: gluon.Block, pattern: Patterns, exclude: Patterns, mode: str,
                   grad: bool, device: Any, skipped: Dict[str, str]
                   ) -> Iterator[Tuple[str, gluon.Parameter, onp.ndarray, str]]:
    """Yield ``(name, param, flat numpy array, device name)`` for each readable
    selected parameter; the others go to ``skipped`` with the reason."""
    for name, param in select(block, pattern, exclude=exclude, mode=mode).items():
        if not _compat.is_initialized(param):
            skipped[name] = 'not initialized yet (run the network once)'
            continue
        if grad and param.grad_req == 'null':
            skipped[name] = "no gradient (grad_req='null')"
            continue
        dev = _copy_on(name, param, device)
        array = param.grad(dev) if grad else param.data(dev)
        yield name, param, array.asnumpy().reshape(-1), _compat.device_name(dev)


def _one_device(device: Any) -> Any:
    if device is None:
        return None
    devices = as_devices(device)
    if len(devices) != 1:
        raise DeviceError(f'device={device!r} names {len(devices)} devices; statistics read '
                          f'one copy of each parameter: pass one device, e.g. "cpu(0)"')
    return devices[0]


def _copy_on(name: str, param: gluon.Parameter, device: Any) -> Any:
    devices = _compat.param_devices(param)
    if device is None:
        return devices[0]
    names = [_compat.device_name(d) for d in devices]
    wanted = _compat.device_name(device)
    if wanted not in names:
        raise DeviceError(f'parameter {name!r} has no copy on {wanted}: it lives on '
                          f'{", ".join(names)}; pass one of them as device=')
    return devices[names.index(wanted)]


def _checked_init(init: Any) -> Any:
    if init is None:
        return None
    resolved = resolve(init)
    if resolved is None:
        raise OptionError(f'init={init!r} is not an initializer; pass the one given to '
                          f'net.initialize(), e.g. mx.init.Xavier() or "xavier", or None')
    return resolved


def _record(name: str, param: gluon.Parameter, flat: onp.ndarray, device: str, of: str,
            default_init: Any) -> ParamStats:
    m = moments(flat)
    found = m.count > 0
    initializer = resolve(param.init) if param.init is not None else default_init
    expected = expected_std(initializer, tuple(param.shape)) if of == 'data' else None
    row = ParamStats(
        name=name, of=of, shape=tuple(int(d) for d in param.shape),
        dtype=_compat.param_dtype(param), device=device, size=int(flat.size),
        mean=m.mean if found else None, std=math.sqrt(m.m2 / m.count) if found else None,
        min=m.low if found else None, max=m.high if found else None,
        norm=math.sqrt(m.sumsq) if found else None,
        zeros=(flat.size - m.nonzero) / flat.size if flat.size else 0.0,
        nonfinite=m.nonfinite,
        init=describe(initializer) if of == 'data' and initializer is not None else None,
        expected_std=expected)
    row.flags = _flags(row, initializer, name)
    return row


def _flags(row: ParamStats, initializer: Any, name: str) -> Tuple[str, ...]:
    flags = []
    if row.nonfinite:
        flags.append(NONFINITE)
    all_zero = row.size > 0 and row.zeros == 1.0
    if row.of == 'grad':
        if all_zero:
            flags.append(DEAD_GRAD)
        return tuple(flags)
    known = initializer is not None and row.init is not None
    if all_zero and not gives_zeros(initializer) and (known or name.endswith('weight')):
        flags.append(ALL_ZERO)
    if ALL_ZERO in flags:
        return tuple(flags)     # its std is 0 too: one flag says it
    if _std_is_off(row):
        flags.append(STD_OFF)
    return tuple(flags)


def _std_is_off(row: ParamStats) -> bool:
    if not row.expected_std or row.std is None or row.size - row.nonfinite < MIN_SIZE:
        return False
    ratio = row.std / row.expected_std
    return ratio > STD_FACTOR or ratio < 1 / STD_FACTOR


PANEL_INCHES = (2.5, 2.0)   # width, height of one histogram


def plot_histograms(block: gluon.Block, pattern: Patterns = None, *, grad: bool = False,
                    path: Any = None, bins: int = 50, device: Any = None,
                    exclude: Patterns = None, mode: str = 'search', cols: int = 4,
                    dpi: int = 100) -> Any:
    """One small histogram per selected parameter (or gradient), finite values only.

    Needs matplotlib (``pip install 'gluonparams[plot]'``). Draws on matplotlib's Agg
    canvas without pyplot: no window opens and no global backend changes.

    Args:
        block: the network.
        pattern: the parameters to draw, as in [`stats`][gluonparams.stats.stats].
        grad: draw the gradients instead of the data.
        path: where to save a PNG; ``None`` returns the figure instead.
        bins: bins per histogram.
        device: which copy to read, as in [`stats`][gluonparams.stats.stats].
        exclude: names to leave out.
        mode: how patterns match: ``'search'``, ``'fullmatch'`` or ``'glob'``.
        cols: histograms per row; the image is ``cols * 2.5`` by ``rows * 2``
            inches at ``dpi`` dots per inch.
        dpi: dots per inch of the image.

    Returns:
        The ``pathlib.Path`` written, or the ``matplotlib.figure.Figure`` when
        ``path`` is ``None``. In a notebook the returned figure shows itself once, as
        a PNG, as the cell's result: it carries its own ``_repr_png_``, because a
        figure pyplot never saw has no image formatter unless ``%matplotlib inline``
        registered one (which then draws it instead; still once).

    Raises:
        DependencyError: matplotlib is not installed.
        GluonParamsError: nothing selected holds data to draw.
    """
    for key, value in (('bins', bins), ('cols', cols), ('dpi', dpi)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise OptionError(f'{key}={value!r} is not supported; use a whole number >= 1')
    figure_type, canvas_type = _matplotlib()
    skipped: Dict[str, str] = {}
    panels = [(name, flat) for name, _, flat, _ in
              _read_selected(block, pattern, exclude, mode, grad, _one_device(device), skipped)]
    if not panels:
        raise GluonParamsError(f'nothing to draw: no selected parameter holds '
                               f'{"a gradient" if grad else "data"} ({skipped or "none selected"})')
    cols = min(cols, len(panels))
    rows = -(-len(panels) // cols)
    fig = figure_type(figsize=(cols * PANEL_INCHES[0], rows * PANEL_INCHES[1]), dpi=dpi)
    canvas_type(fig)
    for i, (name, flat) in enumerate(panels):
        counts, edges = histogram(flat, bins)
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.stairs(counts, edges, fill=True)
        ax.set_title(name + (' (grad)' if grad else ''), fontsize=7)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    if path is None:
        fig._repr_png_ = partial(_figure_png, fig)
        return fig
    fig.savefig(path, format='png', dpi=dpi)
    return Path(path)


def _figure_png(figure: Any) -> bytes:
    """The figure as PNG bytes, at its own size and dpi (what a notebook shows)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png')
    return buffer.getvalue()


def _matplotlib() -> Tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise DependencyError(
            "plot_histograms needs matplotlib, which is not installed; install it with "
            "pip install 'gluonparams[plot]' (or pip install matplotlib)") from e
    return Figure, FigureCanvasAgg
