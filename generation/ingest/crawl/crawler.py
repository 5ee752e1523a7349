"""Crawl orchestration: sources -> scope/robots/address checks -> fetch (Markdown twin first,
redirects hop by hop, conditional GET) -> detectors (render JS shells) -> Page or Dropped,
journaled as each URL finishes."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from docs2qa.errors import ConfigError, Docs2qaError
from docs2qa.fsio import storage_error
from docs2qa.records import Dropped, Page, page_id, utc_now

from . import detect
from .fetch import Fetcher, FetchError, Response
from .journal import Journal
from .scope import (
    PAGE_EXTENSIONS,
    AddressGuard,
    Mirror,
    Scope,
    extension_of,
    folder_of,
    host_of,
    markdown_twin,
    normalize_url,
    origin,
)

if TYPE_CHECKING:
    from docs2qa.progress import LineTracker, Tracker

    from .render import Renderer

MAX_REDIRECTS = 10
# Stop probing `.md` twins on a host after this many misses without a single hit,
# so sites without twins do not pay a second request per page.
TWIN_MISSES_BEFORE_GIVING_UP = 20
HTML_TYPES = ("text/html", "application/xhtml+xml")
MARKDOWN_TYPES = ("text/markdown", "text/x-markdown", "text/plain")


@dataclass
class CrawlOutcome:
    pages: list[Page]
    dropped: list[Dropped]
    attempted: int
    changes: dict[str, int]
    not_scheduled: int = 0  # in-scope URLs found after max_pages was reached
    requests: int = 0  # HTTP requests made (retries, probes and robots.txt included)


def _usable(url: str, key: str) -> str:
    """A configured URL, normalised; one that cannot be fetched is the config's error, not a crash later."""
    normal = normalize_url(url)
    if normal is None:
        raise ConfigError(
            f"crawl.{key} holds {url!r}, which is not a URL a page can be fetched from",
            "write it as http(s)://host/path",
        )
    return normal


def _mime(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def page_content_ok(content_type: str) -> bool:
    return _mime(content_type) in HTML_TYPES + MARKDOWN_TYPES


@dataclass
class _Result:
    page: Page | None = None
    dropped: Dropped | None = None
    links: list[str] = field(default_factory=list)
    also: list[Dropped] = field(default_factory=list)  # the redirect hops a dropped URL went through

    @property
    def outcome(self) -> Page | Dropped:
        outcome = self.page or self.dropped
        assert outcome is not None, "a _Result holds a page or a dropped row"
        return outcome


class Crawl:
    def __init__(self, cfg, blobs, previous: list[Page], journal: Path):
        self.cfg, self.blobs = cfg, blobs
        self.previous = {p.url: p for p in previous}
        self.journal_path = journal
        self.seeds, self.sitemaps, self.llms_txt, scope = (
            [_usable(u, key) for u in getattr(cfg, key)] for key in ("seeds", "sitemaps", "llms_txt", "scope")
        )
        configured = [*self.seeds, *self.sitemaps, *self.llms_txt, *scope]
        self.hosts = {host_of(u) for u in configured}
        starts = [*self.seeds, *self.sitemaps, *self.llms_txt]
        self.scope = Scope(list(cfg.scope) or [folder_of(u) for u in starts], self.hosts)
        self.mirror = Mirror(cfg.base_url, [origin(u) for u in configured])
        self.seen: set[str] = set()
        self.claimed: dict[str, str] = {}  # final URL -> the scheduled URL that produced it
        self.canonical: dict[str, str] = {}  # page URL -> the other URL its rel=canonical names
        self.pages: dict[str, Page] = {}
        self.dropped: list[Dropped] = []
        self._dropped_keys: set[tuple[str, str]] = set()
        self.attempted = self.not_scheduled = 0
        self.tasks: set[asyncio.Task] = set()
        self.fatal: BaseException | None = None
        self.twin_stats: dict[str, Counter] = {}
        self.renderer: Renderer | None = None
        self.tracker: Tracker | LineTracker | None = None

    @property
    def _progress(self) -> Tracker | LineTracker:
        if self.tracker is None:
            raise RuntimeError("pages are scheduled only inside crawl(), which starts the progress tracker")
        return self.tracker

    # ---- bookkeeping -------------------------------------------------------------

    def drop(self, url: str, reason: str, detail: str = "") -> Dropped:
        d = Dropped(page_id(url), url, reason, detail)
        self._record_dropped(d)
        return d

    def _record_dropped(self, d: Dropped) -> None:
        if (d.ref, d.reason) not in self._dropped_keys:
            self._dropped_keys.add((d.ref, d.reason))
            self.dropped.append(d)

    def schedule(self, url: str | None, via: str, *, local_path: Path | None = None, ctype: str = "") -> None:
        if url is None or url in self.seen:
            return
        self.seen.add(url)
        if local_path is None:
            reason = self.scope.check(url)
            if reason:
                self.drop(url, reason, f"found via {via}")
                return
            if extension_of(url) not in PAGE_EXTENSIONS:
                self.drop(
                    url, "unsupported_content_type", f"extension {extension_of(url)} (not fetched), found via {via}"
                )
                return
        if self.attempted >= self.cfg.max_pages:
            self.not_scheduled += 1
            return
        self.attempted += 1
        self._progress.grow()
        self._idle.clear()
        task = asyncio.create_task(self.process(url, local_path, ctype))
        self.tasks.add(task)
        # Done tasks leave the set themselves; waiting on an Event instead of asyncio.wait over
        # every task keeps the bookkeeping O(1) per page on large crawls.
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not self.tasks or self.fatal is not None:
            self._idle.set()

    async def process(self, url: str, local_path: Path | None, ctype: str) -> None:
        try:
            known = self.journal.get(url)
            if isinstance(known, Page) and not self.blobs.has(known.body_sha256):
                known = None  # its stored body is damaged or gone: fetch it again (the new line wins)
            if known is not None:
                result = _Result(page=known) if isinstance(known, Page) else _Result(dropped=known)
                result.also = self.journal.also(url)
                if result.page is not None and local_path is None and self.cfg.follow_links:
                    result.links = self.links_from_blob(result.page)
            else:
                if local_path is not None:
                    result = await self.read_local(url, local_path, ctype)
                else:
                    result = await self.fetch_page(url)
                await self.journal.append_async(url, result.outcome, result.also)
            self.record(url, result)
        except Docs2qaError as exc:
            self.fatal = self.fatal or exc
        except Exception as exc:
            if storage_error(exc):  # the machine's failure, not the page's: stop, the rerun fetches it
                self.fatal = self.fatal or exc
                return
            d = self.drop(url, "crawl_error", f"{type(exc).__name__}: {exc}")
            self.journal.append(url, d)
        finally:
            self._progress.advance()

    def record(self, url: str, result: _Result) -> None:
        for hop in result.also:
            self.seen.add(hop.ref)  # met on this URL's redirects: not fetched again on its own
            self._record_dropped(hop)
        if result.dropped is not None:
            self._record_dropped(result.dropped)
            for link in result.links:  # a redirect stub's target
                self.schedule(link, url)
            return
        page = result.page
        assert page is not None, "a _Result holds a page or a dropped row"
        owner = self.claimed.get(page.url)
        if owner is not None and owner != url:
            self.drop(url, "duplicate", f"same final URL {page.url} as {owner}")
            return
        self.claimed[page.url] = url
        self.seen.add(page.url)
        self.pages[page.url] = page
        for link in result.links:
            self.schedule(link, page.url)

    # ---- fetching ----------------------------------------------------------------

    async def guard(self, url: str, fetch_url: str) -> Dropped | None:
        detail = await self.addresses.check(fetch_url)
        if detail:
            return Dropped(page_id(url), url, "private_address", detail)
        if not await self.robots.allowed(fetch_url):
            return Dropped(
                page_id(url),
                url,
                "robots_disallowed",
                f"robots.txt disallows {urlsplit(fetch_url).path} for {self.cfg.user_agent}",
            )
        return None

    def conditional_headers(self, prev: Page | None, hop_url: str) -> dict[str, str]:
        if (
            prev is None
            or self.mirror.to_canonical(prev.fetched_url) != hop_url
            or not self.blobs.has(prev.body_sha256)
        ):
            return {}
        headers = {}
        if prev.etag:
            headers["If-None-Match"] = prev.etag
        if prev.last_modified:
            headers["If-Modified-Since"] = prev.last_modified
        return headers

    async def fetch_page(self, url: str) -> _Result:
        prev = self.previous.get(url)
        blocked = await self.guard(url, self.mirror.to_fetch(url))
        if blocked:
            return _Result(dropped=blocked)
        twin = markdown_twin(url) if self.cfg.markdown_alternates else None
        host = urlsplit(url).netloc
        stats = self.twin_stats.setdefault(host, Counter())
        if twin and (stats["hit"] or stats["miss"] < TWIN_MISSES_BEFORE_GIVING_UP):
            result = await self.try_twin(url, twin, prev)
            stats["hit" if result else "miss"] += 1
            if result:
                return result
        try:
            response, final = await self.follow(url, prev)
        except _Drop as exc:
            return _Result(dropped=exc.dropped, also=exc.also)
        if response.status == 304:
            return self.unchanged(prev, final, response)
        html = _mime(response.content_type) in HTML_TYPES
        return await self.make_page(url, final, response, "html" if html else "markdown")

    async def try_twin(self, url: str, twin: str, prev: Page | None) -> _Result | None:
        fetch_url = self.mirror.to_fetch(twin)
        if await self.guard(twin, fetch_url):
            return None
        headers = {"Accept": "text/markdown, text/plain;q=0.9", **self.conditional_headers(prev, twin)}
        try:
            response = await self.fetcher.get(
                fetch_url, headers, content_ok=lambda ct: _mime(ct) in MARKDOWN_TYPES, retries=0
            )
        except FetchError as exc:
            if exc.reason == "too_large":
                return _Result(dropped=Dropped(page_id(url), url, exc.reason, f"markdown twin: {exc.detail}"))
            return None
        if response.status == 304 and self.conditional_headers(prev, twin):
            return self.unchanged(prev, url, response)
        if response.status != 200:
            return None
        return await self.make_page(url, url, response, "markdown")

    async def follow(self, url: str, prev: Page | None) -> tuple[Response, str]:
        """Final response and its canonical URL; every hop is checked like a link. When `url` is
        dropped, so is each hop it redirected through, with the same reason: a hop is not
        fetched again on its own, so it would otherwise be recorded nowhere."""
        chain = [url]
        try:
            return await self._follow(url, prev, chain)
        except FetchError as exc:
            dropped = Dropped(page_id(url), url, exc.reason, exc.detail)
        except _Drop as exc:
            dropped = exc.dropped
        also = [
            Dropped(page_id(hop), hop, dropped.reason, f"redirect hop of {url}: {dropped.detail}") for hop in chain[1:]
        ]
        raise _Drop(dropped, also)

    async def _follow(self, url: str, prev: Page | None, chain: list[str]) -> tuple[Response, str]:
        current = url
        for hop in range(MAX_REDIRECTS + 1):
            fetch_url = self.mirror.to_fetch(current)
            if hop:
                blocked = await self.guard(url, fetch_url)
                if blocked:
                    raise _Drop(
                        Dropped(blocked.item_id, url, blocked.reason, f"redirect hop {current}: {blocked.detail}")
                    )
            response = await self.fetcher.get(
                fetch_url, self.conditional_headers(prev, current), content_ok=page_content_ok
            )
            if response.status == 304:
                if self.conditional_headers(prev, current):
                    return response, current
                raise _Drop(Dropped(page_id(url), url, "http_304", "304 without a conditional request"))
            if 300 <= response.status < 400:
                location = response.headers.get("location")
                target = normalize_url(location, fetch_url) if location else None
                if target is None:
                    raise _Drop(
                        Dropped(
                            page_id(url),
                            url,
                            f"http_{response.status}",
                            f"redirect without a usable Location ({location!r})",
                        )
                    )
                target = self.mirror.to_canonical(target)
                if detect.LOGIN_PATH.search(urlsplit(target).path + ("?" if urlsplit(target).query else "")):
                    raise _Drop(Dropped(page_id(url), url, "login_wall", f"redirects to {target}"))
                reason = self.scope.check(target)
                if reason:
                    raise _Drop(
                        Dropped(page_id(url), url, "redirect_out_of_scope", f"{current} -> {target} ({reason})")
                    )
                if target in chain:
                    raise _Drop(Dropped(page_id(url), url, "redirect_loop", " -> ".join([*chain, target])))
                if target in self.seen and target != url:
                    # The target is crawled (or was rejected) as its own URL: no second fetch.
                    raise _Drop(Dropped(page_id(url), url, "duplicate", f"redirects to {target}, crawled on its own"))
                self.seen.add(target)
                chain.append(target)
                current = target
                continue
            if response.status == 401:
                raise _Drop(Dropped(page_id(url), url, "login_wall", "HTTP 401 (authentication required)"))
            if response.status >= 400:
                if detect.looks_like_captcha(response.body):
                    raise _Drop(Dropped(page_id(url), url, "captcha", f"HTTP {response.status} bot-check page"))
                tries = f" after {response.attempts} attempts" if response.attempts > 1 else ""
                raise _Drop(Dropped(page_id(url), url, f"http_{response.status}", f"{fetch_url}{tries}"))
            if response.status != 200:
                raise _Drop(Dropped(page_id(url), url, f"http_{response.status}", "only 200 responses are kept"))
            return response, current
        raise _Drop(Dropped(page_id(url), url, "too_many_redirects", f"more than {MAX_REDIRECTS} hops"))

    def unchanged(self, prev: Page | None, final: str, response: Response) -> _Result:
        if prev is None:  # recorded as this page's crawl_error
            raise RuntimeError("answered 304 Not Modified to a request that was not conditional")
        page = Page(
            page_id=prev.page_id,
            url=prev.url,
            fetched_url=prev.fetched_url,
            title=prev.title,
            source_format=prev.source_format,
            content_type=prev.content_type,
            body_sha256=prev.body_sha256,
            bytes=prev.bytes,
            fetched_at=utc_now(),
            etag=response.headers.get("etag", prev.etag),
            last_modified=response.headers.get("last-modified", prev.last_modified),
            rendered=prev.rendered,
            change="unchanged",
        )
        links = self.links_from_blob(page) if self.cfg.follow_links else []
        return _Result(page=page, links=links)

    async def make_page(
        self,
        url: str,
        final: str,
        response: Response,
        source_format: str,
        *,
        fetched_url: str | None = None,
        follow: bool = True,
    ) -> _Result:
        body = response.body
        binary = detect.binary_signature(body)
        if binary:
            return _Result(
                dropped=Dropped(
                    page_id(url),
                    url,
                    "binary_content",
                    f"served as {response.content_type or source_format} but is binary: {binary}",
                )
            )
        html = source_format == "html"
        analysis = detect.analyze_html(body) if html else detect.analyze_markdown(body)
        verdict = detect.classify(analysis, self.cfg.min_text_chars, html=html)
        rendered = False
        if verdict and verdict[0] == "js_shell" and self.cfg.render_js:
            body, analysis, verdict = await self.render(fetched_url or response.url)
            rendered = True
            if verdict and verdict[0] in ("js_shell", "empty"):
                verdict = ("js_shell", f"still {verdict[1]} after rendering in Chromium")
        if html and analysis.refresh and len(analysis.main_text) < detect.STUB_TEXT:
            # An old URL kept as a meta-refresh stub: followed like an HTTP redirect (the target
            # goes through the scope check when scheduled); a local file's target is read on its own.
            target = normalize_url(analysis.refresh, final)
            target = self.mirror.to_canonical(target) if target else None
            links = [target] if target and local_path_of(response) is None else []
            return _Result(
                dropped=Dropped(
                    page_id(url), url, "redirect_stub", "meta refresh to " + (target or repr(analysis.refresh))
                ),
                links=links,
            )
        if html and analysis.noindex:
            return _Result(dropped=Dropped(page_id(url), url, "noindex", "<meta name=robots content=noindex>"))
        if verdict:
            return _Result(dropped=Dropped(page_id(url), url, verdict[0], verdict[1]))
        if html:
            self.note_canonical(final, analysis)
        digest = await asyncio.to_thread(self.blobs.put, body)
        prev = self.previous.get(final)
        change = "new" if prev is None else ("unchanged" if prev.body_sha256 == digest else "changed")
        page = Page(
            page_id=page_id(final),
            url=final,
            fetched_url=fetched_url or response.url,
            title=detect.title_for(analysis, final),
            source_format=source_format,
            content_type=response.content_type,
            body_sha256=digest,
            bytes=len(body),
            fetched_at=utc_now(),
            etag=response.headers.get("etag", ""),
            last_modified=response.headers.get("last-modified", ""),
            rendered=rendered,
            change=change,
        )
        links = self.resolve_links(analysis, final) if follow and self.cfg.follow_links else []
        return _Result(page=page, links=links)

    async def render(self, fetch_url: str):
        from .render import Renderer

        if self.renderer is None:
            self.renderer = Renderer(self.cfg.chromium_path, self.cfg.user_agent, self.cfg.timeout_s)
        html = (await self.renderer.render(fetch_url)).encode("utf-8")
        analysis = detect.analyze_html(html)
        return html, analysis, detect.classify(analysis, self.cfg.min_text_chars, html=True)

    def resolve_links(self, analysis: detect.Analysis, page_url: str) -> list[str]:
        base = normalize_url(analysis.base_href, page_url) if analysis.base_href else page_url
        base = self.mirror.to_canonical(base) if base else page_url
        links = []
        for href in analysis.links:
            if href.startswith(("mailto:", "javascript:", "tel:", "data:", "#")):
                continue
            target = normalize_url(href, base)
            if target is not None:
                links.append(self.mirror.to_canonical(target))
        return links

    def links_from_blob(self, page: Page) -> list[str]:
        body = self.blobs.get(page.body_sha256)
        html = page.source_format == "html"
        analysis = detect.analyze_html(body) if html else detect.analyze_markdown(body)
        if html:
            self.note_canonical(page.url, analysis)
        return self.resolve_links(analysis, page.url)

    def note_canonical(self, url: str, analysis: detect.Analysis) -> None:
        target = normalize_url(analysis.canonical, url) if analysis.canonical else None
        target = self.mirror.to_canonical(target) if target else None
        if target and target != url:
            self.canonical[url] = target

    async def read_local(self, url: str, path: Path, ctype: str) -> _Result:
        size = path.stat().st_size
        if size > self.cfg.max_bytes:
            return _Result(
                dropped=Dropped(page_id(url), url, "too_large", f"{size} bytes > max_bytes {self.cfg.max_bytes}")
            )
        response = Response(path.resolve().as_uri(), 200, {"content-type": ctype}, path.read_bytes())
        fmt = "html" if ctype == "text/html" else "markdown"
        return await self.make_page(url, url, response, fmt, follow=False)

    # ---- the whole crawl ---------------------------------------------------------

    async def run(self) -> CrawlOutcome:
        import httpx

        from docs2qa.progress import track

        from .robots import Robots
        from .sources import llms_txt_urls, local_files, sitemap_urls

        cfg = self.cfg
        if cfg.render_js:
            from .render import check_renderer

            check_renderer(cfg.chromium_path)
        local, outside = local_files(cfg.local_dir, cfg.local_base_url) if cfg.local_dir else ([], [])
        for d in outside:
            self._record_dropped(d)
        pool = max(10, cfg.concurrency_per_host * max(1, len(self.hosts)) * 2)
        client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(cfg.timeout_s),
            headers={
                "User-Agent": cfg.user_agent,
                "Accept": "text/html,application/xhtml+xml;q=0.9,text/markdown;q=0.8,text/plain;q=0.7,*/*;q=0.1",
            },
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        )
        self.fetcher = Fetcher(
            client,
            concurrency_per_host=cfg.concurrency_per_host,
            delay_s=cfg.delay_s,
            timeout_s=cfg.timeout_s,
            retries=cfg.retries,
            backoff_s=cfg.backoff_s,
            max_retry_after_s=cfg.max_retry_after_s,
            max_bytes=cfg.max_bytes,
            no_retry_body=detect.looks_like_captcha,
        )
        self.robots = Robots(self.fetcher, cfg.user_agent, cfg.respect_robots)
        self.addresses = AddressGuard(cfg.allow_private_addresses)
        self.journal = Journal(self.journal_path)
        self._idle = asyncio.Event()
        try:
            with track("crawl", 0) as tracker:
                self.tracker = tracker
                for url, path, ctype in local:
                    self.schedule(url, "local_dir", local_path=path, ctype=ctype)
                for seed in self.seeds:
                    self.schedule(seed, "seeds")
                await self._expand_sources(sitemap_urls, self.sitemaps, "sitemap")
                await self._expand_sources(llms_txt_urls, self.llms_txt, "llms.txt")
                if self.tasks:
                    await self._idle.wait()
                if self.fatal is not None:
                    for task in self.tasks:
                        task.cancel()
                    await asyncio.gather(*self.tasks, return_exceptions=True)
                    raise self.fatal
        finally:
            self.journal.close()
            await client.aclose()
            if self.renderer is not None:
                await self.renderer.close()
        return self.outcome()

    async def _expand_sources(self, expand, urls: list[str], what: str) -> None:
        for url in urls:  # normalised in __init__
            detail = await self.addresses.check(self.mirror.to_fetch(url))
            if detail:
                self.drop(url, "private_address", f"{what}: {detail}")
                continue
            result = await expand(self.fetcher, self.mirror, url, self.hosts)
            for d in result.dropped:
                self._record_dropped(d)
            for target in result.urls:
                self.schedule(target, f"{what} {url}")

    def dedupe_bodies(self) -> list[Page]:
        """One page per identical body ('/docs/' vs '/docs/index.html', 'x' vs 'x.md'): the shortest URL wins,
        decided after the crawl so that the choice does not depend on fetch order."""
        kept: dict[str, Page] = {}
        for page in sorted(self.pages.values(), key=lambda p: (len(p.url), p.url)):
            first = kept.get(page.body_sha256)
            if first is None:
                kept[page.body_sha256] = page
            else:
                self._record_dropped(Dropped(page.page_id, page.url, "duplicate", f"same body as {first.url}"))
        return list(kept.values())

    def drop_non_canonical(self, pages: list[Page]) -> list[Page]:
        """A page whose rel=canonical names another kept page is that page's copy. When the
        canonical page was not kept (out of scope, failed) the copy stays: better twice than never."""
        kept = {p.url for p in pages}
        out = []
        for page in pages:
            target = self.canonical.get(page.url)
            if target in kept and self.canonical.get(target) != page.url:
                self._record_dropped(Dropped(page.page_id, page.url, "non_canonical", f"rel=canonical names {target}"))
            else:
                out.append(page)
        return out

    def outcome(self) -> CrawlOutcome:
        pages = sorted(self.drop_non_canonical(self.dedupe_bodies()), key=lambda p: p.url)
        changes = Counter(p.change for p in pages)
        current = {p.url for p in pages}
        return CrawlOutcome(
            pages=pages,
            dropped=sorted(self.dropped, key=lambda d: (d.ref, d.reason)),
            attempted=self.attempted,
            changes={
                "new": changes["new"],
                "changed": changes["changed"],
                "unchanged": changes["unchanged"],
                "gone": sum(1 for url in self.previous if url not in current),
            },
            not_scheduled=self.not_scheduled,
            requests=self.fetcher.requests,
        )


def local_path_of(response: Response) -> str | None:
    return response.url if response.url.startswith("file:") else None


class _Drop(Exception):
    def __init__(self, dropped: Dropped, also: list[Dropped] | None = None):
        super().__init__(dropped.reason)
        self.dropped, self.also = dropped, also or []


def crawl_site(cfg, blobs, previous: list[Page], journal: Path) -> CrawlOutcome:
    """Crawl what `cfg` (a CrawlConfig) describes; see the package docstring."""
    return asyncio.run(Crawl(cfg, blobs, previous, journal).run())
