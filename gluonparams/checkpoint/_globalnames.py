"""MXNet 1.x global names (``resnetv10_stage2_conv0_weight``) and ``arg:``/``aux:`` keys.

MXNet 1.x names every Parameter globally: a block's prefix is a hint plus a counter
(``dense0_``, ``resnetv10_``), counted per name scope, so a network built twice in
one process gets other top-level counters (``resnetv10_`` then ``resnetv11_``) but
the same nested ones (``stage2_conv0_``). ``export`` and ``Module.save_checkpoint``
store these names behind ``arg:`` (graph inputs) or ``aux:`` (auxiliary states:
BatchNorm's running statistics). The functions here read such names; they know no
network and no file.
"""

import re
from collections.abc import Iterable, Sequence

__all__ = ['KINDS', 'bare', 'counter_translation', 'creation_order', 'first_token', 'is_flat',
           'kind_of', 'translate']

_TOKEN = re.compile(r'^([^_.]+?)(\d+)_')
_DIGITS = re.compile(r'^(.*?)(\d+)_$')
_LAST_COUNTER = re.compile(r'^(.*?)(\d+)_((?:running_|moving_)?[a-z]+)$')
KINDS = ('weight', 'bias', 'gamma', 'beta', 'mean', 'var')


def bare(key: str) -> str:
    """The name without ``arg:``/``aux:``.

    Examples:
        >>> bare('aux:batchnorm0_running_mean'), bare('0.weight')
        ('batchnorm0_running_mean', '0.weight')
    """
    return key[4:] if key.startswith(('arg:', 'aux:')) else key


def is_flat(name: str) -> bool:
    """True for a name that says nothing about structure: no dotted path (a 1.x
    global name, a name chosen by the author of a symbolic network)."""
    return '.' not in name


def first_token(name: str) -> tuple[str, str, int] | None:
    """``(token, hint, counter)`` of a name whose first ``_``-separated part ends in
    digits; the hint is the token without all its trailing digits, on every name alike
    (``mobilenetv20_`` is ``mobilenetv2`` + counter 0 for MXNet, but both sides of a
    comparison parse it the same way).

    Examples:
        >>> first_token('mobilenetv20_features_conv0_weight')
        ('mobilenetv20_', 'mobilenetv', 20)
        >>> first_token('weight') is None
        True
    """
    found = _TOKEN.match(name)
    if not found:
        return None
    token = name[:found.end()]
    head = _DIGITS.match(token)
    assert head is not None
    return token, head.group(1), int(head.group(2))


def counter_translation(file_names: Iterable[str], net_names: Iterable[str]
                        ) -> tuple[dict[str, str], list[str]]:
    """The file's leading ``<hint><counter>_`` tokens mapped to the network's.

    Per hint, the file's tokens sorted by counter pair with the network's sorted by
    counter, by rank, and only when both sides have as many: a network built again
    creates its top-level blocks in the same order, so counters keep their order
    (pairing equal tokens first would be wrong: file ``dense0_, dense1_`` and network
    ``dense1_, dense2_`` mean ``dense0_ -> dense1_``).

    Returns:
        ``(translation, problems)``: a problem per hint of the file whose tokens have
        no counterpart.

    Examples:
        >>> counter_translation(['dense0_weight', 'dense1_weight'],
        ...                     ['dense1_weight', 'dense2_weight'])
        ({'dense0_': 'dense1_', 'dense1_': 'dense2_'}, [])
    """
    by_hint_file, by_hint_net = _tokens_by_hint(file_names), _tokens_by_hint(net_names)
    translation: dict[str, str] = {}
    problems: list[str] = []
    for hint, tokens in by_hint_file.items():
        others = by_hint_net.get(hint, [])
        if len(tokens) != len(others):
            problems.append(f'{_count_tokens(tokens, hint)} in the file, '
                            f'{_count_tokens(others, hint)} in the network')
            continue
        translation.update(zip(tokens, others))
    return translation, problems


def _tokens_by_hint(names: Iterable[str]) -> dict[str, list[str]]:
    found: dict[str, dict[str, int]] = {}
    for name in names:
        token = first_token(name)
        if token is not None:
            found.setdefault(token[1], {})[token[0]] = token[2]
    return {hint: sorted(tokens, key=tokens.__getitem__) for hint, tokens in found.items()}


def _count_tokens(tokens: Sequence[str], hint: str) -> str:
    if not tokens:
        return f'no {hint}<n>_ prefix'
    shown = ', '.join(tokens[:3]) + (', ...' if len(tokens) > 3 else '')
    return f'{len(tokens)} {hint}<n>_ prefix{"es" if len(tokens) > 1 else ""} ({shown})'


def translate(name: str, translation: dict[str, str]) -> str:
    """``name`` with its leading token replaced as ``translation`` says."""
    token = first_token(name)
    if token is not None and token[0] in translation:
        return translation[token[0]] + name[len(token[0]):]
    return name


def kind_of(name: str) -> str:
    """What a parameter is, from its name's last part: ``weight``, ``bias``, ``gamma``,
    ``beta``, ``mean`` (``running_mean``, ``moving_mean``), ``var``, or that part.

    Examples:
        >>> kind_of('features.1.running_var'), kind_of('bn1_moving_var'), kind_of('fc1_bias')
        ('var', 'var', 'bias')
    """
    if name.endswith(('running_mean', 'moving_mean')):
        return 'mean'
    if name.endswith(('running_var', 'moving_var')):
        return 'var'
    return re.split(r'[._]', name)[-1]


def creation_order(names: Sequence[str]) -> list[str] | None:
    """The names with each class of names that differ only by their last counter
    (``stage2_conv2_weight``, ``stage2_conv0_weight``, ...) re-sorted by that counter
    in the positions the class occupies: the order in which 1.x created them, which is
    the order the blocks were defined in (a graph may use them in another order:
    ResNet v1 runs its downsample branch first). ``None`` when no name has a counter.

    Examples:
        >>> creation_order(['s_conv2_weight', 's_conv0_weight', 'fc_bias', 's_conv1_weight'])
        ['s_conv0_weight', 's_conv1_weight', 'fc_bias', 's_conv2_weight']
    """
    slots: dict[tuple[str, str], list[int]] = {}
    counters: dict[int, int] = {}
    for i, name in enumerate(names):
        found = _LAST_COUNTER.match(name)
        if found:
            slots.setdefault((found.group(1), found.group(3)), []).append(i)
            counters[i] = int(found.group(2))
    if not counters:
        return None
    out = list(names)
    for positions in slots.values():
        for slot, source in zip(positions, sorted(positions, key=counters.__getitem__)):
            out[slot] = names[source]
    return out
