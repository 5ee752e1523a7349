"""Building blocks for generate-stage tests: a run with real demo chunks and a config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from docs2qa.config import load_config
from docs2qa.records import Chunk
from docs2qa.store import RunStore, StageResult

ROOT = Path(__file__).resolve().parents[1]


def demo_chunks(tmp: Path) -> list[Chunk]:
    """Real chunks of the bundled demo site (crawl -> convert -> chunk in-process)."""
    from docs2qa.generation.ingest import stages

    config = load_config(ROOT / "configs" / "demo.yaml")
    store = RunStore(tmp / "ingest")
    for stage in (stages.crawl, stages.convert, stages.chunk):
        stage(config, store)
    return store.stage("chunk").read("chunks", Chunk)


def make_run(tmp: Path, chunks: list[Chunk], generate: dict) -> tuple[Path, Path]:
    """A run folder whose chunk stage holds `chunks`, and a config file for it."""
    config = {
        "name": "gen-test",
        "crawl": {"demo_site": True, "seeds": ["https://acme-cloud.example/docs/"], "allow_private_addresses": True},
        "generate": generate,
    }
    config_path = tmp / "gen-test.yaml"
    config_path.write_text(yaml.safe_dump(config))
    run = tmp / "run"
    RunStore(run).run_stage("chunk", "test", [], lambda stage: StageResult({"chunks": (chunks, Chunk)}, len(chunks)))
    return run, config_path


def docs2qa_process(*args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "docs2qa", *args], cwd=ROOT, env=env, **popen)


def docs2qa(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    process = docs2qa_process(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
