"""Benchmark: near-duplicate clustering of 100k x 384 unit vectors.

Goal: < 60 s and < 2 GB peak RSS on a 2-core machine. Random unit vectors are the worst
case for the pruning in dedup.similar_pairs (no dominant directions), so this is an upper
bound for real question embeddings. Near-duplicates are planted (cosine ~0.93-0.97) to
check that they are all found and that each cluster keeps exactly one member.

    python benchmarks/bench_dedup.py [--n 100000] [--dim 384] [--threshold 0.9]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def make_data(n: int, dim: int, planted_groups: int, seed: int = 0, topics: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    if topics:
        # Rows around a few topic centres (within-topic cosine ~0.7), closer to embeddings
        # of questions about one docs site than isotropic noise is.
        centres = rng.standard_normal((topics, dim), dtype=np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x = centres[rng.integers(0, topics, n)] + 0.65 * x
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    # Each planted group: one base row and 1-3 noisy copies at cosine ~0.95 with it.
    group_of = np.full(n, -1)
    base_rows = rng.choice(n, planted_groups * 4, replace=False).reshape(planted_groups, 4)
    for g, rows in enumerate(base_rows):
        copies = rows[1 : 1 + rng.integers(1, 4)]
        noise = rng.standard_normal((len(copies), dim), dtype=np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        x[copies] = 0.97 * x[rows[0]] + 0.243 * noise  # cos ~ 0.97 before renormalising
        x[copies] /= np.linalg.norm(x[copies], axis=1, keepdims=True)
        group_of[rows[0]] = g
        group_of[copies] = g
    return x, group_of


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--topics", type=int, default=0, help="0: isotropic random vectors")
    args = parser.parse_args()

    from docs2qa.generation.qa.dedup import cluster_duplicates

    x, group_of = make_data(args.n, args.dim, args.groups, topics=args.topics)
    scores = np.random.default_rng(1).random(args.n).tolist()
    rss_before = peak_rss_mb()
    start = time.perf_counter()
    keep, cluster_of, _sizes = cluster_duplicates(x, scores, args.threshold)
    elapsed = time.perf_counter() - start
    rss_peak = peak_rss_mb()

    planted = group_of >= 0
    cluster_of = np.asarray(cluster_of)
    found = 0
    for g in range(args.groups):
        members = np.flatnonzero(group_of == g)
        found += len(set(cluster_of[members].tolist())) == 1
    kept_per_cluster = np.bincount(cluster_of[keep], minlength=args.n)
    best_kept = all(scores[c] >= scores[i] for i, c in enumerate(cluster_of.tolist()) if c != i)

    print(
        f"n={args.n} dim={args.dim} threshold={args.threshold} topics={args.topics or 'none'} "
        f"planted groups={args.groups} "
        f"({int(planted.sum())} rows)"
    )
    print(f"time            {elapsed:8.1f} s    goal < 60 s    {'OK' if elapsed < 60 else 'MISSED'}")
    print(
        f"peak RSS        {rss_peak:8.0f} MB   goal < 2048 MB {'OK' if rss_peak < 2048 else 'MISSED'}"
        f"  (data + interpreter before the call: {rss_before:.0f} MB)"
    )
    print(
        f"planted groups found whole: {found}/{args.groups}; kept {int(keep.sum())} of {args.n}; "
        f"exactly one kept per cluster: {bool(np.all(kept_per_cluster[keep] == 1))}; "
        f"kept member is the best of its cluster: {best_kept}"
    )


if __name__ == "__main__":
    main()
