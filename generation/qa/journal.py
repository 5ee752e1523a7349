"""Append-only JSONL journal: the generate stage's record of finished units.

distilabel's own cache cannot always recover an interrupted run (upstream issue #1065),
so the last pipeline step appends every finished unit here and fsyncs before the batch
counts as done. A rerun reads the journal and skips every unit found in it. A unit is
written once: appends take a lock on the file and skip units already there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

from docs2qa.store import drop_partial_last_line

UNITS = "journal.jsonl"


def append(path: str | Path, records: list[dict]) -> list[dict]:
    """Append the records whose unit the journal does not hold yet; return those written.

    Under an exclusive lock on the file, so that two writers (a pipeline that outlived its
    CLI and the rerun's) can neither interleave nor journal one unit twice.
    """
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        drop_partial_last_line(Path(path))  # a killed run's half line would swallow this append
        seen = {r["unit"] for r in read(path)}
        fresh = []
        for record in records:
            if record["unit"] not in seen:
                seen.add(record["unit"])
                fresh.append(record)
        if fresh:
            os.write(fd, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in fresh).encode())
            os.fsync(fd)
        return fresh
    finally:
        os.close(fd)  # releases the lock


def read(path: str | Path) -> Iterator[dict]:
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as handle:
        for line in handle:
            # A kill can leave half a line at the end: that unit was never finished, so it
            # is simply redone.
            if line.endswith(b"\n"):
                yield json.loads(line)


def count_lines(path: str | Path) -> int:
    path = Path(path)
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.endswith(b"\n"))


def finished_units(folder: Path) -> dict[str, dict]:
    """unit key -> its journal record. A journal written before appends skipped known units
    may hold a unit twice: its first record counts, once, as it would have."""
    finished: dict[str, dict] = {}
    for record in read(folder / UNITS):
        finished.setdefault(record["unit"], record)
    return finished
