"""Is a process alive? One answer for the run lock (core) and the Argilla stack's process groups."""

from __future__ import annotations

import os
from pathlib import Path


def stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from the state field on (the command name may hold spaces)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def is_live(pid: int) -> bool:
    """Running, not a zombie: a killed holder its parent has not reaped yet is dead (kill(pid, 0)
    alone still answers for it)."""
    if Path("/proc").is_dir():
        fields = stat_fields(pid)
        return fields is not None and fields[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
