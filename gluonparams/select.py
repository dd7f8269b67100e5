"""Selecting parameters by pattern over structural names, and bulk edits on a selection.

Gluon's ``collect_params(select)`` anchors its regular expression at the start of
the name (``re.match``), so ``collect_params('weight')`` silently selects nothing.
Here the default is ``mode='search'``: ``'weight'`` finds every weight.

The bulk edits (:func:`freeze`, :func:`unfreeze`, :func:`configure`,
:func:`no_weight_decay`) change attributes a ``gluon.Trainer`` reads at every
``step()``: ``grad_req`` (a ``'null'`` parameter is skipped), ``lr_mult`` and
``wd_mult``. Create the Trainer over every parameter once; freezing and unfreezing
later take effect at the next step.
"""

import fnmatch
import math
import re
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

from mxnet import gluon

from ._text import first_of
from .errors import OptionError, PatternError, check_option
from .tree import named_parameters

__all__ = ['select', 'freeze', 'unfreeze', 'configure', 'no_weight_decay',
           'compile_matcher', 'as_matcher', 'MODES', 'GRAD_REQS']

Pattern = Union[str, re.Pattern]
Patterns = Union[Pattern, Sequence[Pattern], None]
Selection = Dict[str, gluon.Parameter]
MODES = ('search', 'fullmatch', 'glob')
GRAD_REQS = ('write', 'add', 'null')
NO_DECAY = r'(bias|gamma|beta)$'

# Where freeze() remembers a parameter's grad_req: on the Parameter itself, so the
# memory lives exactly as long as the parameter, follows it into every network that
# holds it (ties) and into copies, and never mixes two networks up.
_FROZEN_FROM = '_gluonparams_frozen_from'


def _as_list(patterns: Patterns, argname: str) -> Optional[List[Any]]:
    if patterns is None:
        return None
    if isinstance(patterns, (str, re.Pattern)):
        return [patterns]
    try:
        out = list(patterns)
    except TypeError:
        raise PatternError(f'{argname} must be a string or a list of strings, '
                           f'found {patterns!r}') from None
    for p in out:
        if not isinstance(p, (str, re.Pattern)):
            raise PatternError(f'{argname} must be a string or a list of strings, found {p!r} '
                               f'in {patterns!r}')
    return out


def _compile_one(pattern: Any, mode: str, argname: str) -> Callable[[str], bool]:
    if isinstance(pattern, re.Pattern):
        if mode == 'glob':
            raise PatternError(f'{argname}={pattern!r} is a compiled regular expression; '
                               f"mode='glob' takes shell wildcards such as '*.weight'")
        regex = pattern
    else:
        source = fnmatch.translate(pattern) if mode == 'glob' else pattern
        try:
            regex = re.compile(source)
        except re.error as e:
            raise PatternError(
                f'{argname}={pattern!r} is not a valid regular expression: {e}; escape '
                f"special characters (re.escape) or use mode='glob' for wildcards") from e
    if mode == 'search':
        return lambda name: regex.search(name) is not None
    return lambda name: regex.fullmatch(name) is not None


def compile_matcher(pattern: Patterns = None, *, exclude: Patterns = None,
                    mode: str = 'search') -> Callable[[str], bool]:
    """A predicate on structural names with the semantics of :func:`select`.

    Raises:
        PatternError: a pattern is not a valid regular expression, or not a string.
        OptionError: ``mode`` is not one of ``'search'``, ``'fullmatch'``, ``'glob'``.
    """
    check_option('mode', mode, MODES)
    include = _as_list(pattern, 'pattern')
    included = None if include is None else [_compile_one(p, mode, 'pattern') for p in include]
    excluded = [_compile_one(p, mode, 'exclude') for p in _as_list(exclude, 'exclude') or []]

    def matches(name: str) -> bool:
        if included is not None and not any(m(name) for m in included):
            return False
        return not any(m(name) for m in excluded)

    return matches


def select(block: gluon.Block, pattern: Patterns = None, *, exclude: Patterns = None,
           mode: str = 'search', strict: bool = False,
           remove_duplicate: bool = True) -> Selection:
    """Parameters whose structural name matches, in definition order.

    Args:
        block: the network.
        pattern: a pattern or a list of them (a name matching any is kept; an empty
            list keeps nothing); ``None`` keeps every parameter. Compiled regular
            expressions are accepted in the regex modes.
        exclude: a pattern or a list of them; a name matching any is dropped.
        mode: ``'search'`` (``re.search``: the pattern may match anywhere in the name,
            ``'weight'`` finds ``'0.weight'``), ``'fullmatch'`` (the whole name) or
            ``'glob'`` (shell wildcards over the whole name, ``*`` crosses dots:
            ``'*.running_mean'``).
        strict: raise when nothing matches.
        remove_duplicate: a tied parameter appears once, under the first of its
            names that matches (``'^2\\.'`` finds layer 2's weight even when it is
            tied to layer 1's); with ``False`` under every matching name, as in
            ``collect_params()``.

    Returns:
        The selected parameters by structural name, in definition order, ready for
        ``gluon.Trainer(gp.select(net, ...), 'sgd')``.

    Raises:
        PatternError: a malformed pattern (the message names it and the regex
            error), or ``strict=True`` and nothing matched (the message lists names
            that exist).
        OptionError: an unknown ``mode``.

    Examples:
        >>> list(gp.select(net, 'weight'))
        ['0.weight', '1.weight', '3.weight']
        >>> list(gp.select(net, '*.bias', mode='glob', remove_duplicate=False))
        ['0.bias', '1.bias', '2.bias', '3.bias']
    """
    matches = compile_matcher(pattern, exclude=exclude, mode=mode)
    names = []
    chosen = {}
    taken = set()
    for name, param in named_parameters(block, remove_duplicate=False):
        names.append(name)
        if not matches(name) or (remove_duplicate and id(param) in taken):
            continue
        chosen[name] = param
        taken.add(id(param))
    if strict and not chosen:
        raise PatternError(
            f'no parameter matches pattern={pattern!r} exclude={exclude!r} (mode={mode!r}); '
            f'{_some_names(names)}')
    return chosen


def _some_names(names: Iterable[str], limit: int = 6) -> str:
    names = list(names)
    if not names:
        return 'the network has no parameters'
    return f'names that exist: {first_of(names, limit)}'


def as_matcher(select_arg: Optional[Patterns]) -> Optional[Callable[[str], bool]]:
    """The predicate for a ``select=`` argument of another function (``None`` keeps all)."""
    if select_arg is None:
        return None
    return compile_matcher(select_arg)


def freeze(block: gluon.Block, pattern: Patterns = None, *, exclude: Patterns = None,
           mode: str = 'search') -> Selection:
    """Stop training the selected parameters: ``grad_req='null'``.

    Each parameter's own ``grad_req`` is remembered (on the parameter, so freezing
    twice keeps the first one) for [`unfreeze`][gluonparams.unfreeze]. A ``gluon.Trainer`` skips a
    ``'null'`` parameter at every ``step()``, including one created before the freeze.

    Args:
        block: the network.
        pattern: the names to freeze, as in [`select`][gluonparams.select.select];
            ``None`` selects every parameter.
        exclude: names to leave alone, as in [`select`][gluonparams.select.select].
        mode: how patterns match: ``'search'``, ``'fullmatch'`` or ``'glob'``, as in
            [`select`][gluonparams.select.select].

    Returns:
        The parameters this call froze (already-frozen ones and parameters that
        never train, such as BatchNorm running statistics, are left out).

    Examples:
        >>> list(gp.freeze(net, '^[012][.]'))
        ['0.weight', '0.bias', '1.weight', '1.bias']
        >>> net[3].weight.grad_req, net[0].weight.grad_req
        ('write', 'null')
    """
    changed = {}
    for name, param in select(block, pattern, exclude=exclude, mode=mode).items():
        if param.grad_req == 'null':
            continue
        setattr(param, _FROZEN_FROM, param.grad_req)
        param.grad_req = 'null'
        changed[name] = param
    return changed


def unfreeze(block: gluon.Block, pattern: Patterns = None, *, exclude: Patterns = None,
             mode: str = 'search') -> Selection:
    """Undo `freeze`: each selected parameter gets back its own previous ``grad_req``.

    Only parameters [`freeze`][gluonparams.freeze] froze change: BatchNorm running
    statistics (always ``'null'``) and parameters made ``'null'`` by other means stay as
    they are; use [`configure`][gluonparams.configure] with ``grad_req='write'`` to make
    those trainable.

    Args:
        block: the network.
        pattern: the names to unfreeze, as in [`select`][gluonparams.select.select];
            ``None`` selects every parameter.
        exclude: names to leave frozen, as in [`select`][gluonparams.select.select].
        mode: how patterns match: ``'search'``, ``'fullmatch'`` or ``'glob'``.

    Returns:
        The parameters this call made trainable again.
    """
    changed = {}
    for name, param in select(block, pattern, exclude=exclude, mode=mode).items():
        previous = getattr(param, _FROZEN_FROM, None)
        if previous is None:
            continue
        delattr(param, _FROZEN_FROM)
        if param.grad_req == 'null':  # not changed by hand since the freeze
            param.grad_req = previous
            changed[name] = param
    return changed


def configure(block: gluon.Block, pattern: Patterns, *, exclude: Patterns = None,
              lr_mult: Optional[float] = None, wd_mult: Optional[float] = None,
              grad_req: Optional[str] = None, mode: str = 'search') -> Selection:
    """Set ``lr_mult``, ``wd_mult`` and/or ``grad_req`` on the selected parameters.

    Args:
        block: the network.
        pattern: the names to configure, as in [`select`][gluonparams.select.select]
            (``None`` selects every parameter).
        exclude: names to leave alone, as in [`select`][gluonparams.select.select].
        lr_mult: learning-rate multiplier (a number >= 0); ``None`` leaves it.
        wd_mult: weight-decay multiplier (a number >= 0); ``None`` leaves it.
        grad_req: ``'write'``, ``'add'`` or ``'null'``; ``None`` leaves it. Setting it
            replaces what [`freeze`][gluonparams.freeze] remembered. Parameters that
            are never differentiable (BatchNorm running statistics) stay ``'null'``.
        mode: how patterns match: ``'search'``, ``'fullmatch'`` or ``'glob'``.

    Returns:
        The parameters whose settings changed.

    Raises:
        OptionError: a ``grad_req`` outside the allowed values, a multiplier that is
            not a finite number >= 0, or nothing to set.
    """
    settings = _checked_settings(lr_mult=lr_mult, wd_mult=wd_mult, grad_req=grad_req)
    changed = {}
    for name, param in select(block, pattern, exclude=exclude, mode=mode).items():
        if 'grad_req' in settings and hasattr(param, _FROZEN_FROM):
            delattr(param, _FROZEN_FROM)
        before = [getattr(param, attr) for attr in settings]
        for attr, value in settings.items():
            setattr(param, attr, value)
        if before != [getattr(param, attr) for attr in settings]:
            changed[name] = param
    return changed


def _checked_settings(**settings: Any) -> Dict[str, Any]:
    out = {k: v for k, v in settings.items() if v is not None}
    if not out:
        raise OptionError('configure() has nothing to set: pass lr_mult=, wd_mult= '
                          'and/or grad_req=')
    if 'grad_req' in out:
        check_option('grad_req', out['grad_req'], GRAD_REQS)
    for key in ('lr_mult', 'wd_mult'):
        value = out.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value) or value < 0:
            raise OptionError(f'{key}={value!r} is not supported; use a finite number >= 0 '
                              f'(0 turns it off, 1 is the default)')
        out[key] = float(value)
    return out


def no_weight_decay(block: gluon.Block, pattern: Patterns = NO_DECAY, *,
                    exclude: Patterns = None, mode: str = 'search') -> Selection:
    """The usual recipe: no weight decay on biases and normalization parameters.

    Sets ``wd_mult=0`` on the parameters matching ``pattern`` (default
    ``r'(bias|gamma|beta)$'``); a Trainer's ``wd`` then leaves them alone.

    Args:
        block: the network.
        pattern: the names that get no weight decay, as in
            [`select`][gluonparams.select.select].
        exclude: names to leave alone.
        mode: how patterns match: ``'search'``, ``'fullmatch'`` or ``'glob'``.

    Returns:
        The parameters whose ``wd_mult`` changed.

    Examples:
        >>> list(gp.no_weight_decay(net))
        ['0.bias', '1.bias', '3.bias']
        >>> trainer = gluon.Trainer(net.collect_params(), 'sgd', {'wd': 1e-4})
    """
    return configure(block, pattern, exclude=exclude, mode=mode, wd_mult=0.0)
