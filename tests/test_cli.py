import io
import json
import re
import subprocess
import sys

import pytest

import gluonparams as gp
from gluonparams import _compat, zoo
from gluonparams.cli import build_parser, main

import nets

EXPECTED_COMMANDS = ['summary', 'ties', 'stats', 'inspect', 'verify', 'diff', 'convert']


def test_default_is_the_decks_tied_network(capsys):
    assert main(['summary']) == 0
    out = capsys.readouterr().out
    assert 'Total params: 330' in out
    assert '→ shared with 1.weight' in out or '> shared with 1.weight' in out


def test_model_zoo_network_as_json(capsys):
    assert main(['summary', '--model', 'resnet18_v1', '--format', 'json']) == 0
    data = json.loads(capsys.readouterr().out)
    assert data['total_params'] == 11_699_112 and data['type'] == 'ResNetV1'
    assert data['rows'][0]['output_shape'] == '(1, 1000)'


def test_depth_select_and_table(capsys):
    assert main(['summary', '--model', 'deck-tied', '--depth', '1', '--select', 'bias',
                 '--format', 'table']) == 0
    out = capsys.readouterr().out
    assert 'Selected params: 26' in out and '0.weight' not in out


def test_fold_and_input_shape(capsys):
    assert main(['summary', '--model', 'resnet18_v1', '--input-shape', '1,3,64,64',
                 '--depth', '3', '--fold']) == 0
    out = capsys.readouterr().out
    assert '(1, 1000)' in out and '× ' in out or 'x ' in out


def test_folded_table_falls_back_to_ascii_where_stdout_cannot_encode_it(monkeypatch):
    out = io.TextIOWrapper(io.BytesIO(), encoding='ascii')
    monkeypatch.setattr(sys, 'stdout', out)
    assert main(['summary', '--model', 'resnet18_v1', '--input-shape', '1,3,32,32',
                 '--format', 'table', '--fold']) == 0
    out.flush()
    text = out.buffer.getvalue().decode('ascii')
    assert re.search(r'\d+ x BasicBlockV1', text) and 'Total params: 11,699,112' in text


def test_unknown_model_is_a_clear_error_with_exit_code_2(capsys):
    assert main(['summary', '--model', 'resnet18']) == 2
    err = capsys.readouterr().err
    assert "unknown model 'resnet18'" in err and 'resnet18_v1' in err


def test_bad_pattern_exits_2(capsys):
    assert main(['summary', '--select', '(']) == 2
    assert "'(' is not a valid regular expression" in capsys.readouterr().err


@pytest.mark.parametrize('argv', [['summary', '--depth', '-1'], ['summary', '--format', 'xml'],
                                  ['summary', '--input-shape', '1,a'], ['nope'],
                                  ['ties', '--format', 'tree']])
def test_argument_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert 'error' in capsys.readouterr().err


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert 'summary' in capsys.readouterr().err


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, '-m', 'gluonparams', '--help'],
                         capture_output=True, text=True, check=True).stdout
    subparsers = next(a for a in build_parser()._actions if a.dest == 'command')
    assert list(subparsers.choices) == EXPECTED_COMMANDS
    for command in EXPECTED_COMMANDS:
        assert f'    {command} ' in out, f'{command} is not described in --help'


def test_console_script_runs_the_main_job():
    done = subprocess.run([sys.executable, '-m', 'gluonparams', 'summary'],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 'Total params: 330' in done.stdout


def test_ties_lists_the_decks_tie_groups(capsys):
    assert main(['ties']) == 0
    lines = capsys.readouterr().out.splitlines()
    # the deck's tied Dense(8) layers share an (8, 8) weight and an (8,) bias: 64 + 8 values
    assert lines == [('deck-tied (Sequential): 2 tied parameters under 4 names; '
                      'tying stores 72 fewer values'),
                     '  1.weight = 2.weight  (8, 8) float32, 64 params',
                     '  1.bias = 2.bias      (8,) float32, 8 params']


def test_ties_as_json_are_the_libraries_tie_groups(capsys):
    assert main(['ties', '--model', 'deck-tied', '--format', 'json']) == 0
    data = json.loads(capsys.readouterr().out)
    assert data['model'] == 'deck-tied' and data['type'] == 'Sequential'
    assert [t['names'] for t in data['ties']] == gp.tie_groups(nets.deck_tied())
    assert [t['size'] for t in data['ties']] == [64, 8]
    assert data['ties'][0]['devices'] == ['cpu(0)']


def test_ties_of_a_network_without_ties(capsys):
    assert main(['ties', '--model', 'deck-toy']) == 0
    assert capsys.readouterr().out == 'deck-toy (Sequential): no tied parameters\n'


def test_ties_unknown_model_exits_2(capsys):
    assert main(['ties', '--model', 'deck-tide']) == 2
    assert "unknown model 'deck-tide'. Did you mean deck-tied" in capsys.readouterr().err


def test_stats_defaults_to_the_decks_tied_network(capsys):
    assert main(['stats']) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines[2:8]]
    assert names == ['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', '3.bias']
    assert 'No flags: 6 parameter(s) look sane.' in lines


def test_stats_of_a_model_zoo_network_use_its_real_initializer(capsys):
    # built with zeros (as the summary does), every weight would be flagged 'all zero'
    assert main(['stats', '--model', 'resnet18_v1', '--input-shape', '1,3,32,32',
                 '--format', 'json']) == 0
    data = json.loads(capsys.readouterr().out)
    expected = list(gp.select(zoo.model_zoo_net('resnet18_v1')))
    assert [r['name'] for r in data['rows']] == expected and data['of'] == 'data'
    assert data['flagged'] == []
    conv = data['rows'][0]
    assert conv['init'] == 'Uniform(scale=0.07)' and 0.03 < conv['std'] < 0.05


def test_stats_of_gradients_with_a_selection(capsys):
    assert main(['stats', '--model', 'resnet18_v1', '--input-shape', '2,3,32,32', '--grad',
                 '--select', r'^features\.1\.', '--format', 'json']) == 0
    data = json.loads(capsys.readouterr().out)
    assert data['of'] == 'grad'
    assert [r['name'] for r in data['rows']] == ['features.1.gamma', 'features.1.beta']
    assert list(data['skipped']) == ['features.1.running_mean', 'features.1.running_var']
    assert all(r['norm'] > 0 for r in data['rows'])


def test_stats_bad_pattern_exits_2(capsys):
    assert main(['stats', '--select', '[']) == 2
    assert "'[' is not a valid regular expression" in capsys.readouterr().err


def test_global_names_flag_follows_the_mxnet_version(capsys):
    code = main(['summary', '--model', 'deck-toy', '--global-names'])
    captured = capsys.readouterr()
    if _compat.HAS_GLOBAL_NAMES:
        assert code == 0
        assert 'Global name' in captured.out
        assert len(re.findall(r'\bdense\d+_(?:weight|bias)\b', captured.out)) == 4
    else:
        assert code == 2 and 'MXNet 1.x global names' in captured.err


# --- checkpoint commands ---

@pytest.fixture
def checkpoint(tmp_path):
    from nets import deck_tied

    import gluonparams as gp
    net = deck_tied()
    gp.save(net, tmp_path / 'net.safetensors', metadata={'epoch': '3'})
    return tmp_path / 'net.safetensors'


def test_inspect_draws_the_checkpoint_tree(checkpoint, capsys):
    assert main(['inspect', str(checkpoint)]) == 0
    out = capsys.readouterr().out
    assert '├─ 0' in out or '|- 0' in out
    assert '(8, 20)' in out and 'shared with 1.weight' in out
    assert 'Total params: 330' in out and 'Metadata: epoch=3' in out
    assert 'Checksums: CRC-32 of each of the 6 tensors' in out
    assert main(['inspect', str(checkpoint), '--format', 'json']) == 0
    data = json.loads(capsys.readouterr().out)
    assert data['ties'] == [['1.weight', '2.weight'], ['1.bias', '2.bias']]


def test_summary_of_a_checkpoint_file(checkpoint, capsys):
    assert main(['summary', str(checkpoint), '--select', 'bias']) == 0
    out = capsys.readouterr().out
    assert 'bias' in out and 'weight' not in out and 'Selected params: 26 of 330' in out
    assert main(['summary', str(checkpoint), '--model', 'resnet18_v1']) == 2
    assert 'apply to networks only' in capsys.readouterr().err


def test_verify_exit_codes(checkpoint, capsys):
    assert main(['verify', str(checkpoint)]) == 0
    assert 'OK, 6 tensors match their CRC-32' in capsys.readouterr().out
    data = bytearray(checkpoint.read_bytes())
    data[-3] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    assert main(['verify', str(checkpoint)]) == 1
    assert "do not match their checksums: '3.bias'" in capsys.readouterr().err


def test_diff_exit_codes_and_report(checkpoint, tmp_path, capsys):
    from nets import deck_tied

    import gluonparams as gp
    assert main(['convert', str(checkpoint), str(tmp_path / 'same.params')]) == 0
    assert 'wrote' in capsys.readouterr().out
    assert main(['diff', str(checkpoint), str(tmp_path / 'same.params')]) == 0
    assert 'the checkpoints are identical' in capsys.readouterr().out
    other = deck_tied()
    gp.load(other, checkpoint)
    other[3].bias.set_data(other[3].bias.data() + 0.25)
    gp.save(other, tmp_path / 'other.npz')
    assert main(['diff', str(checkpoint), str(tmp_path / 'other.npz')]) == 1
    out = capsys.readouterr().out
    assert '~ 3.bias  values differ, max abs difference 0.25' in out
    assert '7 tensors identical; the checkpoints differ' in out


def test_convert_keeps_ties_where_the_format_can(checkpoint, tmp_path, capsys):
    import gluonparams as gp
    for name in ('a.params', 'b.npz', 'c.safetensors'):
        assert main(['convert', str(checkpoint), str(tmp_path / name)]) == 0
        info = gp.inspect(tmp_path / name)
        assert info.ties == [['1.weight', '2.weight'], ['1.bias', '2.bias']]
        assert info.metadata == {'epoch': '3'}
        checkpoint = tmp_path / name
    assert main(['convert', str(checkpoint), str(tmp_path / 'x.pt')]) == 1
    assert '.safetensors, .params, .npz' in capsys.readouterr().err


def test_convert_writes_a_legacy_file_under_the_networks_structural_names(tmp_path, capsys):
    """An export pair of this MXNet (1.x: global names; 2.0: arg:/aux:) becomes a file
    Gluon's own load_parameters reads into the network, which then computes what
    SymbolBlock.imports of the pair computes."""
    import numpy as onp
    from mxnet import gluon

    import legacy_files as lf
    lf.write(tmp_path / 'zoo', 'mobilenet0.25')
    source = tmp_path / 'zoo' / 'export-0000.params'
    assert main(['convert', str(source), str(tmp_path / 'net.params'), '--model', 'mobilenet0.25',
                 '--input-shape', '1,3,32,32']) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f'{source}: loaded 137, missing 0, unexpected 0, mismatched 0 '
                             f'(matched: 137 ')
    assert out[1] == (f'wrote {tmp_path / "net.params"} (params (MXNet NDArray binary)): 137 '
                      f'tensors, 475,544 parameters, 0 ties')
    assert gp.inspect(tmp_path / 'net.params').tensors[0].name == 'features.0.weight'
    x = _compat.array_from_numpy(onp.load(tmp_path / 'zoo' / 'x.npy'))
    net = lf.build('mobilenet0.25')
    lf.settle(net, x)
    net.load_parameters(str(tmp_path / 'net.params'))
    net.hybridize()
    with pytest.warns(UserWarning, match='Cannot decide type'):
        imported = gluon.SymbolBlock.imports(str(tmp_path / 'zoo' / 'export-symbol.json'),
                                             ['data'], str(source))
    assert lf.outputs(net(x)).tobytes() == lf.outputs(imported(x)).tobytes()


def test_convert_options_that_need_a_model(checkpoint, tmp_path, capsys):
    assert main(['convert', str(checkpoint), str(tmp_path / 'a.npz'), '--symbol', 'x.json']) == 2
    assert '--input-shape, --symbol and --rename apply with --model only' in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['convert', str(checkpoint), str(tmp_path / 'a.npz'), '--model', 'deck-tied',
              '--rename', 'no-equals-sign'])
    assert 'expected PATTERN=REPLACEMENT' in capsys.readouterr().err
    assert main(['convert', str(checkpoint), str(tmp_path / 'a.npz'), '--model', 'deck-tied',
                 '--rename', '^=x.']) == 1
    err = capsys.readouterr().err
    assert 'cannot load into Sequential (8 missing, 8 unexpected' in err
    assert "in the file, not in the network: '0.weight' (renamed 'x.0.weight')," in err


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(['inspect', str(tmp_path / 'nope.safetensors')]) == 1
    assert 'nope.safetensors: no such file' in capsys.readouterr().err


# --- optimizer state in checkpoints (gp.save(..., trainer=)) ---

@pytest.fixture
def trained_checkpoint(tmp_path):
    from mxnet import autograd, gluon
    from nets import deck_tied

    import gluonparams as gp
    net = deck_tied()
    trainer = gluon.Trainer(net.collect_params(), 'adam', {'learning_rate': 0.01})
    for _ in range(2):
        with autograd.record():
            loss = (net(_compat.uniform((2, 20))) ** 2).sum()
        loss.backward()
        trainer.step(2)
    gp.save(net, tmp_path / 'trained.safetensors', trainer=trainer)
    gp.save(net, tmp_path / 'weights.safetensors')
    return tmp_path / 'trained.safetensors'


def test_inspect_shows_the_optimizer_section(trained_checkpoint, capsys):
    assert main(['inspect', str(trained_checkpoint)]) == 0
    out = capsys.readouterr().out
    assert ('Optimizer: Adam, num_update 2, state for 6 of 6 parameters (12 tensors, '
            '2.58 KiB)') in out
    assert 'update counts: 2 (6 parameters)' in out and 'beta1=0.9' in out
    assert 'Total params: 330 ' in out and 'gluonparams.optimizer/' not in out
    assert main(['inspect', str(trained_checkpoint), '--format', 'json']) == 0
    data = json.loads(capsys.readouterr().out)
    assert data['optimizer']['record']['optimizer'] == 'Adam'
    assert len(data['optimizer']['tensors']) == 12 and data['total_params'] == 330


def test_convert_keeps_the_optimizer_state_and_diff_compares_it(trained_checkpoint, tmp_path,
                                                                capsys):
    import gluonparams as gp
    previous = trained_checkpoint
    for name in ('a.params', 'b.npz', 'c.safetensors'):
        assert main(['convert', str(previous), str(tmp_path / name)]) == 0
        assert gp.inspect(tmp_path / name).optimizer.record == \
            gp.inspect(trained_checkpoint).optimizer.record
        previous = tmp_path / name
    capsys.readouterr()
    assert main(['diff', str(trained_checkpoint), str(previous)]) == 0
    assert '20 tensors identical; the checkpoints are identical' in capsys.readouterr().out
    assert main(['diff', str(trained_checkpoint), str(tmp_path / 'weights.safetensors')]) == 1
    out = capsys.readouterr().out
    assert '- gluonparams.optimizer/0.weight/0  (only in' in out
    assert '8 tensors identical; the checkpoints differ' in out
