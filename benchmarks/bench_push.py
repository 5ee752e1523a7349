"""Benchmark: push 10k Q&A pairs to Argilla with docs2qa's push() vs the SDK's own bulk
`dataset.records.log` of the same records, in the same run against the same server.

Goal: throughput ratio (SDK time / push time) >= 0.8, i.e. push's checks, layout
comparison and record building cost at most a quarter on top of the upload itself.
Pairs are synthetic and vectors random 384-d (no embedding model is loaded). Each side
logs into a fresh dataset with the same settings; the order alternates between rounds so
that neither side always meets the larger database.

    python benchmarks/bench_push.py [--n 10000] [--rounds 1] [--url URL --api-key KEY]

Without --url a throwaway local server is started (docs2qa.curation.server) and stopped.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def synthetic(n: int, seed: int = 0):
    from test_curate_push_pull import make_chunk, make_pair

    verdicts = ("keep", "revise", "drop")
    rng = np.random.default_rng(seed)
    pairs = [
        make_pair(i, verdicts[i % 3], scores=tuple(int(s) for s in rng.integers(1, 6, 4)), chunk=i % 50)
        for i in range(n)
    ]
    chunks = {f"chunk{i}": make_chunk(i) for i in range(50)}
    vectors = rng.standard_normal((n, 384), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return pairs, chunks, vectors


def sdk_log(pairs, chunks, vectors, cfg, url: str, key: str) -> float:
    """The SDK's own path: dataset with the same settings, then records.log of rg.Records."""
    import argilla as rg

    from docs2qa.curation import schema
    from docs2qa.curation.push import build_records

    client = rg.Argilla(api_url=url, api_key=key, timeout=300)
    workspace = client.workspaces(cfg.workspace) or rg.Workspace(name=cfg.workspace, client=client).create()
    dataset = rg.Dataset(
        name=f"bench-sdk-{uuid.uuid4().hex[:8]}",
        workspace=workspace,
        settings=schema.build_settings(cfg.annotators_per_record, client),
        client=client,
    ).create()
    records = [rg.Record.from_dict(r) for r in build_records(pairs, chunks, vectors)]  # same content
    t0 = time.perf_counter()
    dataset.records.log(records, batch_size=500)
    return time.perf_counter() - t0


def our_push(pairs, chunks, vectors, cfg, url: str, key: str) -> tuple[float, dict]:
    from docs2qa.curation.push import push

    t0 = time.perf_counter()
    summary = push(
        pairs,
        chunks,
        vectors,
        cfg.model_copy(update={"dataset": f"bench-push-{uuid.uuid4().hex[:8]}"}),
        "bench",
        url,
        key,
    )
    return time.perf_counter() - t0, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--url", default=os.environ.get("ARGILLA_API_URL"))
    parser.add_argument("--api-key", default=os.environ.get("ARGILLA_API_KEY"))
    args = parser.parse_args()

    from docs2qa.curation.config import CurateConfig

    cfg = CurateConfig()
    pairs, chunks, vectors = synthetic(args.n)
    started = None
    if not args.url:
        from docs2qa.curation.server import serve

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        started = CurateConfig(state_dir=tempfile.mkdtemp(prefix="bench-argilla-"), port=port)
        info = serve(started)
        args.url, args.api_key = info.url, info.api_key
    try:
        sdk_times, push_times = [], []
        for r in range(args.rounds):
            order = ("sdk", "push") if r % 2 == 0 else ("push", "sdk")
            for side in order:
                if side == "sdk":
                    sdk_times.append(sdk_log(pairs, chunks, vectors, cfg, args.url, args.api_key))
                else:
                    seconds, summary = our_push(pairs, chunks, vectors, cfg, args.url, args.api_key)
                    assert summary["created"] == args.n, summary
                    push_times.append(seconds)
        sdk_s, push_s = min(sdk_times), min(push_times)
        ratio = sdk_s / push_s
        print(f"records: {args.n}  rounds: {args.rounds}")
        print(
            f"SDK records.log: {sdk_s:.1f} s ({args.n / sdk_s:.0f} records/s)  all: {[round(t, 1) for t in sdk_times]}"
        )
        print(
            f"docs2qa push:    {push_s:.1f} s ({args.n / push_s:.0f} records/s)  "
            f"all: {[round(t, 1) for t in push_times]}"
        )
        print(f"throughput ratio push/SDK: {ratio:.2f}  (goal >= 0.8: {'met' if ratio >= 0.8 else 'NOT met'})")
    finally:
        if started is not None:
            from docs2qa.curation.server import stop

            stop(started)


if __name__ == "__main__":
    main()
