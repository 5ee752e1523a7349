"""Append-only JSONL journal: the generate stage's record of finished units.

distilabel's own cache cannot always recover an interrupted run (upstream issue #1065),
so the last pipeline step appends every finished unit here and fsyncs before the batch
counts as done. A rerun reads the journal and skips every unit found in it. One process
writes it, so appends never interleave.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

from docs2qa.store import drop_partial_last_line

UNITS = "journal.jsonl"


def append(path: str | Path, records: list[dict]) -> None:
    if not records:
        return
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    drop_partial_last_line(Path(path))  # a killed run's half line would swallow this append
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


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
    """unit key -> its journal record; a unit journaled twice (a rerun after a kill between
    the append and the next batch) keeps its last record, so nothing is counted twice."""
    return {record["unit"]: record for record in read(folder / UNITS)}
