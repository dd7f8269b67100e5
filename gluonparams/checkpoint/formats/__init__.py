"""Checkpoint formats, one module each behind one contract (:class:`Format`).

``.safetensors`` (:mod:`.safetensors`), ``.params`` (:mod:`.params`: MXNet's legacy
binary, which gluonparams writes, and the NPZ zip MXNet 2.0 writes) and ``.npz``
(:mod:`.npz`). The file's extension picks the format.
"""

import os

from ...errors import CheckpointError
from . import npz, params, safetensors
from ._contract import Format

__all__ = ['FORMATS', 'Format', 'format_of']

FORMATS: dict[str, Format] = {'.safetensors': safetensors, '.params': params, '.npz': npz}


def format_of(path: str) -> Format:
    """The format of a path, by its extension.

    Raises:
        CheckpointError: an extension no format has.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise CheckpointError(f'{path}: unknown checkpoint format {ext or "(no extension)"!r}; '
                              f'use one of {", ".join(FORMATS)} (.safetensors recommended)')
    return FORMATS[ext]
