"""What a killed command left running, read from /proc (psutil is not a dependency)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def _stat(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    return text[text.rindex(")") + 2 :].split()


def in_session(sid: int) -> list[int]:
    """Live processes of session `sid` (a test starts each command as a session leader, so
    this is everything it started that did not leave the session on purpose)."""
    pids = []
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        # fields[0] is the state (Z: exited, waiting to be reaped), fields[3] the session.
        if fields and fields[0] != "Z" and int(fields[3]) == sid:
            pids.append(int(entry.name))
    return pids


def with_environ(marker: str) -> list[int]:
    """Live processes whose environment holds `marker`: everything a command started
    inherits it, even processes that left its session (Ray's)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        fields = _stat(entry.name)
        if marker.encode() in environ and fields and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def marked_env(marker: str) -> dict[str, str]:
    return {**os.environ, "DOCS2QA_TEST_PROCESS": marker}


def leftovers(sid: int, marker: str, settle_s: float = 5.0) -> list[int]:
    """Processes still alive `settle_s` after a kill (a parent-death watch needs a moment)."""
    deadline = time.monotonic() + settle_s
    while True:
        left = sorted(set(in_session(sid)) | set(with_environ(marker)))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def kill_all(pids: list[int]) -> None:
    """Clean up after a failed assertion, so one failure does not slow every later test."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
