"""The package's shape: imports point down, no circle, no private name crosses modules,
imports at the top, small modules, and every public name importable from ``gluonparams``.

The import graph is read from the source (``ast``), not from ``sys.modules``, so the
rules hold for every module whether or not a test imports it. Imports under
``if TYPE_CHECKING:`` are for annotations only and do not count.
"""

import ast
import configparser
import importlib
import inspect
import re
from pathlib import Path

import pytest
import setuptools

import gluonparams as gp
from gluonparams.checkpoint import formats

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / 'gluonparams'

# Bottom (0) to top. A module imports only modules of its own layer or below; a
# subpackage's modules share its layer. Adding a module means placing it here.
LAYERS = [
    ['gluonparams.errors', 'gluonparams._version', 'gluonparams._text', 'gluonparams._parallel',
     'gluonparams._display', 'gluonparams._numpy_guard'],
    ['gluonparams._compat', 'gluonparams._moments', 'gluonparams._initstd'],
    ['gluonparams._names', 'gluonparams.tree', 'gluonparams._arrays'],
    ['gluonparams.select', 'gluonparams.distributed', 'gluonparams._why'],
    ['gluonparams.devices', 'gluonparams.ties'],
    ['gluonparams.checkpoint', 'gluonparams.summary', 'gluonparams._render', 'gluonparams.stats',
     'gluonparams._html'],
    ['gluonparams.zoo'],
    ['gluonparams', 'gluonparams.cli', 'gluonparams.__main__'],
]

# Imports inside a function, each with the reason it cannot be at the top.
LATE_IMPORTS = {
    ('gluonparams.stats', 'matplotlib.backends.backend_agg'): 'optional dependency (plot extra)',
    ('gluonparams.stats', 'matplotlib.figure'): 'optional dependency (plot extra)',
}

MAX_LINES = 450
# Longer by the project's rule: every MXNet version difference lives in this one module.
LONGER = {'gluonparams._compat': 550}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob('*.py'))}


def is_package(name: str) -> bool:
    return MODULES[name].name == '__init__.py'


def layer_of(name: str) -> int:
    best = None
    for rank, names in enumerate(LAYERS):
        for entry in names:
            if (name == entry or name.startswith(entry + '.')) and (
                    best is None or len(entry) > len(best[1])):
                best = (rank, entry)
    assert best is not None, f'{name} is not placed in LAYERS (tests/test_layout.py)'
    return best[0]


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == 'TYPE_CHECKING') or (
        isinstance(test, ast.Attribute) and test.attr == 'TYPE_CHECKING')


class Imports:
    """Every import of one module: (target module, names taken from it, line, at top)."""

    def __init__(self, name: str, source: str | None = None) -> None:
        self.name = name
        self.tree = ast.parse(MODULES[name].read_text() if source is None else source)
        self.found: list[tuple[str, list[str], int, bool]] = []
        self.bound_modules: dict[str, str] = {}      # local name -> package module
        self._visit(self.tree.body, top=True)

    def _base(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ''
        parts = self.name.split('.')
        package = parts if is_package(self.name) else parts[:-1]
        base = package[:len(package) - node.level + 1]
        return '.'.join(base + ([node.module] if node.module else []))

    def _visit(self, body, top: bool) -> None:
        for node in body:
            if isinstance(node, ast.If) and top and is_type_checking(node):
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.found.append((alias.name, [], node.lineno, top))
            elif isinstance(node, ast.ImportFrom):
                base = self._base(node)
                for alias in node.names:
                    full = f'{base}.{alias.name}'
                    if full in MODULES:
                        self.found.append((full, [], node.lineno, top))
                        self.bound_modules[alias.asname or alias.name] = full
                    else:
                        self.found.append((base, [alias.name], node.lineno, top))
            for field in ('body', 'orelse', 'finalbody', 'handlers'):
                inner = getattr(node, field, None)
                if isinstance(inner, list) and inner and not isinstance(inner[0], ast.expr):
                    nested = top and isinstance(node, (ast.If, ast.Try))
                    self._visit(inner, top=nested)

    def package_edges(self) -> list[tuple[str, list[str], int]]:
        return [(t, names, line) for t, names, line, _ in self.found
                if t == 'gluonparams' or t.startswith('gluonparams.')]


IMPORTS = {name: Imports(name) for name in MODULES}


def graph() -> dict[str, set[str]]:
    return {name: {t for t, _, _ in imports.package_edges() if t != name}
            for name, imports in IMPORTS.items()}


def test_the_layers_name_every_module_and_only_modules_that_exist():
    for name in MODULES:
        layer_of(name)
    for names in LAYERS:
        for entry in names:
            assert entry in MODULES, f'LAYERS names {entry}, which does not exist'


def test_no_import_circle():
    edges = graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                circle = path[path.index(target):] + [target]
                pytest.fail('import circle: ' + ' -> '.join(circle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name)


def test_imports_point_down():
    upward = [f'{name} (layer {layer_of(name)}) imports {target} (layer {layer_of(target)}) '
              f'at line {line}'
              for name, imports in IMPORTS.items()
              for target, _, line in imports.package_edges()
              if target in MODULES and layer_of(target) > layer_of(name)]
    assert not upward, '\n'.join(upward)


def private_uses(imports: Imports) -> list[str]:
    """Private names of other package modules that a module imports or reads."""
    found = []
    for target, names, line in imports.package_edges():
        found += [f'{imports.name}:{line} imports {target}.{n}' for n in names
                  if n.startswith('_') and not n.startswith('__')]
    for node in ast.walk(imports.tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in imports.bound_modules
                and node.attr.startswith('_') and not node.attr.startswith('__')):
            found.append(f'{imports.name}:{node.lineno} uses '
                         f'{imports.bound_modules[node.value.id]}.{node.attr}')
    return found


def test_no_private_name_crosses_modules():
    found = [use for imports in IMPORTS.values() for use in private_uses(imports)]
    assert not found, '\n'.join(found)


def test_imports_are_at_the_top_unless_a_reason_is_recorded():
    late = [(name, target, line) for name, imports in IMPORTS.items()
            for target, _, line, top in imports.found if not top]
    unexplained = [f'{name}:{line} imports {target} inside a function'
                   for name, target, line in late if (name, target) not in LATE_IMPORTS]
    assert not unexplained, '\n'.join(unexplained)
    stale = set(LATE_IMPORTS) - {(name, target) for name, target, _ in late}
    assert not stale, f'LATE_IMPORTS lists imports that are gone: {sorted(stale)}'


def test_modules_stay_small():
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text().splitlines())) > LONGER.get(name, MAX_LINES)}
    assert not long, f'modules over {MAX_LINES} lines (split them by concern): {long}'


def test_the_reader_sees_relative_private_and_late_imports():
    source = ('from . import _compat\nfrom .tree import _describe_level\n'
              'def f():\n    from .select import select\n    return _compat._WEAK_CHILDREN\n')
    imports = Imports('gluonparams.ties', source)
    assert {(t, tuple(n), top) for t, n, _, top in imports.found} == {
        ('gluonparams._compat', (), True), ('gluonparams.tree', ('_describe_level',), True),
        ('gluonparams.select', ('select',), False)}
    assert private_uses(imports) == [
        'gluonparams.ties:2 imports gluonparams.tree._describe_level',
        'gluonparams.ties:5 uses gluonparams._compat._WEAK_CHILDREN']
    nested = Imports('gluonparams.checkpoint.formats.npz', 'from ...tree import walk\n')
    assert nested.package_edges() == [('gluonparams.tree', ['walk'], 1)]


def readme_and_docs_names() -> set[str]:
    texts = [(ROOT / 'README.md').read_text()]
    texts += [p.read_text() for p in sorted((ROOT / 'docs').rglob('*.md'))] \
        if (ROOT / 'docs').is_dir() else []
    return {m for text in texts for m in re.findall(r'\bgp\.([A-Za-z_][A-Za-z0-9_]*)', text)}


def test_every_name_the_readme_and_docs_use_is_importable_from_gluonparams():
    missing = sorted(n for n in readme_and_docs_names() if n not in gp.__all__
                     and n != '__version__')
    assert not missing, f'gp.<name> used in the documentation but not exported: {missing}'
    for name in gp.__all__:
        assert getattr(gp, name) is not None


@pytest.mark.parametrize('name', ['CheckpointInfo', 'LoadReport', 'VerifyReport',
                                  'OptimizerReport', 'SaveHandle', 'Diff', 'convert', 'diff'])
def test_report_types_and_checkpoint_tools_are_public(name):
    assert name in gp.__all__
    assert getattr(gp, name) is getattr(importlib.import_module('gluonparams.checkpoint'), name)


@pytest.mark.parametrize('module, names', [
    ('gluonparams.checkpoint', ['save', 'load', 'inspect', 'verify', 'LoadReport',
                                'VerifyReport', 'OptimizerReport', 'CheckpointInfo']),
    ('gluonparams.distributed', ['DEFAULT_TIMEOUT', 'WorkerDivergence', 'check_workers',
                                 'load_on_every_worker', 'save_from_rank0',
                                 'start_from_rank0']),
    ('gluonparams.ties', ['assert_tied', 'check_ties', 'find_copies', 'share', 'tie_groups',
                          'describe_ties']),
    ('gluonparams.tree', ['named_parameters', 'named_blocks', 'get', 'walk']),
    ('gluonparams.summary', ['summary', 'Summary', 'Row']),
    ('gluonparams.select', ['select', 'freeze', 'unfreeze', 'configure', 'no_weight_decay']),
    ('gluonparams.stats', ['stats', 'plot_histograms', 'Stats', 'ParamStats']),
    ('gluonparams.devices', ['to_device', 'check_replicas', 'as_devices', 'Divergence']),
])
def test_public_modules_keep_their_import_paths(module, names):
    imported = importlib.import_module(module)
    for name in names:
        assert hasattr(imported, name), f'{module}.{name} is gone'


def test_every_format_implements_the_contract():
    wanted = {name: inspect.signature(member) for name, member in vars(formats.Format).items()
              if callable(member) and not name.startswith('_')}
    assert set(wanted) == {'read_header', 'write', 'read_into', 'stored_crc32'}
    for ext, module in formats.FORMATS.items():
        assert isinstance(module.NAME, str) and ext == '.' + module.NAME.split()[0]
        for name, signature in wanted.items():
            found = list(inspect.signature(getattr(module, name)).parameters.values())
            expected = list(signature.parameters)[1:]
            assert [p.name for p in found[:len(expected)]] == expected, (ext, name)
            assert all(p.default is not p.empty for p in found[len(expected):]), (ext, name)


def test_the_distribution_ships_every_subpackage():
    """setup.cfg's package list finds every folder of the package (a missing one would
    install a gluonparams that cannot import)."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / 'setup.cfg')
    assert cfg['options']['packages'] == 'find:'
    include = [p.strip() for p in cfg['options.packages.find']['include'].split(',')]
    found = set(setuptools.find_packages(str(ROOT), include=include))
    folders = {module_name(p) for p in PACKAGE.rglob('__init__.py')}
    assert found == folders
