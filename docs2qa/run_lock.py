"""One writer per run folder: an OS file lock held while a stage writes.

Two `generate` (or `run`) on one folder would each generate every unit and write the same
temporary files. `flock` on `RUN/.lock` lets one process in; the kernel releases it when
the holder exits, however it dies, so a killed run never leaves a stale lock. The file
records who holds it, for the error the second process prints. Readers (status, config)
never take it.

The lock is re-entrant within a process (a stage run inside a stage run, two RunStore
objects on one folder in a test) because flock locks held through different open files
of one process would block each other.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

from docs2qa.errors import Docs2qaError
from docs2qa.processes import is_live

LOCK_FILE = ".lock"
# A holder that is gone while the lock is still held has children that took the lock with
# them (the generate pipeline does, so that no orphan can keep writing unseen); they die
# with it, so wait this long for them before giving up.
ORPHAN_GRACE_S = 15.0

_held: dict[Path, list[int]] = {}  # run folder -> [fd, depth], for re-entry by this process
_guard = threading.Lock()


def _command() -> str:
    """`docs2qa generate`, `docs2qa curate push`: the subcommand, never option values."""
    words = []
    for word in sys.argv[1:3]:
        if word.startswith("-"):
            break
        words.append(word)
    program = "docs2qa" if "docs2qa" in sys.argv[0] else Path(sys.argv[0]).name
    return " ".join([program, *words])


class Holder(TypedDict, total=False):
    """What the lock file says about the process that holds it (written by `_acquire`)."""

    pid: int
    command: str
    stage: str
    since: str


def _holder(path: Path) -> Holder:
    for _ in range(20):  # the holder writes its details just after taking the lock
        try:
            text = path.read_text()
            if text:
                holder: Holder = json.loads(text)
                return holder
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return {}


def _alive(pid: int | None) -> bool:
    return pid is not None and pid != 0 and is_live(pid)


def _openers(path: Path) -> list[int]:
    """Processes that have `path` open (Linux /proc; empty elsewhere)."""
    pids = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir()):
                pids.append(int(fd_dir.parent.name))
        except OSError:  # gone meanwhile, or another user's
            continue
    return pids


def _refusal(root: Path, holder: Holder, stage: str) -> Docs2qaError:
    who = (
        f"pid {holder.get('pid', '?')} (`{holder.get('command', '?')}`, stage {holder.get('stage', '?')}, "
        f"since {holder.get('since', '?')})"
    )
    if holder and not _alive(holder.get("pid")):
        pids = " ".join(map(str, _openers(root / LOCK_FILE))) or "?"
        return Docs2qaError(
            f"run folder {root} is locked by processes that {who} started and that outlived it: pids {pids}",
            f"stop them (`kill {pids}`), then rerun",
        )
    return Docs2qaError(
        f"run folder {root} is in use by {who}; {stage} cannot write to it at the same time",
        "wait for that command to finish (or stop it), or give this one another --run folder",
    )


def _acquire(root: Path, stage: str) -> int:
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            holder = _holder(path)
            if holder and not _alive(holder.get("pid")):
                deadline = deadline or time.monotonic() + ORPHAN_GRACE_S
                if time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
            os.close(fd)
            raise _refusal(root, holder, stage) from None
    since = datetime.now(UTC).isoformat(timespec="seconds")
    details = json.dumps({"pid": os.getpid(), "command": _command(), "stage": stage, "since": since})
    os.ftruncate(fd, 0)
    os.pwrite(fd, details.encode() + b"\n", 0)
    return fd


@contextmanager
def writing(root: Path, stage: str) -> Iterator[int]:
    """Hold the run folder's lock for the block; yields the lock's file descriptor, which a
    child process can inherit so that the folder stays locked for as long as it lives."""
    key = Path(os.path.abspath(root))
    with _guard:
        entry = _held.get(key)
        if entry is None:
            entry = _held[key] = [_acquire(key, stage), 0]
        entry[1] += 1
    try:
        yield entry[0]
    finally:
        with _guard:
            entry[1] -= 1
            if entry[1] == 0:
                del _held[key]
                os.ftruncate(entry[0], 0)  # a killed holder's details stay, for the orphan check
                os.close(entry[0])  # releases the lock; the file stays, holding no one


def held_fd(root: Path) -> int | None:
    """The lock's descriptor if this process holds the lock of `root`."""
    entry = _held.get(Path(os.path.abspath(root)))
    return entry[0] if entry else None
