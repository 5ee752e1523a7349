"""A local docs site (tests/fixture_site) served on 127.0.0.1 with scripted behaviours.

Fixed paths (all under the server's base URL):
    /robots.txt            disallows /docs/private/ for every agent
    /sitemap.xml           a sitemap index pointing at /sitemaps/docs.xml (a urlset)
    /llms.txt              Markdown links to some pages
    /docs/<name>           docs/<name>.html (extension-less URLs); /docs/ is docs/index.html
    /docs/<name>.md        Markdown twin where docs/<name>.md exists (install, faq)
    /docs/app              JS shell: empty #root filled by inline script
    /docs/old-install      301 -> /docs/install (in scope)
    /docs/elsewhere        302 -> /blog/launch (out of a /docs/ scope)
    /docs/account          302 -> /login?next=/docs/account
    /docs/missing          404
    /docs/soft-missing     200 "Page not found"
    /docs/checkpoint       200 captcha interstitial
    /docs/flaky            503 + Retry-After for the first `flaky_failures` requests, then 200
    /docs/busy             always 429 + Retry-After
    /docs/slow             answers after `slow_delay` seconds
    /docs/huge             `huge_bytes` of HTML streamed without Content-Length
    /docs/status-feed      application/json
    /bench/, /bench/p<i>.html   `bench_pages` generated pages for benchmarks

Every file response has an ETag and Last-Modified and answers conditional requests with 304.
`set_page(path, body)` replaces a page's body (new ETag/Last-Modified) between crawls, and
`counts[path]` counts requests per path (query strings excluded).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

SITE_ROOT = Path(__file__).parent / "fixture_site"
FIXED_MTIME = 1_900_000_000  # 2030-03-17: Last-Modified of unchanged fixture files


class SiteServer:
    def __init__(
        self,
        root: Path = SITE_ROOT,
        *,
        slow_delay: float = 0.0,
        latency: float = 0.0,
        flaky_failures: int = 1,
        retry_after: str = "1",
        huge_bytes: int = 1_500_000,
        bench_pages: int = 0,
    ):
        self.root = root
        self.slow_delay, self.latency = slow_delay, latency
        self.flaky_failures, self.retry_after = flaky_failures, retry_after
        self.huge_bytes, self.bench_pages = huge_bytes, bench_pages
        self.counts: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path, request headers), in order
        self.overrides: dict[str, tuple[bytes, str, float]] = {}
        self.removed: set[str] = set()
        self.inflight = self.max_inflight = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # ---- control -------------------------------------------------------------

    def start(self) -> SiteServer:
        server = self

        class Handler(_Handler):
            site = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def set_page(self, path: str, body: bytes | str, content_type: str = "text/html; charset=utf-8") -> None:
        if isinstance(body, str):
            body = body.encode()
        with self._lock:
            self.overrides[path] = (body, content_type, time.time())

    def remove_page(self, path: str) -> None:
        """From now on `path` answers 404 (a page deleted between crawls)."""
        with self._lock:
            self.removed.add(path)

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.requests.clear()
            self.max_inflight = 0

    def count(self, path: str) -> int:
        with self._lock:
            return self.counts[path]

    def _hit(self, path: str, headers: dict[str, str]) -> int:
        with self._lock:
            self.counts[path] += 1
            self.requests.append((path, headers))
            return self.counts[path]

    # ---- content -------------------------------------------------------------

    def robots_txt(self) -> str:
        return f"User-agent: *\nDisallow: /docs/private/\n\nSitemap: {self.base_url}/sitemap.xml\n"

    def sitemap_index(self) -> str:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"  <sitemap><loc>{self.base_url}/sitemaps/docs.xml</loc></sitemap>\n"
            "</sitemapindex>\n"
        )

    def sitemap_docs(self) -> str:
        paths = [
            "/docs/",
            "/docs/install",
            "/docs/configuration",
            "/docs/api/client",
            "/docs/api/errors",
            "/docs/guides/retries",
            "/docs/faq",
        ]
        entries = "".join(f"  <url><loc>{self.base_url}{p}</loc></url>\n" for p in paths)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{entries}</urlset>\n'
        )

    def llms_txt(self) -> str:
        return (
            "# Lanternfish\n\n> A small job queue for Python services.\n\n## Docs\n\n"
            f"- [Install]({self.base_url}/docs/install): getting the package\n"
            "- [Configuration](/docs/configuration): queue specs\n"
            "- [Client API](/docs/api/client)\n"
        )

    def file_for(self, path: str) -> Path | None:
        rel = path.lstrip("/")
        if rel.endswith("/") or rel == "":
            rel += "index.html"
        elif not Path(rel).suffix:
            rel += ".html"
        elif not rel.endswith(".md"):
            return None  # only extension-less page URLs and .md twins are served from files
        candidate = (self.root / rel).resolve()
        if self.root.resolve() not in candidate.parents or not candidate.is_file():
            return None
        return candidate


class _Handler(BaseHTTPRequestHandler):
    site: SiteServer
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers; the benchmark depends on it

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        site = self.site
        with site._lock:
            site.inflight += 1
            site.max_inflight = max(site.max_inflight, site.inflight)
        try:
            self.route()
        finally:
            with site._lock:
                site.inflight -= 1

    def route(self) -> None:
        site = self.site
        path = urlsplit(self.path).path
        n = site._hit(path, {k.lower(): v for k, v in self.headers.items()})
        if site.latency:
            time.sleep(site.latency)
        if path in site.removed:
            return self.send_text(404, "<h1>404</h1><p>Removed.</p>", "text/html")
        if path == "/robots.txt":
            return self.send_text(200, site.robots_txt(), "text/plain")
        if path == "/sitemap.xml":
            return self.send_text(200, site.sitemap_index(), "application/xml")
        if path == "/sitemaps/docs.xml":
            return self.send_text(200, site.sitemap_docs(), "application/xml")
        if path == "/llms.txt":
            return self.send_text(200, site.llms_txt(), "text/plain")
        if path == "/docs/old-install":
            return self.redirect(301, "/docs/install")
        if path == "/docs/elsewhere":
            return self.redirect(302, f"{site.base_url}/blog/launch")
        if path == "/docs/account":
            return self.redirect(302, "/login?next=/docs/account")
        if path in ("/docs/loop-a", "/docs/loop-b"):  # a redirect loop, linked from no page
            return self.redirect(302, "/docs/loop-b" if path == "/docs/loop-a" else "/docs/loop-a")
        if path == "/blog/launch":
            return self.serve_file("/blog/launch")
        if path == "/login":
            return self.serve_file("/login")
        if path == "/docs/flaky" and n <= site.flaky_failures:
            return self.send_text(503, "<h1>Service unavailable</h1>", "text/html", {"Retry-After": site.retry_after})
        if path == "/docs/busy":
            return self.send_text(429, "<h1>Too many requests</h1>", "text/html", {"Retry-After": site.retry_after})
        if path == "/docs/slow" and site.slow_delay:
            time.sleep(site.slow_delay)
        if path == "/docs/huge":
            return self.stream_huge()
        if path == "/docs/status-feed":
            return self.send_text(200, '{"queues": 3, "healthy": true}', "application/json")
        if path.startswith("/bench/") and site.bench_pages:
            return self.bench(path)
        return self.serve_file(path)

    # ---- responses -----------------------------------------------------------

    def send_text(self, status: int, text: str | bytes, ctype: str, headers: dict | None = None) -> None:
        body = text.encode() if isinstance(text, str) else text
        self.send_response(status)
        self.send_header("Content-Type", ctype if "charset" in ctype else f"{ctype}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def redirect(self, status: int, location: str) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def serve_file(self, path: str) -> None:
        site = self.site
        with site._lock:
            override = site.overrides.get(path)
        if override is not None:
            body, ctype, mtime = override
        else:
            file = site.file_for(path)
            if file is None:
                return self.send_text(404, "<h1>404</h1><p>No such page.</p>", "text/html")
            body, mtime = file.read_bytes(), FIXED_MTIME
            ctype = "text/markdown; charset=utf-8" if file.suffix == ".md" else "text/html; charset=utf-8"
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        last_modified = formatdate(mtime, usegmt=True)
        validators = {"ETag": etag, "Last-Modified": last_modified}
        if self.not_modified(etag, mtime):
            self.send_response(304)
            for k, v in validators.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_text(200, body, ctype, validators)

    def not_modified(self, etag: str, mtime: float) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            return etag in [t.strip() for t in inm.split(",")]
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                return int(mtime) <= parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                return False
        return False

    def stream_huge(self) -> None:
        # No Content-Length: the crawler must count streamed bytes to enforce max_bytes.
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        line = b"<p>Reference entry: the quick lanternfish swims past the lazy anglerfish.</p>\n"
        sent = 0
        try:
            self.wfile.write(b"<html><head><title>Huge</title></head><body><main>\n")
            while sent < self.site.huge_bytes:
                self.wfile.write(line * 100)
                sent += len(line) * 100
            self.wfile.write(b"</main></body></html>")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the crawler hung up at its size limit, as it should

    def bench(self, path: str) -> None:
        n = self.site.bench_pages
        if path == "/bench/":
            links = "".join(f'<li><a href="p{i}.html">Page {i}</a></li>' for i in range(n))
            return self.send_text(
                200,
                f"<html><head><title>Bench</title></head><body><main><h1>Bench index</h1>"
                f"<p>{'Index of generated pages. ' * 10}</p><ul>{links}</ul></main></body></html>",
                "text/html",
            )
        text = "Generated benchmark page with enough words to pass the emptiness check. " * 8
        return self.send_text(
            200,
            f"<html><head><title>{path}</title></head><body><main><h1>{path}</h1><p>{text}</p></main></body></html>",
            "text/html",
        )
