"""A ``gluon.Trainer``'s optimizer state in a checkpoint, keyed by structural name.

``capture`` turns the Trainer's state into a JSON record and tensors for any format
(``gp.save(..., trainer=)``); ``plan_restore`` matches a file's record with a Trainer
before anything changes and ``restore`` fills it (``gp.load(..., trainer=)``).
"""

from ._capture import capture as capture
from ._record import OptimizerReport as OptimizerReport
from ._record import optimizer_of as optimizer_of
from ._restore import StatePlan as StatePlan
from ._restore import plan_restore as plan_restore
from ._restore import restore as restore

__all__ = ['OptimizerReport', 'StatePlan', 'capture', 'optimizer_of', 'plan_restore', 'restore']
