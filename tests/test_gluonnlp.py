"""Real networks: GluonNLP 0.10's BERT family and LSTM language models (MXNet 1.x).

Their names are Gluon's although the attention cells rename their parameters
(``attention_cell.proj_query.weight``) and the LSTM layers theirs
(``encoder._unfused.0.i2h_weight``); ``summary`` counts what a brute-force count
finds; ``tie_groups`` finds the decoder tied to the word embedding; ``.params``
files go both ways between gluonparams and Gluon, bit for bit.

Models are built offline from a local 100-token vocabulary (nothing is downloaded).
``summary`` counts full-size networks whose shapes ``infer_shape`` settles without
allocating them; files are written for ``bert_12_768_12`` (87 M values, the one
slow test: seconds), for the same BERT and AWD classes at a small size
(``hparam_allow_override``) and for ``standard_lstm_lm_200``. Skipped
where GluonNLP 0.10 cannot run (MXNet 2.0); ``.ci/run`` sets
``GLUONPARAMS_REQUIRE_GLUONNLP=1`` in its MXNet 1.9.1 environment, where a missing
GluonNLP fails the session instead (``conftest.py``).
"""

import collections
from math import prod

import mxnet as mx
import numpy as onp
import pytest
from conftest import gluonnlp_problem

import gluonparams as gp
import nets

PROBLEM = gluonnlp_problem()
if PROBLEM:
    pytest.skip(PROBLEM, allow_module_level=True)

import gluonnlp as nlp  # noqa: E402  (after the skip: absent or broken on MXNet 2.0)
from test_checkpoint import fill_random  # noqa: E402

MODELS = ['bert_12_768_12', 'roberta_12_768_12', 'distilbert_6_768_12', 'ernie_12_768_12',
          'standard_lstm_lm_200', 'awd_lstm_lm_1150']
SMALL = {'bert_12_768_12': dict(num_layers=2, units=16, hidden_size=32, num_heads=2,
                                max_length=16, embed_size=16),
         'awd_lstm_lm_1150': dict(embed_size=8, hidden_size=12)}
BERT_TIE = ['word_embed.0.weight', 'decoder.3.weight']
LM_TIE = ['embedding.0.weight', 'decoder.0.weight']
TIES = {'bert_12_768_12': [BERT_TIE], 'roberta_12_768_12': [BERT_TIE],
        'distilbert_6_768_12': [], 'ernie_12_768_12': [BERT_TIE],
        'standard_lstm_lm_200': [LM_TIE], 'awd_lstm_lm_1150': [LM_TIE]}


def build(name, small=False):
    vocab = nlp.Vocab(collections.Counter({f'tok{i}': 1 for i in range(96)}))   # + 4 reserved
    more = dict(SMALL[name], hparam_allow_override=True) if small else {}
    net, _ = nlp.model.get_model(name, dataset_name=None, vocab=vocab, pretrained=False, **more)
    return net


def inputs(name):
    tokens = mx.nd.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    if name.startswith('bert'):
        return tokens, mx.nd.zeros((2, 4)), mx.nd.array([4, 3]), mx.nd.array([[1, 2], [0, 3]])
    return (tokens.T,)                                   # language models: (time, batch)


@pytest.mark.parametrize('name', MODELS)
def test_names_are_gluons_in_order_with_the_same_parameters(name):
    net = build(name)
    names = nets.assert_gluons_names(net)
    renamed = '.attention_cell.proj_key.weight' if 'lstm' not in name else '._unfused.0.'
    assert any(renamed in n for n in names)


@pytest.mark.parametrize('name', ['bert_12_768_12', 'awd_lstm_lm_1150', 'standard_lstm_lm_200'])
def test_summary_counts_what_a_brute_force_count_finds(name):
    net = build(name)
    if name.startswith('bert'):
        net.infer_shape(*inputs(name))                  # shapes without allocating them
    result = gp.summary(net, file=None)
    unique = list({id(p): p for p in nets.gluon_names(net).values()}.values())
    assert result.unknown_params == 0
    assert result.total_params == sum(prod(p.shape) for p in unique)
    assert result.trainable_params == sum(prod(p.shape) for p in unique if p.grad_req != 'null')
    assert result.total_bytes == sum(prod(p.shape) * onp.dtype(p.dtype).itemsize for p in unique)
    rows = [row.path for row in result.rows if row.kind == 'param']
    assert sorted(rows) == sorted(nets.gluon_names(net))
    assert result.ties == TIES[name]


@pytest.mark.parametrize('name', MODELS)
def test_tie_groups_find_the_decoder_tied_to_the_embedding(name):
    net = build(name)
    assert gp.tie_groups(net) == TIES[name]
    for group in TIES[name]:
        gp.assert_tied(net, *group)


def same_bits(net, other):
    mine, theirs = dict(gp.named_parameters(net)), dict(gp.named_parameters(other))
    assert list(mine) == list(theirs)
    for name, param in mine.items():
        a, b = param.data().asnumpy(), theirs[name].data().asnumpy()
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
    assert gp.tie_groups(other) == gp.tie_groups(net)


@pytest.mark.parametrize('name, small', [
    pytest.param('bert_12_768_12', True, id='bert-small'),
    pytest.param('awd_lstm_lm_1150', True, id='awd-small'),
    pytest.param('standard_lstm_lm_200', False, id='standard-lm'),
    pytest.param('bert_12_768_12', False, id='bert', marks=pytest.mark.slow)])
def test_params_files_round_trip_with_gluon_both_ways_bit_for_bit(name, small, tmp_path):
    net = build(name, small)
    net.initialize()
    net(*inputs(name))
    fill_random(net, 7)
    gp.save(net, tmp_path / 'ours.params')
    twin = build(name, small)
    twin.load_parameters(str(tmp_path / 'ours.params'))            # Gluon reads ours
    same_bits(net, twin)
    net.save_parameters(str(tmp_path / 'theirs.params'))
    third = build(name, small)
    report = gp.load(third, tmp_path / 'theirs.params')             # we read Gluon's
    assert report.missing == [] and report.unexpected == []
    same_bits(net, third)
    for path in tmp_path.iterdir():            # 350 MB each at full BERT size
        path.unlink()
