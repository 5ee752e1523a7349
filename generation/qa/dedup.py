"""Near-duplicate questions: embed, find every pair with cosine >= threshold, cluster, and
keep the best-scored member of each cluster.

Clustering is greedy leader clustering in score order: the best remaining question becomes
a leader and takes every unassigned question within the threshold of it. So every dropped
question has a kept near-duplicate (never are both of a pair dropped, unlike distilabel's
EmbeddingDedup), the kept one is the best of its cluster, and clusters cannot chain
through intermediate questions into one big component of loosely related ones.

Finding the pairs is exact, not approximate, and fits 100k x 384 in well under 2 GB:
  * vectors are rotated onto their principal axes (an orthonormal rotation keeps every dot
    product), so the first k coordinates hold most of the energy;
  * tiles of the upper triangle get the dot product of the first k coordinates only, and
    by Cauchy-Schwarz a pair can reach the threshold only if
    head_dot + |tail_i| * |tail_j| >= threshold; the rest is discarded unseen;
  * the survivors get their exact tail dot product (gathered, or one dense product when a
    tile has many survivors). k is chosen on a sample so that few pairs survive.
"""

from __future__ import annotations

import numpy as np

from docs2qa.errors import Docs2qaError

_BLOCK = 2048
_COLUMNS = 8192  # columns per product: wider products use BLAS better, 2048x8192 float32 is 64 MB
_EPS = 1e-4  # float32 rounding slack so that pruning never drops a pair at the threshold
# A survivor's gathered tail product costs about as much as this many cells of a BLAS
# product (measured order of magnitude: memory-bound gather vs. blocked FMA), so above
# 1/_GATHER_COST surviving cells a tile's tail is cheaper as one dense product.
_GATHER_COST = 50
_DENSE_SHARE = 1 / _GATHER_COST


def cluster_duplicates(embeddings: np.ndarray, scores, threshold: float, linked=None):
    """Cluster near-duplicate rows of `embeddings` (n, d), L2-normalised. `linked(left, right)`,
    when given, keeps only the similar index pairs it marks True (a bool array).

    Returns (keep_mask, cluster_of, cluster_sizes):
      keep_mask      np.ndarray[bool] (n,), True for the one kept member of each cluster;
      cluster_of     list[int], for each row the index of its cluster's kept row;
      cluster_sizes  list[int], for each row the size of its cluster (1 = unique).
    Higher score is better; ties go to the lower index. NaN scores rank last.
    """
    emb = np.asarray(embeddings)
    if emb.ndim != 2:
        raise Docs2qaError(f"embeddings must be a 2-D array, got shape {emb.shape}")
    n = emb.shape[0]
    if len(scores) != n:
        raise Docs2qaError(f"{len(scores)} scores for {n} embeddings")
    if not 0 < threshold <= 1:
        raise Docs2qaError(f"threshold must be in (0, 1], got {threshold}", "set generate.dedup.threshold")
    if n == 0:
        return np.zeros(0, dtype=bool), [], []

    left, right = similar_pairs(emb, threshold)
    if linked is not None and len(left):
        keep_link = np.asarray(linked(left, right), dtype=bool)
        left, right = left[keep_link], right[keep_link]
    order_scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    # Stable sort on -score: ties keep index order, so the first of equals leads.
    order = np.argsort(-order_scores, kind="stable")

    # Adjacency as CSR over both directions of each pair.
    src = np.concatenate([left, right])
    dst = np.concatenate([right, left])
    by_src = np.argsort(src, kind="stable")
    src, dst = src[by_src], dst[by_src]
    starts = np.searchsorted(src, np.arange(n + 1))

    leader = np.full(n, -1, dtype=np.int64)
    degree = np.diff(starts)
    for i in order[degree[order] > 0].tolist():
        if leader[i] >= 0:
            continue
        leader[i] = i
        neighbours = dst[starts[i] : starts[i + 1]]
        free = neighbours[leader[neighbours] < 0]
        leader[free] = i
    lonely = leader < 0
    leader[lonely] = np.flatnonzero(lonely)

    keep = leader == np.arange(n)
    sizes = np.bincount(leader, minlength=n)
    return keep, leader.tolist(), sizes[leader].tolist()


def similar_pairs(embeddings: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """All index pairs (i < j) whose cosine is >= threshold, as two int64 arrays."""
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    n, d = x.shape
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = (x / np.where(norms > 0, norms, 1)).astype(np.float32)  # tolerate slightly unnormalised input

    # Principal axes of the uncentred second moment: the rotation that packs the most
    # dot-product mass into the leading coordinates.
    _, vectors = np.linalg.eigh(x.T.astype(np.float64) @ x.astype(np.float64) if n <= 4096 else _gram(x))
    rotation = np.ascontiguousarray(vectors[:, ::-1], dtype=np.float32)
    y = x @ rotation
    del x
    k = _choose_head(y, threshold)
    head = np.ascontiguousarray(y[:, :k])
    tail = np.ascontiguousarray(y[:, k:])
    del y
    tail_norm = np.linalg.norm(tail, axis=1).astype(np.float32) if k < d else np.zeros(n, np.float32)

    lefts, rights = [], []
    for r0 in range(0, n, _BLOCK):
        r1 = min(n, r0 + _BLOCK)
        rows_head, rows_tail_norm = head[r0:r1], tail_norm[r0:r1]
        for c0 in range(r0, n, _COLUMNS):
            c1 = min(n, c0 + _COLUMNS)
            tile = rows_head @ head[c0:c1].T
            if k < d:
                # Per-row bound with the block's largest tail norm: one comparison per cell.
                bound = threshold - _EPS - rows_tail_norm[:, None] * tail_norm[c0:c1].max()
                candidates = np.flatnonzero(tile >= bound)
            else:
                candidates = np.flatnonzero(tile >= threshold)
            if candidates.size == 0:
                continue
            ri, ci = np.divmod(candidates, c1 - c0)
            ri, ci = ri + r0, ci + c0
            upper = ci > ri  # the diagonal block holds each pair twice and every self-pair
            ri, ci = ri[upper], ci[upper]
            if ri.size == 0:
                continue
            sims = tile.ravel()[candidates[upper]]
            if k < d:
                if ri.size > _DENSE_SHARE * tile.size:
                    full = tail[r0:r1] @ tail[c0:c1].T
                    sims = sims + full[ri - r0, ci - c0]
                else:
                    sims = sims + np.einsum("ij,ij->i", tail[ri], tail[ci])
            hit = sims >= threshold
            lefts.append(ri[hit])
            rights.append(ci[hit])
    if not lefts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(lefts).astype(np.int64), np.concatenate(rights).astype(np.int64)


def _gram(x: np.ndarray) -> np.ndarray:
    # Accumulate in float64 by blocks: one float64 copy of 100k x 384 would cost 300 MB.
    gram = np.zeros((x.shape[1], x.shape[1]), dtype=np.float64)
    for start in range(0, x.shape[0], 8192):
        part = x[start : start + 8192].astype(np.float64)
        gram += part.T @ part
    return gram


def _choose_head(y: np.ndarray, threshold: float) -> int:
    """Leading width k with the lowest estimated cost on a sample of pairs; the full width
    (plain dense products) when pruning does not pay.

    Per cell, a tile costs k multiply-adds for the head, plus for the share s of cells that
    survive the bound either a gathered tail product (~_GATHER_COST times a BLAS cell) or,
    past _DENSE_SHARE, one dense tail product: k + (d - k) * min(1, s * _GATHER_COST)."""
    n, d = y.shape
    if n < 2 * _BLOCK:
        return d  # a few dense tiles; pruning would not pay for itself
    rng = np.random.default_rng(0)
    sample = y[rng.choice(n, 2048, replace=False)]
    a, b = sample[:1024], sample[1024:]
    tail_sq = np.cumsum((sample[:, ::-1] ** 2), axis=1)[:, ::-1]  # tail_sq[:, k] = |y[k:]|^2
    best_k, best_cost = d, float(d)
    for k in (32, 48, 64, 96, 128, 160, 192, 256):
        if k >= d:
            break
        tails = np.sqrt(tail_sq[:, k])
        bound = a[:, :k] @ b[:, :k].T + tails[:1024, None] * tails[1024:].max()
        survivors = np.count_nonzero(bound >= threshold - _EPS) / bound.size
        cost = k + (d - k) * min(1.0, survivors * _GATHER_COST)
        if cost < best_cost:
            best_k, best_cost = k, cost
    return best_k
