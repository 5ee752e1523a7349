"""A real kill: crawl in a subprocess, SIGKILL it while a slow page is in flight, then resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

CHILD = """
import json, sys
from pathlib import Path
from docs2qa.generation.ingest.config import CrawlConfig
from docs2qa.store import BlobStore
from docs2qa.generation.ingest.crawl import crawl_site
cfg = CrawlConfig(**json.loads(sys.argv[1]))
crawl_site(cfg, BlobStore(Path(sys.argv[2])), [], Path(sys.argv[3]))
"""


def test_sigkill_mid_crawl_then_resume(site, site_server, tmp_path):
    settings = dict(
        seeds=[f"{site}/docs/"],
        allow_private_addresses=True,
        backoff_s=0.01,
        max_retry_after_s=0.05,
        retries=2,
        timeout_s=60,
        max_bytes=1_000_000,
        concurrency_per_host=2,
    )
    blobs, journal = tmp_path / "blobs", tmp_path / "journal.jsonl"
    site_server.slow_delay = 60  # the crawl cannot finish while /docs/slow hangs
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(settings), str(blobs), str(journal)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            lines = journal.read_text().splitlines() if journal.exists() else []
            if site_server.count("/docs/slow") and len(lines) >= 5:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the child crawl made no progress")
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    journaled = [json.loads(line)["url"] for line in journal.read_text().splitlines()]
    assert f"{site}/docs/slow" not in journaled
    site_server.reset_counts()
    site_server.slow_delay = 0

    from docs2qa.generation.ingest.config import CrawlConfig
    from docs2qa.generation.ingest.crawl import crawl_site
    from docs2qa.store import BlobStore

    outcome = crawl_site(CrawlConfig(**settings), BlobStore(blobs), [], journal)
    for url in journaled:
        path = url.replace(site, "")
        assert site_server.count(path) == 0, f"{path} was journaled before the kill but fetched again"
        assert site_server.count(path + ".md") == 0
    assert site_server.count("/docs/slow") == 1
    urls = [p.url for p in outcome.pages]
    assert len(urls) == len(set(urls))
    assert f"{site}/docs/slow" in urls and f"{site}/docs/install" in urls
    final = [json.loads(line)["url"] for line in journal.read_text().splitlines()]
    assert len(final) == len(set(final)) == outcome.attempted
