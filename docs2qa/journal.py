"""Append-only JSONL journals: the record of finished work that lets a killed stage resume.

Used by crawl (one line per finished URL) and generate (one line per finished unit). A line
counts only once it ends in a newline: a kill mid-write leaves half a line, which is cut off
before the next append (else that append would be glued onto it and both lost) and never read.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from docs2qa.errors import IntegrityError

log = logging.getLogger(__name__)


class DamagedLine(IntegrityError, ValueError):
    """A complete journal line that is not a JSON object (a damaged disk, a hand edit).
    A ValueError too, as json.loads's own error was to callers before."""


def drop_partial_last_line(path: Path) -> None:
    """Cut a JSONL file back to its last complete line. Call this before appending."""
    try:
        with open(path, "r+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            handle.seek(0)
            data = handle.read()
            handle.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        return


def read(path: str | Path, skip_invalid: bool = False) -> Iterator[dict[str, Any]]:
    """The records of the complete lines. A complete line that is not a JSON object (garbage,
    a list, nesting too deep to parse) raises DamagedLine naming the file and line, or, with
    `skip_invalid`, is skipped with a warning: its work is simply redone."""
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.endswith(b"\n"):
                continue  # a killed writer's half line: that work was never finished
            try:
                record = json.loads(line)
                problem = "" if isinstance(record, dict) else f"a JSON {type(record).__name__}, not an object"
            except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser goes
                problem = f"not JSON ({type(exc).__name__})"
            if not problem:
                yield record
            elif skip_invalid:
                log.warning("%s line %d is damaged (%s): skipped, its work is done again", path, number, problem)
            else:
                raise DamagedLine(
                    f"{path} line {number} is damaged ({problem})",
                    "delete that line (the work it records is done again), then rerun the command",
                )


def count_lines(path: str | Path) -> int:
    path = Path(path)
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.endswith(b"\n"))


def append_new(path: str | Path, records: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Append the records whose `key` the journal does not hold yet, fsync'd; return those written.

    Under an exclusive lock on the file, so that two writers (a pipeline that outlived its
    CLI and the rerun's) can neither interleave nor journal one key twice.
    """
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        drop_partial_last_line(Path(path))  # a killed run's half line would swallow this append
        # A damaged line's work is simply journaled again.
        seen = {r.get(key) for r in read(path, skip_invalid=True)}
        fresh = []
        for record in records:
            if record[key] not in seen:
                seen.add(record[key])
                fresh.append(record)
        if fresh:
            os.write(fd, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in fresh).encode())
            os.fsync(fd)
        return fresh
    finally:
        os.close(fd)  # releases the lock
