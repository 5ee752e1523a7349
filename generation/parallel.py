"""Run a per-item function over processes, results in input order (so output is identical for
any number of workers). Small inputs run in this process: starting workers costs more."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

INLINE_BELOW = 16  # items; fewer run in this process


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _init_worker() -> None:
    # Each worker is one of N processes: the tokenizer's own thread pool would oversubscribe.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def ordered_map(fn: Callable, items: list, workers: int | None) -> Iterator:
    workers = workers or default_workers()
    if workers <= 1 or len(items) < INLINE_BELOW:
        yield from map(fn, items)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: the parent may hold threads (progress bar, tokenizer pool) that fork would copy mid-state.
    context = multiprocessing.get_context("spawn")
    chunksize = max(1, min(32, len(items) // (workers * 4)))
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        yield from pool.map(fn, items, chunksize=chunksize)

