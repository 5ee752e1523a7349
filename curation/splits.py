"""Train / validation / test splits with no page (or section) in two splits (the leakage check
that follows is leakage.py).

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


def assign_facts(rows: list[dict], ratios: dict[str, float], seed: int) -> dict[str, list[dict]]:
    """The knowledge protocol: held-out questions ask about trained facts in new words.

    Facts asked in two or more phrasings are ordered by a seeded hash of their id and dealt to
    test and validation by the ratios (of those facts); each held-out fact sends one phrasing
    (chosen by a seeded hash too) to its split and the others to train, so the model trains on
    the fact and is asked it in words it never saw. A fact with one phrasing stays in train: it
    could only be tested by asking the very question it trained on.
    """
    by_fact: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda r: r["pair_id"]):
        by_fact.setdefault(row["fact_id"] or row["pair_id"], []).append(row)
    several = sorted(
        (f for f, phrasings in by_fact.items() if len(phrasings) > 1), key=lambda f: content_id("fact", seed, f)
    )
    counts = group_counts(len(several), ratios)
    held_out: dict[str, str] = {}
    start = 0
    for split in ("test", "validation"):
        for fact in several[start : start + counts[split]]:
            held_out[fact] = split
        start += counts[split]
    out: dict[str, list[dict]] = {"train": [], "validation": [], "test": []}
    for fact, phrasings in by_fact.items():
        if fact not in held_out:
            out["train"] += phrasings
            continue
        asked = min(phrasings, key=lambda r: content_id("phrasing", seed, r["pair_id"]))
        out[held_out[fact]].append(asked)
        out["train"] += [r for r in phrasings if r is not asked]
    return {split: sorted(split_rows, key=lambda r: r["pair_id"]) for split, split_rows in out.items()}
