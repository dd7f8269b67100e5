"""gluonparams: see, select, tie and save the parameters of MXNet Gluon networks.

A network is a tree of parameters. ``gp.summary(net)`` draws it; ``gp.named_parameters``
walks it once, in linear time, with Gluon's structural names (``'0.weight'``).
"""

from .checkpoint import inspect as inspect
from .checkpoint import load as load
from .checkpoint import save as save
from .checkpoint import verify as verify
from .errors import CheckpointError as CheckpointError
from .errors import GluonParamsError as GluonParamsError
from .errors import TieError as TieError
from .select import select as select
from .summary import Summary as Summary
from .summary import summary as summary
from .ties import tie_groups as tie_groups
from .tree import get as get
from .tree import named_blocks as named_blocks
from .tree import named_parameters as named_parameters

__version__ = '0.1.0'

__all__ = [
    'CheckpointError',
    'GluonParamsError',
    'Summary',
    'TieError',
    'get',
    'inspect',
    'load',
    'named_blocks',
    'named_parameters',
    'save',
    'select',
    'summary',
    'tie_groups',
    'verify',
]
