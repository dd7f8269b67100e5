"""Selecting parameters by pattern over structural names.

Gluon's ``collect_params(select)`` anchors its regular expression at the start of
the name (``re.match``), so ``collect_params('weight')`` silently selects nothing.
Here the default is ``mode='search'``: ``'weight'`` finds every weight.
"""

import fnmatch
import re
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Union

from mxnet import gluon

from .errors import PatternError, check_option
from .tree import named_parameters

__all__ = ['select', 'compile_matcher', 'MODES']

Patterns = Union[str, Sequence[str], None]
MODES = ('search', 'fullmatch', 'glob')


def _as_list(patterns: Patterns, argname: str) -> List[str]:
    if patterns is None:
        return []
    if isinstance(patterns, str):
        return [patterns]
    out = list(patterns)
    for p in out:
        if not isinstance(p, str):
            raise PatternError(f'{argname} must be a string or a list of strings, found {p!r}')
    return out


def _compile_one(pattern: str, mode: str, argname: str) -> Callable[[str], bool]:
    source = fnmatch.translate(pattern) if mode == 'glob' else pattern
    try:
        regex = re.compile(source)
    except re.error as e:
        raise PatternError(f'{argname}={pattern!r} is not a valid regular expression: {e}') from e
    if mode == 'search':
        return lambda name: regex.search(name) is not None
    return lambda name: regex.fullmatch(name) is not None


def compile_matcher(pattern: Patterns = None, *, exclude: Patterns = None,
                    mode: str = 'search') -> Callable[[str], bool]:
    """A predicate on structural names with the semantics of :func:`select`.

    Raises:
        PatternError: a pattern is not a valid regular expression.
        OptionError: ``mode`` is not one of ``'search'``, ``'fullmatch'``, ``'glob'``.
    """
    check_option('mode', mode, MODES)
    include = [_compile_one(p, mode, 'pattern') for p in _as_list(pattern, 'pattern')]
    excluded = [_compile_one(p, mode, 'exclude') for p in _as_list(exclude, 'exclude')]

    def matches(name: str) -> bool:
        if include and not any(m(name) for m in include):
            return False
        return not any(m(name) for m in excluded)

    return matches


def select(block: gluon.Block, pattern: Patterns = None, *, exclude: Patterns = None,
           mode: str = 'search', strict: bool = False,
           remove_duplicate: bool = True) -> Dict[str, gluon.Parameter]:
    """Parameters whose structural name matches, in definition order.

    Args:
        block: the network.
        pattern: a pattern or a list of them (a name matching any is kept); ``None``
            keeps every parameter.
        exclude: a pattern or a list of them; a name matching any is dropped.
        mode: ``'search'`` (the pattern may match anywhere in the name: ``'weight'``
            finds ``'0.weight'``), ``'fullmatch'`` (the whole name) or ``'glob'``
            (shell wildcards over the whole name: ``'*.running_mean'``).
        strict: raise when nothing matches.
        remove_duplicate: a tied parameter appears once, under its first name.

    Returns:
        ``{name: Parameter}``, ready for ``gluon.Trainer(gp.select(net, ...), 'sgd')``.

    Raises:
        PatternError: a malformed pattern, or ``strict=True`` and nothing matched.

    Examples:
        >>> gp.select(net, 'weight')                   # doctest: +SKIP
        {'0.weight': Parameter (shape=(8, 4), ...), '1.weight': ...}
    """
    matches = compile_matcher(pattern, exclude=exclude, mode=mode)
    names = []
    chosen = {}
    for name, param in named_parameters(block, remove_duplicate=remove_duplicate):
        names.append(name)
        if matches(name):
            chosen[name] = param
    if strict and not chosen:
        raise PatternError(
            f'no parameter matches pattern={pattern!r} exclude={exclude!r} (mode={mode!r}); '
            f'{_some_names(names)}')
    return chosen


def _some_names(names: Iterable[str], limit: int = 6) -> str:
    names = list(names)
    if not names:
        return 'the network has no parameters'
    shown = ', '.join(repr(n) for n in names[:limit])
    more = f' and {len(names) - limit} more' if len(names) > limit else ''
    return f'names that exist: {shown}{more}'


def as_matcher(select_arg: Optional[Patterns]) -> Optional[Callable[[str], bool]]:
    """The predicate for a ``select=`` argument of another function (``None`` keeps all)."""
    if select_arg is None:
        return None
    return compile_matcher(select_arg)
