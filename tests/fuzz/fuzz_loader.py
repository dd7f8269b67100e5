"""Fuzz the checkpoint readers: gp.inspect, gp.verify and gp.load on mutated files.

Every file is fed to ``gp.inspect``, ``gp.verify``, a strict ``gp.load`` into a
network holding other values and a lenient one (``strict=False``) into a fresh
network whose shapes come from the file. Each call must return or raise
``CheckpointError``; anything else fails: another exception, a warning other than
the one ``gp.load`` gives for ties, a crash, a hang, or Python allocations during
the calls beyond the file's size (for a zip with deflated members, deflate's
1032:1 limit times it) plus a fixed allowance, ``SLACK``. Files start from a
corpus of valid ones in every format, written here, plus every file in
``tests/corpus/``.

From the repository root:

* ``python tests/fuzz/fuzz_loader.py --mutations 300 --seed 0``: the deterministic
  mutator (``mutate.py``), 300 mutants of each corpus file, in this process with
  ``RLIMIT_AS`` set a little above what it uses, then prints a JSON report. The
  test suite runs this in a subprocess, so a crash is caught too.
* ``python tests/fuzz/fuzz_loader.py --replay FILE ...``: the same checks on given
  files (the suite replays ``tests/corpus/`` this way).
* With atheris (``pip install atheris``; it installs on Python 3.11 here):
  ``python tests/fuzz/fuzz_loader.py --corpus /tmp/fuzz-corpus`` writes the seed
  corpus, then ``python tests/fuzz/fuzz_loader.py /tmp/fuzz-corpus -max_total_time=3600
  -timeout=20 -rss_limit_mb=6144`` fuzzes for an hour with coverage guidance
  (libFuzzer's options; ``-jobs=N`` for several processes). An atheris input is one
  byte choosing the extension and the network (``CASES``), then the file.
"""

import argparse
import json
import random
import resource
import signal
import sys
import tempfile
import time
import tracemalloc
import warnings
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
ROOT = TESTS.parent
CORPUS = TESTS / 'corpus'
sys.path[:0] = [str(ROOT), str(TESTS), str(HERE)]

import mutate  # noqa: E402  (after the path is set)

EXTENSIONS = ('.safetensors', '.params', '.npz')
TARGETS = ('deck', 'dtypes')
CASES = [(ext, target) for target in TARGETS for ext in EXTENSIONS]
SLACK = 1 << 20               # bytes of Python allocations any call may make
DEFLATE_LIMIT = 1032          # what one deflated byte can expand to
CASE_SECONDS = 20             # a case taking longer is a hang
AS_HEADROOM = 512 << 20       # RLIMIT_AS above what the fuzzing process uses once warm
AS_IS = ' as is'
MXNET_NOISE = [r'.*np\.bool.* is a deprecated alias', 'In accordance with NEP 32',
               '.*distutils Version classes are deprecated']


class Failure(Exception):
    """A call did something other than return or raise CheckpointError."""


class Hang(BaseException):
    """A case ran longer than CASE_SECONDS (raised from SIGALRM)."""


class Fuzzer:
    """The networks to load into and the checks; ``check(data, ext, target)``."""

    def __init__(self, folder: Path) -> None:
        import gluonparams as gp
        from nets import deck_tied
        from test_checkpoint import AllDtypes, fill_random
        self.gp, self.folder = gp, folder
        deck = deck_tied()
        fill_random(deck, 11)
        dtypes = AllDtypes()
        dtypes.initialize()
        fill_random(dtypes, 12)
        self.ready = {'deck': deck, 'dtypes': dtypes}
        self.fresh = {'deck': lambda: deck_tied(run=False), 'dtypes': AllDtypes}

    def calls(self, target: str):
        gp = self.gp
        return [('inspect', gp.inspect), ('verify', gp.verify),
                ('load', lambda p: gp.load(self.ready[target], p)),
                ('lenient', lambda p: gp.load(self.fresh[target](), p, strict=False))]

    def check(self, data: bytes, ext: str, target: str) -> str:
        """Run every call on ``data``; the outcome, such as ``'ok ok refused ok'``."""
        path = self.folder / f'case{ext}'
        path.write_bytes(data)
        limit = len(data) * (DEFLATE_LIMIT if deflated(path) else 1) + SLACK
        outcomes = []
        for name, call in self.calls(target):
            outcomes.append(self._one(name, call, path, limit))
        return ' '.join(outcomes)

    def _one(self, name: str, call, path: Path, limit: int) -> str:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('error')
                warnings.filterwarnings('ignore', message='.*the file ties .* but the network '
                                                          'does not', category=UserWarning)
                for message in MXNET_NOISE:
                    warnings.filterwarnings('ignore', message=message)
                call(path)
            outcome = 'ok'
        except self.gp.CheckpointError as e:
            if str(path) not in str(e):
                raise Failure(f'{name}: CheckpointError without the file name: {e}') from e
            outcome = 'refused'
        except Exception as e:
            raise Failure(f'{name}: {type(e).__name__}: {e}') from e
        peak = tracemalloc.get_traced_memory()[1] - base
        if peak > limit:
            raise Failure(f'{name}: allocated {peak:,} bytes for a {path.stat().st_size:,}-byte '
                          f'file (allowed {limit:,})')
        return outcome


def deflated(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(m.compress_type != zipfile.ZIP_STORED for m in archive.infolist())
    except Exception:
        return False


# --- the corpus ------------------------------------------------------------------------

def write_seeds(folder: Path) -> list[tuple[str, str, bytes]]:
    """Valid files in every format: ``(name, target, bytes)``; the name's suffix is the
    extension. MXNet's own ``save_parameters`` files of both versions are in
    ``tests/corpus/``."""
    import mxnet as mx
    import numpy as onp
    from nets import deck_tied
    from safetensors.numpy import save_file
    from test_checkpoint import AllDtypes, fill_random, values_of

    import gluonparams as gp
    deck = deck_tied()
    fill_random(deck, 7)
    dtypes = AllDtypes()
    dtypes.initialize()
    fill_random(dtypes, 8)
    files = {}
    for ext in EXTENSIONS:
        gp.save(deck, folder / f'deck-gp{ext}')
        gp.save(dtypes, folder / f'dtypes-gp{ext}')
    arrays = {name: copies[0] for name, copies in values_of(deck).items()}
    mx.nd.save(str(folder / 'deck-ndsave.params'),
               {name: mx.nd.array(a, dtype=a.dtype) for name, a in arrays.items()})
    onp.savez_compressed(folder / 'deck-compressed.npz', **arrays)
    save_file(arrays, str(folder / 'deck-plain.safetensors'))
    for path in sorted(folder.iterdir()):
        files[path.name] = path.read_bytes()
    for path in sorted(CORPUS.iterdir()):
        if path.suffix in EXTENSIONS:
            files[f'corpus/{path.name}'] = path.read_bytes()
    return [(name, target_of(name), data) for name, data in files.items()]


# --- the deterministic run ---------------------------------------------------------------

def limit_address_space() -> int:
    """Cap this process's address space a little above what it uses now."""
    with open('/proc/self/status') as f:
        size = next(int(line.split()[1]) * 1024 for line in f if line.startswith('VmSize:'))
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (size + AS_HEADROOM, hard))
    return size + AS_HEADROOM


def _on_alarm(signum, frame):
    raise Hang(f'no result after {CASE_SECONDS} s')


def run_cases(fuzzer: Fuzzer, cases, work: Path) -> dict:
    """Check each ``(label, ext, target, data)``; never stops at a failure. Before each
    case its bytes and label go to ``work/current*`` so a crash can be traced."""
    report: dict = {'executions': 0, 'calls': 0, 'outcomes': {}, 'failures': [], 'as_is': {},
                    'by_extension': {}}
    signal.signal(signal.SIGALRM, _on_alarm)
    for label, ext, target, data in cases:
        (work / 'current.bin').write_bytes(data)
        (work / 'current.json').write_text(json.dumps({'label': label, 'ext': ext,
                                                       'target': target}))
        signal.alarm(CASE_SECONDS)
        try:
            outcome = fuzzer.check(data, ext, target)
        except (Failure, Hang) as e:
            kept = work / f'failure-{len(report["failures"])}{ext}'
            kept.write_bytes(data)
            report['failures'].append({'label': label, 'target': target, 'error': str(e),
                                       'file': str(kept)})
            outcome = 'failure'
        finally:
            signal.alarm(0)
        report['executions'] += 1
        report['calls'] += len(fuzzer.calls(target))
        report['outcomes'][outcome] = report['outcomes'].get(outcome, 0) + 1
        counts = report['by_extension'].setdefault(ext, {})
        kind = _kind(outcome)
        counts[kind] = counts.get(kind, 0) + 1
        if label.endswith(AS_IS):
            report['as_is'][label[:-len(AS_IS)]] = outcome
    return report


def _kind(outcome: str) -> str:
    calls = outcome.split()
    if calls[0] == 'failure':
        return 'failure'
    if calls[2] == 'ok':
        return 'loaded'
    return 'header refused' if calls[0] == 'refused' else 'refused after the header'


def mutants(seeds, count: int, seed: int):
    """``count`` mutants of each seed, the same ones for the same ``seed``: mostly with
    the seed's extension, one in ten under another."""
    others = [data for _, _, data in seeds]
    for name, target, data in seeds:
        rng = random.Random(f'{seed}:{name}')
        yield f'{name}{AS_IS}', Path(name).suffix, target, data
        for i in range(count):
            ext = Path(name).suffix if rng.random() < 0.9 else rng.choice(EXTENSIONS)
            yield f'{name} mutant {i}', ext, target, mutate.mutate(data, rng, others)


def main_deterministic(args) -> None:
    tracemalloc.start()
    with tempfile.TemporaryDirectory(prefix='gp-fuzz-') as tmp:
        folder = Path(tmp)
        work = Path(args.work) if args.work else folder
        fuzzer = Fuzzer(folder)
        if args.replay:
            seeds = [(p, target_of(p), Path(p).read_bytes()) for p in args.replay]
            run_cases(fuzzer, [(n, Path(n).suffix, t, d) for n, t, d in seeds[:1]], work)
            cases = [(f'{n}{AS_IS}', Path(n).suffix, t, d) for n, t, d in seeds]
        else:
            (folder / 'seeds').mkdir()
            seeds = write_seeds(folder / 'seeds')
            run_cases(fuzzer, [(n, Path(n).suffix, t, d) for n, t, d in seeds], work)  # warm
            cases = list(mutants(seeds, args.mutations, args.seed))
        limit = limit_address_space() if args.rlimit else None
        start = time.perf_counter()
        report = run_cases(fuzzer, cases, work)
    report.update(seeds=len(seeds), seconds=round(time.perf_counter() - start, 1),
                  address_space_limit=limit)
    print(json.dumps(report))


def target_of(name: str) -> str:
    """The network a file loads into: its name says ``dtypes`` or it is the deck's."""
    return 'dtypes' if 'dtypes' in Path(name).name else 'deck'


# --- atheris ----------------------------------------------------------------------------

def write_atheris_corpus(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, target, data in write_seeds(Path(tmp)):
            case = CASES.index((Path(name).suffix, target))
            (folder / Path(name).name).write_bytes(bytes([case]) + data)


def main_atheris(argv: list[str]) -> None:
    import atheris
    with atheris.instrument_imports(include=['gluonparams']):
        import gluonparams  # noqa: F401
    tracemalloc.start()
    folder = Path(tempfile.mkdtemp(prefix='gp-atheris-'))
    fuzzer = Fuzzer(folder)

    def one_input(data: bytes) -> None:
        if not data:
            return
        ext, target = CASES[data[0] % len(CASES)]
        fuzzer.check(data[1:], ext, target)

    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--mutations', type=int, help='mutants per corpus file (no atheris)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--replay', nargs='+', metavar='FILE')
    parser.add_argument('--corpus', metavar='DIR', help='write the atheris seed corpus')
    parser.add_argument('--work', metavar='DIR', help='where failing inputs are kept')
    parser.add_argument('--no-rlimit', dest='rlimit', action='store_false')
    args, rest = parser.parse_known_args()
    if args.corpus:
        write_atheris_corpus(Path(args.corpus))
    elif args.mutations is not None or args.replay:
        main_deterministic(args)
    else:
        main_atheris([sys.argv[0], *rest])


if __name__ == '__main__':
    main()
