"""Crawl throughput against a local server with injected latency.

    python benchmarks/bench_crawl.py [--pages N] [--latency L] [--concurrency C]

With C requests in flight and L seconds per response the ideal rate is C/L pages/s. The crawl
also makes two unavoidable serial requests first (robots.txt, then the index that links all
pages), so the ideal wall time is (2 + ceil(N/C)) * L. Goal: ratio >= 0.9.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
# The server runs in its own process: in-process, its threads would compete with the crawler
# for the GIL and the benchmark would measure the server.
SERVER = """
import sys, time
sys.path.insert(0, sys.argv[1])
from site_server import SiteServer
s = SiteServer(latency=float(sys.argv[2]), bench_pages=int(sys.argv[3])).start()
print(s.base_url, flush=True)
sys.stdin.read()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    from docs2qa.generation.ingest.config import CrawlConfig
    from docs2qa.generation.ingest.crawl import crawl_site
    from docs2qa.store import BlobStore

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(TESTS), str(args.latency), str(args.pages)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    base_url = server.stdout.readline().strip()
    try:
        cfg = CrawlConfig(
            seeds=[f"{base_url}/bench/"],
            allow_private_addresses=True,
            markdown_alternates=False,
            concurrency_per_host=args.concurrency,
            max_pages=args.pages + 1,
            retries=0,
        )
        with tempfile.TemporaryDirectory() as tmp:
            t0, c0 = time.perf_counter(), time.process_time()
            outcome = crawl_site(cfg, BlobStore(Path(tmp) / "blobs"), [], Path(tmp) / "journal.jsonl")
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        server.stdin.close()
        server.wait(10)
    pages = len(outcome.pages) - 1  # minus the index
    ideal_rate = args.concurrency / args.latency
    ideal_elapsed = (2 + math.ceil(args.pages / args.concurrency)) * args.latency
    print(
        f"bench_crawl: N={args.pages} L={args.latency}s C={args.concurrency} pages={pages} "
        f"dropped={len(outcome.dropped)} wall={elapsed:.2f}s rate={pages / elapsed:.1f} pages/s "
        f"ideal={ideal_rate:.1f} pages/s ratio={ideal_elapsed / elapsed:.3f} "
        f"(raw rate/ideal={pages / elapsed / ideal_rate:.3f}) crawler_cpu={1000 * cpu / max(pages, 1):.1f}ms/page"
    )


if __name__ == "__main__":
    main()
