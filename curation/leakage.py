"""Does a held-out pair leak from training? The last of the three layers that decide what reaches
a dataset (after generation's filters, generation/qa/keep/, and people's review,
review_policy.py): a validation or test pair whose question or context nearly repeats one of an
earlier split is removed, with its nearest neighbour and how closely it matched. Grouping by page
(splits.py) makes identical contexts impossible across splits; this catches the same text
published twice and questions asked twice in other words.
"""

from __future__ import annotations


def remove_leakage(
    splits: dict[str, list[dict]],
    model: str,
    question_threshold: float,
    context_threshold: float | None,
    wording_threshold: float | None = None,
) -> tuple[dict[str, list[dict]], list[dict]]:
    """Drop validation/test pairs whose question or context is a near-duplicate of one in an
    earlier split (validation is compared with train; test with train and validation).
    Returns the cleaned splits and one record per removed pair: its nearest neighbour, which
    text matched and how closely. `context_threshold` None checks questions only: under the
    knowledge protocol a held-out question shares its chunk with training by design, and what
    must not leak is a near-copy of the question itself. `wording_threshold` (knowledge): a
    question of the same fact (fact_id) is compared by its words (docs2qa.wording) instead, since
    embeddings score the fact asked in other words as a copy (see wording.NEAR_COPY)."""
    from docs2qa.models.embeddings import embed_questions

    everything = [r for s in ("train", "validation", "test") for r in splits[s]]
    if not splits["train"] or len(everything) == len(splits["train"]):
        return splits, []
    # One call: the model loads once for both kinds of text.
    contexts_too = [r["context"] for r in everything] if context_threshold is not None else []
    vectors = embed_questions([r["question"] for r in everything] + contexts_too, model)
    questions, contexts = vectors[: len(everything)], vectors[len(everything) :]
    facts = [r.get("fact_id") or r["pair_id"] for r in everything] if wording_threshold is not None else None
    n_train, n_val = len(splits["train"]), len(splits["validation"])
    removed, kept = [], {"train": splits["train"], "validation": [], "test": []}
    for split, offset, reference_end in (("validation", n_train, n_train), ("test", n_train + n_val, n_train + n_val)):
        for i, row in enumerate(splits[split]):
            at = offset + i
            # Questions of the same fact: compared by their words, and not by embeddings.
            same = [j for j in range(reference_end) if facts[j] == facts[at]] if facts else []
            hit = _nearest_words(everything, at, same, wording_threshold) if wording_threshold is not None else None
            hit = hit or _nearest(questions, contexts, at, reference_end, question_threshold, context_threshold, same)
            if hit is None:
                kept[split].append(row)
                continue
            j, kind, similarity = hit
            removed.append(
                {
                    "pair_id": row["pair_id"],
                    "split": split,
                    "matched": kind,
                    "similarity": round(similarity, 4),
                    "nearest_pair_id": everything[j]["pair_id"],
                    "question": row["question"],
                    "nearest_question": everything[j]["question"],
                }
            )
    return kept, removed


def _nearest(
    questions, contexts, i: int, reference_end: int, q_threshold: float, c_threshold: float | None, excluded: list[int]
):
    # Embeddings are normalised, so a dot product is the cosine similarity.
    q = questions[:reference_end] @ questions[i]
    q[excluded] = -1.0
    if q.max() >= q_threshold:
        return int(q.argmax()), "question", float(q.max())
    if c_threshold is None:
        return None
    c = contexts[:reference_end] @ contexts[i]
    if c.max() >= c_threshold:
        return int(c.argmax()), "context", float(c.max())
    return None


def _nearest_words(rows: list[dict], i: int, candidates: list[int], threshold: float):
    from docs2qa.wording import rouge_l

    overlaps = {j: rouge_l(rows[i]["question"], rows[j]["question"]) for j in candidates}
    best = max(overlaps, key=overlaps.__getitem__, default=None)
    return (best, "question_words", overlaps[best]) if best is not None and overlaps[best] >= threshold else None
