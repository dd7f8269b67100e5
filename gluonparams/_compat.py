"""The only module that knows MXNet 1.x from 2.x.

Each difference is detected once, by feature, at import; the rest of the library
calls the named helpers below and never tests a version itself.
"""

import ctypes
import inspect
import weakref
from typing import Any, Iterable, List, NamedTuple, Optional, Tuple

import mxnet as mx
import numpy as onp
from mxnet import gluon
from mxnet.gluon.model_zoo import vision

MXNET_VERSION: str = mx.__version__

# MXNet 2.0 ties blocks with Block.share_parameters; 1.x only with params= at construction.
HAS_SHARE_PARAMETERS: bool = hasattr(gluon.Block, 'share_parameters')
# MXNet 2.0 says device where 1.x says ctx.
HAS_DEVICE_API: bool = hasattr(gluon.Parameter, 'list_device')


def _children_are_weakrefs() -> bool:
    parent, child = gluon.Block(), gluon.Block()
    parent.register_child(child, 'probe')
    return isinstance(parent._children['probe'], weakref.ref)


# MXNet 2.0 keeps weak references to children; 1.x keeps the blocks themselves.
_WEAK_CHILDREN: bool = _children_are_weakrefs()


def children(block: gluon.Block) -> List[Tuple[str, gluon.Block]]:
    """The registered children of ``block`` as ``(name, child)``, in registration order."""
    items = block._children.items()
    if _WEAK_CHILDREN:
        return [(name, ref()) for name, ref in items]
    return list(items)


def registered_params(block: gluon.Block) -> Iterable[Tuple[str, gluon.Parameter]]:
    """``(attribute name, Parameter)`` for the parameters registered on ``block`` itself
    (a live view: read it before changing the block)."""
    return block._reg_params.items()


_BASE_COLLECT = gluon.Block._collect_params_with_prefix


def naming_override(cls: type) -> Any:
    """The class's own ``_collect_params_with_prefix`` (the method Gluon names saved
    parameters with) when it overrides Gluon's, else ``None``."""
    method = getattr(cls, '_collect_params_with_prefix')
    # 2.0's @use_np wraps every method of a class (functools.wraps): not an override
    return None if inspect.unwrap(method) is _BASE_COLLECT else method


def stand_in(block: gluon.Block, children_as: dict) -> gluon.Block:
    """A shallow copy of ``block`` (its class, so methods and ``super()`` work) whose
    children are ``children_as[name]``, in ``_children`` (held as this MXNet holds
    children: 2.0 by weak reference) and in the attribute of the same name (where
    ``self.body = ...`` put it). ``block`` is not changed."""
    state = dict(vars(block))
    held = state['_children'] = type(state['_children'])()
    for name, child in children(block):
        stand = children_as[name]
        held[name] = weakref.ref(stand) if _WEAK_CHILDREN else stand
        if state.get(name) is child:
            state[name] = stand
    copy = object.__new__(type(block))
    copy.__dict__.update(state)
    return copy


_RNN_LAYER = getattr(gluon.rnn.rnn_layer, '_RNNLayer', ())


def naming_failure_hint(block: gluon.Block) -> Optional[str]:
    """Why a block's naming override fails, where that is a known MXNet bug."""
    layers = getattr(block, '_num_layers', 0) if isinstance(block, _RNN_LAYER) else 0
    if layers > 10 and naming_override(type(block)) is not None:
        return (f'MXNet {MXNET_VERSION}\'s RNN layers name layers 0 to 9 only, with a '
                f'one-digit pattern, and this one has {layers} layers')
    return None


def param_shape(param: gluon.Parameter) -> Optional[Tuple[Optional[int], ...]]:
    """The parameter's shape with unknown dimensions as ``None``.

    An uninitialized parameter marks an unknown dimension with 0 (1.x) or -1 (2.0);
    both become ``None``. Returns ``None`` when not even the number of dimensions
    is known.
    """
    shape = param._shape
    if shape is None:
        return None
    if param._data is not None:
        return tuple(map(int, shape))
    return tuple([int(d) if d > 0 else None for d in shape])


_DTYPE_NAMES: dict = {}


def param_dtype(param: gluon.Parameter) -> str:
    """The parameter's dtype as a numpy name (``'float32'``)."""
    dtype = param.dtype
    try:
        return _DTYPE_NAMES[dtype]
    except (KeyError, TypeError):
        name = onp.dtype(dtype).name
    try:
        _DTYPE_NAMES[dtype] = name
    except TypeError:  # an unhashable dtype spelling: not cached
        pass
    return name


def param_devices(param: gluon.Parameter) -> List[Any]:
    """Devices the parameter lives on (or will, once deferred initialization ends).

    Empty for a parameter that was never initialized.
    """
    if param._data is None and not param._deferred_init:
        return []
    if HAS_DEVICE_API:
        return list(param.list_device())
    return list(param.list_ctx())


def is_initialized(param: gluon.Parameter) -> bool:
    """True when the parameter holds data (not merely scheduled for deferred init)."""
    return param._data is not None


def device_name(device: Any) -> str:
    """``'cpu(0)'``-style name of a Context (1.x) or Device (2.0)."""
    return f'{device.device_type}({device.device_id})'


def device_kwargs(device: Any) -> dict:
    """``{'device': d}`` (2.0) or ``{'ctx': d}`` (1.x) for Gluon calls; ``{}`` for None."""
    if device is None:
        return {}
    return {'device': device} if HAS_DEVICE_API else {'ctx': device}


def _array_module():
    """``mx.np`` under NumPy semantics (2.0's default, 1.x after ``npx.set_np()``),
    else ``mx.nd``."""
    return mx.np if mx.util.is_np_array() else mx.nd


def zeros(shape: Tuple[int, ...], device: Any = None):
    """A zero array of the kind the current semantics expect."""
    module = _array_module()
    return module.zeros(shape, **device_kwargs(device))


def uniform(shape: Tuple[int, ...], device: Any = None):
    """Uniform random values in [0, 1) of the kind the current semantics expect."""
    if mx.util.is_np_array():
        return mx.np.random.uniform(size=shape, **device_kwargs(device))
    return mx.nd.random.uniform(shape=shape, **device_kwargs(device))


class Tie(NamedTuple):
    """One parameter of ``dst`` to replace: its attribute path below ``dst``
    (``'1.l0_i2h_weight'``: the path of the block registering it, then the attribute),
    that block, the attribute, and the Parameter to put there."""

    path: str
    owner: gluon.Block
    attr: str
    param: gluon.Parameter


def share_parameters(dst: gluon.Block, ties: List[Tie]) -> None:
    """Make each of ``ties`` (parameters of ``dst``) the given Parameter.

    2.0 delegates to ``Block.share_parameters``, keyed by attribute path (what it
    matches, also where a block renames its parameters). 1.x lacks it and refuses to
    assign a Parameter over a registered one, so each tie is made where 1.x itself
    looks: the owner's ``_reg_params`` (forward, ``hybrid_forward``,
    ``save_parameters``), the attribute, and the owner's ``ParameterDict``
    (``collect_params``: initialize, Trainer, shape inference), where the replaced
    Parameter is swapped out in place, as ``params=`` at construction would have
    built it. Either way the cached graphs of hybridized blocks under ``dst`` are
    dropped so they are rebuilt with the tie.
    """
    if HAS_SHARE_PARAMETERS:
        dst.share_parameters({tie.path: tie.param for tie in ties})
    else:
        for tie in ties:
            _retie_1x(tie.owner, tie.attr, tie.param)
    _clear_cached_graphs(dst)


def model_zoo_names() -> List[str]:
    """The names ``mxnet.gluon.model_zoo.vision.get_model`` accepts (it keeps no public list)."""
    try:
        vision.get_model('\0')
    except ValueError as e:
        return sorted(line.strip() for line in str(e).splitlines()[1:] if line.strip())
    return []  # pragma: no cover - get_model accepted a nonsense name


def model_zoo_get(name: str) -> gluon.Block:
    """A model-zoo network by name, without pretrained weights."""
    return vision.get_model(name, pretrained=False)


def num_gpus() -> int:
    """How many GPUs MXNet sees (0 on a CPU-only build)."""
    try:
        return int(mx.context.num_gpus())
    except mx.base.MXNetError:
        return 0


_DEVICE_TYPE = type(mx.cpu())   # mx.Context in 1.x, mx.Device in 2.0


def is_device(obj: Any) -> bool:
    """True for an MXNet Context (1.x) or Device (2.0)."""
    return isinstance(obj, _DEVICE_TYPE)


# --- for ties ---
def _retie_1x(owner: gluon.Block, attr: str, param: gluon.Parameter) -> None:
    old = owner._reg_params.get(attr)
    if old is param:
        return
    owner._reg_params[attr] = param
    object.__setattr__(owner, attr, param)   # Block.__setattr__ asserts on a re-assignment
    entries = owner._params._params          # ParameterDict: {full name: Parameter}
    if any(value is old for value in entries.values()):
        items = [(param.name, param) if value is old else (key, value)
                 for key, value in entries.items()]
        entries.clear()
        entries.update(items)
        _follow_prefix_1x(owner)


def _clear_cached_graphs(block: gluon.Block) -> None:
    stack = [block]
    while stack:
        blk = stack.pop()
        clear = getattr(blk, '_clear_cached_op', None)
        if clear is not None:
            clear()
        stack.extend(child for _, child in children(blk))


def buffer_address(array: Any) -> int:
    """The address of the memory an NDArray (1.x) or numpy-style ndarray reads.

    Two arrays are one buffer when they read the same memory; two Python objects
    may wrap it. Call ``mx.nd.waitall()`` first when the array may still be pending.
    """
    pointer = ctypes.c_void_p()
    mx.base.check_call(mx.base._LIB.MXNDArrayGetData(array.handle, ctypes.byref(pointer)))
    return int(pointer.value or 0)


def array_device(array: Any) -> Any:
    """The device an array lives on (``.device`` in 2.0, ``.ctx`` in 1.x)."""
    return array.device if HAS_DEVICE_API else array.ctx


def array(values: Any, device: Any = None, dtype: Any = 'float32'):
    """An MXNet array of ``values`` of the kind the current semantics expect."""
    return _array_module().array(values, dtype=dtype, **device_kwargs(device))


def array_module():
    """``mx.np`` or ``mx.nd``: the module whose ``dot``, ``zeros``... fit the semantics."""
    return _array_module()


def param_arrays(param: gluon.Parameter) -> List[Tuple[Any, Any]]:
    """``(device, array)`` for each device an initialized parameter lives on.

    Reads without side effects: 2.0's ``Parameter.data()`` also binds the array to
    the parameter's graph variable, which ``list_data()`` does not.
    Empty for a parameter that holds no data yet.
    """
    if param._data is None:
        return []
    return list(zip(param_devices(param), param.list_data()))


# --- for compat (issue 6): MXNet 1.x support, devices ---


# MXNet 1.x keeps parameters in ParameterDicts and names each one globally
# ('dense0_weight', Parameter.name); 2.0 has plain dicts and only structural names.
HAS_GLOBAL_NAMES: bool = hasattr(gluon, 'ParameterDict')


def global_name(param: gluon.Parameter) -> Optional[str]:
    """The 1.x global name of a parameter (``'dense0_weight'``); ``None`` on 2.0."""
    return param.name if HAS_GLOBAL_NAMES else None


def block_prefix(block: gluon.Block) -> Optional[str]:
    """The 1.x prefix of a block's global names (``'resnetv10_'``); ``None`` on 2.0."""
    return block.prefix if HAS_GLOBAL_NAMES else None


def reset_device(param: gluon.Parameter, devices: List[Any]) -> None:
    """``Parameter.reset_device`` (2.0) or ``reset_ctx`` (1.x). Either one averages the
    replicas it had; callers wanting exact values set them afterwards."""
    if HAS_DEVICE_API:
        param.reset_device(devices)
    else:
        param.reset_ctx(devices)


def is_symbolic(out: Any) -> bool:
    """True for a Symbol (or a list holding one): what 1.x passes through forward hooks
    while it traces ``hybrid_forward`` to infer deferred shapes, before the real call."""
    if isinstance(out, (list, tuple)):
        return any(is_symbolic(o) for o in out)
    return isinstance(out, mx.sym.Symbol)


# --- for checkpoint ---
_HOST_DEVICE_TYPES = ('cpu', 'cpu_pinned', 'cpu_shared')


class _HostMemory:
    """Exposes an MXNet array's memory to numpy; holds the array so the memory stays alive."""

    def __init__(self, arr: Any, address: int, dtype: onp.dtype) -> None:
        self._arr = arr
        self.__array_interface__ = {'data': (address, False), 'typestr': dtype.str,
                                    'shape': tuple(arr.shape), 'version': 3}


def host_array(arr: Any) -> Optional[onp.ndarray]:
    """A numpy array sharing the memory of an MXNet array in host memory, else ``None``.

    Reading or writing it bypasses MXNet's engine: call ``mx.nd.waitall()`` first.
    Returns ``None`` for an array on a GPU and for a non-dense (sparse) array.
    """
    if not is_host_device(array_device(arr)):
        return None
    if getattr(arr, 'stype', 'default') != 'default':
        return None
    dtype = onp.dtype(arr.dtype)
    if dtype.kind not in 'biuf':
        return None
    if any(int(d) == 0 for d in arr.shape):
        return onp.empty(tuple(arr.shape), dtype)
    address = buffer_address(arr)
    if not address:
        return None
    return onp.asarray(_HostMemory(arr, address, dtype))


def array_from_numpy(values: onp.ndarray, device: Any = None) -> Any:
    """An MXNet array of the current semantics holding a copy of ``values``, same dtype."""
    return array(values, device, dtype=values.dtype)


def load_init(param: gluon.Parameter, data: Any, devices: Optional[List[Any]]) -> None:
    """Give ``param`` the value ``data`` on ``devices``, initializing it if needed
    (Gluon's own path for ``load_parameters``; settles deferred shapes)."""
    param._load_init(data, devices)


def _trainer_of(param: gluon.Parameter) -> Any:
    """The Trainer ``param`` was given to, or None (2.0 holds it by weak reference)."""
    trainer = param._trainer
    return trainer() if isinstance(trainer, weakref.ref) else trainer


def written_directly(param: gluon.Parameter) -> None:
    """Tell a Trainer that keeps its own copy of ``param`` (``update_on_kvstore``) that
    the value changed behind its back, as ``Parameter.set_data`` does."""
    trainer = _trainer_of(param)
    if (trainer is not None and trainer._kv_initialized and trainer._update_on_kvstore
            and param not in trainer._params_to_init):
        trainer._reset_kvstore()


def held_by_servers(param: gluon.Parameter) -> bool:
    """True when the servers of a distributed KVStore keep ``param``'s value for a
    Trainer that has started (``update_on_kvstore``): the workers only pull it."""
    trainer = _trainer_of(param)
    return bool(trainer is not None and trainer._kv_initialized and trainer._update_on_kvstore
                and trainer._kvstore is not None and 'dist' in trainer._kvstore.type
                and param not in trainer._params_to_init)


def is_np_shape() -> bool:
    """True under NumPy shape semantics, where scalars and zero-size arrays exist."""
    return bool(mx.util.is_np_shape())


def sync() -> None:
    """Wait until MXNet's asynchronous engine has finished every pending operation."""
    mx.nd.waitall()


# --- for trainer state ---
def trainer_devices(trainer: Any) -> List[Any]:
    """The devices a ``gluon.Trainer`` was built for, one updater each (``_devices`` in
    2.0, ``_contexts`` in 1.x)."""
    return list(trainer._devices if HAS_DEVICE_API else trainer._contexts)


def kvstore_key(trainer: Any, param: gluon.Parameter) -> int:
    """The key a Trainer gives ``param`` in its kvstore (and in the kvstore's updater):
    its position in the list the Trainer was built from, which 2.0 finds by the
    Parameter's uuid and 1.x by its global name."""
    return int(trainer._param2idx[param.name if HAS_GLOBAL_NAMES else param._uuid])


def as_classic(arr: Any) -> Any:
    """The ``mx.nd.NDArray`` view of an array, the kind optimizers take and create
    their states as (a NumPy-semantics ``mx.np.ndarray`` is converted, sharing memory)."""
    return arr.as_nd_ndarray()


# --- for stress (issue 7): fixes the property tests found ---
def _follow_prefix_1x(owner: gluon.Block) -> None:
    """Once every Parameter in ``owner``'s ParameterDict comes from one other block, take
    that block's prefix, as ``params=`` at construction does: a block built later with
    ``params=owner.collect_params()`` looks its Parameters up by that prefix, so it ties
    to them instead of creating new ones under ``owner``'s own prefix."""
    params = owner._params
    prefixes = set()
    for attr, param in owner._reg_params.items():
        if any(value is param for value in params._params.values()):
            if not param.name.endswith(attr):
                return
            prefixes.add(param.name[:-len(attr)])
    if len(prefixes) == 1 and len(params._params) == len(owner._reg_params):
        params._prefix = prefixes.pop()


# --- for background saves (issue 16) ---
# MXNet 2.0 moved Context to mxnet.device (mxnet.context stays as an alias); 1.x has
# only mxnet.context. Both have gpu_memory_info(device_id) -> (free, total) bytes.
_DEVICE_MODULE = getattr(mx, 'device', None) or mx.context


def is_host_device(device: Any) -> bool:
    """True for a device in host memory (``cpu``, ``cpu_pinned``, ``cpu_shared``)."""
    return device.device_type in _HOST_DEVICE_TYPES


def gpu_free_memory(device_id: int) -> Tuple[int, int]:
    """``(free, total)`` bytes of a GPU as CUDA reports them. Memory MXNet's pool keeps
    counts as used, so this is a lower bound of what MXNet can still allocate."""
    free, total = _DEVICE_MODULE.gpu_memory_info(device_id)
    return int(free), int(total)


def copy_on_engine(arr: Any, to_host: bool = False) -> Any:
    """A new array holding ``arr``'s values, on its own device (or on ``cpu(0)`` with
    ``to_host``), copied by MXNet's engine: the call only queues the copy, which reads
    ``arr`` after every write to it queued before and before every write queued after
    (``NDArray.copy``/``copyto`` on 1.x, ``ndarray.copy``/``copyto`` on 2.0)."""
    return arr.copyto(mx.cpu()) if to_host else arr.copy()
