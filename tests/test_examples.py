"""Each example runs as a script, and shows what the deck says it shows."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import mxnet as mx
import pytest

from gluonparams import _compat

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


# MXNet 2.0 prints a dict keyed by structural names; 1.x prints its ParameterDict, whose
# keys are global names counted per class in the process (the cell's Dense layers are
# the first two made: dense0_, dense1_).
def test_cell2_dense_layer_has_two_parameters():
    out = run('deck_2_direct_access.py')
    if _compat.HAS_GLOBAL_NAMES:
        assert out == ('dense1_ (\n'
                       '  Parameter dense1_weight (shape=(1, 8), dtype=float32)\n'
                       '  Parameter dense1_bias (shape=(1,), dtype=float32)\n)\n')
        return
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
    if _compat.HAS_GLOBAL_NAMES:
        names = re.findall(r'Parameter (\w+) \(', out)
        assert names == ['dense0_weight', 'dense0_bias', 'dense1_weight', 'dense1_bias']
        return
    names = re.findall(r"'([\w.]+)': Parameter", out)
    assert names == ['0.weight', '0.bias', '1.weight', '1.bias']


@pytest.mark.skipif(not _compat.HAS_SHARE_PARAMETERS,
                    reason=f'the deck cell calls Block.share_parameters, which MXNet 2.0 added '
                           f'and MXNet {_compat.MXNET_VERSION} lacks; '
                           f'test_tying_on_any_mxnet runs its portable twin instead')
def test_cell6_tie_check_prints_all_true_twice():
    lines = run('deck_6_tying.py').strip().splitlines()
    assert lines == ['[ True  True  True  True  True  True  True  True]'] * 2


def test_tying_on_any_mxnet():
    lines = run('tying_any_mxnet.py').strip().splitlines()
    assert lines == ['[ True  True  True  True  True  True  True  True]'] * 2 + [
        'same Parameter object: True',
        "tie groups: [['1.weight', '2.weight'], ['1.bias', '2.bias']]"]


def test_summary_example_draws_the_tied_tree():
    out = run('summary_tree.py')
    assert 'unique parameters: 330' in out
    assert "tie groups: [['1.weight', '2.weight'], ['1.bias', '2.bias']]" in out
    assert '(8, ?)' in out and '→ shared with 1.weight' in out


def test_tied_embeddings_example_proves_the_tie_and_catches_losing_it():
    lines = run('tied_embeddings.py').splitlines()
    assert lines[0] == "tie groups: [['embed.weight', 'decoder.weight']]"
    # embedding 50 x 16 = 800, hidden 16 x 16 + 16 = 272, decoder bias 50: 1,122 stored once
    assert lines[1] == 'parameters stored: 1,122 (untied: 1,922, saved |V| * d = 800)'
    losses = re.fullmatch(r'training loss: ([\d.]+) -> ([\d.]+)', lines[2]).groups()
    first, last = map(float, losses)
    assert last < first
    assert lines[3:] == [
        'still tied after training',
        "copies found: [['embed.weight', 'decoder.weight']]",
        '1 tie problem(s) in TinyLM:',
        ("  missing tie: 'decoder.weight' is not tied to 'embed.weight': equal but not tied: "
         "a copy (separate Parameters holding equal values)"),
        ('Tie parameters by identity: gp.share(dst, src), share_parameters (MXNet 2.0), '
         'params= at construction (1.x), or the same block instance at several positions.')]


def test_select_example_contrasts_gluon_and_trains_only_the_selection():
    out = run('select_patterns.py')
    assert "collect_params('weight'): []" in out
    assert "select('weight'): ['0.weight', '1.weight', '3.weight']" in out
    assert "every name of a tied parameter: ['1.weight', '1.bias', '2.weight', '2.bias']" in out
    assert "strict: no parameter matches pattern='wieght'" in out
    assert "changed by one step: ['0.weight', '1.weight', '3.weight']" in out


def test_freeze_example_trains_the_head_only_then_everything():
    out = run('freeze_backbone.py')
    assert 'frozen: 60 backbone parameters; no weight decay on 41' in out
    assert "changed: ['output.weight', 'output.bias']" in out
    assert 'backbone parameters changed: 0' in out
    assert 'running_mean grad_req: null' in out
    assert 'unfrozen parameters changed: 60 of 60' in out
    first, second = (float(v) for v in re.findall(r'loss after 3 (?:more )?steps: ([\d.]+)', out))
    assert second < first < 2.31          # below ln(10): the model learned


def test_stats_example_flags_each_planted_bug():
    out = run('stats_flags.py')
    assert out.count('No flags: 6 parameter(s) look sane.') == 1
    assert ("gradients flagged: [('0.weight', ('dead gradient',)), ('0.bias', ('dead gradient',"
            ")), ('1.weight', ('dead gradient',)), ('1.bias', ('dead gradient',)), "
            "('2.weight', ('dead gradient',))]") in out
    assert re.search(r'1\.weight: std 0\.9\d+ is 2\d\.\d x the 0\.04041 that '
                     r'Uniform\(scale=0\.07\) implies', out)
    assert '2.weight: 1 of 640 values are NaN or Inf' in out
    assert 'resnet18_v1: 102 parameters, flagged: []' in out


def test_plot_example_writes_a_png_and_returns_a_figure():
    out = run('plot_histograms.py')
    assert re.search(r'wrote histograms\.png: 450 x 480 pixels, [\d,]+ bytes', out)
    assert "panels: ['output.weight', 'output.bias']" in out


def test_checkpoint_example_resumes_on_another_device_bit_for_bit():
    out = run('checkpoint_resume.py')
    assert "ties [['1.weight', '2.weight'], ['1.bias', '2.bias']], metadata {'step': '10'}" in out
    assert 'loaded 8 names on cpu(1)' in out
    before = float(re.search(r'loss after 10 steps: ([\d.]+)', out).group(1))
    after = float(re.search(r'loss after 10 more steps: ([\d.]+)', out).group(1))
    assert after < before
    assert out.strip().endswith('identical to the run that never stopped: True')


def test_background_checkpoints_every_5_steps_resume_bit_for_bit():
    out = run('background_checkpoints.py')
    for step in (5, 10, 15, 20):
        assert re.search(rf'step {step}: loss [\d.]+; checkpoint step{step}.safetensors started, '
                         rf'the loop waited [\d.]+ ms', out)
    assert ('written: step5.safetensors, step10.safetensors, step15.safetensors, '
            'step20.safetensors; each snapshot copied 2,988 bytes') in out   # Adam: 3 x 996
    assert 'resumed from step10.safetensors: 8 names, num_update 10' in out
    assert out.strip().endswith('identical to the run that never stopped: True')


def test_resume_training_with_optimizer_state():
    out = run('resume_training.py')
    assert 'saved: Optimizer: Adam, num_update 5, state for 6 of 6 parameters (12 tensors' in out
    # the step schedule (every 4 updates, factor 0.5) continues from its position
    assert 'restored the state of 6 parameters, num_update 5, learning rate 0.005' in out
    assert 'identical to the run that never stopped: True' in out
    gluon = re.search(r'Gluon save_states/load_states on cpu\(1\): (.*)', out).group(1)
    if _compat.HAS_GLOBAL_NAMES:      # 1.x: position-keyed states land on other parameters
        assert gluon.startswith('failed') and 'Incompatible attr' in gluon
    else:                             # 2.0: it runs, and drifts from the uninterrupted run
        assert float(re.match(r'max difference ([\d.]+)', gluon).group(1)) > 0


def test_an_exported_model_loads_into_its_python_network_and_fine_tunes():
    out = run('load_exported_model.py').splitlines()
    assert out[0] == 'loaded 137 of 137 parameters'
    if _compat.HAS_GLOBAL_NAMES:      # 1.x global names; the class built again counts on
        assert out[1] == "matched by: ['1.x global name, re-counted (mobilenet0_ -> mobilenet1_)']"
    else:
        assert out[1] == "matched by: ['arg:/aux: stripped']"
    assert out[2] == 'same outputs as SymbolBlock.imports: True'
    losses = re.fullmatch(r'fine-tuning loss: ([\d.]+) -> ([\d.]+)', out[3]).groups()
    first, last = map(float, losses)
    assert last < first
    assert out[4:] == ['backbone unchanged: True',
                       "saved names begin: ['features.0.weight', 'features.1.gamma']"]


@pytest.mark.skipif(not hasattr(mx, 'mod'),
                    reason=f'the example writes its checkpoint with MXNet 1.x\'s Module API, '
                           f'which MXNet {_compat.MXNET_VERSION} lacks; '
                           f'tests/test_legacy_files.py loads 1.9.1 Module checkpoints here')
def test_a_module_checkpoint_loads_into_its_gluon_twin():
    out = run('load_module_checkpoint.py').splitlines()
    order = 'order (-symbol.json graph order = network order), shapes and kinds checked'
    assert out[0] == ("checkpoint names: ['arg:conv1_weight', 'arg:conv1_bias', 'arg:bn1_gamma', "
                      "'arg:bn1_beta', 'arg:fc1_weight', 'arg:fc1_bias', 'aux:bn1_moving_mean', "
                      "'aux:bn1_moving_var']")
    assert out[1].endswith(f'legacy-0001.params: loaded 8, missing 0, unexpected 0, '
                           f'mismatched 0 (matched: 8 {order})')
    assert out[2:6] == [f'  0.weight: {order}', f'  1.running_var: {order}',
                        f'  4.bias: {order}', 'same classes as Module.predict: True']
    assert float(re.fullmatch(r'largest difference to Module.predict: (\S+)', out[6])[1]) < 1e-6
    assert out[7] == ("saved: ['0.weight', '0.bias', '1.gamma', '1.beta', '1.running_mean', "
                      "'1.running_var', '4.weight', '4.bias']")


def test_distributed_training_checks_replicas_and_checkpoints_from_rank_0():
    out = run('distributed_training.py')     # a two-worker KVStore cluster on loopback
    assert '2 workers start from identical replicas' in out
    for step in (5, 10, 15, 20):
        assert re.search(rf'step {step}: loss [\d.]+, replicas identical on 2 workers', out)
    for step in (10, 20):
        assert (f"step {step}: rank 0 saved step{step}.safetensors {{'step': '{step}', "
                f"'gluonparams.num_workers': '2', 'gluonparams.writer_rank': '0'}}") in out
    # the restart: rank 1 loaded the older file; both workers get the same error
    for rank, step in ((0, 20), (1, 10)):
        assert (f'rank {rank} (loaded step{step}.safetensors) caught ReplicaError: 4 '
                f'parameters differ between the 2 workers') in out
    assert out.count("  '0.weight': rank 1 differs from rank 0") == 2
    assert ('every worker loaded step20.safetensors (4 names): replicas identical again'
            in out)


def test_local_launcher_starts_a_cluster_whose_workers_know_their_ranks():
    out = run('launch_local.py')          # no script: each worker reports its rank
    assert sorted(out.splitlines()) == ['rank 0 of 2 ready', 'rank 1 of 2 ready']
