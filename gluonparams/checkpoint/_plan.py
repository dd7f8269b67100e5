"""Which stored tensor goes into which parameter: names, ties, shapes, dtypes.

Ties are identity on the network's side (one ``Parameter`` under several names)
and the recorded tie groups on the file's side. Names are matched by the rules of
:mod:`._match` (exact first; then the rules for MXNet's export, Module and 1.x files);
a parameter is filled once, from the first of its names the file knows. Everything
that does not fit is collected, never raised one at a time, so a strict load reports
all of it in one error.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from mxnet import gluon

from .. import _compat
from .._text import first_of, shape_text
from ..tree import groups_by_identity
from ._explain import explain
from ._match import FileKey, Symbol, Target, describe_rules, match
from ._model import CheckpointInfo, TensorInfo

__all__ = ['Assignment', 'LoadPlan', 'make_plan']

SHOWN = 12   # names listed per kind of problem


@dataclass
class Assignment:
    """Fill ``param`` (known in the network as ``names``) from ``source``.

    ``separate`` are further stored tensors for names the network ties but the
    file stores separately without recording a tie: their values must equal the
    source's, or the load fails (one parameter cannot hold two values). ``parts``:
    the value is these tensors flattened and concatenated (MXNet 1.x RNN arrays into
    2.0's fused vector; ``source`` is the first). ``window``: the value is
    ``source``'s flattened values from ``start`` to ``stop`` (a 2.0 fused vector
    split into 1.x's per-gate parameters).
    """

    param: gluon.Parameter
    names: list[str]
    source: TensorInfo
    separate: list[TensorInfo] = field(default_factory=list)
    parts: list[TensorInfo] = field(default_factory=list)
    window: tuple[int, int] | None = None

    @property
    def tensors(self) -> list[TensorInfo]:
        """Every stored tensor this assignment reads."""
        return [self.source, *self.separate, *self.parts[1:]]


@dataclass
class LoadPlan:
    assignments: list[Assignment]
    missing: list[str]
    unexpected: list[str]
    mismatched: list[tuple[str, str, str]]   # (name, in the network, in the file)
    untied: list[list[str]]                  # file tie groups the network does not tie
    matched_by: dict[str, str] = field(default_factory=dict)   # loaded name -> rule
    file_keys: dict[str, str] = field(default_factory=dict)    # name -> file's name, if other
    renamed: dict[str, str] = field(default_factory=dict)      # file's name -> by rename=
    context: dict = field(default_factory=dict)                # for the hints

    @property
    def has_problems(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatched)

    def describe(self, path: str, block: gluon.Block) -> str:
        """One message listing the problems (at most a dozen names of each kind), with
        what explains them when something does."""
        counts = [f'{len(self.missing)} missing', f'{len(self.unexpected)} unexpected',
                  f'{len(self.mismatched)} mismatched']
        lines = [f'{path}: cannot load into {type(block).__name__} ({", ".join(counts)})']
        if self.missing:
            lines.append('  in the network, not in the file: ' + first_of(self.missing, SHOWN))
        if self.unexpected:
            lines.append('  in the file, not in the network: ' + first_of(
                (f'{n!r} (renamed {self.renamed[n]!r})' if n in self.renamed else repr(n)
                 for n in self.unexpected), SHOWN, quote=False))
        for name, expected, found in self.mismatched[:SHOWN]:
            key = self.file_keys.get(name)
            lines.append(f'  {name!r}{f" (file {key!r})" if key else ""}: the network has '
                         f'{expected}, the file {found}')
        if len(self.mismatched) > SHOWN:
            lines.append(f'  and {len(self.mismatched) - SHOWN} more mismatched')
        if self.matched_by and any(r != 'exact' for r in self.matched_by.values()):
            lines.append(f'  matched: {describe_rules(self.matched_by)}')
        hints = explain(missing=self.missing, unexpected=self.unexpected, **self.context)
        lines += ['  hint: ' + h for h in hints]
        if any(e.split()[-1] != f.split()[-1] for _, e, f in self.mismatched):
            lines.append('  hint: for another dtype, cast the network first to the dtype the '
                         'file holds (net.cast(dtype))')
        lines.append('  load what matches with strict=False; select= restricts the names')
        return '\n'.join(lines)


def make_plan(groups: list[tuple[gluon.Parameter, list[str]]], info: CheckpointInfo,
              matcher: Callable[[str], bool] | None, *, symbol: Symbol = None,
              symbol_path: str | None = None, root_prefix: str | None = None,
              rename: Callable[[str], str] | None = None) -> LoadPlan:
    """Match the file's names with the network's (its ``named_groups``; both sides
    restricted by ``matcher``), by the rules of :mod:`._match`: ``symbol`` is the
    graph order of the file's ``-symbol.json`` (read from ``symbol_path``; or a
    function reading it when a rule needs it),
    ``root_prefix`` the 1.x network's prefix, ``rename`` a function of one name."""
    stored = {t.name: t for t in info.tensors}
    source_of = {name: name for name in stored}
    for t in info.tensors:
        source_of.update(dict.fromkeys(t.aliases, t.name))
    names_in_file = info.names
    global_names = [_compat.global_name(param) for param, _ in groups]
    matching = match([FileKey(n, stored[source_of[n]].shape) for n in names_in_file],
                     [Target(tuple(names), partial(param_shape, param), g)
                      for (param, names), g in zip(groups, global_names)],
                     symbol=symbol, root_prefix=root_prefix, rename=rename, path=info.path)
    file_group = {name: i for i, group in enumerate(info.ties) for name in group}
    plan = LoadPlan([], [], [], [], [])
    parts = matching.parts
    used = {k for found in matching.found.values() for _, key in found
            for k in parts.get(key, (key,))}
    for i, (param, every) in enumerate(groups):
        found = matching.found.get(i, [])
        names = every if matcher is None else [n for n in every if matcher(n)]
        if not names:
            continue
        keys = [key for name, key in found if name is None or name in names]
        if keys and keys[0] not in names:
            plan.file_keys.update(dict.fromkeys(names, keys[0]))
        done = len(plan.assignments)
        if keys and keys[0] in parts:
            _match_parts(plan, param, names, [stored[source_of[k]] for k in parts[keys[0]]])
        elif i in matching.windows:
            _match_window(plan, param, names, stored[source_of[keys[0]]], matching.windows[i])
        else:
            _match(plan, param, names, [stored[source_of[k]] for k in keys], file_group)
        if len(plan.assignments) > done:
            plan.matched_by.update(dict.fromkeys(names, matching.rules[i]))
    renamed = plan.renamed = matching.renamed
    plan.unexpected = [n for n in names_in_file if n not in used and (
        matcher is None or matcher(n) or (n in renamed and matcher(renamed[n])))]
    loaded = {n: a.param for a in plan.assignments for n in a.names}
    plan.untied = _untied(info.ties, loaded)
    plan.context = dict(keys=names_in_file, global_names=[g for g in global_names if g],
                        declined=matching.declined, matched_any=bool(matching.found),
                        symbol=symbol_path)
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


def _match_parts(plan: LoadPlan, param, names, parts: list[TensorInfo]) -> None:
    """One parameter from several tensors, flattened and concatenated."""
    size = sum(t.size for t in parts)
    shape = param_shape(param)
    dtype = _compat.param_dtype(param)
    if (any(t.dtype != dtype for t in parts) or shape is None or len(shape) != 1
            or shape[0] not in (None, size)):
        dtypes = sorted({t.dtype for t in parts})
        plan.mismatched.append((names[0], _describe(shape, dtype),
                                f'{_describe((size,), "/".join(dtypes))} from {len(parts)} '
                                f'per-gate arrays'))
        return
    plan.assignments.append(Assignment(param, names, parts[0], parts=parts))


def _match_window(plan: LoadPlan, param, names, source: TensorInfo,
                  window: tuple[int, int]) -> None:
    """One parameter from a stretch of a flattened tensor (its shape was checked)."""
    dtype = _compat.param_dtype(param)
    if source.dtype != dtype:
        plan.mismatched.append((names[0], _describe(param_shape(param), dtype),
                                f'{source.dtype} (in {source.name!r})'))
        return
    plan.assignments.append(Assignment(param, names, source, window=window))


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
