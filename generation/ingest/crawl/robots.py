"""robots.txt per host, fetched with our own client and fed to urllib.robotparser."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from .fetch import Fetcher, FetchError


class Robots:
    def __init__(self, fetcher: Fetcher, user_agent: str, enabled: bool = True):
        self.fetcher, self.user_agent, self.enabled = fetcher, user_agent, enabled
        self._parsers: dict[str, asyncio.Future] = {}

    async def allowed(self, fetch_url: str) -> bool:
        if not self.enabled:
            return True
        parts = urlsplit(fetch_url)
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._parsers:
            # One fetch per host even when many pages of that host start at once.
            self._parsers[key] = asyncio.ensure_future(self._load(key))
        parser = await self._parsers[key]
        return parser.can_fetch(self.user_agent, fetch_url)

    async def _load(self, origin: str) -> RobotFileParser:
        parser = RobotFileParser()
        try:
            response = await self.fetcher.get(origin + "/robots.txt")
        except FetchError:
            # Unreachable robots.txt: treated as "no rules" like a 404 (RFC 9309 allows
            # this for 4xx; for network errors the page fetch will fail on its own).
            parser.parse([])
            return parser
        if response.status in (401, 403):
            # RFC 9309: an authorization error on robots.txt means the whole site is off limits.
            parser.disallow_all = True  # type: ignore[attr-defined]  # set in its __init__; typeshed omits it
        elif response.status >= 500:
            parser.disallow_all = True  # type: ignore[attr-defined]
        elif response.status == 200:
            parser.parse(response.body.decode("utf-8", "replace").splitlines())
        else:
            parser.parse([])  # 404 and friends: allow all
        return parser
