"""curation/process_groups.py with real processes: a service and its children end on stop, and a
record whose marker is not in the command line (a reused PID) is never signalled."""

from __future__ import annotations

import sys
import time

from docs2qa.curation import process_groups

# A parent that forks a child of its own, both sleeping: what rq's worker pool looks like.
SERVICE = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
)


def _spawn(tmp_path, marker: str, env: dict | None = None) -> dict:
    return process_groups.spawn(
        tmp_path / "svc.log",
        tmp_path,
        [sys.executable, "-c", SERVICE, marker],
        {"PATH": "/usr/bin:/bin", **(env or {})},
        marker=marker,
    )


def test_terminate_ends_the_whole_group(tmp_path):
    entry = _spawn(tmp_path, "docs2qa-test-group")
    time.sleep(0.5)  # the child is forked
    assert process_groups.matches(entry) and not process_groups.exited(entry)
    process_groups.terminate(entry["pid"], grace_s=5.0)
    assert process_groups.exited(entry) and not process_groups._group_alive(entry["pid"])


def test_a_record_of_another_program_is_not_matched(tmp_path):
    entry = _spawn(tmp_path, "docs2qa-test-marker")
    try:
        assert not process_groups.matches({**entry, "marker": "something-else"})
        assert not process_groups.matches({**entry, "started": "1"})  # another start time: a reused PID
    finally:
        process_groups.terminate(entry["pid"], grace_s=5.0)


def test_stop_tagged_finds_processes_by_their_environment(tmp_path):
    tag = f"DOCS2QA_TEST_TAG={tmp_path}"
    entry = _spawn(tmp_path, "docs2qa-test-tag", env={"DOCS2QA_TEST_TAG": str(tmp_path)})
    time.sleep(0.5)
    assert len(process_groups._tagged(tag)) == 2  # the service and its child
    assert process_groups.stop_tagged(tag)
    assert process_groups._tagged(tag) == [] and process_groups.exited(entry)
