"""What a checkpoint holds, independent of its format: tensors, ties, metadata.

Every format module reads a file into a :class:`CheckpointInfo` (the header only)
and writes a list of :class:`WriteItem`. ``gp.inspect`` returns the
:class:`CheckpointInfo`.
"""

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as onp

from .. import _compat
from .._version import __version__
from ._render import render_checkpoint, render_checkpoint_html

__all__ = ['DTYPES', 'OPTIMIZER_KEY', 'OPTIMIZER_PREFIX', 'CheckpointInfo', 'OptimizerInfo',
           'TensorInfo', 'WriteItem', 'check_dtype', 'nbytes_of', 'own_versions',
           'split_optimizer']

# The dtypes MXNet parameters use and every format here can hold.
DTYPES = ('bool', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64',
          'float16', 'float32', 'float64')


def check_dtype(dtype: Any) -> onp.dtype | None:
    """``dtype`` as a numpy dtype, or ``None`` when it is not one of :data:`DTYPES`.

    Text from a file may be anything: numpy's parser raises SyntaxError on some (``','``)
    and warns on deprecated spellings (``'1f4'``); neither reaches the caller. An array's
    dtype (a type or a numpy dtype, not text) is looked up once: a save checks one per
    tensor.
    """
    cached = isinstance(dtype, (type, onp.dtype))
    if cached and dtype in _ARRAY_DTYPES:
        return _ARRAY_DTYPES[dtype]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            found = onp.dtype(dtype)
    except (TypeError, ValueError, OverflowError, SyntaxError, RecursionError):
        return None
    checked = found if found.name in DTYPES else None
    if cached:
        _ARRAY_DTYPES[dtype] = checked
    return checked


_ARRAY_DTYPES: dict[Any, onp.dtype | None] = {}


def nbytes_of(dtype: Any, shape: Any) -> int:
    """Bytes of an array of ``dtype`` and ``shape`` (dimensions as a header gives them:
    Python integers, any size)."""
    return onp.dtype(dtype).itemsize * prod(shape)


def own_versions() -> tuple[str, str]:
    """The gluonparams and MXNet versions a file written now records."""
    return __version__, _compat.MXNET_VERSION


@dataclass(frozen=True)
class TensorInfo:
    """One stored tensor, as the header describes it.

    ``offset`` is where its bytes start in the file (``None`` when they are
    compressed inside a zip member, ``member``). ``crc32`` is the recorded CRC-32
    of the ``crc_length`` bytes at ``crc_start`` (``None``: nothing recorded).
    ``aliases`` are the names tied to this tensor that the file does not store.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    offset: int | None
    crc32: int | None = None
    crc_start: int = 0
    crc_length: int = 0
    aliases: tuple[str, ...] = ()
    member: str | None = None

    @property
    def size(self) -> int:
        """Number of elements."""
        return prod(self.shape)

    def to_dict(self) -> dict[str, Any]:
        return {'name': self.name, 'dtype': self.dtype, 'shape': list(self.shape),
                'nbytes': self.nbytes, 'crc32': None if self.crc32 is None else f'{self.crc32:08x}',
                'aliases': list(self.aliases)}


@dataclass
class CheckpointInfo:
    """A checkpoint's header: what [`inspect`][gluonparams.inspect] returns.

    ``tensors`` are the stored tensors in file order; ``ties`` lists each tie group
    the file records (the first name is the one stored, unless the format stores
    every name); ``metadata`` is the user's; ``str()`` draws the parameter tree.
    """

    path: str
    format: str
    file_size: int
    tensors: list[TensorInfo]
    ties: list[list[str]] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    gluonparams_version: str | None = None
    mxnet_version: str | None = None
    optimizer: 'OptimizerInfo | None' = None

    @property
    def names(self) -> list[str]:
        """Every name the file knows: stored tensors and their tied aliases."""
        out = []
        for t in self.tensors:
            out.append(t.name)
            out.extend(t.aliases)
        return out

    @property
    def total_params(self) -> int:
        """Elements stored, each tied tensor once."""
        return sum(t.size for t in self._counted())

    @property
    def total_bytes(self) -> int:
        return sum(t.nbytes for t in self._counted())

    @property
    def has_checksums(self) -> bool:
        return bool(self.tensors) and all(t.crc32 is not None for t in self.tensors)

    def _counted(self) -> list[TensorInfo]:
        """The stored tensors without the extra copies of a tied one (``.params``
        stores every name of a tie)."""
        copies = {n for group in self.ties for n in group[1:]}
        return [t for t in self.tensors if t.name not in copies]

    def __str__(self) -> str:
        return render_checkpoint(self, details=True)

    def _repr_html_(self) -> str:
        """The tree for a notebook: blocks fold, a tied alias links to the stored name."""
        return render_checkpoint_html(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def render(self, *, details: bool = False, keep: Callable[[str], bool] | None = None,
               depth: int | None = None) -> str:
        """The tree drawn from the file's names; ``keep`` filters names, ``depth`` hides
        deeper rows, ``details`` adds the format, versions, checksums and metadata
        (``str(info)`` is ``info.render(details=True)``)."""
        return render_checkpoint(self, details=details, keep=keep, depth=depth)

    def to_dict(self) -> dict[str, Any]:
        return {'path': self.path, 'format': self.format, 'file_size': self.file_size,
                'total_params': self.total_params, 'total_bytes': self.total_bytes,
                'tensors': [t.to_dict() for t in self.tensors], 'ties': self.ties,
                'metadata': self.metadata, 'gluonparams_version': self.gluonparams_version,
                'mxnet_version': self.mxnet_version, 'checksums': self.has_checksums,
                'optimizer': None if self.optimizer is None else self.optimizer.to_dict()}


@dataclass
class WriteItem:
    """One tensor to write: its name, dtype, shape, the names tied to it, and a
    function returning its bytes as a C-contiguous numpy array (called once, when
    the tensor is written, so a writer holds one tensor at a time)."""

    name: str
    dtype: onp.dtype
    shape: tuple[int, ...]
    values: Callable[[], onp.ndarray]
    aliases: tuple[str, ...] = ()

    @property
    def nbytes(self) -> int:
        return prod(self.shape) * self.dtype.itemsize


# --- optimizer state (gp.save(..., trainer=)) ---
# Its tensors are named OPTIMIZER_PREFIX + '<structural name>/<k>'; its JSON record is the
# reserved metadata key OPTIMIZER_KEY. Readers move both out of ``tensors`` and
# ``metadata`` into ``CheckpointInfo.optimizer``, so a load without trainer= never sees them.
OPTIMIZER_PREFIX = 'gluonparams.optimizer/'
OPTIMIZER_KEY = 'gluonparams.optimizer'


@dataclass
class OptimizerInfo:
    """The optimizer state a checkpoint holds: the JSON ``record`` (optimizer,
    hyperparameters, update counts, scheduler; ``raw`` is its text as stored) and the
    state ``tensors``."""

    record: dict[str, Any]
    raw: str
    tensors: list[TensorInfo]

    @property
    def total_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    def to_dict(self) -> dict[str, Any]:
        return {'record': self.record, 'tensors': [t.to_dict() for t in self.tensors],
                'total_bytes': self.total_bytes}


def split_optimizer(info: CheckpointInfo, error: Callable[[str], Exception]) -> CheckpointInfo:
    """Move the optimizer state's tensors and record out of ``info.tensors`` and
    ``info.metadata`` into ``info.optimizer``; ``error(message)`` makes the exception
    for a corrupt record."""
    raw = info.metadata.pop(OPTIMIZER_KEY, None)
    state = [t for t in info.tensors if t.name.startswith(OPTIMIZER_PREFIX)]
    if raw is None and not state:
        return info
    if raw is None:
        raise error(f'{len(state)} optimizer-state tensors ({state[0].name!r}, ...) but no '
                    f'{OPTIMIZER_KEY!r} record: the file is corrupt')
    try:
        record = json.loads(raw)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise error(f'the {OPTIMIZER_KEY!r} record is not a JSON object: the file is corrupt')
    info.tensors = [t for t in info.tensors if not t.name.startswith(OPTIMIZER_PREFIX)]
    info.optimizer = OptimizerInfo(record, raw, state)
    return info
