"""Crawl's journal of finished URLs, fsync'd per line, so a killed crawl resumes without refetching.

A dropped URL's line also holds the drops of the redirect hops it went through (`also`): they are
decided with it, in the same line, and entered under their own URLs too.

The JSONL journal itself (complete lines only, a killed writer's half line cut off): docs2qa/journal.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

from docs2qa import journal
from docs2qa.records import Dropped, Page


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.entries: dict[str, Page | Dropped] = {}
        self._also: dict[str, list[Dropped]] = {}
        self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Open for the journal's lifetime (close() ends it), so no with-block.
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    def _load(self) -> None:
        journal.drop_partial_last_line(self.path)
        for entry in journal.read(self.path, skip_invalid=True):
            try:
                result = Page(**entry["page"]) if "page" in entry else Dropped(**entry["dropped"])
                also = [Dropped(**hop) for hop in entry.get("also", [])]
            except (KeyError, TypeError):
                continue  # a line this version cannot read: that URL is simply redone
            self._enter(entry["url"], result, also)

    def get(self, url: str) -> Page | Dropped | None:
        return self.entries.get(url)

    def also(self, url: str) -> list[Dropped]:
        """The drops of the redirect hops `url` went through."""
        return self._also.get(url, [])

    def append(self, url: str, result: Page | Dropped, also: Sequence[Dropped] = ()) -> None:
        self._write(url, result, list(also))
        os.fsync(self._file.fileno())

    async def append_async(self, url: str, result: Page | Dropped, also: Sequence[Dropped] = ()) -> None:
        """Same as append, with the fsync in a worker thread so the event loop keeps fetching."""
        import asyncio

        self._write(url, result, list(also))
        await asyncio.to_thread(os.fsync, self._file.fileno())

    def _write(self, url: str, result: Page | Dropped, also: list[Dropped]) -> None:
        key = "page" if isinstance(result, Page) else "dropped"
        entry: dict[str, object] = {"url": url, key: dataclasses.asdict(result)}
        if also:
            entry["also"] = [dataclasses.asdict(hop) for hop in also]
        line = json.dumps(entry, ensure_ascii=False)
        self._file.write(line + "\n")  # one write per whole line: lines never interleave
        self._file.flush()
        self._enter(url, result, also)

    def _enter(self, url: str, result: Page | Dropped, also: list[Dropped]) -> None:
        self.entries[url] = result
        self._also[url] = also
        for hop in also:  # a hop's own line, if it has one, says more than its redirect did
            self.entries.setdefault(hop.ref, hop)

    def close(self) -> None:
        self._file.close()
