import json
import re
import subprocess
import sys

import pytest

from gluonparams import _compat
from gluonparams.cli import build_parser, main

EXPECTED_COMMANDS = ['summary']


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


def test_unknown_model_is_a_clear_error_with_exit_code_2(capsys):
    assert main(['summary', '--model', 'resnet18']) == 2
    err = capsys.readouterr().err
    assert "unknown model 'resnet18'" in err and 'resnet18_v1' in err


def test_bad_pattern_exits_2(capsys):
    assert main(['summary', '--select', '(']) == 2
    assert "'(' is not a valid regular expression" in capsys.readouterr().err


@pytest.mark.parametrize('argv', [['summary', '--depth', '-1'], ['summary', '--format', 'xml'],
                                  ['summary', '--input-shape', '1,a'], ['nope']])
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


def test_global_names_flag_follows_the_mxnet_version(capsys):
    code = main(['summary', '--model', 'deck-toy', '--global-names'])
    captured = capsys.readouterr()
    if _compat.HAS_GLOBAL_NAMES:
        assert code == 0
        assert 'Global name' in captured.out
        assert len(re.findall(r'\bdense\d+_(?:weight|bias)\b', captured.out)) == 4
    else:
        assert code == 2 and 'MXNet 1.x global names' in captured.err
