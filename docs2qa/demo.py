"""The bundled demo docs site and a local server for it.

The demo site lets `docs2qa run -c configs/demo.yaml` work offline. The server imitates a
real docs host closely enough to exercise the crawler: extensionless page URLs, `.md`
twins for some pages, robots.txt/sitemap.xml/llms.txt, validators (ETag, Last-Modified)
with 304 answers, and 404s for everything else.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Each path segment of a page or asset: no dots at the start, so "..", "." and hidden
# files can never match, whatever encoding the client used.
_SEGMENT = r"[a-z0-9][a-z0-9_-]*"
_PAGE = re.compile(rf"^/docs/((?:{_SEGMENT}/)*{_SEGMENT})(\.md)?$")
_STATIC = re.compile(rf"^/static/((?:{_SEGMENT}/)*{_SEGMENT}\.(?:svg|png|css|js))$")
_ROOT_FILES = {
    "/robots.txt": ("robots.txt", "text/plain; charset=utf-8"),
    "/sitemap.xml": ("sitemap.xml", "application/xml; charset=utf-8"),
    "/llms.txt": ("llms.txt", "text/plain; charset=utf-8"),
}
_INDEX = ("docs/index.html", "text/html; charset=utf-8")
_STATIC_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}


def demo_site_path() -> Path:
    return Path(__file__).resolve().with_name("demo_site")


def resolve(path: str) -> tuple[str, str] | None:
    """URL path -> (file relative to the site folder, content type), or None for a 404."""
    path = unquote(urlsplit(path).path)
    if path in ("/", "/docs/"):
        return _INDEX
    if path in _ROOT_FILES:
        return _ROOT_FILES[path]
    if match := _PAGE.match(path):
        slug, md = match.groups()
        if md:
            return f"docs/{slug}.md", "text/markdown; charset=utf-8"
        return f"docs/{slug}.html", "text/html; charset=utf-8"
    if match := _STATIC.match(path):
        rel = match.group(1)
        return f"static/{rel}", _STATIC_TYPES[Path(rel).suffix]
    return None


def _handler_for(folder: Path) -> type[BaseHTTPRequestHandler]:
    root = folder.resolve()

    class Handler(BaseHTTPRequestHandler):
        server_version = "acme-docs-demo/1.0"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._respond(send_body=True)

        def do_HEAD(self) -> None:
            self._respond(send_body=False)

        def _respond(self, send_body: bool) -> None:
            target = resolve(self.path)
            file = (root / target[0]).resolve() if target else None
            # The regexes already exclude "..", but a symlink inside the site must not
            # lead outside it either.
            if target is None or file is None or not file.is_relative_to(root) or not file.is_file():
                self._send(HTTPStatus.NOT_FOUND, b"404 Not Found\n", "text/plain; charset=utf-8", send_body)
                return
            body = file.read_bytes()
            etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
            mtime = file.stat().st_mtime
            headers = {"ETag": etag, "Last-Modified": formatdate(mtime, usegmt=True), "Cache-Control": "no-cache"}
            if self._not_modified(etag, mtime):
                self._send(HTTPStatus.NOT_MODIFIED, b"", None, False, headers)
                return
            self._send(HTTPStatus.OK, body, target[1], send_body, headers)

        def _not_modified(self, etag: str, mtime: float) -> bool:
            # RFC 9110: If-None-Match wins over If-Modified-Since when both are sent.
            if (inm := self.headers.get("If-None-Match")) is not None:
                tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
                return "*" in tags or etag in tags
            if (ims := self.headers.get("If-Modified-Since")) is not None:
                try:
                    return int(mtime) <= parsedate_to_datetime(ims).timestamp()
                except (TypeError, ValueError):
                    return False
            return False

        def _send(
            self,
            status: HTTPStatus,
            body: bytes,
            ctype: str | None,
            send_body: bool,
            headers: dict[str, str] | None = None,
        ) -> None:
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if status != HTTPStatus.NOT_MODIFIED:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if send_body and body:
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a crawl of the demo must not flood the terminal with access logs

    return Handler


@contextmanager
def serve_site(folder: Path) -> Iterator[str]:
    """Serve a demo site folder on 127.0.0.1 (random free port); yields its base URL."""
    folder = Path(folder)
    if not (folder / "docs" / "index.html").is_file():
        from docs2qa.errors import Docs2qaError

        raise Docs2qaError(
            f"{folder} is not a demo site (docs/index.html is missing)",
            "reinstall docs2qa so its package data is present, or pass the demo_site folder",
        )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(folder))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="docs2qa-demo-site", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
