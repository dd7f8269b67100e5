"""Work that releases the GIL (reads, copies, CRC-32, hashes of large buffers), split
over a few threads."""

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ['PARALLEL_BYTES', 'WORKERS', 'parallel_map']

WORKERS = 2
PARALLEL_BYTES = 16 << 20   # below this, threads cost more than they save

T = TypeVar('T')


def parallel_map(function: Callable[[T], object], items: Iterable[T], cost: Callable[[T], int],
                 workers: int = WORKERS) -> list:
    """``[function(x) for x in items]``, the items split into ``workers`` runs of about
    equal ``cost`` (bytes), each run on its own thread. Small jobs run on this thread.

    Examples:
        >>> parallel_map(len, ['ab', 'c'], cost=len)
        [2, 1]
    """
    items = list(items)
    costs = [cost(x) for x in items]
    if workers < 2 or len(items) < 2 or sum(costs) < PARALLEL_BYTES:
        return [function(x) for x in items]
    runs: list[list[int]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for i in sorted(range(len(items)), key=lambda i: -costs[i]):
        k = loads.index(min(loads))
        runs[k].append(i)
        loads[k] += costs[i]
    results: list = [None] * len(items)

    def run(indices: list[int]) -> None:
        for i in indices:
            results[i] = function(items[i])

    with ThreadPoolExecutor(max_workers=workers - 1) as pool:
        futures = [pool.submit(run, r) for r in runs[1:] if r]
        run(runs[0])
        for future in futures:
            future.result()          # re-raises a worker's error here
    return results
