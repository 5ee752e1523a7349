"""JS-only pages: real headless Chromium when /usr/bin/chromium exists, clear errors when it cannot run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from docs2qa.errors import Docs2qaError
from docs2qa.generation.ingest.config import CrawlConfig
from docs2qa.generation.ingest.crawl import crawl_site
from docs2qa.store import BlobStore

CHROMIUM = "/usr/bin/chromium"


def _cfg(site: str, **overrides) -> CrawlConfig:
    settings = dict(
        seeds=[f"{site}/docs/app"],
        allow_private_addresses=True,
        follow_links=False,
        markdown_alternates=False,
        timeout_s=20,
    )
    settings.update(overrides)
    return CrawlConfig(**settings)


def test_js_shell_dropped_without_rendering(site, tmp_path):
    out = crawl_site(_cfg(site), BlobStore(tmp_path / "blobs"), [], tmp_path / "j.jsonl")
    assert out.pages == [] and [d.reason for d in out.dropped] == ["js_shell"]


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium); CI has it"
)
def test_js_shell_rendered_with_chromium(site, site_server, tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    out = crawl_site(_cfg(site, render_js=True, chromium_path=CHROMIUM), blobs, [], tmp_path / "j.jsonl")
    assert out.dropped == []
    [page] = out.pages
    assert page.rendered and page.source_format == "html"
    html = blobs.get(page.body_sha256).decode()
    assert "Queue explorer" in html and "The explorer polls the database every five seconds" in html
    assert page.title == "Queue explorer — Lanternfish docs"
    assert site_server.count("/docs/app") == 2  # once by httpx, once by Chromium


def test_missing_chromium_is_a_clear_error(site, tmp_path):
    with pytest.raises(Docs2qaError, match="apt-get install chromium"):
        crawl_site(
            _cfg(site, render_js=True, chromium_path=str(tmp_path / "no-chromium")),
            BlobStore(tmp_path / "blobs"),
            [],
            tmp_path / "j.jsonl",
        )


def test_missing_playwright_is_a_clear_error_before_the_crawl(site, tmp_path, monkeypatch):
    """The crawl stage declares playwright for render_js configs: checked before any page is fetched."""
    from docs2qa.config import load_config
    from docs2qa.pipeline import stage_named
    from docs2qa.store import RunStore

    config_path = tmp_path / "render.yaml"
    config_path.write_text(f"name: r\ncrawl:\n  seeds: ['{site}/docs/']\n  allow_private_addresses: true\n")
    monkeypatch.setitem(sys.modules, "playwright", None)  # as if not installed: find_spec says None
    crawl = stage_named("crawl")
    assert crawl.missing_requirements(load_config(config_path)) == []  # no rendering, no playwright needed
    config = load_config(config_path, ["crawl.render_js=true"])
    with pytest.raises(Docs2qaError) as err:
        crawl.run(config, RunStore(tmp_path / "run"))
    assert "'playwright'" in str(err.value) and 'pip install "docs2qa[render]"' in str(err.value)
    assert not (tmp_path / "run" / "crawl").exists()
