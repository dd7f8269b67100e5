"""Which stored tensor goes into which parameter: names, ties, shapes, dtypes.

Ties are identity on the network's side (one ``Parameter`` under several names)
and the recorded tie groups on the file's side. A parameter is filled once, from
the first of its names the file knows. Everything that does not fit is collected,
never raised one at a time, so a strict load reports all of it in one error.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from mxnet import gluon

from .. import _compat
from .._text import first_of, shape_text
from ..tree import groups_by_identity
from ._model import CheckpointInfo, TensorInfo

__all__ = ['Assignment', 'LoadPlan', 'make_plan']


@dataclass
class Assignment:
    """Fill ``param`` (known in the network as ``names``) from ``source``.

    ``separate`` are further stored tensors for names the network ties but the
    file stores separately without recording a tie: their values must equal the
    source's, or the load fails (one parameter cannot hold two values).
    """

    param: gluon.Parameter
    names: list[str]
    source: TensorInfo
    separate: list[TensorInfo] = field(default_factory=list)


@dataclass
class LoadPlan:
    assignments: list[Assignment]
    missing: list[str]
    unexpected: list[str]
    mismatched: list[tuple[str, str, str]]   # (name, in the network, in the file)
    untied: list[list[str]]                  # file tie groups the network does not tie

    @property
    def has_problems(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched)

    def describe(self, path: str, block: gluon.Block) -> str:
        """One message listing every problem, with a hint when a prefix explains them."""
        counts = [f'{len(self.missing)} missing', f'{len(self.unexpected)} unexpected',
                  f'{len(self.mismatched)} mismatched']
        lines = [f'{path}: cannot load into {type(block).__name__} ({", ".join(counts)})']
        if self.missing:
            lines.append('  in the network, not in the file: ' + first_of(self.missing))
        if self.unexpected:
            lines.append('  in the file, not in the network: ' + first_of(self.unexpected))
        for name, expected, found in self.mismatched:
            lines.append(f'  {name!r}: the network has {expected}, the file {found}')
        hint = prefix_hint(self.missing, self.unexpected)
        if hint:
            lines.append('  hint: ' + hint)
        if any(e.split()[-1] != f.split()[-1] for _, e, f in self.mismatched):
            lines.append('  hint: for another dtype, cast the network first to the dtype the '
                         'file holds (net.cast(dtype))')
        lines.append('  load what matches with strict=False; select= restricts the names')
        return '\n'.join(lines)


def make_plan(groups: list[tuple[gluon.Parameter, list[str]]], info: CheckpointInfo,
              matcher: Callable[[str], bool] | None) -> LoadPlan:
    """Match the file's names with the network's (its ``named_groups``; both sides
    restricted by ``matcher``)."""
    stored = {t.name: t for t in info.tensors}
    source_of = {name: name for name in stored}
    for t in info.tensors:
        source_of.update(dict.fromkeys(t.aliases, t.name))
    file_group = {name: i for i, group in enumerate(info.ties) for name in group}
    plan = LoadPlan([], [], [], [], [])
    in_net = set()
    for param, every in groups:
        names = [n for n in every if matcher is None or matcher(n)]
        if names:
            in_net.update(names)
            _match(plan, param, names, [stored[source_of[n]] for n in names if n in source_of],
                   file_group)
    plan.unexpected = [n for n in info.names if n not in in_net and (matcher is None or matcher(n))]
    loaded = {n: a.param for a in plan.assignments for n in a.names}
    plan.untied = _untied(info.ties, loaded)
    return plan


def _match(plan: LoadPlan, param, names, sources, file_group) -> None:
    if not sources:
        plan.missing.extend(names)
        return
    unique = list({t.name: t for t in sources}.values())
    bad = [t for t in unique if not _fits(param, t)]
    if bad:
        expected = _describe(param_shape(param), _compat.param_dtype(param))
        if not _compat.is_np_shape() and any(not t.shape or 0 in t.shape for t in bad):
            expected += (' under legacy shapes, which hold no scalar or zero-size array '
                         '(call mx.npx.set_np() first)')
        plan.mismatched.extend((t.name if t.name in names else names[0], expected,
                                _describe(t.shape, t.dtype)) for t in bad)
        return
    first = unique[0]
    group = file_group.get(first.name)
    separate = [t for t in unique[1:] if group is None or file_group.get(t.name) != group]
    plan.assignments.append(Assignment(param, names, first, separate))


def param_shape(param: gluon.Parameter) -> tuple[int | None, ...] | None:
    """The shape of the parameter's data once it has some (zero-size dimensions
    included), else its declared shape with unknown dimensions as ``None``."""
    arrays = [x for _, x in _compat.param_arrays(param)]
    if arrays:
        return tuple(int(d) for d in arrays[0].shape)
    return _compat.param_shape(param)


def _fits(param: gluon.Parameter, tensor: TensorInfo) -> bool:
    if _compat.param_dtype(param) != tensor.dtype:
        return False
    if not _compat.is_np_shape() and (not tensor.shape or 0 in tensor.shape):
        return False
    shape = param_shape(param)
    if shape is None:
        return True
    return len(shape) == len(tensor.shape) and all(
        d is None or d == t for d, t in zip(shape, tensor.shape))


def _describe(shape, dtype: str) -> str:
    return f'{shape_text(shape)} {dtype}'


def _untied(ties: list[list[str]], params: dict[str, gluon.Parameter]) -> list[list[str]]:
    out = []
    for group in ties:
        present = [n for n in group if n in params]
        if len(present) > 1 and groups_by_identity((n, params[n]) for n in present) != [present]:
            out.append(present)
    return out


def prefix_hint(missing: list[str], unexpected: list[str]) -> str | None:
    """Explain missing and unexpected names by a prefix one side has and the other lacks."""
    if not missing or not unexpected:
        return None
    added = _common_prefix(unexpected, set(missing))
    dropped = _common_prefix(missing, set(unexpected))
    if added and (not dropped or added[1] >= dropped[1]):
        prefix, count = added
        return (f'{count} of the file\'s names are the network\'s names with {prefix!r} in '
                f'front: the file was saved from a network that holds this one as '
                f'{prefix[:-1]!r}; load it into that network')
    if dropped:
        prefix, count = dropped
        return (f'{count} of the network\'s names are the file\'s names with {prefix!r} in '
                f'front: the file was saved from that part alone; load it there: '
                f'gp.load(gp.get(net, {prefix[:-1]!r}), path)')
    return None


def _common_prefix(longer: list[str], shorter: set) -> tuple[str, int] | None:
    """The dotted prefix that, removed from names in ``longer``, most often gives a
    name in ``shorter``, and how often."""
    counts: Counter = Counter()
    for name in longer:
        parts = name.split('.')
        for k in range(1, len(parts)):
            if '.'.join(parts[k:]) in shorter:
                counts['.'.join(parts[:k]) + '.'] += 1
    if not counts:
        return None
    return counts.most_common(1)[0]
