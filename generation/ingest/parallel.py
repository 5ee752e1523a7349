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
    """fn over items, in order. The workers start now, not at the first next(): call it before
    starting threads (a progress bar) that forked workers should not copy."""
    workers = workers or default_workers()
    if workers <= 1 or len(items) < INLINE_BELOW:
        return map(fn, items)
    from concurrent.futures import ProcessPoolExecutor

    chunksize = max(1, min(32, len(items) // (workers * 4)))
    pool = ProcessPoolExecutor(workers, mp_context=_context(), initializer=_init_worker)
    return _results(pool, pool.map(fn, items, chunksize=chunksize))  # map submits all: workers fork here


def _results(pool, results: Iterator) -> Iterator:
    with pool:
        yield from results


def _context():
    """fork on Linux: a worker starts as a copy of this process, with bs4, lxml, markdownify and
    the tokenizer already loaded (what the caller loaded before the map); spawned workers spent
    more time importing and loading them than a small site takes to convert. The stages fork
    before their progress bar's thread starts, and `tokenizers` turns its own thread pool off
    in a forked child. Elsewhere (macOS, Windows) fork is unsafe or missing: spawn."""
    import multiprocessing
    import sys

    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
