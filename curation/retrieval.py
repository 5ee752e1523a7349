"""The rag protocol's contexts: what a retriever over the run's chunks hands the model.

RAFT (Zhang et al., 2024): a model used with retrieval learns best from the contexts retrieval
will give it, distractors included. A training row gets the oracle chunk (the one its answer
comes from) among distractors in a seeded share of rows, and distractors only in the rest, so
that it learns both to find the answer in the right chunk and to fall back on what it knows.
A held-out row gets exactly what retrieval returns for its question, the same for the base and
the tuned model: the eval then measures the pipeline a user would run.
"""

from __future__ import annotations

from docs2qa.records import Chunk, content_id

SEPARATOR = "\n\n---\n\n"


def retrieved_contexts(
    splits: dict[str, list[dict]],
    chunks: list[Chunk],
    model: str,
    n_chunks: int,
    oracle_share: float,
    seed: int,
) -> dict[str, list[dict]]:
    """The splits with each row's `context` replaced by `n_chunks` retrieved chunks, and
    `retrieval` saying which: "oracle+distractors", "distractors" (train) or "retrieved"."""
    import numpy as np

    from docs2qa.models.embeddings import embed_questions

    rows = [r for split in ("train", "validation", "test") for r in splits[split]]
    if not rows or not chunks:
        return splits
    texts = [c.text for c in chunks]
    vectors = embed_questions([r["question"] for r in rows] + texts, model)
    questions, passages = vectors[: len(rows)], vectors[len(rows) :]
    ranked = np.argsort(-(questions @ passages.T), axis=1, kind="stable")
    index = {c.chunk_id: i for i, c in enumerate(chunks)}
    out: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    position = 0
    for split in ("train", "validation", "test"):
        for row in splits[split]:
            order = [int(i) for i in ranked[position]]
            position += 1
            oracle = index.get(row["chunk_id"])
            if split != "train":
                picked, kind = order[:n_chunks], "retrieved"
            else:
                distractors = [i for i in order if i != oracle]
                if oracle is not None and _share(seed, row["pair_id"]) < oracle_share:
                    picked = distractors[: n_chunks - 1]
                    # The oracle's place among the distractors is seeded too: never always first.
                    picked.insert(int(_share(seed + 1, row["pair_id"]) * n_chunks), oracle)
                    kind = "oracle+distractors"
                else:
                    picked, kind = distractors[:n_chunks], "distractors"
            out[split].append({**row, "context": SEPARATOR.join(texts[i] for i in picked), "retrieval": kind})
    return out


def _share(seed: int, key: str) -> float:
    """A number in [0, 1) fixed by the seed and the key."""
    return int(content_id("raft", seed, key)[:8], 16) / 16**8
