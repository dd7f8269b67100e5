"""The ``gluonparams`` command: an argparse front end over the library's functions."""

import argparse
import json
import sys
from typing import Optional, Sequence

import mxnet as mx

from . import _compat, zoo
from ._text import for_stream
from .checkpoint import convert, diff, inspect, load, save, verify
from .errors import GluonParamsError, OptionError, PathError, PatternError
from .select import as_matcher, compile_matcher
from .stats import fill_gradients, stats
from .summary import print_tree, summary
from .ties import describe_ties, ties_text

# bad requests (a wrong name, pattern or option) exit 2, like argparse's own errors
_USAGE_ERRORS = (OptionError, PatternError, PathError)


def _shape(text: str) -> tuple:
    try:
        dims = tuple(int(d) for d in text.replace('x', ',').split(',') if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected a shape such as 1,3,224,224, found {text!r}')
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(f'expected positive dimensions, found {text!r}')
    return dims


def _depth(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f'expected a whole number >= 0, found {text!r}')
    return value


def _add_model_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument('--model', default=zoo.DEFAULT, metavar='NAME',
                     help=f'a model-zoo name (resnet18_v1, vgg16, ...) or deck-tied / deck-toy, '
                          f'built without pretrained weights (default: {zoo.DEFAULT}, the '
                          f'deck\'s tied network)')
    cmd.add_argument('--input-shape', type=_shape, metavar='SHAPE',
                     help='shape of the example input run once to settle deferred shapes '
                          '(default: the model\'s own, 1,3,224,224 for image models)')


def _cmd_summary(args: argparse.Namespace) -> int:
    if args.file is not None:
        return _summary_of_file(args)
    # values do not matter to a summary: zeros initialize fastest
    net, example = zoo.build(args.model, input_shape=args.input_shape, init=mx.init.Zero())
    result = summary(net, example, depth=args.depth, select=args.select,
                     fold_repeats=args.fold, file=None, global_names=args.global_names)
    if args.format == 'json':
        print(json.dumps(result.to_dict(), indent=2))
    elif args.format == 'table':
        print(for_stream('\n'.join([result.table(), ''] + result.footer()), sys.stdout))
    else:
        print_tree(result, sys.stdout)
    return 0


def _cmd_ties(args: argparse.Namespace) -> int:
    net, example = zoo.build(args.model, input_shape=args.input_shape, init=mx.init.Zero())
    net(example)    # settle deferred shapes
    records = describe_ties(net)
    if args.format == 'json':
        print(json.dumps({'model': args.model, 'type': type(net).__name__, 'ties': records},
                         indent=2))
    else:
        print(ties_text(f'{args.model} ({type(net).__name__})', records))
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    compile_matcher(args.select)      # a bad pattern fails before a model is built
    # statistics need the model's real initializer (zoo's default), never zeros; the
    # input is random: a zero input would leave the first layer's gradient at zero
    net, example = zoo.build(args.model, input_shape=args.input_shape)
    x = _compat.uniform(tuple(example.shape))
    if args.grad:
        fill_gradients(net, x)
    else:
        net(x)
    result = stats(net, args.select, grad=args.grad)
    if args.format == 'json':
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
    else:
        print(result)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='gluonparams',
        description='See, select, tie and save the parameters of MXNet Gluon networks.')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')

    cmd = commands.add_parser(
        'summary', help='print the parameter tree of a network',
        description='Print the parameter tree of a network: shapes, dtypes, trainable '
                    'flags, ties and totals. With no option: the deck\'s tied network.')
    _add_model_options(cmd)
    cmd.add_argument('--depth', type=_depth, help='fold rows deeper than this (root is 0)')
    cmd.add_argument('--select', metavar='PATTERN', action='append',
                     help='keep parameters whose name matches this regular expression '
                          '(searched anywhere in the name; repeat to add patterns)')
    cmd.add_argument('--format', choices=('tree', 'table', 'json'), default='tree')
    cmd.add_argument('--fold', action='store_true',
                     help='draw runs of identical sibling blocks as one row')
    cmd.add_argument('--global-names', action='store_true',
                     help='MXNet 1.x: add each parameter\'s global name (dense0_weight)')
    cmd.add_argument('file', nargs='?', metavar='FILE',
                     help='a checkpoint (.safetensors, .params, .npz): draw its tree instead')
    cmd.set_defaults(func=_cmd_summary)

    cmd = commands.add_parser(
        'ties', help='list the tied parameters of a network',
        description='List each parameter reachable under several names (a tie), with its '
                    'shape and size. With no option: the deck\'s tied network.')
    _add_model_options(cmd)
    cmd.add_argument('--format', choices=('text', 'json'), default='text')
    cmd.set_defaults(func=_cmd_ties)

    cmd = commands.add_parser(
        'stats', help='statistics and flags for each parameter (or gradient)',
        description='Mean, std, min, max, L2 norm, zeros and NaN/Inf of each parameter, '
                    'computed in float64, with flags for NaN/Inf, all-zero weights, dead '
                    'gradients and a std far from the initializer\'s. The network is '
                    'initialized as its builder does and run once on a random input. '
                    'With no option: the deck\'s tied network.')
    _add_model_options(cmd)
    cmd.add_argument('--select', metavar='PATTERN', action='append',
                     help='keep parameters whose name matches this regular expression '
                          '(searched anywhere in the name; repeat to add patterns)')
    cmd.add_argument('--grad', action='store_true',
                     help='the gradients of one backward pass (loss: the sum of the outputs)')
    cmd.add_argument('--format', choices=('table', 'json'), default='table')
    cmd.set_defaults(func=_cmd_stats)
    _add_checkpoint_commands(commands)
    return parser


# --- checkpoint commands (logic in gluonparams.checkpoint) ---

_CHECKPOINT_COMMANDS = [
    ('inspect', ['FILE'], 'show a checkpoint\'s tree, shapes, dtypes, ties and metadata',
     ('Show a checkpoint file\'s parameter tree (from its names), shapes, dtypes, ties, '
      'format and metadata. Reads only the header.')),
    ('verify', ['FILE'], 'check every tensor of a checkpoint against its checksum',
     ('Check every tensor of a checkpoint against its recorded CRC-32. Exit code 1 when '
      'the file is corrupt.')),
    ('diff', ['A', 'B'], 'compare two checkpoints; exit code 1 when they differ',
     ('Compare two checkpoints of any formats: names only in one, shape or dtype changes, '
      'ties, and the max absolute difference of each tensor whose values differ. Exit '
      'code 0 when identical, 1 when they differ.')),
    ('convert', ['SRC', 'DST'], 'convert a checkpoint between .safetensors, .params and .npz',
     ('Write SRC in the format of DST\'s extension (.safetensors, .params, .npz), keeping '
      'names, values, metadata and ties where DST can hold them. With --model, SRC may be any '
      'file MXNet writes (an export or Module pair\'s P-0000.params, a 1.x '
      'collect_params().save file): it is loaded into that network as gp.load does, and DST '
      'is written under the network\'s structural names, which gp.load and '
      'load_parameters read.')),
]


def _add_checkpoint_commands(commands) -> None:
    handlers = {'inspect': _cmd_inspect, 'verify': _cmd_verify, 'diff': _cmd_diff,
                'convert': _cmd_convert}
    for name, arguments, short, long in _CHECKPOINT_COMMANDS:
        cmd = commands.add_parser(name, help=short, description=long)
        for argument in arguments:
            cmd.add_argument(argument.lower(), metavar=argument)
        if name == 'inspect':
            cmd.add_argument('--format', choices=('tree', 'json'), default='tree')
        if name == 'convert':
            _add_convert_options(cmd)
        cmd.set_defaults(func=handlers[name])


def _add_convert_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument('--model', metavar='NAME',
                     help='load SRC into this network (a model-zoo name or deck-tied / '
                          'deck-toy) and write DST under its structural names')
    cmd.add_argument('--input-shape', type=_shape, metavar='SHAPE',
                     help='with --model: the example input run once to settle shapes')
    cmd.add_argument('--symbol', metavar='FILE',
                     help='with --model: the -symbol.json giving SRC\'s graph order (default: '
                          'P-symbol.json beside P-NNNN.params)')
    cmd.add_argument('--rename', metavar='PATTERN=REPLACEMENT', action='append', type=_rename,
                     help='with --model: rewrite SRC\'s names matching the regular expression '
                          '(the first = separates it from the replacement); repeat for more')


def _rename(text: str) -> tuple:
    pattern, sep, replacement = text.partition('=')
    if not sep:
        raise argparse.ArgumentTypeError(f'expected PATTERN=REPLACEMENT, found {text!r}')
    return pattern, replacement


def _show(info, fmt: str, **options) -> None:
    """A checkpoint's header as JSON, or its tree (ASCII where the output needs it)."""
    if fmt == 'json':
        print(json.dumps(info.to_dict(), indent=2))
        return
    print(for_stream(info.render(**options), sys.stdout))


def _summary_of_file(args: argparse.Namespace) -> int:
    if args.model != zoo.DEFAULT or args.input_shape or args.fold:
        raise OptionError('summary FILE draws the checkpoint\'s tree: --model, --input-shape '
                          'and --fold apply to networks only')
    _show(inspect(args.file), args.format, keep=as_matcher(args.select), depth=args.depth)
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    _show(inspect(args.file), args.format, details=True)
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    print(verify(args.file))
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    result = diff(args.a, args.b)
    print(result)
    return 1 if result.differ else 0


def _cmd_convert(args: argparse.Namespace) -> int:
    if args.model is None:
        if args.input_shape or args.symbol or args.rename:
            raise OptionError('--input-shape, --symbol and --rename apply with --model only')
        info = convert(args.src, args.dst)
    else:
        net, example = zoo.build(args.model, input_shape=args.input_shape, init=mx.init.Zero())
        net(example)    # settle deferred shapes: matching by position checks them
        report = load(net, args.src, symbol=args.symbol, rename=dict(args.rename or ()))
        print(report)
        save(net, args.dst)
        info = inspect(args.dst)
    print(f'wrote {args.dst} ({info.format}): {len(info.tensors)} tensors, '
          f'{info.total_params:,} parameters, {len(info.ties)} ties')
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except _USAGE_ERRORS as e:
        print(f'gluonparams {args.command}: error: {e}', file=sys.stderr)
        return 2
    except GluonParamsError as e:
        print(f'gluonparams {args.command}: error: {e}', file=sys.stderr)
        return 1


if __name__ == '__main__':  # pragma: no cover
    sys.exit(main())
