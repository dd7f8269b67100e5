"""gluonparams._parallel: results in order, errors raised, small jobs on this thread."""

import threading

import pytest

from gluonparams._parallel import PARALLEL_BYTES, parallel_map


def test_results_keep_the_order_of_the_items_whatever_thread_ran_them():
    threads = set()

    def work(x):
        threads.add(threading.get_ident())
        return x * x
    items = list(range(10))
    assert parallel_map(work, items, cost=lambda x: PARALLEL_BYTES) == [x * x for x in items]
    assert len(threads) == 2                          # the big job was split over two threads


def test_small_jobs_run_on_the_calling_thread():
    threads = set()
    parallel_map(lambda x: threads.add(threading.get_ident()), range(5), cost=lambda x: 1)
    assert threads == {threading.get_ident()}


def test_an_error_on_another_thread_is_raised_here():
    def work(x):
        if x == 7:
            raise OSError('disk gone')
        return x
    with pytest.raises(OSError, match='disk gone'):
        parallel_map(work, range(10), cost=lambda x: PARALLEL_BYTES)
