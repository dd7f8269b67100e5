"""Checkpoints: save, load, inspect, verify, compare and convert a network's parameters.

The format follows the file's extension: ``.safetensors`` (recommended: ties,
checksums and metadata in its header, readable by any safetensors reader),
``.params`` (MXNet's own: ``net.load_parameters`` reads what :func:`save` writes,
on MXNet 1.9.1 and 2.0, and :func:`load` reads both formats MXNet writes) and
``.npz`` (numpy's). Saving is atomic; loading checks every name, shape, dtype and
checksum before it changes anything. With ``trainer=``, the Trainer's optimizer state
is saved and restored too, keyed by structural name (:mod:`.optimizer`).

Inside: ``formats/`` (one module per format behind one ``Protocol``), ``_atomic``
(atomic file writing), ``_io`` (bounded reads), ``_model`` (what a checkpoint holds,
whatever its format), ``_plan`` (which stored tensor fills which parameter),
``optimizer/`` (optimizer state), ``_background`` (saves written by a thread from a
snapshot), ``_tools`` (diff, convert).
"""

from ._inspect import VerifyReport as VerifyReport
from ._inspect import inspect as inspect
from ._inspect import verify as verify
from ._load import LoadReport as LoadReport
from ._load import load as load
from ._model import CheckpointInfo as CheckpointInfo
from ._model import OptimizerInfo as OptimizerInfo
from ._model import TensorInfo as TensorInfo
from ._background import SaveHandle as SaveHandle
from ._save import save as save
from ._tools import Diff as Diff
from ._tools import convert as convert
from ._tools import diff as diff
from .optimizer import OptimizerReport as OptimizerReport

__all__ = ['CheckpointInfo', 'Diff', 'LoadReport', 'OptimizerInfo', 'OptimizerReport',
           'SaveHandle', 'TensorInfo', 'VerifyReport', 'convert', 'diff', 'inspect', 'load',
           'save', 'verify']
