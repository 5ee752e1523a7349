"""One writer per run folder, with real processes: a second writer is refused and told who
holds the folder, readers are never blocked, and a SIGKILL releases the lock."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from docs2qa import run_lock
from docs2qa.errors import Docs2qaError
from generate_helpers import docs2qa, docs2qa_process

HOLDER = """
import os, subprocess, sys, time
from docs2qa import run_lock
with run_lock.writing(sys.argv[1], "generate") as fd:
    # What the generate stage does with its pipeline: the child inherits the lock.
    child = subprocess.Popen(["sleep", "300"], pass_fds=(fd,))
    print(child.pid, flush=True)
    time.sleep(300)
"""


def crawl_config(tmp_path, site) -> str:
    config = {
        "name": "lock-test",
        "crawl": {
            "seeds": [f"{site}/docs/"],
            "allow_private_addresses": True,
            "timeout_s": 120,
            "concurrency_per_host": 2,
        },
    }
    path = tmp_path / "lock-test.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_second_writer_is_refused_readers_pass_and_a_kill_releases(tmp_path, site, site_server):
    config, run = crawl_config(tmp_path, site), str(tmp_path / "run")
    site_server.slow_delay = 120  # the first crawl holds the folder while /docs/slow hangs
    first = docs2qa_process("crawl", "-c", config, "--run", run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not site_server.count("/docs/slow"):
            assert first.poll() is None and time.monotonic() < deadline, "the first crawl did not start"
            time.sleep(0.1)
        for command in ("crawl", "run"):
            second = docs2qa(command, "-c", config, "--run", run, timeout=60)
            assert second.returncode == 1, second.stderr[-2000:]
            assert f"in use by pid {first.pid} (`docs2qa crawl`, stage crawl, since 20" in second.stderr
            assert "Traceback" not in second.stderr
        status = docs2qa("status", "-c", config, "--run", run, timeout=60)
        assert status.returncode == 0, status.stderr[-2000:]
        assert first.poll() is None  # the holder was never disturbed
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    site_server.slow_delay = 0
    after = docs2qa("crawl", "-c", config, "--run", run, timeout=120)
    assert after.returncode == 0, after.stderr[-2000:]


@pytest.fixture
def orphaned_lock(tmp_path):
    """A run folder whose holder was killed while a child it started still holds the lock."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    child = int(holder.stdout.readline())
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(10)
    holder.stdout.close()  # read what we needed; an open pipe warns (an error under filterwarnings)
    yield tmp_path, child
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, signal.SIGKILL)


def test_lock_kept_by_an_orphan_is_refused_naming_it(orphaned_lock, monkeypatch):
    root, child = orphaned_lock
    monkeypatch.setattr(run_lock, "ORPHAN_GRACE_S", 1.0)
    with pytest.raises(Docs2qaError) as refused, run_lock.writing(root, "generate"):
        pass
    assert f"pids {child}" in str(refused.value) and "outlived it" in str(refused.value)


def test_lock_waits_for_dying_orphans(orphaned_lock):
    """A rerun started right after a kill -9 waits while the pipeline it left dies."""
    root, child = orphaned_lock
    threading.Timer(1.0, os.kill, (child, signal.SIGKILL)).start()
    started = time.monotonic()
    with run_lock.writing(root, "generate"):
        assert 0.5 < time.monotonic() - started < run_lock.ORPHAN_GRACE_S


def test_lock_is_reentrant_in_a_process_and_free_after(tmp_path):
    probe = (
        "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
        "try: fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError: sys.exit(3)"
    )

    def free() -> bool:
        return subprocess.run([sys.executable, "-c", probe, str(tmp_path / run_lock.LOCK_FILE)]).returncode == 0

    with run_lock.writing(tmp_path, "a"):
        with run_lock.writing(tmp_path / "x" / "..", "b"):  # the same folder, spelled otherwise
            assert not free()
        assert not free()
    assert free()
