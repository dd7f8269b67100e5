"""examples/parameter_management.ipynb: the deck's cells verbatim, then the library's
answers, run in a real IPython kernel of this Python (nbclient + ipykernel), and what
each cell shows, including that ``gp.summary(net)`` shows the tree exactly once.

The notebook runs once per session (conftest.py ``executed_notebook``), with a few
probe cells appended (conftest.py ``PROBES``); test_browser.py draws the same run.
"""

import re

import nbformat
import pytest

from gluonparams import _compat

import notebooks
from htmltree import parse

DECK_CELLS = sorted(notebooks.EXAMPLES.glob('deck_[1-6]_*.py'))


def deck_cell(path):
    """A deck cell as the deck writes it, from its example script: cell 1 is the script's
    body with its last line unprinted, cells 2-5 the printed expression, cell 6 as is."""
    text = path.read_text()
    number = int(path.name.split('_')[1])
    if number == 1:
        body = text.split('"""\n\n', 1)[1].replace('print(net(X).shape)', 'net(X).shape')
    else:
        body = text.split(f'# --- deck cell {number} ---\n', 1)[1]
    body = body.rstrip('\n')
    printed = re.fullmatch(r'print\((.*)\)', body)
    if 2 <= number <= 5:
        body = printed.group(1)
        if number == 3:             # print((a, b)) shows the tuple the deck's `a, b` shows
            body = body[1:-1]
    return body


def test_the_notebook_is_stored_without_outputs():
    nb = notebooks.read()
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == 'code']
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
    assert nb.metadata.kernelspec.name == 'python3'
    tags = [notebooks.tag_of(c) for c in code]
    assert len(set(tags)) == len(tags) and all(tags)


def test_the_first_code_cells_are_the_decks_six_verbatim():
    code = [c for c in notebooks.read().cells if c.cell_type == 'code']
    assert len(DECK_CELLS) == 6
    assert [c.source for c in code[:6]] == [deck_cell(p) for p in DECK_CELLS]
    assert [notebooks.tag_of(c) for c in code[:6]] == [f'deck-{n}' for n in range(1, 7)]
    assert 'raises-exception' in code[5].metadata.tags      # MXNet 1.9.1 (see below)
    assert 'gluonparams' not in ''.join(c.source for c in code[:6])
    assert code[1].source == 'net[1].params' and code[2].source == \
        'type(net[1].bias), net[1].bias.data()'


@pytest.fixture(scope='module')
def cells(executed_notebook):
    nb, _, _ = executed_notebook
    return notebooks.code_cells(nb)


def plain(cells, tag):
    return notebooks.result(cells[tag])['text/plain']


def test_deck_cells_show_what_the_deck_says(cells):
    assert plain(cells, 'deck-1') == '(2, 1)'
    if _compat.HAS_GLOBAL_NAMES:        # 1.x: a ParameterDict keyed by global names
        assert plain(cells, 'deck-2').startswith('dense1_ (\n  Parameter dense1_weight')
        assert re.findall(r'Parameter (\w+) ', plain(cells, 'deck-5')) == [
            'dense0_weight', 'dense0_bias', 'dense1_weight', 'dense1_bias']
    else:
        assert plain(cells, 'deck-2') == ("{'weight': Parameter (shape=(1, 8), dtype=float32),"
                                          "\n 'bias': Parameter (shape=(1,), dtype=float32)}")
        assert re.findall(r"'([\w.]+)': Parameter", plain(cells, 'deck-5')) == [
            '0.weight', '0.bias', '1.weight', '1.bias']
    assert plain(cells, 'deck-3') == '(mxnet.gluon.parameter.Parameter, array([0.]))'
    assert plain(cells, 'deck-4') == 'array([[0., 0., 0., 0., 0., 0., 0., 0.]])'


def test_deck_cell_6_ties_on_mxnet_2_and_fails_on_1x_without_stopping_the_notebook(cells):
    cell = cells['deck-6']
    errors = [o for o in cell.outputs if o.output_type == 'error']
    if _compat.HAS_SHARE_PARAMETERS:
        assert not errors, notebooks.describe(cell)
        printed = ''.join(o.text for o in notebooks.shown(cell))
        assert printed == '[ True  True  True  True  True  True  True  True]\n' * 2
    else:
        assert [(e.ename, e.evalue) for e in errors] == [
            ('AttributeError', "'Dense' object has no attribute 'share_parameters'")]
    assert notebooks.result(cells['answer-network'])['text/plain'] == '(2, 10)'


def test_the_summary_cell_shows_the_tree_once_as_html(cells):
    cell = cells['answer-summary']
    assert len(cell.outputs) == 1, notebooks.describe(cell)
    (out,) = cell.outputs
    assert out.output_type == 'execute_result'
    assert set(out.data) == {'text/html', 'text/plain'}
    root = parse(out.data['text/html'])
    rows = [e for e in root.find(cls='r') if 'hd' not in e.classes]
    assert len(rows) == 16
    footer = root.find('div', cls='f')[0].text()
    assert 'Total params: 330' in footer and 'Shared: 2 tied parameters' in footer
    text = out.data['text/plain']       # what text-only front ends show: the tree, once
    assert text.startswith('Name') and text.count('Total params: 330') == 1
    assert '→ shared with 1.weight' in text


def test_the_answers_traverse_select_check_ties_and_round_trip(cells):
    assert plain(cells, 'answer-traversal') == \
        "['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']"
    assert plain(cells, 'answer-get') == 'True'
    assert plain(cells, 'answer-select') == "['0.bias', '1.bias', '3.bias']"
    assert plain(cells, 'answer-ties') == "[['1.weight', '2.weight'], ['1.bias', '2.bias']]"
    assert plain(cells, 'answer-load') == \
        'deck_tied.safetensors: loaded 8, missing 0, unexpected 0, mismatched 0'
    assert plain(cells, 'answer-same') == 'True'
    assert plain(cells, 'answer-verify') == \
        'deck_tied.safetensors: OK, 6 tensors match their CRC-32 (1,320 bytes)'
    for tag in ('answer-load', 'answer-verify'):
        assert parse(notebooks.result(cells[tag])['text/html']).find('span', cls='ok'), tag


def test_the_frozen_layer_is_dimmed_in_the_tree(cells):
    root = parse(notebooks.result(cells['answer-freeze'])['text/html'])
    frozen = [e for e in root.find(cls='r') if 'z' in e.classes]
    assert [e.find(cls='n')[0].text() for e in frozen] == ['weight', 'bias']
    assert all(e.find(cls='g')[0].text() == 'null' for e in frozen)
    assert 'Non-trainable params: 168' in notebooks.result(cells['answer-freeze'])['text/plain']


def test_the_checkpoints_tree_links_the_tied_alias(cells):
    data = notebooks.result(cells['answer-save'])
    assert data['text/plain'].splitlines()[2].startswith('deck_tied.safetensors')
    root = parse(data['text/html'])
    link = [a for a in root.find('a') if a.text() == '→ shared with 1.weight']
    assert len(link) == 1
    assert len(root.find(id=link[0].attrs['href'][1:])) == 1


def test_statistics_and_histograms_show_inline(cells):
    root = parse(notebooks.result(cells['answer-stats'])['text/html'])
    assert len(root.find('tr')) == 1 + 6 and not [r for r in root.find('tr') if 'x' in r.classes]
    flagged = parse(notebooks.result(cells['probe-flagged'])['text/html'])
    assert [r.find('td')[0].text() for r in flagged.find('tr') if 'x' in r.classes] == [
        '3.weight']
    for tag in ('answer-histograms', 'probe-inline'):     # without and with %matplotlib inline
        cell = cells[tag]
        assert len(notebooks.shown(cell)) == 1, notebooks.describe(cell)
        data = notebooks.result(cell)
        assert 'image/png' in data and data['text/plain'].startswith('<Figure size')


def test_the_summary_prints_only_when_asked(cells):
    tree = plain(cells, 'answer-freeze')        # the tree as the probes find it
    assert cells['probe-assigned'].outputs == []
    (printed,) = cells['probe-printed'].outputs
    assert (printed.output_type, printed.name, printed.text) == ('stream', 'stdout', tree + '\n')
    explicit = cells['probe-explicit'].outputs
    assert [o.output_type for o in explicit] == ['stream', 'execute_result']
    assert explicit[0].text == tree + '\n'
    # the documented trade-off: not the last expression, so nothing shows
    assert [o.output_type for o in cells['probe-not-last'].outputs] == ['execute_result']
    assert plain(cells, 'probe-not-last') == "'the summary is not the last expression'"


def test_no_cell_other_than_deck_6_on_1x_fails_or_warns(cells):
    for tag, cell in cells.items():
        if tag == 'deck-6':
            continue
        assert not [o for o in cell.outputs if o.output_type == 'error'], notebooks.describe(cell)
        stderr = ''.join(o.text for o in cell.outputs
                         if o.output_type == 'stream' and o.name == 'stderr')
        assert 'Warning' not in stderr, notebooks.describe(cell)
