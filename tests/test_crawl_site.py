"""The crawler against the real fixture server: every scripted behaviour is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docs2qa.errors import Docs2qaError
from docs2qa.generation.ingest.config import CrawlConfig
from docs2qa.generation.ingest.crawl import CrawlOutcome, crawl_site
from docs2qa.records import page_id
from docs2qa.store import BlobStore

FIXTURE_DOCS = Path(__file__).parent / "fixture_site" / "docs"


def cfg_for(site: str, **overrides) -> CrawlConfig:
    settings = dict(
        seeds=[f"{site}/docs/"],
        allow_private_addresses=True,
        backoff_s=0.01,
        max_retry_after_s=0.05,
        retries=2,
        timeout_s=5,
        max_bytes=1_000_000,
    )
    settings.update(overrides)
    return CrawlConfig(**settings)


def run(cfg, tmp_path: Path, previous=(), journal: str = "journal.jsonl") -> CrawlOutcome:
    return crawl_site(cfg, BlobStore(tmp_path / "blobs"), list(previous), tmp_path / journal)


def reasons(outcome: CrawlOutcome, site: str) -> dict[str, str]:
    return {d.ref.replace(site, ""): d.reason for d in outcome.dropped}


def test_full_crawl_pages_and_every_drop_reason(site, site_server, tmp_path):
    out = run(cfg_for(site), tmp_path)
    urls = {p.url.replace(site, "") for p in out.pages}
    assert urls == {
        "/docs/",
        "/docs/install",
        "/docs/configuration",
        "/docs/api/client",
        "/docs/api/errors",
        "/docs/guides/retries",
        "/docs/faq",
        "/docs/flaky",
        "/docs/slow",
    }
    got = reasons(out, site)
    expected = {
        "/docs/private/secret": "robots_disallowed",
        "/docs/app": "js_shell",
        "/docs/checkpoint": "captcha",
        "/docs/account": "login_wall",
        "/docs/soft-missing": "soft_404",
        "/docs/missing": "http_404",
        "/docs/busy": "http_429",
        "/docs/huge": "too_large",
        "/docs/status-feed": "unsupported_content_type",
        "/docs/stub": "empty",
        "/docs/elsewhere": "redirect_out_of_scope",
        "/docs/old-install": "duplicate",  # redirects inside scope to /docs/install, fetched already
        "/docs/install.md": "duplicate",  # linked explicitly; same body as the twin of /docs/install
        "/docs/diagram.png": "unsupported_content_type",
        "https://example.org/lanternfish": "host_not_allowed",
    }
    assert got == expected
    # Nothing is lost: every attempted URL is a page or a drop.
    attempted_drops = [
        d
        for d in out.dropped
        if d.reason not in ("host_not_allowed", "unsupported_content_type") or d.ref.endswith("status-feed")
    ]
    assert out.attempted == len(out.pages) + len(attempted_drops)
    assert out.changes == {"new": len(out.pages), "changed": 0, "unchanged": 0, "gone": 0}
    # robots.txt was honoured: the disallowed page was never requested.
    assert site_server.count("/docs/private/secret") == 0
    assert site_server.count("/robots.txt") == 1
    # The out-of-scope redirect target and the login page were never fetched.
    assert site_server.count("/blog/launch") == 0 and site_server.count("/login") == 0
    # 503 then 200: retried once after Retry-After; 429 forever: retries + 1 attempts.
    assert site_server.count("/docs/flaky") == 2
    assert site_server.count("/docs/busy") == 3
    # Links with fragments/relative paths were normalised and each page fetched once.
    assert site_server.count("/docs/api/client") == 1


def test_page_fields_markdown_twin_and_blobs(site, site_server, tmp_path):
    out = run(cfg_for(site), tmp_path)
    pages = {p.url.replace(site, ""): p for p in out.pages}
    install = pages["/docs/install"]
    assert install.source_format == "markdown"
    assert install.fetched_url == f"{site}/docs/install.md"
    assert install.title == "Install Lanternfish"
    assert install.page_id == page_id(install.url)
    config = pages["/docs/configuration"]
    assert config.source_format == "html" and config.fetched_url == config.url
    assert config.title == "Configuration — Lanternfish docs"
    assert config.etag.startswith('"') and config.last_modified.endswith("GMT")
    body = BlobStore(tmp_path / "blobs").get(config.body_sha256)
    assert b"<table>" in body and len(body) == config.bytes
    assert not config.rendered and config.change == "new"


def test_markdown_alternates_off_fetches_html(site, site_server, tmp_path):
    out = run(cfg_for(site, seeds=[f"{site}/docs/install"], follow_links=False, markdown_alternates=False), tmp_path)
    assert [p.source_format for p in out.pages] == ["html"]
    assert site_server.count("/docs/install.md") == 0
    site_server.reset_counts()
    out = run(cfg_for(site, seeds=[f"{site}/docs/install"], follow_links=False), tmp_path / "twin")
    assert [p.source_format for p in out.pages] == ["markdown"]
    assert site_server.count("/docs/install") == 0  # the twin answered, the HTML was not needed


def test_sitemap_index_and_llms_txt_sources(site, tmp_path):
    out = run(cfg_for(site, seeds=[], sitemaps=[f"{site}/sitemap.xml"], follow_links=False), tmp_path / "a")
    assert len(out.pages) == 7 and out.attempted == 7
    out = run(cfg_for(site, seeds=[], llms_txt=[f"{site}/llms.txt"], follow_links=False), tmp_path / "b")
    assert sorted(p.url.replace(site, "") for p in out.pages) == [
        "/docs/api/client",
        "/docs/configuration",
        "/docs/install",
    ]


def test_scope_limits_link_following(site, tmp_path):
    out = run(cfg_for(site, seeds=[f"{site}/docs/api/client"]), tmp_path)
    # Default scope is the seed's folder: /docs/api/. Links to /docs/guides/ are recorded, not fetched.
    assert {p.url.replace(site, "") for p in out.pages} == {"/docs/api/client", "/docs/api/errors"}
    assert reasons(out, site)["/docs/guides/retries"] == "out_of_scope"


def test_local_dir_with_and_without_base_url(tmp_path):
    base = "https://docs.lanternfish.test/docs/"
    cfg = CrawlConfig(local_dir=str(FIXTURE_DOCS), local_base_url=base)
    out = run(cfg, tmp_path / "a")
    urls = {p.url for p in out.pages}
    assert f"{base}install.md" in urls and f"{base}api/client.html" in urls
    got = {d.ref.replace(base, ""): d.reason for d in out.dropped}
    assert got["app.html"] == "js_shell"
    assert got["install.html"] == "markdown_twin"  # its .md source is read instead, as on the web
    assert all(p.fetched_url.startswith("file://") for p in out.pages)
    out = run(CrawlConfig(local_dir=str(FIXTURE_DOCS)), tmp_path / "b")
    assert (FIXTURE_DOCS / "faq.md").resolve().as_uri() in {p.url for p in out.pages}
    with pytest.raises(Docs2qaError, match="not a folder"):
        run(CrawlConfig(local_dir=str(tmp_path / "nope")), tmp_path / "c")


def test_max_pages_stops_scheduling(site, tmp_path):
    out = run(cfg_for(site, max_pages=3), tmp_path)
    assert out.attempted == 3
    assert out.not_scheduled > 0
    assert len(out.pages) <= 3


def test_max_bytes_with_content_length(site, site_server, tmp_path):
    site_server.set_page("/docs/big", "<html><body><main><p>" + "x" * 50_000 + "</p></main></body></html>")
    out = run(cfg_for(site, seeds=[f"{site}/docs/big"], max_bytes=20_000, markdown_alternates=False), tmp_path)
    assert [(d.reason, "Content-Length" in d.detail) for d in out.dropped] == [("too_large", True)]


def test_timeout_is_recorded(site, site_server, tmp_path):
    site_server.slow_delay = 3
    out = run(cfg_for(site, seeds=[f"{site}/docs/slow"], timeout_s=0.3, retries=0, markdown_alternates=False), tmp_path)
    assert [d.reason for d in out.dropped] == ["timeout"]


def test_private_addresses_rejected_by_default(site, site_server, tmp_path):
    out = run(cfg_for(site, allow_private_addresses=False), tmp_path)
    assert out.pages == []
    assert [(d.ref, d.reason) for d in out.dropped] == [(f"{site}/docs/", "private_address")]
    assert sum(site_server.counts.values()) == 0


def test_robots_can_be_ignored_when_configured(site, tmp_path):
    out = run(cfg_for(site, seeds=[f"{site}/docs/private/secret"], respect_robots=False), tmp_path)
    assert [p.title for p in out.pages] == ["Internal notes — Lanternfish docs"]


def test_per_host_concurrency_limit(tmp_path):
    from site_server import SiteServer

    server = SiteServer(latency=0.05, bench_pages=12).start()
    try:
        out = run(
            cfg_for(
                server.base_url, seeds=[f"{server.base_url}/bench/"], concurrency_per_host=2, markdown_alternates=False
            ),
            tmp_path,
        )
        assert len(out.pages) == 13
        assert server.max_inflight == 2
    finally:
        server.stop()


def test_incremental_recrawl_conditional_get_and_change_report(site, site_server, tmp_path):
    first = run(cfg_for(site), tmp_path, journal="j1.jsonl")
    site_server.reset_counts()
    site_server.set_page(
        "/docs/configuration",
        "<html><head><title>Configuration v2</title></head><body><main><p>"
        + "Queues now have a priority field that orders claims. " * 8
        + "</p></main></body></html>",
    )
    site_server.remove_page("/docs/api/errors")
    second = run(cfg_for(site), tmp_path, previous=first.pages, journal="j2.jsonl")
    change = {p.url.replace(site, ""): p.change for p in second.pages}
    assert change["/docs/configuration"] == "changed"
    assert change["/docs/install"] == "unchanged" and change["/docs/api/client"] == "unchanged"
    assert "/docs/api/errors" not in change
    assert second.changes == {"new": 0, "changed": 1, "unchanged": len(second.pages) - 1, "gone": 1}
    # Revalidation used the validators of the previous crawl and got 304s.
    sent = [h for path, h in site_server.requests if path == "/docs/api/client"]
    assert sent and sent[0].get("if-none-match") == {p.url: p for p in first.pages}[f"{site}/docs/api/client"].etag
    twin = [h for path, h in site_server.requests if path == "/docs/install.md"]
    assert twin[0].get("if-none-match")
    unchanged = {p.url: p for p in second.pages}[f"{site}/docs/install"]
    previous = {p.url: p for p in first.pages}[f"{site}/docs/install"]
    assert unchanged.body_sha256 == previous.body_sha256 and unchanged.source_format == "markdown"


def test_mirror_base_url_keeps_canonical_urls_and_ids(site, site_server, tmp_path):
    canonical = "https://docs.lanternfish.test"
    direct = run(cfg_for(site), tmp_path / "direct")
    mirrored = run(cfg_for(site, seeds=[f"{canonical}/docs/"], base_url=site), tmp_path / "mirror")
    assert {p.url.replace(site, canonical) for p in direct.pages} == {p.url for p in mirrored.pages}
    for page in mirrored.pages:
        assert page.url.startswith(canonical + "/docs/")
        assert page.fetched_url.startswith(site + "/docs/")
        assert page.page_id == page_id(page.url)
    got = {d.ref.replace(canonical, ""): d.reason for d in mirrored.dropped}
    assert got["/docs/elsewhere"] == "redirect_out_of_scope" and got["/docs/old-install"] == "duplicate"
    assert got["/docs/private/secret"] == "robots_disallowed"


def test_resume_from_prefilled_journal(site, site_server, tmp_path):
    full = run(cfg_for(site), tmp_path, journal="full.jsonl")
    lines = (tmp_path / "full.jsonl").read_text().splitlines()
    half = lines[: len(lines) // 2]
    (tmp_path / "partial.jsonl").write_text("\n".join(half) + "\n")
    done_paths = {json.loads(line)["url"].replace(site, "") for line in half}
    site_server.reset_counts()
    resumed = run(cfg_for(site), tmp_path, journal="partial.jsonl")
    for path in done_paths:
        assert site_server.count(path) == 0, f"{path} was journaled but fetched again"
        assert site_server.count(path + ".md") == 0
    assert [(p.url, p.body_sha256) for p in resumed.pages] == [(p.url, p.body_sha256) for p in full.pages]
    assert [(d.ref, d.reason) for d in resumed.dropped] == [(d.ref, d.reason) for d in full.dropped]
    journal_urls = [json.loads(line)["url"] for line in (tmp_path / "partial.jsonl").read_text().splitlines()]
    assert len(journal_urls) == len(set(journal_urls)) == len(lines)
