"""Train / validation / test splits with no page (or section) in two splits, and a check that
no evaluation pair is a near-duplicate of a training pair.

Groups are ordered by a seeded hash of their key, so the assignment depends only on the seed
and the set of groups, never on row order or on the time of the export. The seed project's
test set shared 338 of its 397 contexts with training; grouping by page makes that impossible
for identical contexts, and the embedding check catches the same text published twice.
"""

from __future__ import annotations

from docs2qa.records import content_id

SPLIT_ORDER = ("test", "validation", "train")  # small splits are filled first


def group_key(row: dict, split_by: str) -> str:
    if split_by == "section":
        return row["page_id"] + "#" + "/".join(row["heading_path"][:2])
    return row["page_id"]


def group_counts(n_groups: int, ratios: dict[str, float]) -> dict[str, int]:
    """Groups per split: test and validation get at least one group each when they have a
    share and there are enough groups to leave training at least one."""
    counts = {s: round(n_groups * ratios.get(s, 0.0)) for s in ("test", "validation")}
    for split in ("test", "validation"):
        if ratios.get(split, 0.0) > 0 and counts[split] == 0 and n_groups - sum(counts.values()) > 1:
            counts[split] = 1
    while n_groups and n_groups - counts["test"] - counts["validation"] < 1:  # training needs a group
        larger = max(("validation", "test"), key=lambda split: counts[split])
        counts[larger] -= 1
    counts["train"] = n_groups - counts["test"] - counts["validation"]
    return counts


def assign(rows: list[dict], split_by: str, ratios: dict[str, float], seed: int) -> dict[str, list[dict]]:
    groups = sorted({group_key(r, split_by) for r in rows}, key=lambda g: content_id("split", seed, g))
    counts = group_counts(len(groups), ratios)
    split_of, start = {}, 0
    for split in SPLIT_ORDER:
        for g in groups[start : start + counts[split]]:
            split_of[g] = split
        start += counts[split]
    out: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for row in sorted(rows, key=lambda r: r["pair_id"]):
        out[split_of[group_key(row, split_by)]].append(row)
    return out


def remove_leakage(
    splits: dict[str, list[dict]], model: str, question_threshold: float, context_threshold: float
) -> tuple[dict[str, list[dict]], list[dict]]:
    """Drop validation/test pairs whose question or context is a near-duplicate of one in an
    earlier split (validation is compared with train; test with train and validation).
    Returns the cleaned splits and one record per removed pair: its nearest neighbour, which
    text matched and how closely."""
    from docs2qa.models.embeddings import embed_questions

    everything = [r for s in ("train", "validation", "test") for r in splits[s]]
    if not splits["train"] or len(everything) == len(splits["train"]):
        return splits, []
    # One call: the model loads once for both kinds of text.
    vectors = embed_questions([r["question"] for r in everything] + [r["context"] for r in everything], model)
    questions, contexts = vectors[: len(everything)], vectors[len(everything) :]
    n_train, n_val = len(splits["train"]), len(splits["validation"])
    removed, kept = [], {"train": splits["train"], "validation": [], "test": []}
    for split, offset, reference_end in (("validation", n_train, n_train), ("test", n_train + n_val, n_train + n_val)):
        for i, row in enumerate(splits[split]):
            hit = _nearest(questions, contexts, offset + i, reference_end, question_threshold, context_threshold)
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


def _nearest(questions, contexts, i: int, reference_end: int, q_threshold: float, c_threshold: float):
    # Embeddings are normalised, so a dot product is the cosine similarity.
    q = questions[:reference_end] @ questions[i]
    c = contexts[:reference_end] @ contexts[i]
    if q.max() >= q_threshold:
        return int(q.argmax()), "question", float(q.max())
    if c.max() >= c_threshold:
        return int(c.argmax()), "context", float(c.max())
    return None
