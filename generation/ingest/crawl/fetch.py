"""One GET with politeness (per-host concurrency and delay), retries with backoff, Retry-After,
a whole-request timeout and a streamed size limit. Redirects are NOT followed here: the crawler
follows them hop by hop so that every hop is checked against scope and robots."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

RETRY_STATUSES = {429, 500, 502, 503, 504}
ERROR_BODY_LIMIT = 64 * 1024  # enough to recognise a captcha/login page behind a 403/503


class FetchError(Exception):
    def __init__(self, reason: str, detail: str = "", retryable: bool = False):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail, self.retryable = reason, detail, retryable


@dataclass
class Response:
    url: str
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    attempts: int = 1

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class HostLimiter:
    """At most `limit` requests in flight to one host, request starts spaced by `delay` seconds."""

    def __init__(self, limit: int, delay: float):
        self._sem = asyncio.Semaphore(limit)
        self._delay = delay
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def __aenter__(self):
        await self._sem.acquire()
        if self._delay:
            async with self._lock:
                now = asyncio.get_running_loop().time()
                wait = self._next - now
                self._next = max(now, self._next) + self._delay
            if wait > 0:
                await asyncio.sleep(wait)
        return self

    async def __aexit__(self, *exc):
        self._sem.release()


class Fetcher:
    def __init__(
        self,
        client,
        *,
        concurrency_per_host: int,
        delay_s: float,
        timeout_s: float,
        retries: int,
        backoff_s: float,
        max_retry_after_s: float,
        max_bytes: int,
        no_retry_body: Callable[[bytes], bool] | None = None,
    ):
        self.client = client
        self.concurrency_per_host, self.delay_s = concurrency_per_host, delay_s
        self.timeout_s, self.retries, self.backoff_s = timeout_s, retries, backoff_s
        self.max_retry_after_s, self.max_bytes = max_retry_after_s, max_bytes
        # A 503 that is really a bot check will not go away by asking again.
        self.no_retry_body = no_retry_body
        self._limiters: dict[str, HostLimiter] = {}
        self.requests = 0

    def limiter(self, url: str) -> HostLimiter:
        host = urlsplit(url).netloc
        if host not in self._limiters:
            self._limiters[host] = HostLimiter(self.concurrency_per_host, self.delay_s)
        return self._limiters[host]

    async def get(
        self,
        url: str,
        headers: dict[str, str] | None = None,
        content_ok: Callable[[str], bool] | None = None,
        retries: int | None = None,
    ) -> Response:
        """The response for `url` (any status; 3xx bodies are not read). Raises FetchError."""
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                async with self.limiter(url):
                    response = await self._once(url, headers or {}, content_ok)
            except FetchError as exc:
                if not exc.retryable or attempt == retries:
                    raise
                await asyncio.sleep(self.backoff_s * 2**attempt)
                continue
            response.attempts = attempt + 1
            if response.status not in RETRY_STATUSES or attempt == retries:
                return response
            if self.no_retry_body is not None and self.no_retry_body(response.body):
                return response
            wait = parse_retry_after(response.headers.get("retry-after"))
            wait = self.backoff_s * 2**attempt if wait is None else min(wait, self.max_retry_after_s)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _once(self, url: str, headers: dict[str, str], content_ok) -> Response:
        import httpx

        self.requests += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self.client.stream("GET", url, headers=headers) as r:
                    resp_headers = {k.lower(): v for k, v in r.headers.items()}
                    status = r.status_code
                    if 300 <= status < 400:
                        return Response(url, status, resp_headers, b"")
                    if status >= 400:
                        return Response(
                            url, status, resp_headers, await _read_capped(r, ERROR_BODY_LIMIT, truncate=True)
                        )
                    ctype = resp_headers.get("content-type", "")
                    if content_ok is not None and not content_ok(ctype):
                        raise FetchError("unsupported_content_type", ctype or "(no content-type)")
                    length = resp_headers.get("content-length", "")
                    if length.isdigit() and int(length) > self.max_bytes:
                        raise FetchError("too_large", f"Content-Length {length} > max_bytes {self.max_bytes}")
                    body = await _read_capped(r, self.max_bytes, truncate=False)
                    return Response(url, status, resp_headers, body)
        except TimeoutError as exc:
            raise FetchError("timeout", f"no complete response within {self.timeout_s}s", retryable=True) from exc
        except httpx.TimeoutException as exc:
            raise FetchError("timeout", f"{type(exc).__name__} after {self.timeout_s}s", retryable=True) from exc
        except httpx.TransportError as exc:
            raise FetchError("network_error", f"{type(exc).__name__}: {exc}", retryable=True) from exc
        except httpx.DecodingError as exc:
            raise FetchError("network_error", f"bad content encoding: {exc}") from exc


async def _read_capped(r, limit: int, truncate: bool) -> bytes:
    chunks, total = [], 0
    async for chunk in r.aiter_bytes():
        total += len(chunk)
        if total > limit:
            if truncate:
                chunks.append(chunk[: limit - (total - len(chunk))])
                break
            raise FetchError("too_large", f"body exceeds max_bytes {limit}")
        chunks.append(chunk)
    return b"".join(chunks)
