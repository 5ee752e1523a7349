"""The ingest stages end to end through the real CLI, on the bundled demo site."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "demo.yaml"


def docs2qa(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "docs2qa", *args], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("demo-run")
    for stage in ("crawl", "convert", "chunk"):
        docs2qa(stage, "-c", str(DEMO), "--run", str(run))
    return run


def table(run: Path, stage: str, name: str) -> list[dict]:
    return pq.read_table(run / stage / f"{name}.parquet").to_pylist()


def test_crawl_keeps_pages_with_provenance_and_records_every_drop(demo_run):
    pages = table(demo_run, "crawl", "pages")
    urls = {p["url"] for p in pages}
    assert "https://acme-cloud.example/docs/datasets" in urls  # canonical URL, not the 127.0.0.1 mirror
    assert all(p["fetched_url"].startswith("http://127.0.0.1:") for p in pages)
    assert sum(p["source_format"] == "markdown" for p in pages) == 5  # the five .md twins
    reasons = {d["reason"] for d in table(demo_run, "crawl", "dropped")}
    assert "robots_disallowed" in reasons  # the draft page
    manifest = json.loads((demo_run / "crawl" / "manifest.json").read_text())
    assert manifest["counts"]["out"]["pages"] == len(pages)
    assert manifest["changes"]["new"] == len(pages)
    assert (demo_run / "crawl" / "_COMPLETE").exists()


def test_chunks_carry_heading_paths_anchors_and_budgets(demo_run):
    chunks = table(demo_run, "chunk", "chunks")
    documents = table(demo_run, "convert", "documents")
    assert {c["page_id"] for c in chunks} == {d["page_id"] for d in documents}
    assert all(0 < c["token_count"] <= 512 for c in chunks)
    anchored = [c for c in chunks if "#" in c["anchor_url"]]
    assert len(anchored) > len(chunks) // 2
    quota = [c for c in chunks if c["url"].endswith("/gpu-quotas") and len(c["heading_path"]) > 1]
    assert quota and all(c["heading_path"][0] for c in quota)
    assert len({c["chunk_id"] for c in chunks}) == len(chunks)


def test_rerun_is_idempotent_and_incremental(demo_run):
    before = [c["chunk_id"] for c in table(demo_run, "chunk", "chunks")]
    docs2qa("crawl", "-c", str(DEMO), "--run", str(demo_run))
    manifest = json.loads((demo_run / "crawl" / "manifest.json").read_text())
    pages = manifest["counts"]["out"]["pages"]
    assert manifest["changes"] == {"new": 0, "changed": 0, "unchanged": pages, "gone": 0}
    docs2qa("convert", "-c", str(DEMO), "--run", str(demo_run))
    docs2qa("chunk", "-c", str(DEMO), "--run", str(demo_run))
    assert [c["chunk_id"] for c in table(demo_run, "chunk", "chunks")] == before


def test_status_reports_each_stage(demo_run):
    out = docs2qa("status", "-c", str(DEMO), "--run", str(demo_run)).stdout
    for stage in ("crawl", "convert", "chunk"):
        assert stage in out
    assert "robots_disallowed" in out


def test_a_stage_before_its_input_fails_with_a_hint(tmp_path):
    result = docs2qa("chunk", "-c", str(DEMO), "--run", str(tmp_path / "empty"), check=False)
    assert result.returncode == 1
    assert "docs2qa convert" in result.stderr


def test_bad_config_exits_non_zero_and_lists_problems(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("crawl:\n  seedz: [https://x.example/]\n  max_pages: 0\n")
    result = docs2qa("crawl", "-c", str(bad), check=False)
    assert result.returncode == 1
    assert "crawl.seedz: unknown key" in result.stderr and "crawl.max_pages" in result.stderr


def _local_config(tmp_path: Path, folder: Path) -> Path:
    cfg = tmp_path / "local.yaml"
    cfg.write_text(f"crawl:\n  local_dir: {folder}\n")
    return cfg


def test_crawl_summary_counts_failed_pages_apart_from_skipped_links(tmp_path):
    import os

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ok.md").write_text("# Ok\n\n" + "Tide tables list high and low water. " * 10)
    (docs / "blob.html").write_bytes(b"%PDF-1.7 \x00\x01\x02" * 50)
    os.symlink("/etc/hostname", docs / "link.md")
    result = docs2qa("crawl", "-c", str(_local_config(tmp_path, docs)), "--run", str(tmp_path / "run"))
    assert "1 pages failed (binary_content 1)" in result.stderr
    assert "1 links skipped (outside_local_dir 1)" in result.stderr


def test_a_crawl_that_keeps_no_page_exits_non_zero_with_the_reasons(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "blob.html").write_bytes(b"\x89PNG\r\n\x1a\n" * 50)
    result = docs2qa("crawl", "-c", str(_local_config(tmp_path, docs)), "--run", str(tmp_path / "run"), check=False)
    assert result.returncode == 1
    assert "kept no page (binary_content 1)" in result.stderr
    assert (tmp_path / "run" / "crawl" / "dropped.parquet").exists()  # the reasons stay on disk
