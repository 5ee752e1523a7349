"""Chaos: SIGKILL `generate`, `curate push`, `export` and `finetune` at random (seeded) points
on the demo site with fast settings, rerun each, and find nothing lost, nothing doubled and
nothing left running. DOCS2QA_CHAOS_SEED picks other kill points (each failure names its seed)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import uuid
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from docs2qa.generation.qa import journal
from docs2qa.records import QAPair
from export_helpers import demo_run
from generate_helpers import demo_chunks, docs2qa, docs2qa_process, make_run
from process_helpers import kill_all, leftovers
from tiny_gemma import tiny_gemma  # noqa: F401  (session fixture)

pytestmark = pytest.mark.slow
SEED = int(os.environ.get("DOCS2QA_CHAOS_SEED", "0"))


@pytest.fixture(scope="module")
def rng():
    return random.Random(SEED)


def kill_and_rerun(args: list[str], delay_s: float, monkeypatch, env: dict | None = None) -> tuple:
    """Start `docs2qa ARGS`, SIGKILL the CLI alone after `delay_s` (it may have finished: a
    rerun must then change nothing), check nothing it started survives, and rerun it."""
    marker = uuid.uuid4().hex
    monkeypatch.setenv("DOCS2QA_TEST_PROCESS", marker)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    process = docs2qa_process(*args, start_new_session=True)
    try:
        process.wait(delay_s)
    except subprocess.TimeoutExpired:  # still running: the kill lands mid-work
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    left = leftovers(process.pid, marker)
    kill_all(left)
    assert left == [], f"seed {SEED}: processes outlived `docs2qa {args[0]}` killed after {delay_s:.1f}s: {left}"
    return process.returncode, docs2qa(*args)


def test_generate(tmp_path, rng, tiny_chat_model, monkeypatch):
    settings = {
        "generator": {"model": str(tiny_chat_model), "max_new_tokens": 48, "batch_size": 2},
        "questions_per_type": {"factual": 1, "procedural": 1},
        "parse_retries": 1,
    }
    run, config = make_run(tmp_path, demo_chunks(tmp_path)[:8], settings)
    delay = rng.uniform(5, 90)  # model load, pipeline start, or mid-journal
    _code, rerun = kill_and_rerun(["generate", "-c", str(config), "--run", str(run)], delay, monkeypatch)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    units = json.loads((run / "generate" / "manifest.json").read_text())["units"]
    counts = Counter(r["unit"] for r in journal.read(run / "generate" / journal.UNITS))
    assert len(counts) == units and set(counts.values()) == {1}, f"seed {SEED}, killed after {delay:.1f}s: {counts}"
    pairs = pq.read_table(run / "generate" / "pairs.parquet").to_pylist()
    assert len({p["pair_id"] for p in pairs}) == len(pairs)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chaos")
    config_path, store, _chunks = demo_run(tmp)
    return config_path, store, len(store.stage("generate").read("pairs", QAPair))


def test_curate_push(demo, rng, argilla_server, monkeypatch):
    config_path, store, n_pairs = demo
    config = yaml.safe_load(config_path.read_text())
    config["curate"] = {"api_url": argilla_server.url, "dataset": f"chaos-{uuid.uuid4().hex[:8]}"}
    push_config = config_path.with_name("push.yaml")
    push_config.write_text(yaml.safe_dump(config))
    base = ["-c", str(push_config), "--run", str(store.root)]
    env = {"ARGILLA_API_KEY": argilla_server.api_key}
    delay = rng.uniform(0.5, 12)  # connecting, creating the dataset, or sending records
    _code, rerun = kill_and_rerun(["curate", "push", *base], delay, monkeypatch, env)
    assert rerun.returncode == 0, f"seed {SEED}, killed after {delay:.1f}s: {rerun.stderr[-3000:]}"
    status = docs2qa("curate", "status", *base, "--json")
    assert status.returncode == 0, status.stderr[-2000:]
    assert sum(json.loads(status.stdout)["counts"].values()) == n_pairs, f"seed {SEED}: {status.stdout}"


def test_export_then_finetune(demo, rng, tiny_gemma, monkeypatch):
    config_path, store, n_pairs = demo
    base = ["-c", str(config_path), "--run", str(store.root)]
    delay = rng.uniform(0.5, 15)
    _code, rerun = kill_and_rerun(["export", *base], delay, monkeypatch)
    assert rerun.returncode == 0, f"seed {SEED}, killed after {delay:.1f}s: {rerun.stderr[-3000:]}"
    stage = json.loads((store.root / "export" / "manifest.json").read_text())
    version = Path(stage["dataset"]["path"])
    assert sorted(p.name for p in version.parent.iterdir() if p.name.startswith("v")) == ["v1"]
    assert docs2qa("datasets", "verify", f"{version.parent.name}/v1", "--root", str(version.parents[1])).returncode == 0
    ids = [
        r["pair_id"]
        for split in ("train", "validation", "test")
        if (version / "data" / f"{split}.parquet").exists()
        for r in pq.read_table(version / "data" / f"{split}.parquet").to_pylist()
    ]
    dropped = sum(stage["counts"]["dropped"].values())
    assert len(ids) == len(set(ids)) and len(ids) + dropped == n_pairs, f"seed {SEED}: {len(ids)} + {dropped}"

    settings = [
        f"finetune.base_model={tiny_gemma}",
        "finetune.max_steps=6",
        "finetune.eval_steps=2",
        "finetune.save_steps=2",
        "finetune.batch_size=2",
        "finetune.max_length=256",
        "finetune.gradient_checkpointing=false",
    ]
    tune = ["finetune", *base, *[x for s in settings for x in ("--set", s)]]
    delay = rng.uniform(3, 60)
    _code, rerun = kill_and_rerun(tune, delay, monkeypatch)
    if rerun.returncode == 1 and "--resume" in rerun.stderr:  # killed after a checkpoint: resume it
        rerun = docs2qa(*tune, "--resume")
    assert rerun.returncode == 0, f"seed {SEED}, killed after {delay:.1f}s: {rerun.stderr[-3000:]}"
    folder = Path(json.loads((store.root / "finetune" / "manifest.json").read_text())["finetune"]["model_dir"])
    manifest = json.loads((folder / "manifest.json").read_text())
    train = pq.read_metadata(version / "data" / "train.parquet").num_rows
    assert manifest["global_step"] == 6 and manifest["examples"]["train"] == train, f"seed {SEED}: {manifest}"
