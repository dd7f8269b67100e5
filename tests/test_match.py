"""The matching rules on names and shapes alone (no MXNet, no file): which of a file's
names fills which parameter, by which rule, and what is refused."""

from math import prod

import pytest

import gluonparams as gp
from gluonparams.checkpoint._globalnames import (
    counter_translation,
    creation_order,
    first_token,
    kind_of,
)
from gluonparams.checkpoint._match import FileKey, Target, as_renamer, match


def target(names, shape, global_name=None):
    return Target((names,) if isinstance(names, str) else tuple(names), shape, global_name)


def files(**shapes):
    return [FileKey(k, v) for k, v in shapes.items()]


def rules(result):
    return set(result.rules.values())


def test_exact_comes_first_and_keeps_which_name_matched():
    t = [target(['embed.weight', 'out.weight'], (20, 8)), target('out.bias', (20,))]
    every = match([FileKey('embed.weight', (20, 8)), FileKey('out.weight', (20, 8)),
                   FileKey('out.bias', (20,))], t)
    assert every.found == {0: [('embed.weight', 'embed.weight'), ('out.weight', 'out.weight')],
                           1: [('out.bias', 'out.bias')]}
    dedup = match([FileKey('out.weight', (20, 8)), FileKey('out.bias', (20,))], t)
    assert dedup.found[0] == [('out.weight', 'out.weight')] and rules(dedup) == {'exact'}


def test_arg_aux_stripped():
    t = [target('0.weight', (4, 3)), target('1.running_mean', (4,))]
    r = match([FileKey('arg:0.weight', (4, 3)), FileKey('aux:1.running_mean', (4,))], t)
    assert r.found == {0: [(None, 'arg:0.weight')], 1: [(None, 'aux:1.running_mean')]}
    assert rules(r) == {'arg:/aux: stripped'}


def test_counters_pair_by_rank_not_by_equal_tokens():
    assert counter_translation(['dense0_weight', 'dense1_weight'],
                               ['dense1_weight', 'dense2_weight']) == (
        {'dense0_': 'dense1_', 'dense1_': 'dense2_'}, [])
    assert first_token('mobilenetv20_features_conv0_weight') == ('mobilenetv20_', 'mobilenetv', 20)
    _, problems = counter_translation(['bn1_gamma'], ['batchnorm0_gamma'])
    assert problems == ['1 bn<n>_ prefix (bn1_) in the file, no bn<n>_ prefix in the network']


def test_global_names_re_counted_and_declined_when_a_prefix_has_no_counterpart():
    t = [target('0.weight', (8, 3, 3, 3), 'conv18_weight'),
         target('1.gamma', (8,), 'batchnorm18_gamma')]
    ok = match(files(**{'arg:conv0_weight': (8, 3, 3, 3), 'arg:batchnorm0_gamma': (8,)}), t)
    assert rules(ok) == {'1.x global name, re-counted (batchnorm0_ -> batchnorm18_, '
                         'conv0_ -> conv18_)'}
    # a hand-written symbol (conv1, bn1): no guessing by name; the order decides
    module = match(files(**{'arg:conv1_weight': (8, 3, 3, 3), 'arg:bn1_gamma': (8,)}), t,
                   symbol=['data', 'conv1_weight', 'bn1_gamma'])
    assert module.found == {0: [(None, 'arg:conv1_weight')], 1: [(None, 'arg:bn1_gamma')]}
    assert rules(module) == {'order (-symbol.json graph order = network order), shapes and '
                             'kinds checked'}


def test_root_prefix_stripped():
    t = [target('0.weight', (4, 3), 'resnetv12_conv0_weight')]
    r = match(files(conv0_weight=(4, 3)), t, root_prefix='resnetv12_')
    assert rules(r) == {'1.x global name, root prefix stripped'}


def test_downsample_used_first_is_put_back_by_creation_counters():
    t = [target('b.0.weight', (8, 4, 3, 3)), target('b.1.weight', (8, 8, 3, 3)),
         target('d.0.weight', (8, 4, 1, 1))]
    shapes = {'r_stage2_conv2_weight': (8, 4, 1, 1), 'r_stage2_conv0_weight': (8, 4, 3, 3),
              'r_stage2_conv1_weight': (8, 8, 3, 3)}
    r = match([FileKey('arg:' + n, s) for n, s in shapes.items()], t, symbol=list(shapes))
    assert {i: k for i, [(_, k)] in r.found.items()} == {
        0: 'arg:r_stage2_conv0_weight', 1: 'arg:r_stage2_conv1_weight',
        2: 'arg:r_stage2_conv2_weight'}
    assert creation_order(['s_conv2_weight', 's_conv0_weight', 'fc_bias']) == [
        's_conv0_weight', 's_conv2_weight', 'fc_bias']


def test_two_orders_that_fit_every_shape_are_refused_as_ambiguous():
    # two Dense of one shape, defined a then b, used b first: nothing says which is which
    t = [target('a.weight', (4, 4)), target('b.weight', (4, 4))]
    names = ['n_dense1_weight', 'n_dense0_weight']
    r = match([FileKey('arg:' + n, (4, 4)) for n in names], t, symbol=names)
    assert not r.found
    assert r.declined == [
        'order: ambiguous: 2 orders fit every shape (-symbol.json graph order; -symbol.json '
        'graph order, re-sorted by 1.x creation counters): pass rename= to say which name is '
        'which']
    fixed = match([FileKey('arg:' + n, (4, 4)) for n in names], t, symbol=names,
                  rename=as_renamer({r'^arg:n_dense0_weight$': 'a.weight',
                                     r'^arg:n_dense1_weight$': 'b.weight'}))
    assert fixed.rules == {0: 'rename=, exact', 1: 'rename=, exact'}
    assert fixed.found[0] == [('a.weight', 'arg:n_dense0_weight')]


def test_a_shape_or_kind_that_does_not_fit_refuses_with_its_position():
    t = [target('0.weight', (4, 3)), target('1.weight', (2, 4))]
    r = match(files(x_weight=(4, 3), y_weight=(4, 2)), t)
    assert not r.found
    assert r.declined == ["order (file order): position 1: file 'y_weight' (4, 2) vs network "
                          "'1.weight' (2, 4)"]
    kinds = match(files(x_weight=(4,), y_bias=(4,)),
                  [target('0.bias', (4,)), target('1.weight', (4,))])
    assert "position 0: file 'x_weight' (4,) vs network '0.bias' (4,)" in kinds.declined[0]
    assert kind_of('features.1.running_var') == kind_of('bn1_moving_var') == 'var'


def test_unknown_dimensions_fit_any_size():
    r = match(files(conv1_weight=(8, 3, 3, 3)), [target('0.weight', (8, None, 3, 3))])
    assert r.found == {0: [(None, 'conv1_weight')]}


def test_structural_names_are_never_matched_by_position():
    r = match(files(**{'encoder.0.weight': (4, 4)}), [target('body.0.weight', (4, 4))])
    assert not r.found
    assert r.declined == ["order: the file's names and the network's are structural (dotted "
                          "paths): they are matched by name only, never by position"]


def test_a_remainder_under_one_block_is_matched_by_position_there():
    # a 1.x SymbolBlock at '0' (global names) next to a Dense whose names match
    t = [target('0.conv0_weight', (8, 3, 3, 3)), target('0.batchnorm0_gamma', (8,)),
         target('1.weight', (2, 8))]
    r = match(files(**{'0.0.weight': (8, 3, 3, 3), '0.1.gamma': (8,), '1.weight': (2, 8)}), t)
    assert r.rules == {2: 'exact', 0: "order (file order = network order under '0'), shapes "
                                      "and kinds checked",
                       1: "order (file order = network order under '0'), shapes and kinds "
                          "checked"}


def test_symbol_block_names_re_counted():
    t = [target('features.mobilenet1_conv0_weight', (8, 3, 3, 3)), target('head.weight', (2, 8))]
    r = match(files(**{'features.mobilenet0_conv0_weight': (8, 3, 3, 3),
                       'head.weight': (2, 8)}), t)
    assert r.rules == {1: 'exact',
                       0: 'SymbolBlock names re-counted (mobilenet0_ -> mobilenet1_)'}


def test_a_symbol_file_that_does_not_name_the_arrays_is_refused():
    r = match(files(conv1_weight=(4,)), [target('0.weight', (4,))], symbol=['data', 'other'])
    assert not r.found
    assert r.declined == ["order: the -symbol.json does not name 1 of the file's arrays "
                          "('conv1_weight', ...): it belongs to another file"]


def reading(variables):
    """A -symbol.json read on demand, and a list of the reads."""
    reads = []

    def symbol():
        reads.append(1)
        return variables
    return symbol, reads


def test_the_symbol_is_read_only_when_everything_is_matched_by_position():
    symbol, reads = reading(['data', 'dense0_weight'])
    # the remainder lies under another block on each side: no position to go by
    apart = match(files(**{'0.weight': (4, 3), '2.weight': (2, 4)}),
                  [target('0.weight', (4, 3)), target('2.0.weight', (2, 4))], symbol=symbol)
    assert apart.rules == {0: 'exact'} and reads == []
    # a remainder under one block on both sides is ordered by the file, not by the graph
    under = match(files(**{'0.weight': (4, 3), '1.dense0_weight': (2, 4)}),
                  [target('0.weight', (4, 3)), target('1.weight', (2, 4))], symbol=symbol)
    assert under.found[1] == [(None, '1.dense0_weight')] and reads == []
    flat = match(files(dense0_weight=(2, 4)), [target('0.weight', (2, 4))], symbol=symbol)
    assert flat.rules == {0: 'order (-symbol.json graph order = network order), shapes and '
                             'kinds checked'} and reads == [1]


def test_rename_is_checked_at_the_door():
    assert as_renamer(None) is None
    assert as_renamer(str.upper)('a') == 'A'
    with pytest.raises(gp.OptionError, match='rename=3 is not supported'):
        as_renamer(3)
    with pytest.raises(gp.PatternError, match="rename= pattern '\\(' is not a valid"):
        as_renamer({'(': 'x'})
    with pytest.raises(gp.OptionError, match='both must be strings'):
        as_renamer({'a': 1})
    with pytest.raises(gp.CheckpointError, match="f.params: rename= gives 'a' and 'b' the same "
                                                 "name 'x'"):
        match(files(a=(1,), b=(1,)), [], rename=lambda k: 'x', path='f.params')
    with pytest.raises(gp.CheckpointError, match="rename= turned 'a' into None, not a string"):
        match(files(a=(1,)), [], rename=lambda k: None)


def per_gate(layer, layers=2, sides=('l', 'r'), structural=True, hidden=8, inputs=4):
    """A 1.x LSTM layer's per-gate names and shapes, in 1.x's structural order."""
    out = {}
    for i in range(layers):
        for side in sides:
            cell = f'.{side}_cell' if len(sides) > 1 else ''
            width = inputs if i == 0 else hidden * len(sides)
            for gates, shape in (('i2h_weight', (4 * hidden, width)),
                                 ('h2h_weight', (4 * hidden, hidden)),
                                 ('i2h_bias', (4 * hidden,)), ('h2h_bias', (4 * hidden,))):
                name = (f'{layer}._unfused.{i}{cell}.{gates}' if structural
                        else f'{layer}{side}{i}_{gates}')
                out[name] = shape
    return out


def test_rnn_arrays_are_fused_in_the_order_mxnet_concatenates_them():
    arrays = per_gate('1')
    r = match(files(**arrays), [target('1.rnn_param', (2560,))])
    assert r.rules == {0: 'RNN per-gate arrays fused (MXNet 1.x -> 2.0), by name'}
    assert r.found == {0: [(None, '1.rnn_param')]}
    # weights before biases, then layer, then direction, then i2h before h2h
    assert r.parts['1.rnn_param'][:5] == [
        '1._unfused.0.l_cell.i2h_weight', '1._unfused.0.l_cell.h2h_weight',
        '1._unfused.0.r_cell.i2h_weight', '1._unfused.0.r_cell.h2h_weight',
        '1._unfused.1.l_cell.i2h_weight']
    assert r.parts['1.rnn_param'][8] == '1._unfused.0.l_cell.i2h_bias'
    assert sum(prod(arrays[n]) for n in r.parts['1.rnn_param']) == 2560


def test_rnn_arrays_with_global_names_are_fused_and_matched_by_position():
    arrays = {'embedding0_weight': (10, 4), **per_gate('lstm0_', structural=False),
              'dense0_weight': (3, 16)}
    r = match(files(**{'arg:' + k: v for k, v in arrays.items()}),
              [target('0.weight', (10, 4)), target('1.rnn_param', (2560,)),
               target('2.weight', (3, 16))])
    assert r.found[1] == [(None, 'lstm0_rnn_param')] and len(r.parts['lstm0_rnn_param']) == 16
    assert r.rules[1] == ('RNN per-gate arrays fused (MXNet 1.x -> 2.0), order (file order = '
                          'network order), shapes and kinds checked')


def test_rnn_arrays_fused_take_the_place_of_the_first_in_a_symbol_read_later():
    symbol, reads = reading(['data'])
    by_name = match(files(**per_gate('1')), [target('1.rnn_param', (2560,))], symbol=symbol)
    assert by_name.found == {0: [(None, '1.rnn_param')]} and reads == []
    gates = per_gate('lstm0_', structural=False)
    arrays = {'embedding0_weight': (10, 4), **gates, 'dense0_weight': (3, 16)}
    keys = files(**{'arg:' + k: v for k, v in arrays.items()})
    symbol, reads = reading(['data', 'dense0_weight', 'embedding0_weight', *gates])
    r = match(keys, [target('0.weight', (3, 16)), target('1.weight', (10, 4)),
                     target('2.rnn_param', (2560,))], symbol=symbol)
    assert reads == [1] and r.found[2] == [(None, 'lstm0_rnn_param')]
    assert r.rules[2] == ('RNN per-gate arrays fused (MXNet 1.x -> 2.0), order (-symbol.json '
                          'graph order = network order), shapes and kinds checked')


def test_a_fused_vector_is_split_into_the_per_gate_parameters():
    arrays = per_gate('1', layers=1, sides=('l',))
    t = [target(n, s) for n, s in arrays.items()]
    r = match(files(**{'arg:1.rnn_param': (448,)}), t)     # 32 x 4 + 32 x 8 + 32 + 32
    assert r.windows == {0: (0, 128), 1: (128, 384), 2: (384, 416), 3: (416, 448)}
    assert set(r.rules.values()) == {'RNN fused vector split (MXNet 2.0 -> 1.x)'}
    unknown = match(files(**{'1.rnn_param': (448,)}),
                    [target(n, (s[0], None) if len(s) == 2 else s) for n, s in arrays.items()])
    assert not unknown.found and 'run the network once first' in unknown.declined[0]


def test_a_projection_or_a_missing_array_is_not_fused():
    arrays = per_gate('1', layers=1, sides=('l',))
    incomplete = dict(list(arrays.items())[:-1])
    r = match(files(**incomplete), [target('1.rnn_param', (448,))])
    assert not r.found and r.declined[0] == (
        "RNN layers (fused or split): 1.rnn_param: 3 per-gate arrays, not the 4 of 1 layers "
        "and 1 directions")
    r = match(files(**arrays, **{'1._unfused.0.h2r_weight': (5, 8)}),
              [target('1.rnn_param', (488,))])
    assert not r.found and 'a projection (h2r)' in r.declined[0]
