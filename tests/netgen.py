"""Random networks for the property-based tests.

A hypothesis strategy, :func:`specs`, draws a plain description of a network (a
:class:`Spec`: nested containers, layers, widths, dtypes, ties, the device);
:func:`build` makes the network from it, as often as needed, so a fresh twin to load
into is the same Spec built again. Drawing plain data keeps generation fast and lets
hypothesis shrink a failing network to a small one.

Containers are ``Sequential``, ``HybridSequential`` and three custom blocks (plain,
hybrid, and ``Reordering``, which overrides Gluon's naming) with named children and
parameters of their own; layers are ``Dense``
(float16/32/64, input width given or deferred), ``BatchNorm`` (running statistics
are not trainable) and ``Bag``, a block holding raw Parameters of every dtype
checkpoints hold. Ties come in every style ``tie_styles.py`` covers that the
installed MXNet supports: ``gp.share`` (of a block, or of its weight alone), 2.0's
``share_parameters``, 1.x's ``params=``, 2.0's ``dense.weight = other.weight``, the
same block instance at several positions, and a Parameter assigned to a custom
block's new attribute. Nodes are numbered in the order they are completed (children
before their container), and a tie or a repeated instance only refers to a completed
node, so no network is a cycle.
"""

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Union

import mxnet as mx
import nets
import numpy as onp
from conftest import DEVICES
from hypothesis import strategies as st
from mxnet import gluon
from mxnet.gluon import nn
from test_checkpoint import DTYPES, fill_random

import gluonparams as gp
from gluonparams import _compat, zoo

LAYER_DTYPES = ('float16', 'float32', 'float64')
CHILD_NAMES = ('stem', 'body', 'head', 'enc', 'dec', 'proj', 'mid')
OWN_NAMES = ('alpha', 'gain', 'scale')
BAG_NAMES = ('p', 'q', 'r')
PARAM_NAMES = {'dense': ('weight', 'bias'),
               'batchnorm': ('gamma', 'beta', 'running_mean', 'running_var')}


@dataclass(frozen=True)
class Leaf:
    """A layer: ``dense`` (``units`` outputs), ``batchnorm`` or ``bag`` (raw Parameters
    ``bag``: ``(name, shape, dtype)``). ``deferred``: the input width (a bag's first
    dimension) is left unknown. ``tie``: ``(style, node)`` ties every parameter (only
    the weight for ``'override'`` and ``'gp.share weight'``) to those of an earlier
    leaf of the same config."""

    kind: str
    width: int = 0
    units: int = 0
    dtype: str = 'float32'
    deferred: bool = False
    bag: tuple = ()
    frozen: tuple = ()
    tie: tuple | None = None
    renaming: bool = False       # a bag of class RenamingBag


@dataclass(frozen=True)
class Own:
    """A custom block's own parameter: new (``shape``, ``dtype``), or the Parameter
    ``name`` of completed node ``node`` (an attribute tie)."""

    shape: tuple = ()
    dtype: str = 'float32'
    node: int | None = None
    name: str = ''


@dataclass(frozen=True)
class Same:
    """The very block instance of completed node ``node``, at one more position."""

    node: int


@dataclass(frozen=True)
class Container:
    kind: str                    # Sequential, HybridSequential, Custom, HybridCustom, Reordering
    children: tuple = ()         # ((name, node), ...)
    own: tuple = ()              # ((attribute, Own), ...), custom blocks only


Node = Union[Leaf, Same, Container]


@dataclass(frozen=True)
class Spec:
    root: Container
    device: Any


class Custom(gluon.Block):
    """A user's block: children and parameters as attributes."""


class HybridCustom(gluon.HybridBlock):
    """A user's hybrid block: children and parameters as attributes."""


class Bag(gluon.HybridBlock):
    """Raw Parameters of any dtype, as attributes."""


class RenamingBag(Bag):
    """A bag that names its parameters as GluonNLP's attention cells do: its own
    ``_collect_params_with_prefix`` saves attribute ``p`` as ``proj.p``."""

    def _collect_params_with_prefix(self, prefix='', select=None):   # 2.0 passes select
        prefix = prefix + '.' if prefix else ''
        out = {f'{prefix}proj.{k}': v for k, v in self._reg_params.items()}
        more = () if select is None else (select,)
        for name, child in _compat.children(self):
            out.update(child._collect_params_with_prefix(prefix + name, *more))
        return out


class Reordering(HybridCustom):
    """A container that overrides Gluon's naming: its children first, each under
    ``sub_`` + its name (``sub_body.weight``), then its own parameters."""

    def _collect_params_with_prefix(self, prefix='', select=None):   # 2.0 passes select
        prefix = prefix + '.' if prefix else ''
        more = () if select is None else (select,)
        out = {}
        for name, child in _compat.children(self):
            out.update(child._collect_params_with_prefix(f'{prefix}sub_{name}', *more))
        out.update({prefix + k: v for k, v in self._reg_params.items()})
        return out


CONTAINERS = {'Sequential': nn.Sequential, 'HybridSequential': nn.HybridSequential,
              'Custom': Custom, 'HybridCustom': HybridCustom, 'Reordering': Reordering}
HYBRID = {'HybridSequential', 'HybridCustom', 'Reordering'}


def unknown_dim() -> int:
    """How this MXNet marks a dimension to infer: -1 under NumPy shapes, 0 under legacy."""
    return -1 if mx.util.is_np_shape() else 0


# --- building ------------------------------------------------------------------------

def build(spec: Spec, *, deferred_bags: bool = True) -> gluon.Block:
    """The network ``spec`` describes, not initialized. ``deferred_bags=False`` gives a
    bag's deferred Parameters their full shape (nothing else could settle them)."""
    built: list[gluon.Block] = []
    frozen: list[tuple[gluon.Block, tuple]] = []

    def make(node: Node) -> gluon.Block:
        if isinstance(node, Same):
            return built[node.node]
        if isinstance(node, Leaf):
            block = _leaf(node, built, deferred_bags)
            frozen.append((block, node.frozen))
        else:
            block = _container(node, [(name, make(child)) for name, child in node.children],
                               built)
        built.append(block)
        return block

    root = make(spec.root)
    for block, names in frozen:     # after every params= tie: 1.x checks grad_req there
        for name in names:
            gp.get(block, name).grad_req = 'null'
    return root


def _leaf(leaf: Leaf, built: list, deferred_bags: bool) -> gluon.Block:
    style, source = leaf.tie or (None, None)
    src = built[source] if source is not None else None
    if leaf.kind == 'bag':
        block = RenamingBag() if leaf.renaming else Bag()
        for name, shape, dtype in leaf.bag:
            if leaf.deferred and deferred_bags:
                shape = (unknown_dim(), *shape[1:])
            setattr(block, name, gluon.Parameter(name, shape=shape, dtype=dtype,
                                                 init=mx.init.Zero(), allow_deferred_init=True))
    else:
        kwargs = {'params': src.collect_params()} if style == 'params=' else {}
        width = 0 if leaf.deferred else leaf.width
        if leaf.kind == 'dense':
            block = nn.Dense(leaf.units, in_units=width, dtype=leaf.dtype, **kwargs)
        else:
            block = nn.BatchNorm(in_channels=width, **kwargs)
    if style == 'gp.share':
        gp.share(block, src)
    elif style == 'share_parameters':
        block.share_parameters(src.collect_params())
    elif style == 'gp.share weight':
        gp.share(block, {'weight': src.weight})   # the bias stays the block's own
    elif style == 'override':
        block.weight = src.weight
    return block


def _container(node: Container, children: list, built: list) -> gluon.Block:
    block = CONTAINERS[node.kind]()
    for attr, own in node.own:
        if own.node is None:
            param = gluon.Parameter(attr, shape=own.shape, dtype=own.dtype, init=mx.init.Zero())
        else:
            param = gp.get(built[own.node], own.name)
        setattr(block, attr, param)
    if node.kind.endswith('Sequential'):
        block.add(*[child for _, child in children])
    else:
        for name, child in children:
            setattr(block, name, child)
    return block


def initialize(net: gluon.Block, device: Any) -> None:
    """Initialize every parameter on ``device``, those 1.x's ``initialize`` misses too
    (Parameters set as attributes); unknown shapes wait for a forward pass or a load."""
    zoo.initialize(net, device)
    for _, param in gp.named_parameters(net):
        if not _compat.param_devices(param):
            param.initialize(**_compat.device_kwargs(device))


def settle(net: gluon.Block, spec: Spec, *, ready_only: bool = False) -> None:
    """Run each deferred layer once on an input of its width: its shapes become known.

    ``ready_only=True`` runs instead every layer whose parameters all hold data (on a
    hybridized network: through its cached graph), which changes no shape.
    """
    first = nets.devices_of(spec.device)[0]
    for leaf, block in layers(net, spec):
        if leaf.kind == 'bag' or leaf.dtype == 'float16':   # float16 Dense runs on GPUs only
            continue
        if ready_only:
            if not all(_compat.is_initialized(p) for _, p in gp.named_parameters(block)):
                continue
        elif not leaf.deferred:
            continue
        dtype = leaf.dtype if leaf.kind == 'dense' else 'float32'
        block(_compat.array(onp.ones((2, leaf.width)), first, dtype=dtype))


def layers(net: gluon.Block, spec: Spec) -> Iterator[tuple[Leaf, gluon.Block]]:
    """``(Leaf, block)`` for each distinct layer of a network built from ``spec``."""
    found: list[gluon.Block] = []

    def visit(node: Node, block: gluon.Block) -> Iterator[tuple[Leaf, gluon.Block]]:
        if isinstance(node, Leaf):
            if all(block is not b for b in found):
                found.append(block)
                yield node, block
        elif isinstance(node, Container):
            kids = dict(_compat.children(block))
            for name, child in _named_children(node):
                yield from visit(child, kids[name])

    yield from visit(spec.root, net)


def _named_children(node: Container) -> list:
    if node.kind.endswith('Sequential'):
        return [(str(i), child) for i, (_, child) in enumerate(node.children)]
    return list(node.children)


def ready(spec: Spec, *, seed: int = 0) -> gluon.Block:
    """The network initialized on the spec's device, every shape settled, random bits
    in every parameter (NaN payloads, -0.0, subnormals included)."""
    net = build(spec, deferred_bags=False)
    initialize(net, spec.device)
    settle(net, spec)
    fill_random(net, seed)
    return net


# --- the strategy ---------------------------------------------------------------------

class _Drawn:
    """What the strategy knows of each completed node while drawing."""

    def __init__(self) -> None:
        self.nodes: list[tuple[Node, bool, list[str]]] = []   # (node, hybrid, param names)

    def add(self, node: Node, hybrid: bool, names: list[str]) -> None:
        self.nodes.append((node, hybrid, names))


def _tie_styles(drawn: _Drawn, index: int) -> list[str]:
    src = drawn.nodes[index][0]
    assert isinstance(src, Leaf)
    styles = ['gp.share'] + (['gp.share weight'] if src.kind == 'dense' else [])
    if _compat.HAS_SHARE_PARAMETERS and not src.renaming:   # it matches attribute paths
        styles += ['share_parameters'] + (['override'] if src.kind == 'dense' else [])
    elif src.kind != 'bag' and _one_owner(drawn, index):
        styles.append('params=')
    return styles


def _one_owner(drawn: _Drawn, index: int) -> bool:
    """True when every Parameter of leaf ``index`` was created by one block. 1.x's
    ``params=`` looks Parameters up by that block's prefix; a block sharing only some
    (its weight) has two, and a block built with ``params=`` from it gets new ones for
    the rest, as in 1.x itself when the dict it is given lacks a name."""
    leaf = drawn.nodes[index][0]
    assert isinstance(leaf, Leaf)
    if leaf.tie is None:
        return True
    style, source = leaf.tie
    return style in ('gp.share', 'params=') and _one_owner(drawn, source)


@st.composite
def _new_leaf(draw) -> Leaf:
    kind = draw(st.sampled_from(['dense', 'dense', 'batchnorm', 'bag']))
    if kind == 'bag':
        bag = tuple((name, tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2))),
                     draw(st.sampled_from(DTYPES)))
                    for name in BAG_NAMES[:draw(st.integers(1, 3))])
        leaf = Leaf('bag', deferred=draw(st.booleans()), bag=bag, renaming=draw(st.booleans()))
    else:
        dtype = draw(st.sampled_from(LAYER_DTYPES)) if kind == 'dense' else 'float32'
        # MXNet runs float16 Dense on GPUs only: such a layer is never run, so never deferred
        deferred = dtype != 'float16' and draw(st.booleans())
        leaf = Leaf(kind, draw(st.integers(1, 6)), draw(st.integers(1, 5)), dtype, deferred)
    frozen = tuple(n for n in _leaf_names(leaf) if draw(st.integers(0, 4)) == 0)
    return replace(leaf, frozen=frozen)


@st.composite
def _leaf_node(draw, drawn: _Drawn, hybrid: bool) -> Node:
    repeatable = [i for i, (_, h, _) in enumerate(drawn.nodes) if h or not hybrid]
    tieable = [i for i, (node, _, _) in enumerate(drawn.nodes) if isinstance(node, Leaf)]
    way = draw(st.sampled_from(['new', 'new', 'tie', 'same']))
    if way == 'same' and repeatable:
        node: Node = Same(draw(st.sampled_from(repeatable)))
        return node
    if way == 'tie' and tieable:
        index = draw(st.sampled_from(tieable))
        src = drawn.nodes[index][0]
        assert isinstance(src, Leaf)
        style = draw(st.sampled_from(_tie_styles(drawn, index)))
        leaf = replace(src, tie=(style, index))
        names = _leaf_names(src)
    else:
        leaf = draw(_new_leaf())
        names = _leaf_names(leaf)
    drawn.add(leaf, True, names)
    return leaf


def _leaf_names(leaf: Leaf) -> list[str]:
    if leaf.kind == 'bag':
        return [('proj.' if leaf.renaming else '') + name for name, _, _ in leaf.bag]
    return list(PARAM_NAMES[leaf.kind])


@st.composite
def _node(draw, drawn: _Drawn, hybrid: bool, depth: int) -> Node:
    if depth > 0 and draw(st.booleans()):
        return draw(_container_node(drawn, hybrid, depth))
    return draw(_leaf_node(drawn, hybrid))


@st.composite
def _container_node(draw, drawn: _Drawn, hybrid: bool, depth: int,
                    min_children: int = 0) -> Container:
    kinds = sorted(HYBRID) if hybrid else sorted(CONTAINERS)
    kind = draw(st.sampled_from(kinds))
    is_hybrid = kind in HYBRID
    count = draw(st.integers(min_children, 5))
    if kind.endswith('Sequential'):
        names = [str(i) for i in range(count)]
    else:
        names = draw(st.lists(st.sampled_from(CHILD_NAMES), min_size=count, max_size=count,
                              unique=True))
    children = []
    for name in names:
        children.append((name, draw(_node(drawn, is_hybrid, depth - 1))))
    own = () if kind.endswith('Sequential') else draw(_own_params(drawn))
    node = Container(kind, tuple(children), own)
    own_names = [attr for attr, _ in own]
    stem = 'sub_' if kind == 'Reordering' else ''
    child_names = [f'{stem}{name}.{p}' for name, child in _named_children(node)
                   for p in _names_of(child, drawn)]
    names_here = child_names + own_names if stem else own_names + child_names
    drawn.add(node, is_hybrid, names_here)
    return node


def _names_of(node: Node, drawn: _Drawn) -> list[str]:
    if isinstance(node, Same):
        return drawn.nodes[node.node][2]
    return next(names for n, _, names in reversed(drawn.nodes) if n is node)


@st.composite
def _own_params(draw, drawn: _Drawn) -> tuple:
    out = []
    for attr in OWN_NAMES[:draw(st.integers(0, 2))]:
        sources = [(i, name) for i, (_, _, names) in enumerate(drawn.nodes) for name in names]
        if sources and draw(st.booleans()):
            index, name = draw(st.sampled_from(sources))
            out.append((attr, Own(node=index, name=name)))
        else:
            shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=2)))
            out.append((attr, Own(shape, draw(st.sampled_from(DTYPES)))))
    return tuple(out)


@st.composite
def specs(draw, max_depth: int = 3) -> Spec:
    """A random network description, its root a container, on one of the ``device``
    fixture's devices."""
    drawn = _Drawn()
    root = draw(_container_node(drawn, hybrid=False, depth=max_depth, min_children=1))
    return Spec(root, draw(st.sampled_from(DEVICES)))
