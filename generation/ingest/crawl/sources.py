"""Where start URLs come from: sitemap.xml (and sitemap indexes), llms.txt, a local folder."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from docs2qa.errors import Docs2qaError
from docs2qa.records import Dropped, page_id

from .detect import markdown_links
from .fetch import Fetcher, FetchError
from .scope import Mirror, host_of, normalize_url

MAX_SITEMAP_DEPTH = 3
MAX_SOURCE_REDIRECTS = 5
LOCAL_SUFFIXES = {".html": "text/html", ".htm": "text/html", ".md": "text/markdown", ".markdown": "text/markdown"}


@dataclass
class SourceResult:
    urls: list[str]
    dropped: list[Dropped]


async def fetch_source(fetcher: Fetcher, mirror: Mirror, url: str, hosts: set[str], what: str) -> bytes | Dropped:
    """Body of a sitemap/llms.txt (redirects followed on configured hosts), or a Dropped."""
    current = url
    for _ in range(MAX_SOURCE_REDIRECTS + 1):
        try:
            response = await fetcher.get(mirror.to_fetch(current))
        except FetchError as exc:
            return Dropped(page_id(url), url, exc.reason, f"{what}: {exc.detail}")
        if 300 <= response.status < 400 and "location" in response.headers:
            target = normalize_url(response.headers["location"], mirror.to_fetch(current))
            target = mirror.to_canonical(target) if target else None
            if target is None or host_of(target) not in hosts:
                return Dropped(page_id(url), url, "redirect_out_of_scope", f"{what} redirects to {target}")
            current = target
            continue
        if response.status != 200:
            return Dropped(page_id(url), url, f"http_{response.status}", f"{what} answered {response.status}")
        body = response.body
        if body[:2] == b"\x1f\x8b":  # sitemap.xml.gz served as a file, not Content-Encoding
            try:
                body = gzip.decompress(body)[: fetcher.max_bytes]
            except OSError as exc:
                return Dropped(page_id(url), url, "bad_source", f"{what}: broken gzip: {exc}")
        return body
    return Dropped(page_id(url), url, "too_many_redirects", what)


def parse_sitemap(body: bytes) -> tuple[str, list[str]]:
    """('index' | 'urlset', <loc> values). Entities and network access are disabled."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)
    root = etree.fromstring(body, parser=parser)
    if root is None:
        raise ValueError("not XML")
    kind = "index" if etree.QName(root).localname == "sitemapindex" else "urlset"
    locs = [
        el.text.strip()
        for el in root.iter()
        if isinstance(el.tag, str) and etree.QName(el).localname == "loc" and el.text and el.text.strip()
    ]
    return kind, locs


async def sitemap_urls(fetcher: Fetcher, mirror: Mirror, url: str, hosts: set[str], depth: int = 0) -> SourceResult:
    body = await fetch_source(fetcher, mirror, url, hosts, "sitemap")
    if isinstance(body, Dropped):
        return SourceResult([], [body])
    try:
        kind, locs = parse_sitemap(body)
    except Exception as exc:
        return SourceResult([], [Dropped(page_id(url), url, "bad_source", f"sitemap is not valid XML: {exc}")])
    result = SourceResult([], [])
    for loc in locs:
        target = normalize_url(loc)
        if target is None:
            result.dropped.append(Dropped(page_id(loc), loc, "bad_url", f"in sitemap {url}"))
            continue
        target = mirror.to_canonical(target)
        if kind == "urlset":
            result.urls.append(target)
        elif depth + 1 > MAX_SITEMAP_DEPTH:
            result.dropped.append(Dropped(page_id(target), target, "sitemap_too_deep", f"nested in {url}"))
        elif host_of(target) not in hosts:
            result.dropped.append(Dropped(page_id(target), target, "host_not_allowed", f"child sitemap of {url}"))
        else:
            child = await sitemap_urls(fetcher, mirror, target, hosts, depth + 1)
            result.urls += child.urls
            result.dropped += child.dropped
    return result


async def llms_txt_urls(fetcher: Fetcher, mirror: Mirror, url: str, hosts: set[str]) -> SourceResult:
    body = await fetch_source(fetcher, mirror, url, hosts, "llms.txt")
    if isinstance(body, Dropped):
        return SourceResult([], [body])
    urls = []
    for link in markdown_links(body.decode("utf-8", "replace")):
        target = normalize_url(link, url)
        if target is not None:
            urls.append(mirror.to_canonical(target))
    return SourceResult(urls, [])


def local_files(local_dir: str, local_base_url: str | None) -> tuple[list[tuple[str, Path, str]], list[Dropped]]:
    """(url, path, content_type) for every .html/.md file under local_dir, in a stable order, and a
    Dropped row for each file that resolves (through a symlink) to a place outside the folder."""
    root = Path(local_dir).expanduser()
    if not root.is_dir():
        raise Docs2qaError(
            f"crawl.local_dir {local_dir} is not a folder", "point crawl.local_dir at a folder of .html/.md files"
        )
    base = None
    if local_base_url:
        base = normalize_url(local_base_url)
        if base is None or not base.startswith(("http://", "https://")):
            raise Docs2qaError(f"crawl.local_base_url {local_base_url!r} is not an http(s) URL")
        base = base if base.endswith("/") else base + "/"
    files: list[tuple[str, Path, str]] = []
    dropped: list[Dropped] = []
    real_root = root.resolve()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in LOCAL_SUFFIXES):
        rel = path.relative_to(root).as_posix()
        # A symlink (to the file or to a folder above it) may point anywhere on the machine:
        # only what really lies inside the folder is read.
        real = path.resolve()
        # base is a normalised http(s) URL, so base + rel normalises (to itself or tidier).
        url = (normalize_url(base + rel) or base + rel) if base else real.as_uri()
        if not real.is_relative_to(real_root):
            url = (normalize_url(base + rel) or base + rel) if base else path.absolute().as_uri()
            dropped.append(
                Dropped(
                    page_id(url),
                    url,
                    "outside_local_dir",
                    f"{rel} resolves to {real}, outside crawl.local_dir {real_root}",
                )
            )
            continue
        twin = next((path.with_suffix(x) for x in (".md", ".markdown") if path.with_suffix(x).is_file()), None)
        if LOCAL_SUFFIXES[path.suffix.lower()] == "text/html" and twin is not None:
            # The page's Markdown source says the same without the chrome, as on the web.
            dropped.append(Dropped(page_id(url), url, "markdown_twin", f"{twin.name} is read instead"))
            continue
        files.append((url, real, LOCAL_SUFFIXES[path.suffix.lower()]))
    return files, dropped
