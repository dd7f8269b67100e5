"""The contract every checkpoint format implements, and the reads most formats share.

A format is a module with a ``NAME`` and four functions: :meth:`Format.read_header`
parses and checks the header (no tensor data), :meth:`Format.write` writes tensors
and metadata to an open file, :meth:`Format.read_into` fills an array with one
tensor's values, and :meth:`Format.stored_crc32` computes the CRC-32 of the bytes a
tensor's recorded checksum covers. ``gluonparams.checkpoint.formats.FORMATS`` maps
each file extension to its module; nothing else in gluonparams knows a format.
"""

from concurrent.futures import Executor
from typing import BinaryIO, Protocol

import numpy as onp

from .._io import CheckpointFile
from .._model import CheckpointInfo, TensorInfo, WriteItem

__all__ = ['Format', 'read_stored_into', 'stored_bytes_crc32']


class Format(Protocol):
    """What a checkpoint format module provides (modules implement it, PEP 544)."""

    NAME: str

    def read_header(self, cf: CheckpointFile) -> CheckpointInfo:
        """The file's tensors, ties and metadata; reads no tensor data. Raises
        ``CheckpointError`` (``cf.error``) naming the file for anything malformed."""

    def write(self, f: BinaryIO, items: list[WriteItem], meta: dict[str, str],
              background: Executor) -> None:
        """Write every item (calling each ``values()`` once, in any order) and the
        metadata to ``f``, an unbuffered file at position 0; ``background`` may compute
        checksums while bytes are written."""

    def read_into(self, cf: CheckpointFile, tensor: TensorInfo, out: onp.ndarray) -> None:
        """Fill ``out`` (C-contiguous, the tensor's dtype and shape) with its values."""

    def stored_crc32(self, cf: CheckpointFile, tensor: TensorInfo) -> int | None:
        """CRC-32 of the bytes ``tensor.crc32`` covers, as found in the file now;
        ``None`` when they cannot be read."""


def read_stored_into(cf: CheckpointFile, tensor: TensorInfo, out: onp.ndarray) -> None:
    """``read_into`` for a tensor stored as plain bytes at ``tensor.offset``."""
    assert tensor.offset is not None
    cf.readinto(tensor.offset, out, 'its data', tensor.name)


def stored_bytes_crc32(cf: CheckpointFile, tensor: TensorInfo) -> int | None:
    """``stored_crc32`` for a checksum over plain bytes in the file."""
    return cf.crc32(tensor.crc_start, tensor.crc_length, tensor.name)
