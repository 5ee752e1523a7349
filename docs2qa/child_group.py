"""A child process whose whole process tree dies with it and with its parent.

The generate stage runs its distilabel pipeline in a child interpreter, which forks a
worker per step. A `kill -9` of the CLI used to orphan all of them: they kept calling the
LLM (real money with a paid API) while the rerun started a second pipeline on the same
journal. So the child leads its own process group, which its step workers join, and:

- the parent kills that group when the child ends, or when the parent is interrupted;
- the child kills that group when its parent dies, told by the kernel (PR_SET_PDEATHSIG on
  Linux) or, as a backstop, by a thread that watches its parent pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time

PARENT_ENV = "DOCS2QA_PARENT_PID"
PR_SET_PDEATHSIG = 1
# A signal no library in the pipeline uses: SIGTERM is what multiprocessing sends workers
# at a normal end, and they inherit this handler through fork.
DEATH_SIGNAL = signal.SIGUSR2
WATCH_INTERVAL_S = 0.2


def run(argv: list[str], pass_fds: tuple[int, ...] = ()) -> int:
    """Run `argv` as the leader of a new process group, wait, and leave nothing of it behind."""
    child = subprocess.Popen(argv, process_group=0, pass_fds=pass_fds, env={**os.environ, PARENT_ENV: str(os.getpid())})
    try:
        return child.wait()
    finally:
        _kill_group(child.pid)  # a worker of a crashed pipeline, or all of it after a Ctrl-C here
        child.wait()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # nobody left in it
        os.killpg(pgid, signal.SIGKILL)


def die_with_parent() -> None:
    """In a child started by `run`: end this process group as soon as the parent is gone."""
    parent = int(os.environ.pop(PARENT_ENV, "0"))
    if not parent:
        return  # started by hand, not by `run`
    leader = os.getpid()

    def end_group(*_: object) -> None:
        if os.getpid() == leader:  # forked workers inherit this handler; only the leader acts
            os.killpg(leader, signal.SIGKILL)

    signal.signal(DEATH_SIGNAL, end_group)
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(DEATH_SIGNAL))
    except (OSError, AttributeError):
        pass  # not Linux: the watch below is enough

    def watch() -> None:
        # Also covers a parent that died before prctl, and a main thread busy in C code.
        while os.getppid() == parent:
            time.sleep(WATCH_INTERVAL_S)
        end_group()

    threading.Thread(target=watch, name="parent-death-watch", daemon=True).start()
