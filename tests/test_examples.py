"""Each example runs as a script, and shows what the deck says it shows."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / 'examples'


def run(name):
    done = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True,
                          text=True, timeout=300, cwd=EXAMPLES)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_example_is_tested():
    tested = set(re.findall(r"run\('([\w.]+\.py)'\)", Path(__file__).read_text()))
    assert tested == {p.name for p in EXAMPLES.glob('*.py')}


def test_deck_cells_are_verbatim_and_in_order():
    # Cell 1 heads cells 2-6 exactly as in cell 1's own file (its last line unprinted).
    cell1 = (EXAMPLES / 'deck_1_toy_model.py').read_text().split('"""\n\n', 1)[1]
    assert cell1.endswith('print(net(X).shape)\n')
    for path in sorted(EXAMPLES.glob('deck_[2-6]_*.py')):
        text = path.read_text()
        assert cell1.replace('print(net(X).shape)', 'net(X).shape') in text, path.name
        ast.parse(text)


def test_cell1_toy_model_output_shape():
    assert run('deck_1_toy_model.py').strip() == '(2, 1)'


def test_cell2_dense_layer_has_two_parameters():
    out = run('deck_2_direct_access.py')
    assert re.fullmatch(r"\{'weight': Parameter \(shape=\(1, 8\), dtype=float32\), "
                        r"'bias': Parameter \(shape=\(1,\), dtype=float32\)\}\n", out)


def test_cell3_parameter_type_and_zero_bias():
    out = run('deck_3_tensor_inside.py')
    assert out.strip() == "(<class 'mxnet.gluon.parameter.Parameter'>, array([0.]))"


def test_cell4_gradient_is_zero_before_backward():
    out = run('deck_4_grad.py')
    assert out.strip() == '[[0. 0. 0. 0. 0. 0. 0. 0.]]'


def test_cell5_collect_params_has_four_entries():
    out = run('deck_5_traversal.py')
    names = re.findall(r"'([\w.]+)': Parameter", out)
    assert names == ['0.weight', '0.bias', '1.weight', '1.bias']


def test_cell6_tie_check_prints_all_true_twice():
    lines = run('deck_6_tying.py').strip().splitlines()
    assert lines == ['[ True  True  True  True  True  True  True  True]'] * 2


def test_summary_example_draws_the_tied_tree():
    out = run('summary_tree.py')
    assert 'unique parameters: 330' in out
    assert "tie groups: [['1.weight', '2.weight'], ['1.bias', '2.bias']]" in out
    assert '(8, ?)' in out and '→ shared with 1.weight' in out


def test_checkpoint_example_resumes_on_another_device_bit_for_bit():
    out = run('checkpoint_resume.py')
    assert "ties [['1.weight', '2.weight'], ['1.bias', '2.bias']], metadata {'step': '10'}" in out
    assert 'loaded 8 names on cpu(1)' in out
    before = float(re.search(r'loss after 10 steps: ([\d.]+)', out).group(1))
    after = float(re.search(r'loss after 10 more steps: ([\d.]+)', out).group(1))
    assert after < before
    assert out.strip().endswith('identical to the run that never stopped: True')
