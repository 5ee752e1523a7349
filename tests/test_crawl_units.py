"""Pure-function parts of the crawler: URLs, scope, mirror mapping, Retry-After, detectors, journal."""

from __future__ import annotations

import json
from email.utils import formatdate

from docs2qa.generation.ingest.crawl.detect import analyze_html, analyze_markdown, classify
from docs2qa.generation.ingest.crawl.fetch import parse_retry_after
from docs2qa.generation.ingest.crawl.journal import Journal
from docs2qa.generation.ingest.crawl.scope import Mirror, Scope, folder_of, markdown_twin, normalize_url
from docs2qa.records import Dropped, Page, page_id


def test_normalize_url():
    assert normalize_url("HTTP://Docs.Example.COM:80/a/b#frag") == "http://docs.example.com/a/b"
    assert normalize_url("https://x.org:443") == "https://x.org/"
    assert normalize_url("https://x.org:8443/p?q=1#z") == "https://x.org:8443/p?q=1"
    assert normalize_url("../api/client#claim", "https://x.org/docs/guides/retries") == "https://x.org/docs/api/client"
    assert normalize_url("https://user:secret@x.org/p") == "https://x.org/p"
    assert normalize_url("http://[::1]:80/") == "http://[::1]/"
    assert normalize_url("   ") is None


def test_scope_and_default_folder():
    scope = Scope([folder_of("https://x.org/docs/index.html")], {"x.org"})
    assert scope.check("https://x.org/docs/api") is None
    assert scope.check("https://x.org/blog/") == "out_of_scope"
    assert scope.check("https://evil.org/docs/") == "host_not_allowed"
    assert scope.check("ftp://x.org/docs/") == "unsupported_scheme"


def test_markdown_twin():
    assert markdown_twin("https://x.org/docs/install") == "https://x.org/docs/install.md"
    assert markdown_twin("https://x.org/docs/") is None
    assert markdown_twin("https://x.org/docs/page.html") is None


def test_mirror_mapping_round_trip():
    mirror = Mirror("http://127.0.0.1:9000", ["https://docs.x.org"])
    assert mirror.to_fetch("https://docs.x.org/a?b=1") == "http://127.0.0.1:9000/a?b=1"
    assert mirror.to_canonical("http://127.0.0.1:9000/a?b=1") == "https://docs.x.org/a?b=1"
    assert mirror.to_fetch("https://other.org/a") == "https://other.org/a"
    identity = Mirror(None, ["https://docs.x.org"])
    assert identity.to_fetch("https://docs.x.org/a") == "https://docs.x.org/a"


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_800_000_000.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0


def _html(body: str, title: str = "T") -> bytes:
    return f"<html><head><title>{title}</title></head><body>{body}</body></html>".encode()


def test_detectors():
    long_text = "<p>" + "Lanternfish claims jobs with leases. " * 20 + "</p>"
    assert classify(analyze_html(_html(f"<main>{long_text}</main>")), 200, html=True) is None
    shell = analyze_html(_html('<div id="root"></div><script src="/app.js"></script>'))
    assert classify(shell, 200, html=True)[0] == "js_shell"
    captcha = analyze_html(_html('<div class="h-captcha"></div><p>Verify you are human</p>', "Just a moment"))
    assert classify(captcha, 200, html=True)[0] == "captcha"
    login = analyze_html(_html('<h1>Sign in</h1><form><input type="password" name="pw"></form>', "Log in"))
    assert classify(login, 200, html=True)[0] == "login_wall"
    soft = analyze_html(_html("<h1>Page not found</h1><p>Sorry.</p>", "Oops"))
    assert classify(soft, 200, html=True)[0] == "soft_404"
    assert classify(analyze_html(_html("<main><p>Soon.</p></main>", "Stub")), 200, html=True)[0] == "empty"
    # A real page *about* 404 handling, long enough, is content.
    about = analyze_html(_html(f"<main><h1>Handling 404 errors</h1>{long_text}</main>", "404 errors"))
    assert classify(about, 200, html=True) is None
    # Nav and footer text does not save a page whose main part is empty.
    chrome = analyze_html(_html(f"<nav>{long_text}</nav><main><p>Soon.</p></main>"))
    assert classify(chrome, 200, html=True)[0] == "empty"


def test_markdown_analysis_and_links():
    md = (
        b"# Title here\n\nSee [install](install) and ![img](x.png) and <https://x.org/a>.\n\n"
        b"```\n[not](a-link)\n```\n[ref]: ../guide\n"
    )
    a = analyze_markdown(md)
    assert a.title == "Title here"
    assert a.links == ["install", "https://x.org/a", "../guide"]


def test_journal_round_trip_and_torn_last_line(tmp_path):
    path = tmp_path / "j.jsonl"
    j = Journal(path)
    page = Page(page_id("u1"), "u1", "u1", "t", "html", "text/html", "ab", 1, "now")
    j.append("u1", page)
    j.append("u2", Dropped(page_id("u2"), "u2", "http_404"))
    j.close()
    with open(path, "a") as f:
        f.write('{"url": "u3", "page": {"page_i')  # killed mid-write
    j2 = Journal(path)
    assert set(j2.entries) == {"u1", "u2"}
    assert j2.get("u1") == page
    j2.append("u4", Dropped(page_id("u4"), "u4", "empty"))
    j2.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["url"] for line in lines] == ["u1", "u2", "u4"]
