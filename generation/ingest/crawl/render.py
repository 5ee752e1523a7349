"""Headless Chromium (the system browser, via Playwright) for pages that only exist after JS runs."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from pathlib import Path

from docs2qa.errors import Docs2qaError

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def check_renderer(chromium_path: str) -> None:
    """Fail before crawling, not after the first JS page, when rendering cannot work."""
    if not Path(chromium_path).is_file():
        raise Docs2qaError(
            f"crawl.render_js needs Chromium at {chromium_path}, which does not exist.",
            "apt-get install chromium (or set crawl.chromium_path; never `playwright install`)",
        )


class Renderer:
    """One browser for the crawl, started on first use, with a fresh profile that is deleted after."""

    def __init__(self, chromium_path: str, user_agent: str, timeout_s: float, concurrency: int = 2):
        self.chromium_path, self.user_agent, self.timeout_s = chromium_path, user_agent, timeout_s
        self._sem = asyncio.Semaphore(concurrency)
        self._start_lock = asyncio.Lock()
        self._playwright = self._context = None
        self._profile: str | None = None
        self.rendered = 0

    async def _ensure(self):
        async with self._start_lock:
            if self._context is not None:
                return self._context
            from playwright.async_api import async_playwright

            self._profile = tempfile.mkdtemp(prefix="docs2qa-chromium-")
            self._playwright = await async_playwright().start()
            self._context = await self._playwright.chromium.launch_persistent_context(
                self._profile,
                executable_path=self.chromium_path,
                headless=True,
                args=CHROMIUM_ARGS,
                user_agent=self.user_agent,
                java_script_enabled=True,
            )
            return self._context

    async def render(self, url: str) -> str:
        """The DOM as HTML after the page's scripts ran and the network went quiet."""
        context = await self._ensure()
        async with self._sem:
            page = await context.new_page()
            try:
                timeout_ms = self.timeout_s * 1000
                await page.goto(url, wait_until="load", timeout=timeout_ms)
                with contextlib.suppress(Exception):
                    await page.wait_for_load_state("networkidle", timeout=min(timeout_ms, 5000))
                self.rendered += 1
                return await page.content()
            finally:
                await page.close()

    async def close(self) -> None:
        try:
            if self._context is not None:
                await self._context.close()
            if self._playwright is not None:
                await self._playwright.stop()
        finally:
            if self._profile:
                shutil.rmtree(self._profile, ignore_errors=True)
