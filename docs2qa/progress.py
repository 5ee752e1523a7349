"""Progress with counts and ETA for long work: a rich bar on a terminal; when stderr is not
one (output redirected to a file, CI), a plain log line every LINE_INTERVAL_S seconds and one
at the end, since a redrawn bar there shows nothing until it finishes, or garbage."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

log = logging.getLogger(__name__)
LINE_INTERVAL_S = float(os.environ.get("DOCS2QA_PROGRESS_INTERVAL_S", "30"))


class Tracker:
    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        self._progress.advance(self._task, n)

    def grow(self, n: int = 1) -> None:
        """Raise the total, for work discovered on the way (links found while crawling)."""
        total = self._progress.tasks[self._task].total or 0
        self._progress.update(self._task, total=total + n)


class LineTracker:
    """Tracker's interface as log lines: "generate (units): 12/40, 0.3/s, eta 1m33s"."""

    def __init__(self, description: str, total: int | None, completed: int, interval_s: float):
        self.description, self.total, self.done = description, total, completed
        self._start_count, self._interval = completed, interval_s
        self._started = self._said = time.monotonic()
        self._said_done: int | None = None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if time.monotonic() - self._said >= self._interval:  # a heartbeat too, while nothing finishes
            self.say()

    def grow(self, n: int = 1) -> None:
        self.total = (self.total or 0) + n

    def finish(self) -> None:
        if self.done != self._said_done:  # the last heartbeat may have said it all
            self.say()

    def say(self) -> None:
        self._said, self._said_done = time.monotonic(), self.done
        elapsed = self._said - self._started
        rate = (self.done - self._start_count) / elapsed if elapsed > 0 else 0.0
        of = f"/{self.total}" if self.total else ""
        parts = [f"{self.description}: {self.done}{of}", _rate(rate), f"elapsed {_clock(elapsed)}"]
        if self.total and rate > 0 and self.done < self.total:
            parts.append(f"eta {_clock((self.total - self.done) / rate)}")
        log.info(", ".join(parts))


def _rate(per_second: float) -> str:
    """A plain number a person reads at a glance: "230/s", "3.4/s", "0.5/min" (never "2.3e+02/s");
    slow work (a unit a minute) per minute or hour rather than as 0.0x/s."""
    if per_second == 0:
        return "0/s"
    scaled = [(per_second * seconds, unit) for seconds, unit in ((1, "s"), (60, "min"), (3600, "h"))]
    value, unit = next((pair for pair in scaled if pair[0] >= 0.1), scaled[-1])
    return f"{value:.0f}/{unit}" if value >= 10 else f"{value:.2g}/{unit}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


@contextmanager
def track(description: str, total: int | None, completed: int = 0) -> Iterator[Tracker | LineTracker]:
    """`completed`: work done before (an earlier run's units), counted but not in the rate."""
    if not sys.stderr.isatty():
        lines = LineTracker(description, total, completed, LINE_INTERVAL_S)
        yield lines
        lines.finish()
        return
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
    # highlight=False: lines printed while the bar shows (the console takes over stderr) keep one
    # colour; rich's highlighter would paint "1." and "6s" of "1.6s" apart.
    with Progress(*columns, console=Console(stderr=True, highlight=False), transient=False) as progress:
        yield Tracker(progress, progress.add_task(description, total=total, completed=completed))
