"""Statistics of a dataset version, computed from its rows (the card and the report show
these numbers, and tests check them against the data)."""

from __future__ import annotations

import random
from collections import Counter

SAMPLES = 5  # rows the card and report show as they are: statistics alone hide what the pairs say
SAMPLE_SEED = 0


def _words(text: str) -> int:
    return len(text.split())


def _mean(values: list[int]) -> float:
    return round(sum(values) / len(values), 1) if values else 0.0


def describe(rows: list[dict]) -> dict:
    return {
        "rows": len(rows),
        "avg_question_words": _mean([_words(r["question"]) for r in rows]),
        "avg_answer_words": _mean([_words(r["answer"]) for r in rows]),
        "avg_context_words": _mean([_words(r["context"]) for r in rows]),
        "pages": len({r["page_id"] for r in rows}),
    }


def compute(splits: dict[str, list[dict]], extra: dict) -> dict:
    """`extra` carries what only the exporter knows: curation outcomes, rejection reasons,
    pairs removed for leakage."""
    everything = [r for rows in splits.values() for r in rows]
    return {
        "total": describe(everything),
        "splits": {split: describe(rows) for split, rows in splits.items()},
        "question_types": dict(sorted(Counter(r["question_type"] for r in everything).items())),
        "judge_min_score": {str(k): v for k, v in sorted(Counter(r["min_judge_score"] for r in everything).items())},
        "curation": dict(sorted(Counter(r["curation"] for r in everything).items())),
        "curation_outcomes": extra.get("curation_outcomes", {}),
        "rejections": extra.get("rejections", {}),
        "leakage_removed": extra.get("leakage_removed", 0),
        "samples": sample_rows(splits),
    }


def sample_rows(splits: dict[str, list[dict]], k: int = SAMPLES, seed: int = SAMPLE_SEED) -> list[dict]:
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
