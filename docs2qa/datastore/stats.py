"""Statistics of a dataset version, computed from its rows (the card and the report show
these numbers, and tests check them against the data)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

SAMPLES = 5  # rows the card and report show as they are: statistics alone hide what the pairs say
SAMPLE_SEED = 0


def _words(text: str) -> int:
    return len(text.split())


def _mean(values: list[int]) -> float:
    return round(sum(values) / len(values), 1) if values else 0.0


def describe(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rows": len(rows),
        "avg_question_words": _mean([_words(r["question"]) for r in rows]),
        "avg_answer_words": _mean([_words(r["answer"]) for r in rows]),
        "avg_context_words": _mean([_words(r["context"]) for r in rows]),
        "pages": len({r["page_id"] for r in rows}),
    }


UNCOVERED_SHOWN = 20  # pages without a pair the card and report name; the count covers all


def decisions(outcomes: dict[str, int], by_policy: int) -> dict[str, dict[str, int]]:
    """The review's outcomes split by who decided: people, the demo policy (which accepts
    unreviewed pairs on the judge's score; not human curation) and nobody yet."""
    people = {status: n for status, n in outcomes.items() if status != "pending" and n}
    if by_policy:
        people["accepted"] = people.get("accepted", 0) - by_policy
    return {
        "people": {status: n for status, n in people.items() if n},
        "demo_policy": {"accepted": by_policy} if by_policy else {},
        "nobody": {"pending": outcomes["pending"]} if outcomes.get("pending") else {},
    }


def coverage(everything: list[dict[str, Any]], pages: dict[str, str], chunks: int) -> dict[str, Any]:
    """How much of the chunked documentation the version covers: `pages` maps the id of every
    page that has chunks to its URL, `chunks` counts the chunks."""
    covered = {r["page_id"] for r in everything}
    uncovered = sorted(url for page, url in pages.items() if page not in covered)
    return {
        "pages": len(pages),
        "pages_with_pairs": len(covered & pages.keys()),
        "chunks": chunks,
        "chunks_with_pairs": len({r["chunk_id"] for r in everything}),
        "pages_without_pairs": uncovered[:UNCOVERED_SHOWN],
    }


def compute(splits: dict[str, list[dict[str, Any]]], extra: dict[str, Any]) -> dict[str, Any]:
    """`extra` carries what only the exporter knows: curation outcomes and how many of the
    accepted the demo policy accepted, rejection reasons, pairs removed for leakage, and the
    chunked pages and chunk count (`pages`, `chunks`) that coverage is measured against."""
    everything = [r for rows in splits.values() for r in rows]
    outcomes = extra.get("curation_outcomes", {})
    return {
        "total": describe(everything),
        "splits": {split: describe(rows) for split, rows in splits.items()},
        "question_types": dict(sorted(Counter(r["question_type"] for r in everything).items())),
        # A judge scores 1-5; 0 is a pair no judge scored (the judge was off), never a score.
        "judge_min_score": {
            str(k): v for k, v in sorted(Counter(r["min_judge_score"] for r in everything).items()) if k
        },
        "unjudged": sum(not r["min_judge_score"] for r in everything),
        "curation": dict(sorted(Counter(r["curation"] for r in everything).items())),
        "curation_outcomes": outcomes,
        "decisions": decisions(outcomes, extra.get("demo_policy_accepted", 0)),
        "coverage": coverage(everything, extra["pages"], extra["chunks"]) if "pages" in extra else None,
        "rejections": extra.get("rejections", {}),
        "leakage_removed": extra.get("leakage_removed", 0),
        # rag: how many rows carry their oracle chunk, distractors only, or what retrieval returned.
        **({"retrieval": extra["retrieval"]} if extra.get("retrieval") else {}),
        "samples": sample_rows(splits),
    }


def sample_rows(
    splits: dict[str, list[dict[str, Any]]], k: int = SAMPLES, seed: int = SAMPLE_SEED
) -> list[dict[str, Any]]:
    """k rows drawn at random (seeded, from rows in pair-id order, so the same data gives the
    same sample), with what a reader needs to judge them."""
    everything = sorted(((split, r) for split, rows in splits.items() for r in rows), key=lambda sr: sr[1]["pair_id"])
    chosen = random.Random(seed).sample(everything, min(k, len(everything)))
    return [
        {
            "split": split,
            "question_type": r["question_type"],
            "question": r["question"],
            "answer": r["answer"],
            "min_judge_score": r["min_judge_score"],
            "curation": r["curation"],
            "source": r["anchor_url"],
        }
        for split, r in chosen
    ]
