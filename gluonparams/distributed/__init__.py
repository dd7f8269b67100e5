"""Parameter checks and checkpoints across the workers of a distributed KVStore.

Data-parallel training over MXNet's parameter servers (``mx.kv.create('dist_sync')``)
keeps a full replica of the parameters on every worker. :func:`check_workers` proves
that the replicas are identical by exchanging one 128-bit fingerprint per parameter
(BLAKE2b of its dtype, shape and bytes), never the tensors; :func:`save_from_rank0`
writes one checkpoint from rank 0 while the other workers wait for it, and
:func:`start_from_rank0` starts one that rank 0 writes in the background; and
:func:`load_on_every_worker` loads on every worker, then checks the replicas. They
are reached through ``gp.check_replicas``, ``gp.save`` and ``gp.load`` with
``kvstore=``.

These are collective calls: every worker makes the same call, in the same order.
Each decision (which parameters differ, whether a worker failed) is taken from data
every worker holds after the exchange, so every worker raises the same error. A
worker that does not answer within ``timeout`` seconds makes the others raise
:class:`~gluonparams.errors.DistributedError` (see ``_channel.Channel``).
"""

from ._rank0 import RankZeroSave as RankZeroSave
from ._rank0 import earlier_failures as earlier_failures
from ._rank0 import save_from_rank0 as save_from_rank0
from ._rank0 import start_from_rank0 as start_from_rank0
from ._workers import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from ._workers import WorkerDivergence as WorkerDivergence
from ._workers import check_workers as check_workers
from ._workers import load_on_every_worker as load_on_every_worker

__all__ = ['DEFAULT_TIMEOUT', 'RankZeroSave', 'WorkerDivergence', 'check_workers',
           'earlier_failures', 'load_on_every_worker', 'save_from_rank0', 'start_from_rank0']
