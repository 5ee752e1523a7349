"""The bundled demo site and its server: served like a real docs host, and free of broken links."""

from __future__ import annotations

import http.client
import re
import socket
from pathlib import Path
from urllib.parse import urljoin, urlsplit
from xml.etree import ElementTree

import pytest
from bs4 import BeautifulSoup

from docs2qa.demo import demo_site_path, serve_site

ORIGIN = "https://acme-cloud.example"
SITE = demo_site_path()
PAGES = sorted(p.stem for p in (SITE / "docs").glob("*.html") if p.stem != "index")
TWINS = sorted(p.stem for p in (SITE / "docs").glob("*.md"))
DRAFTS = sorted(p.stem for p in (SITE / "docs" / "drafts").glob("*.html"))


@pytest.fixture(scope="module")
def base_url():
    with serve_site(SITE) as url:
        yield url


def get(base_url: str, path: str, method: str = "GET", headers: dict | None = None):
    """Raw request: http.client sends the path as written, so traversal attempts reach the server."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def soup(html: bytes | str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def local_path(url: str, base_url: str) -> str | None:
    """A resolved link as a path on the mirror, or None when it leaves the docs.

    Absolute links to the canonical origin outside /docs/ (pricing, legal pages) belong to
    the rest of the invented product's site, which the demo does not include.
    """
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    if origin == base_url:
        return parts.path or "/"
    if origin == ORIGIN and parts.path.startswith("/docs/"):
        return parts.path
    return None


def test_site_shape():
    assert 8 <= len(PAGES) <= 10
    assert len(PAGES) // 3 <= len(TWINS) <= len(PAGES) - len(PAGES) // 3, "about half the pages have .md twins"
    assert set(TWINS) <= set(PAGES)
    tables = 0
    languages = set()
    for slug in PAGES:
        page = soup((SITE / "docs" / f"{slug}.html").read_text())
        main = page.find("main")
        assert main is not None, slug
        for boilerplate in ("header", "footer", "nav", "aside"):
            assert page.find(boilerplate) is not None, f"{slug} lacks a <{boilerplate}> to strip"
        assert page.find(id="cookie-banner") is not None
        words = len(main.get_text(" ").split())
        assert 400 <= words <= 1500, f"{slug}: {words} words"
        headings = main.find_all(["h1", "h2", "h3"])
        assert len(main.find_all("h1")) == 1 and len(headings) >= 4, slug
        assert all(h.get("id") for h in headings), f"{slug}: a heading without id"
        tables += len(main.find_all("table"))
        languages |= {c for code in main.select("pre > code") for c in code.get("class", [])}
        assert page.find("link", rel="canonical")["href"] == f"{ORIGIN}/docs/{slug}"
    assert tables >= 2
    assert {"language-python", "language-bash", "language-yaml"} <= languages
    assert any(
        img.get("alt")
        for slug in PAGES
        for img in soup((SITE / "docs" / f"{slug}.html").read_text()).main.find_all("img")
    ), "no content image with alt text"
    assert any(soup((SITE / "docs" / f"{slug}.html").read_text()).main.select("li ul, li ol") for slug in PAGES), (
        "no nested list"
    )


def test_serves_pages_and_index(base_url):
    status, headers, body = get(base_url, "/docs/notebooks")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert soup(body).find("h1").get_text() == "Notebooks"
    index = (SITE / "docs" / "index.html").read_bytes()
    for path in ("/", "/docs/"):
        status, _, body = get(base_url, path)
        assert (status, body) == (200, index)
    status, headers, body = get(base_url, "/docs/notebooks", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 1000


def test_markdown_twin(base_url):
    status, headers, body = get(base_url, "/docs/api.md")
    assert status == 200
    assert headers["Content-Type"] == "text/markdown; charset=utf-8"
    assert body.decode().startswith("# REST API\n")
    non_twin = next(slug for slug in PAGES if slug not in TWINS)
    assert get(base_url, f"/docs/{non_twin}.md")[0] == 404


def test_twins_match_their_html_pages():
    for slug in TWINS:
        markdown = (SITE / "docs" / f"{slug}.md").read_text()
        md_headings = [
            re.sub(r"[`*]", "", line.lstrip("#").strip())
            for line in re.sub(r"```.*?```", "", markdown, flags=re.S).splitlines()
            if re.match(r"#{1,3} ", line)
        ]
        html_headings = [
            h.get_text() for h in soup((SITE / "docs" / f"{slug}.html").read_text()).main.find_all(["h1", "h2", "h3"])
        ]
        assert md_headings == html_headings, slug
        page = soup((SITE / "docs" / f"{slug}.html").read_text())
        assert page.find("link", rel="alternate", type="text/markdown")["href"] == f"{slug}.md"


@pytest.mark.parametrize(
    "path",
    [
        "/docs/no-such-page",
        "/docs/Notebooks",
        "/docs/notebooks.html",
        "/docs/notebooks/",
        "/docs/index.md",
        "/static/img/missing.svg",
        "/favicon.ico",
        "/docs/../../demo.py",
        "/docs/%2e%2e/%2e%2e/demo.py",
        "/docs/..%2f..%2fdemo.py",
        "/static/../../demo.py",
        "/static/%2e%2e/docs/api.md",
        "//etc/passwd",
        "/docs/.hidden",
    ],
)
def test_404s_unknown_paths_and_traversal(base_url, path):
    status, _, body = get(base_url, path)
    assert status == 404
    assert b"Acme" not in body and b"import" not in body


def test_conditional_requests(base_url):
    status, headers, _body = get(base_url, "/docs/cli")
    assert status == 200
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    status, headers2, body2 = get(base_url, "/docs/cli", headers={"If-None-Match": etag})
    assert (status, body2) == (304, b"")
    assert headers2["ETag"] == etag
    assert get(base_url, "/docs/cli", headers={"If-None-Match": '"stale"'})[0] == 200
    assert get(base_url, "/docs/cli", headers={"If-Modified-Since": last_modified})[0] == 304
    # ETags follow the body, so two different pages never share one.
    assert get(base_url, "/docs/api")[1]["ETag"] != etag


def test_sitemap_lists_every_page(base_url):
    status, headers, body = get(base_url, "/sitemap.xml")
    assert status == 200 and headers["Content-Type"].startswith("application/xml")
    ns = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    locs = [loc.text for loc in ElementTree.fromstring(body).findall("sm:url/sm:loc", ns)]
    assert sorted(locs) == sorted([f"{ORIGIN}/docs/"] + [f"{ORIGIN}/docs/{slug}" for slug in PAGES])
    for loc in locs:
        assert get(base_url, urlsplit(loc).path)[0] == 200


def test_robots_and_llms_txt(base_url):
    status, _, robots = get(base_url, "/robots.txt")
    assert status == 200
    assert "Disallow: /docs/drafts/" in robots.decode()
    assert DRAFTS and get(base_url, f"/docs/drafts/{DRAFTS[0]}")[0] == 200
    status, _, llms = get(base_url, "/llms.txt")
    assert status == 200
    links = re.findall(r"\]\((https://[^)]+)\)", llms.decode())
    expected = {f"{ORIGIN}/docs/{slug}{'.md' if slug in TWINS else ''}" for slug in PAGES}
    assert expected <= set(links)
    for link in links:
        assert get(base_url, urlsplit(link).path)[0] == 200, link


def test_no_broken_links(base_url):
    """Every relative (and same-site) link in every page and twin reaches a page, and its #fragment exists."""
    ids: dict[str, set[str]] = {}
    checked = 0

    def anchors(path: str) -> set[str]:
        if path not in ids:
            status, headers, body = get(base_url, path)
            assert status == 200, f"broken link target {path}"
            is_html = headers["Content-Type"].startswith("text/html")
            ids[path] = {tag["id"] for tag in soup(body).find_all(id=True)} if is_html else set()
        return ids[path]

    sources = ["/docs/"] + [f"/docs/{slug}" for slug in PAGES + [f"drafts/{d}" for d in DRAFTS]]
    for source in sources:
        page_url = base_url + source
        page = soup(get(base_url, source)[2])
        targets = [a["href"] for a in page.find_all("a", href=True)]
        targets += [img["src"] for img in page.find_all("img", src=True)]
        targets += [link["href"] for link in page.find_all("link", href=True) if link.get("rel") != ["canonical"]]
        targets += [script["src"] for script in page.find_all("script", src=True)]
        for target in targets:
            url = urljoin(page_url, target)
            path = local_path(url, base_url)
            if path is None:
                continue
            fragment = urlsplit(url).fragment
            found = anchors(path)
            if fragment:
                assert fragment in found, f"{source}: link {target} -> no #{fragment}"
            checked += 1
    for slug in TWINS:
        markdown = (SITE / "docs" / f"{slug}.md").read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", markdown):
            url = urljoin(f"{base_url}/docs/{slug}.md", target)
            path = local_path(url, base_url)
            if path is None:
                continue
            fragment = urlsplit(url).fragment
            # A twin has no ids of its own: its #fragments name sections of its HTML page.
            found = anchors(path.removesuffix(".md"))
            if fragment:
                assert fragment in found, f"{slug}.md: link {target} -> no #{fragment}"
            checked += 1
    assert checked > 100


def test_server_stops_on_exit():
    with serve_site(SITE) as url:
        port = urlsplit(url).port
        assert get(url, "/docs/")[0] == 200
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_rejects_a_folder_that_is_not_a_site(tmp_path: Path):
    from docs2qa.errors import Docs2qaError

    with pytest.raises(Docs2qaError, match="not a demo site"), serve_site(tmp_path):
        pass
