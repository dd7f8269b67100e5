"""gluonparams: see, select, tie and save the parameters of MXNet Gluon networks.

A network is a tree of parameters. ``gp.summary(net)`` draws it; ``gp.named_parameters``
walks it once, in linear time, with Gluon's structural names (``'0.weight'``).
"""

# First: refuse numpy>=1.24 (DependencyError) before any module imports MXNet.
from . import _numpy_guard  # noqa: F401
from ._version import __version__ as __version__  # noqa: F401  (not in __all__)
from .checkpoint import CheckpointInfo as CheckpointInfo
from .checkpoint import Diff as Diff
from .checkpoint import LoadReport as LoadReport
from .checkpoint import OptimizerReport as OptimizerReport
from .checkpoint import SaveHandle as SaveHandle
from .checkpoint import TensorInfo as TensorInfo
from .checkpoint import VerifyReport as VerifyReport
from .checkpoint import convert as convert
from .checkpoint import diff as diff
from .checkpoint import inspect as inspect
from .checkpoint import load as load
from .checkpoint import save as save
from .checkpoint import verify as verify
from .devices import Divergence as Divergence
from .devices import check_replicas as check_replicas
from .devices import to_device as to_device
from .distributed import WorkerDivergence as WorkerDivergence
from .errors import CheckpointError as CheckpointError
from .errors import DependencyError as DependencyError
from .errors import DeviceError as DeviceError
from .errors import DistributedError as DistributedError
from .errors import GluonParamsError as GluonParamsError
from .errors import NameWarning as NameWarning
from .errors import OptionError as OptionError
from .errors import PathError as PathError
from .errors import PatternError as PatternError
from .errors import ReplicaError as ReplicaError
from .errors import ShareError as ShareError
from .errors import TieError as TieError
from .select import configure as configure
from .select import freeze as freeze
from .select import no_weight_decay as no_weight_decay
from .select import select as select
from .select import unfreeze as unfreeze
from .stats import ParamStats as ParamStats
from .stats import Stats as Stats
from .stats import plot_histograms as plot_histograms
from .stats import stats as stats
from .summary import Row as Row
from .summary import Summary as Summary
from .summary import summary as summary
from .ties import assert_tied as assert_tied
from .ties import check_ties as check_ties
from .ties import find_copies as find_copies
from .ties import share as share
from .ties import tie_groups as tie_groups
from .tree import get as get
from .tree import named_blocks as named_blocks
from .tree import named_parameters as named_parameters

__all__ = [
    'CheckpointError',
    'CheckpointInfo',
    'DependencyError',
    'DeviceError',
    'Diff',
    'DistributedError',
    'Divergence',
    'GluonParamsError',
    'LoadReport',
    'NameWarning',
    'OptimizerReport',
    'OptionError',
    'ParamStats',
    'PathError',
    'PatternError',
    'ReplicaError',
    'Row',
    'SaveHandle',
    'ShareError',
    'Stats',
    'Summary',
    'TensorInfo',
    'TieError',
    'VerifyReport',
    'WorkerDivergence',
    'assert_tied',
    'check_replicas',
    'check_ties',
    'configure',
    'convert',
    'diff',
    'find_copies',
    'freeze',
    'get',
    'inspect',
    'load',
    'named_blocks',
    'named_parameters',
    'no_weight_decay',
    'plot_histograms',
    'save',
    'select',
    'share',
    'stats',
    'summary',
    'tie_groups',
    'to_device',
    'unfreeze',
    'verify',
]
