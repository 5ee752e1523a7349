import json

import pyarrow.parquet as pq
import pytest

from docs2qa.errors import Docs2qaError
from docs2qa.records import Dropped, Page, page_id
from docs2qa.store import RunStore, StageResult


def page(url: str, sha: str = "0" * 64) -> Page:
    return Page(page_id(url), url, url, "T", "html", "text/html", sha, 10, "2026-01-01T00:00:00+00:00")


def test_stage_writes_tables_dropped_manifest_and_marker_last(tmp_path):
    store = RunStore(tmp_path)
    pages = [page("https://a.example/docs/x"), page("https://a.example/docs/y")]
    dropped = [Dropped("id1", "https://a.example/docs/z", "soft_404", "says not found")]

    def body(stage):
        assert not stage.is_complete()
        return StageResult({"pages": (pages, Page)}, count_in=3, dropped=dropped, extra={"changes": {"new": 2}})

    manifest = store.run_stage("crawl", "abc", [], body)
    stage = store.stage("crawl")
    assert stage.is_complete()
    assert stage.read("pages", Page) == pages
    assert [d.reason for d in stage.read("dropped", Dropped)] == ["soft_404"]
    on_disk = json.loads(stage.manifest_path.read_text())
    assert on_disk == manifest
    assert on_disk["counts"] == {"in": 3, "out": {"pages": 2}, "dropped": {"soft_404": 1}}
    assert on_disk["changes"] == {"new": 2} and "pyarrow" in on_disk["libraries"]


def test_empty_tables_keep_their_schema(tmp_path):
    store = RunStore(tmp_path)
    store.run_stage("crawl", "abc", [], lambda stage: StageResult({"pages": ([], Page)}, count_in=0))
    schema = pq.read_schema(store.stage("crawl").table_path("pages"))
    assert "body_sha256" in schema.names


def test_a_failed_stage_is_left_unfinished(tmp_path):
    store = RunStore(tmp_path)
    store.run_stage("crawl", "abc", [], lambda stage: StageResult({"pages": ([], Page)}, count_in=0))

    def boom(stage):
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        store.run_stage("crawl", "abc", [], boom)
    assert not store.stage("crawl").is_complete()
    assert not store.is_fresh("crawl", "abc", [])


def test_freshness_follows_config_and_inputs(tmp_path):
    store = RunStore(tmp_path)
    empty = lambda stage: StageResult({"pages": ([], Page)}, count_in=0)  # noqa: E731
    store.run_stage("crawl", "c1", [], empty)
    store.run_stage("convert", "v1", ["crawl"], empty)
    assert store.is_fresh("convert", "v1", ["crawl"])
    assert not store.is_fresh("convert", "v2", ["crawl"])
    store.run_stage("crawl", "c1", [], empty)  # same data again: convert stays fresh
    assert store.is_fresh("convert", "v1", ["crawl"])
    changed = StageResult({"pages": ([page("https://a.example/docs/new")], Page)}, count_in=1)
    store.run_stage("crawl", "c1", [], lambda stage: changed)
    assert not store.is_fresh("convert", "v1", ["crawl"])


def test_a_stage_refuses_to_run_before_its_inputs(tmp_path):
    with pytest.raises(Docs2qaError, match="docs2qa crawl"):
        RunStore(tmp_path).run_stage("convert", "v", ["crawl"], lambda stage: None)


def test_blob_store_is_content_addressed(tmp_path):
    blobs = RunStore(tmp_path).blobs
    digest = blobs.put(b"hello")
    assert blobs.put(b"hello") == digest and blobs.get(digest) == b"hello"
    assert blobs.path(digest).parent.name == digest[:2]
