"""Ingest hardening (issue 10): symlinks out of crawl.local_dir, very deep pages, binary bodies."""

from __future__ import annotations

import os
import random
from pathlib import Path

from docs2qa.generation.ingest.config import ConvertConfig, CrawlConfig
from docs2qa.generation.ingest.convert import html_to_markdown
from docs2qa.generation.ingest.crawl import crawl_site, detect
from docs2qa.store import BlobStore

PROSE = "<p>" + "Tide gauges record the water level of the harbour every minute. " * 6 + "</p>"


def crawl_local(folder: Path, tmp_path: Path):
    return crawl_site(CrawlConfig(local_dir=str(folder)), BlobStore(tmp_path / "blobs"), [], tmp_path / "j.jsonl")


def test_local_dir_refuses_symlinks_that_lead_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n\n" + "private words " * 40)
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "page.md").write_text("# Page\n\n" + "public words " * 40)
    os.symlink(outside / "secret.md", docs / "p.md")  # a file symlink out of the folder
    os.symlink(outside, docs / "sub" / "linked")  # a folder symlink out of it (not walked)
    os.symlink(docs / "page.md", docs / "alias.md")  # a symlink that stays inside is fine
    out = crawl_local(docs, tmp_path)
    assert not any("secret" in p.fetched_url for p in out.pages)
    refused = {d.ref.rsplit("/docs/", 1)[1]: d for d in out.dropped if d.reason == "outside_local_dir"}
    assert set(refused) == {"p.md"}
    assert "outside crawl.local_dir" in refused["p.md"].detail
    assert any(p.url.endswith("/page.md") for p in out.pages)


def _deep(depth: int) -> str:
    return (
        "<html><body><main>"
        + "<div>" * depth
        + "<h2>Deep part</h2>"
        + PROSE
        + "</div>" * depth
        + "</main></body></html>"
    )


def test_a_deeply_nested_page_keeps_its_text():
    page = _deep(400)
    analysis = detect.analyze_html(page.encode())
    assert detect.classify(analysis, 200, html=True) is None
    assert "Tide gauges record" in analysis.main_text
    md, _ids, _ = html_to_markdown(page, "https://x.invalid/deep.html", ConvertConfig())
    assert "## Deep part" in md and md.count("Tide gauges record") == 6
    md_sel, _, _ = html_to_markdown(page, "https://x.invalid/deep.html", ConvertConfig(main_selector="main"))
    assert md_sel == md


def test_a_binary_body_served_as_html_has_its_own_reason(tmp_path):
    rng = random.Random(3)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "image.html").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(4000)))
    (docs / "noise.html").write_bytes(bytes(rng.randrange(256) for _ in range(4000)))
    (docs / "ok.html").write_text(f"<html><body><main><h1>Ok</h1>{PROSE}</main></body></html>")
    out = crawl_local(docs, tmp_path)
    got = {d.ref.rsplit("/", 1)[1]: (d.reason, d.detail) for d in out.dropped}
    assert got["image.html"][0] == "binary_content" and "PNG" in got["image.html"][1]
    assert got["noise.html"][0] == "binary_content"
    assert [p.url.rsplit("/", 1)[1] for p in out.pages] == ["ok.html"]
