"""Services started in their own process groups, and stopped for sure: the process handling of
`docs2qa curate serve | stop` (curation/server.py), which knows nothing about Argilla.

A service is recorded as {pid, start time, marker}; before any signal, `matches` checks that the
PID is still that process (same start time, marker in its command line), so a PID the system
reused for another program is never signalled. Stopping signals the whole group (rq's worker
forks its own children), waits, then kills; `stop_tagged` finds what the groups no longer reach
by an environment variable every service and its children carry.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from docs2qa.processes import is_live, stat_fields

CHILDREN: dict[int, subprocess.Popen] = {}  # reaped on stop when this process started them


def spawn(log: Path, cwd: Path, cmd: list[str], env: dict, marker: str) -> dict:
    """Start one service in its own process group, output appended to `log`; `marker` is a part of
    its command line unique to its owner, which `matches` checks so that a PID reused by another
    program is never signalled."""
    with open(log, "ab") as handle:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: outlives the CLI, and stop reaches rq's children
        )
    CHILDREN[proc.pid] = proc
    return {"pid": proc.pid, "started": start_time(proc.pid), "marker": marker}


def stop_tagged(tag: str) -> bool:
    """End every process whose environment holds `tag` (NAME=value): what the recorded
    process groups no longer reach (children of a killed parent, unrecorded starts)."""
    pids = _tagged(tag)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and any(is_live(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        if is_live(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    return bool(pids)


def _tagged(tag: str) -> list[int]:
    entry_bytes = tag.encode() + b"\0"
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or another user's
            continue
        if (environ.startswith(entry_bytes) or b"\0" + entry_bytes in environ) and is_live(int(entry.name)):
            found.append(int(entry.name))
    return found


def terminate(pid: int, grace_s: float) -> None:
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            return
        time.sleep(0.1)
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.1)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _group_alive(pid: int) -> bool:
    child = CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        CHILDREN.pop(pid, None)
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return is_live(pid) or _group_has_live_member(pid)


def _group_has_live_member(pgid: int) -> bool:
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if entry.name.isdigit():
            stat = stat_fields(int(entry.name))
            if stat and stat[2] == str(pgid) and stat[0] != "Z":
                return True
    return False


# ---------------------------------------------------------------- process identity


def start_time(pid: int) -> str | None:
    fields = stat_fields(pid)
    return fields[19] if fields else None


def _cmdline(pid: int) -> str:
    try:
        for _ in range(20):
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            if raw:
                break
            time.sleep(0.05)  # empty while the process is between fork and exec
        return raw.replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        result = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True)
        return result.stdout


def matches(entry: dict) -> bool:
    """Is this still the process we started (not a dead one whose PID was reused)?"""
    pid = entry.get("pid")
    if not isinstance(pid, int) or pid <= 1 or not is_live(pid):
        return False
    if entry.get("started") and start_time(pid) not in (None, entry["started"]):
        return False
    return entry.get("marker", "\0") in _cmdline(pid)


def exited(entry: dict) -> bool:
    child = CHILDREN.get(entry["pid"])
    if child is not None:
        return child.poll() is not None
    return not matches(entry)
