"""Crawl's journal of finished URLs, fsync'd per line, so a killed crawl resumes without refetching.

The JSONL journal itself (complete lines only, a killed writer's half line cut off): docs2qa/journal.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from docs2qa import journal
from docs2qa.records import Dropped, Page


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.entries: dict[str, Page | Dropped] = {}
        self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Open for the journal's lifetime (close() ends it), so no with-block.
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def _load(self) -> None:
        journal.drop_partial_last_line(self.path)
        for entry in journal.read(self.path, skip_invalid=True):
            try:
                result = Page(**entry["page"]) if "page" in entry else Dropped(**entry["dropped"])
            except (KeyError, TypeError):
                continue  # a line this version cannot read: that URL is simply redone
            self.entries[entry["url"]] = result

    def get(self, url: str) -> Page | Dropped | None:
        return self.entries.get(url)

    def append(self, url: str, result: Page | Dropped) -> None:
        self._write(url, result)
        os.fsync(self._file.fileno())

    async def append_async(self, url: str, result: Page | Dropped) -> None:
        """Same as append, with the fsync in a worker thread so the event loop keeps fetching."""
        import asyncio

        self._write(url, result)
        await asyncio.to_thread(os.fsync, self._file.fileno())

    def _write(self, url: str, result: Page | Dropped) -> None:
        key = "page" if isinstance(result, Page) else "dropped"
        line = json.dumps({"url": url, key: dataclasses.asdict(result)}, ensure_ascii=False)
        self._file.write(line + "\n")  # one write per whole line: lines never interleave
        self._file.flush()
        self.entries[url] = result

    def close(self) -> None:
        self._file.close()
