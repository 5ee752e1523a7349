"""Append-only JSONL journals: the record of finished work that lets a killed stage resume.

Used by crawl (one line per finished URL) and generate (one line per finished unit). A line
counts only once it ends in a newline: a kill mid-write leaves half a line, which is cut off
before the next append (else that append would be glued onto it and both lost) and never read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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


def read(path: str | Path, skip_invalid: bool = False) -> Iterator[Any]:
    """The records of the complete lines. A complete line that is not JSON raises, or, with
    `skip_invalid`, is skipped (its work is simply redone)."""
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as handle:
        for line in handle:
            if not line.endswith(b"\n"):
                continue  # a killed writer's half line: that work was never finished
            try:
                yield json.loads(line)
            except ValueError:
                if not skip_invalid:
                    raise


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
        seen = {r[key] for r in read(path)}
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
