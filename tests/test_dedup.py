"""Near-duplicate clustering: exact pair search, leader clustering, real MiniLM embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docs2qa.errors import Docs2qaError
from docs2qa.generation.qa.dedup import _choose_head, cluster_duplicates, similar_pairs
from docs2qa.models.embeddings import embed_questions


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = rows.astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _brute_pairs(x: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    i, j = np.nonzero(np.triu(x @ x.T >= threshold, 1))
    return set(zip(i.tolist(), j.tolist(), strict=True))


def _planted(n: int, d: int, groups: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = _unit(rng.standard_normal((n, d)))
    for _ in range(groups):
        base, copy = rng.choice(n, 2, replace=False)
        x[copy] = _unit(x[base] + rng.uniform(0.1, 0.6) * _unit(rng.standard_normal((1, d))))[0]
    return x


# The dense path, and the pruned path (n >= 4096, seconds more: in the slow lane).
@pytest.mark.parametrize("n, d", [(300, 32), pytest.param(5000, 384, marks=pytest.mark.slow)])
def test_similar_pairs_is_exact(n, d):
    x = _planted(n, d, groups=n // 10, seed=n)
    if n >= 4096:
        assert _choose_head(x, 0.8) < d, "the pruned path must be the one under test"
    for threshold in (0.8, 0.9):
        left, right = similar_pairs(x, threshold)
        assert set(zip(left.tolist(), right.tolist(), strict=True)) == _brute_pairs(x, threshold)
        assert np.all(left < right)


def test_keeps_best_and_never_drops_both():
    base = _unit(np.eye(4, 8) + 0.01)
    x = np.vstack([base, base[:2] + 0.001, base[0] + 0.002])  # rows 4, 6 ~ row 0; row 5 ~ row 1
    x = _unit(x)
    scores = [0.1, 0.9, 0.5, 0.5, 0.7, 0.2, 0.1]
    keep, cluster_of, sizes = cluster_duplicates(x, scores, 0.95)
    assert keep.tolist() == [False, True, True, True, True, False, False]
    assert cluster_of == [4, 1, 2, 3, 4, 1, 4]
    assert sizes == [3, 2, 1, 1, 3, 2, 3]


def test_ties_keep_the_first_and_nan_ranks_last():
    x = _unit(np.array([[1, 0], [1, 0.001], [1, 0.002]], dtype=np.float32))
    assert cluster_duplicates(x, [0.5, 0.5, 0.5], 0.99)[1] == [0, 0, 0]
    assert cluster_duplicates(x, [float("nan"), 0.1, 0.1], 0.99)[1] == [1, 1, 1]


def test_rejects_bad_input_and_handles_empty():
    with pytest.raises(Docs2qaError, match="2 scores for 3"):
        cluster_duplicates(np.eye(3, dtype=np.float32), [1, 2], 0.9)
    with pytest.raises(Docs2qaError, match="threshold"):
        cluster_duplicates(np.eye(3, dtype=np.float32), [1, 2, 3], 1.5)
    keep, cluster_of, sizes = cluster_duplicates(np.zeros((0, 8), np.float32), [], 0.9)
    assert keep.size == 0 and cluster_of == [] and sizes == []


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 40), st.integers(0, 2**31 - 1), st.floats(0.5, 0.99))
def test_exactly_one_kept_per_cluster_and_members_are_near_it(n, seed, threshold):
    rng = np.random.default_rng(seed)
    # Few directions in low dimension: many near-duplicates and chains.
    x = _unit(rng.integers(-2, 3, size=(n, 3)).astype(np.float32) + rng.normal(0, 0.05, (n, 3)) + 1e-3)
    scores = rng.integers(0, 4, n).astype(float).tolist()
    keep, cluster_of, sizes = cluster_duplicates(x, scores, threshold)
    cluster_of = np.asarray(cluster_of)
    for leader in set(cluster_of.tolist()):
        members = np.flatnonzero(cluster_of == leader)
        assert keep[members].sum() == 1 and keep[leader]
        assert all(sizes[m] == len(members) for m in members)
        assert max(scores[m] for m in members) == scores[leader]
        assert np.all(x[members] @ x[leader] >= threshold - 1e-5)  # every dropped one has a kept twin
    # No two kept questions are near-duplicates: the first leader takes every free neighbour.
    kept = np.flatnonzero(keep)
    sims = x[kept] @ x[kept].T
    np.fill_diagonal(sims, -1)
    assert np.all(sims < threshold + 1e-5)


@pytest.mark.slow
def test_real_embeddings_cluster_paraphrases():
    questions = [
        "How do I reset my password in Acme Cloud?",
        "How can I reset my Acme Cloud password?",
        "What is the way to reset a password in Acme Cloud?",
        "How do I delete a project in Acme Cloud?",
        "How can I remove a project from Acme Cloud?",
        "What file formats can Acme Cloud import?",
        "Which regions does Acme Cloud deploy to?",
        "How much does the Acme Cloud Pro plan cost per month?",
    ]
    vectors = embed_questions(questions, "embedded:all-minilm-l6-v2")
    assert vectors.shape == (8, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    scores = [0.2, 0.9, 0.5, 0.8, 0.3, 0.5, 0.5, 0.5]
    keep, cluster_of, sizes = cluster_duplicates(vectors, scores, 0.8)
    assert cluster_of[0] == cluster_of[1] == cluster_of[2] == 1  # the best-scored paraphrase leads
    assert cluster_of[3] == cluster_of[4] == 3
    assert cluster_of[5:] == [5, 6, 7]  # unrelated questions stay alone
    assert keep.tolist() == [False, True, False, True, False, True, True, True]
    assert sizes[:5] == [3, 3, 3, 2, 2]
    assert embed_questions([], "embedded:all-minilm-l6-v2").shape == (0, 384)


def test_unknown_embedded_model_is_a_clear_error():
    with pytest.raises(Docs2qaError, match="unknown embedded model"):
        embed_questions(["x"], "embedded:nope")


@pytest.mark.slow
def test_missing_model_folder_fails_at_once_offline(tmp_path):
    with pytest.raises(Docs2qaError, match="cannot load embedding model"):
        embed_questions(["x"], str(tmp_path / "missing-model"))
