"""Why a file's names do not fit a network: hints for the message of a failed load.

Each hint names what explains the names that did not match, when something does: an
``export``/``Module`` file (``arg:``/``aux:``), MXNet 1.x global names and their
prefix counters, the fused weights of MXNet 2.0's RNN layers, a structural prefix one
side has and the other lacks, the rules that were tried and why they did not apply,
and ``rename=`` when nothing relates the two.
"""

import re
from collections import Counter
from collections.abc import Sequence

from .._text import first_of
from ._globalnames import bare, first_token, is_flat

__all__ = ['explain', 'prefix_hint']

_PER_GATE = re.compile(r'(^|[._])[lr]\d+_(i2h|h2h|h2r)_(weight|bias)$|_unfused\.')
DECLINED_SHOWN = 4


def explain(keys: Sequence[str], missing: Sequence[str], unexpected: Sequence[str],
            global_names: Sequence[str], declined: Sequence[str], matched_any: bool,
            symbol: str | None) -> list[str]:
    """Hints for a load that left ``missing`` network names and ``unexpected`` file
    names; ``keys`` are all the file's names, ``global_names`` the network's 1.x names
    (empty on MXNet 2.0), ``declined`` why matching rules did not apply, ``symbol`` the
    ``-symbol.json`` used (``None``: none)."""
    hints = []
    loose = [bare(k) for k in unexpected]
    if any(k.startswith(('arg:', 'aux:')) for k in keys):
        hints.append('the file is an MXNet export or Module checkpoint: its names carry arg: '
                     '(graph inputs) and aux: (auxiliary states, such as BatchNorm\'s running '
                     'statistics)' + ('' if symbol else '; no -symbol.json was found beside '
                                      'it (pass symbol= to give its graph order)'))
    hints += _rnn_hints(missing, loose)
    flat = [k for k in loose if is_flat(k) and first_token(k)]
    if flat and not global_names and missing:
        hints.append(f'{len(flat)} of the file\'s names are MXNet 1.x global names '
                     f'({flat[0]!r}, ...), which an MXNet 2.0 network does not have: they can '
                     f'only be matched by position, shape by shape (see why that did not '
                     f'work below), or by rename=')
    hints += _counter_hints(keys, global_names)
    prefix = prefix_hint(list(missing), loose)
    if prefix:
        hints.append(prefix)
    hints += [f'not matched by {d}' for d in declined[:DECLINED_SHOWN]]
    if len(declined) > DECLINED_SHOWN:
        hints.append(f'and {len(declined) - DECLINED_SHOWN} more rules that did not apply')
    if missing and unexpected and not matched_any:
        hints.append('nothing in the names relates the file to the network: pass rename= (a '
                     'mapping of regular expressions to replacements, or a callable) that '
                     'turns the file\'s names into the network\'s; gp.inspect(path) lists '
                     'the file\'s names')
    return hints


def _rnn_hints(missing: Sequence[str], loose: Sequence[str]) -> list[str]:
    per_gate_file = [k for k in loose if _PER_GATE.search(k)]
    fused_net = [n for n in missing if n.endswith('rnn_param')]
    fused_file = [k for k in loose if k.endswith('rnn_param')]
    per_gate_net = [n for n in missing if _PER_GATE.search(n)]
    hints = []
    if per_gate_file and fused_net:
        hints.append(f'RNN layers: MXNet 2.0 keeps all the weights of an RNN layer in one '
                     f'fused vector ({first_of(fused_net, 3)}); the file holds MXNet 1.x\'s '
                     f'{len(per_gate_file)} per-gate arrays ({first_of(per_gate_file, 2)}), '
                     f'which gluonparams fuses when every array of a layer is there, without '
                     f'a projection, and the fused vector then matches by name or position')
    if fused_file and per_gate_net:
        hints.append(f'RNN layers: the file holds MXNet 2.0\'s fused RNN weights '
                     f'({first_of(fused_file, 3)}); the network (MXNet 1.x) has '
                     f'{len(per_gate_net)} per-gate parameters ({first_of(per_gate_net, 2)}), '
                     f'which gluonparams fills from the fused vector of the same layer once '
                     f'their shapes are known')
    return hints


def _counter_hints(keys: Sequence[str], global_names: Sequence[str]) -> list[str]:
    """What the leading ``<hint><counter>_`` tokens of 1.x global names say."""
    in_file = {t[0]: t[1] for t in (first_token(bare(k)) for k in keys) if t}
    in_net = {t[0]: t[1] for t in map(first_token, global_names) if t}
    if not in_file or not in_net or set(in_file) == set(in_net):
        return []
    shown = (f'the file\'s global names begin with {first_of(sorted(in_file), 5, False)}, '
             f'the network\'s with {first_of(sorted(in_net), 5, False)}')
    if set(in_file.values()) == set(in_net.values()):
        return [f'prefix counters: {shown}: MXNet 1.x counts blocks per process, so the same '
                f'network built again gets other counters']
    return [f'{shown}: the file holds another network, or one built another way']


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
