"""Progress bars with counts and ETA for long work (rich, to stderr)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Tracker:
    def __init__(self, progress, task):
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        self._progress.advance(self._task, n)

    def grow(self, n: int = 1) -> None:
        """Raise the total, for work discovered on the way (links found while crawling)."""
        total = self._progress.tasks[self._task].total or 0
        self._progress.update(self._task, total=total + n)


@contextmanager
def track(description: str, total: int | None) -> Iterator[Tracker]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        yield Tracker(progress, progress.add_task(description, total=total))
