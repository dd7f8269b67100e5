"""Reading a checkpoint without a network: its header, and every checksum."""

import os
from dataclasses import dataclass
from typing import Any

from .._html import report_html

from ._files import PathLike, check_checksums
from ._io import CheckpointFile
from ._model import CheckpointInfo
from .formats import format_of

__all__ = ['VerifyReport', 'inspect', 'verify']


@dataclass
class VerifyReport:
    """What [`verify`][gluonparams.verify] checked: ``checked`` tensors matched their recorded
    CRC-32; ``unchecked`` ones have none recorded (a file another tool wrote)."""

    path: str
    format: str
    checked: list[str]
    unchecked: list[str]
    bytes_checked: int

    def __str__(self) -> str:
        if self.unchecked and not self.checked:
            return (f'{self.path}: structure OK ({len(self.unchecked)} tensors); no checksums '
                    f'recorded, so the data cannot be checked')
        text = (f'{self.path}: OK, {len(self.checked)} tensors match their CRC-32 '
                f'({self.bytes_checked:,} bytes)')
        if self.unchecked:
            text += f'; {len(self.unchecked)} have no checksum'
        return text

    def _repr_html_(self) -> str:
        """For a notebook: the verdict, then the names checked (folded) and unchecked."""
        parts = [('checked', self.checked, '')]
        if self.unchecked:
            parts.append(('no checksum', self.unchecked, 'w'))
        return report_html(bool(self.checked), str(self), parts)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))


def inspect(path: PathLike) -> CheckpointInfo:
    """A checkpoint's header: names, shapes, dtypes, bytes, ties, metadata.

    Reads only the header, not the tensors: milliseconds even for a file of many
    gigabytes. ``print(gp.inspect(path))`` draws the parameter tree; in a notebook,
    ``gp.inspect(path)`` as a cell's last expression shows it as a foldable HTML tree.

    Args:
        path: a ``.safetensors``, ``.params`` (either MXNet format) or ``.npz`` file.

    Returns:
        The header: ``tensors``, ``ties``, ``metadata``, the versions that wrote the
        file, and the optimizer state's record when there is one.

    Raises:
        CheckpointError: unknown extension, or a file that is not a valid checkpoint.

    Examples:
        >>> gp.save(net, 'model.safetensors', metadata={'epoch': '3'})
        >>> info = gp.inspect('model.safetensors')
        >>> info.total_params, info.ties, info.metadata
        (330, [['1.weight', '2.weight'], ['1.bias', '2.bias']], {'epoch': '3'})
    """
    path = os.fspath(path)
    fmt = format_of(path)
    with CheckpointFile(path) as cf:
        return fmt.read_header(cf)


def verify(path: PathLike) -> VerifyReport:
    """Check every tensor of a checkpoint against its recorded CRC-32.

    Args:
        path: a ``.safetensors``, ``.params`` or ``.npz`` file.

    Returns:
        The tensors ``checked`` and those ``unchecked`` (no checksum recorded, as in a
        file another tool wrote).

    Raises:
        CheckpointError: a bad header, or tensors whose bytes do not match their
            checksums (all of them named in one message).

    Examples:
        >>> gp.save(net, 'model.safetensors')
        >>> print(gp.verify('model.safetensors'))
        model.safetensors: OK, 6 tensors match their CRC-32 (1,320 bytes)
    """
    path = os.fspath(path)
    fmt = format_of(path)
    with CheckpointFile(path) as cf:
        info = fmt.read_header(cf)
        every = info.tensors + (info.optimizer.tensors if info.optimizer else [])
        checked = [t for t in every if t.crc32 is not None]
        check_checksums(cf, checked)
    return VerifyReport(path, info.format, [t.name for t in checked],
                        [t.name for t in every if t.crc32 is None],
                        sum(t.crc_length for t in checked))
