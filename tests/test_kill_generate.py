"""kill -9 of `docs2qa generate` alone (not its process group, as a user's `kill -9 PID` or an
OOM kill does): nothing it started may keep generating, and the rerun loses and repeats nothing."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import uuid
from collections import Counter

import pyarrow.parquet as pq
import pytest

from docs2qa.generation.qa import journal
from generate_helpers import demo_chunks, docs2qa, docs2qa_process, make_run
from process_helpers import kill_all, leftovers

# Each test runs and kills the distilabel pipeline, then reruns it (>7 min for the two here, under load).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chunks(tmp_path_factory):
    return demo_chunks(tmp_path_factory.mktemp("ingest"))


def settings(model, **overrides) -> dict:
    base = {
        "generator": {"model": str(model), "max_new_tokens": 48, "batch_size": 2},
        "questions_per_type": {"factual": 1, "procedural": 1},
        "parse_retries": 1,
    }
    return {**base, **overrides}


def kill_cli_mid_run(run, config, monkeypatch, *extra: str, after_lines: int = 2, while_running=None) -> list[int]:
    """Start generate, SIGKILL only the CLI process once `after_lines` units are journaled
    (and `while_running(process)` has returned); return what still runs a few seconds later."""
    marker = uuid.uuid4().hex
    monkeypatch.setenv("DOCS2QA_TEST_PROCESS", marker)
    units = run / "generate" / journal.UNITS
    # Its own session, so that anything it leaves behind can be found (and cleaned up).
    process = docs2qa_process("generate", "-c", str(config), "--run", str(run), *extra, start_new_session=True)
    deadline = time.monotonic() + 600
    while journal.count_lines(units) < after_lines:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    if while_running:
        while_running(process)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    left = leftovers(process.pid, marker)
    kill_all(left)
    return left


def assert_complete_once(run) -> None:
    """Every planned unit journaled exactly once, every pair once in the output."""
    n_units = json.loads((run / "generate" / "manifest.json").read_text())["units"]
    records = list(journal.read(run / "generate" / journal.UNITS))
    counts = Counter(r["unit"] for r in records)
    assert n_units and len(counts) == n_units, "units lost"
    assert max(counts.values()) == 1, f"units journaled twice: {sum(counts.values()) - len(counts)}"
    pairs = pq.read_table(run / "generate" / "pairs.parquet").to_pylist()
    assert len({p["pair_id"] for p in pairs}) == len(pairs)


def test_kill_9_of_the_cli_leaves_no_pipeline_running_and_the_rerun_repeats_nothing(
    tmp_path, chunks, tiny_chat_model, monkeypatch
):
    run, config = make_run(tmp_path, chunks[:10], settings(tiny_chat_model))

    def second_generate(first):
        second = docs2qa("generate", "-c", str(config), "--run", str(run))
        assert second.returncode == 1 and f"in use by pid {first.pid} (`docs2qa generate`" in second.stderr, (
            second.stderr[-2000:]
        )

    left = kill_cli_mid_run(run, config, monkeypatch, while_running=second_generate)
    assert left == [], f"processes outlived the killed CLI: {left}"
    killed_at = journal.count_lines(run / "generate" / journal.UNITS)
    assert not (run / "generate" / "_COMPLETE").exists()
    time.sleep(2)
    assert journal.count_lines(run / "generate" / journal.UNITS) == killed_at, "something still journals units"

    result = docs2qa("generate", "-c", str(config), "--run", str(run))
    assert result.returncode == 0, result.stderr[-3000:]
    assert_complete_once(run)
    # The rerun's progress counts only its own units (it once showed old + new over new).
    done = [tuple(map(int, m)) for m in re.findall(r"generate \(units\)\D*?(\d+)/(\d+)", result.stderr)]
    assert done and all(n <= total for n, total in done), done


def test_kill_9_in_ray_mode_leaves_no_cluster_running(tmp_path, chunks, tiny_chat_model, monkeypatch):
    pytest.importorskip("ray", reason="pip install 'docs2qa[ray]'")
    run, config = make_run(tmp_path, chunks[:6], settings(tiny_chat_model, questions_per_type={"factual": 1}))
    left = kill_cli_mid_run(run, config, monkeypatch, "--ray", after_lines=1)
    assert left == [], f"Ray processes outlived the killed CLI: {left}"
    result = docs2qa("generate", "-c", str(config), "--run", str(run), "--ray")
    assert result.returncode == 0, result.stderr[-3000:]
    assert_complete_once(run)
