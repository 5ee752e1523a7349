"""From journal records to pairs and reasons (the logic after the models have spoken).

Journal records are written by hand here: this tests our assembly rules, not a model.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from docs2qa.generation.qa.assemble import Unit, assemble, remove_near_duplicates
from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.records import Chunk

TEXT = (
    "# Datasets\n\nA private dataset is visible only to you and your collaborators. "
    "You can make a dataset public at any time from its settings page. Uploads are limited to 20 GB per dataset."
)
CHUNK = Chunk(
    "c1",
    "p1",
    "https://acme.example/docs/datasets",
    "https://acme.example/docs/datasets#datasets",
    "Datasets",
    ["Datasets"],
    TEXT,
    40,
    0,
    len(TEXT),
    "sha",
    "2026-01-01T00:00:00+00:00",
)
LABELS = {"generator": "transformers:test", "judge": "transformers:test"}


def verdict(verdict="keep", scores=(5, 5, 5, 5), parse_error=None, rationale="fine"):
    return {
        "scores": dict(zip(("grounded", "correct", "useful", "standalone"), scores)),
        "verdict": verdict,
        "revised_answer": "",
        "rationale": rationale,
        "parse_error": parse_error,
        "raw_output": "raw judge text",
        "parse_attempts": 1,
        "tokens": {"prompt": 10, "completion": 5},
    }


def record(pairs, judgements, parse_error=None):
    return {
        "unit": "u1",
        "chunk_id": "c1",
        "question_type": "factual",
        "pairs": pairs,
        "parse_error": parse_error,
        "raw_output": "raw generator text" if parse_error else None,
        "parse_attempts": 1,
        "tokens": {"prompt": 100, "completion": 50},
        "judgements": judgements,
    }


def pair(
    question, answer="Uploads are limited to 20 GB per dataset.", evidence="Uploads are limited to 20 GB per dataset."
):
    return {"question": question, "answer": answer, "evidence": evidence}


# The judge's records are the subject here: it is on (the default config's auto turns it off for SmolLM2).
JUDGED = {"enabled": True}


def run(rec, cfg=None):
    cfg = cfg or GenerateConfig(judge=JUDGED)
    unit = Unit("u1", CHUNK, "factual", 2, "hash")
    pairs, dropped, _ = assemble([unit], {"u1": rec}, cfg, LABELS, "judgehash")
    return pairs, dropped


def test_good_pairs_carry_scores_provenance_and_tokens():
    pairs, dropped = run(record([pair("How large can an Acme dataset upload be?")], [verdict()]))
    assert not dropped
    (kept,) = pairs
    assert kept.score_grounded == 5 and kept.evidence_ratio == 1.0 and kept.judge_verdict == "keep"
    assert kept.anchor_url.endswith("#datasets") and kept.prompt_tokens == 100 and kept.judge_prompt_tokens == 10


def test_parse_failures_keep_the_raw_output():
    _, dropped = run(record([], [], parse_error="no 'Q:' lines found"))
    assert [d.reason for d in dropped] == ["generation_parse_error"]
    assert "raw generator text" in dropped[0].detail
    _, dropped = run(record([pair("How large can an Acme dataset upload be?")], [verdict(parse_error="bad score")]))
    assert [d.reason for d in dropped] == ["judge_parse_error"] and "raw judge text" in dropped[0].detail


def test_failed_checks_and_low_judge_scores_are_recorded_with_reasons():
    pairs, dropped = run(
        record(
            [
                pair("What does the text say about uploads?"),
                pair("How big can an Acme upload be?", evidence="Made-up quote not here."),
                pair(
                    "Can I make an Acme dataset public later?",
                    "Yes, from its settings page.",
                    "make a dataset public at any time from its settings page",
                ),
            ],
            [verdict(), verdict(), verdict(scores=(5, 2, 5, 5), rationale="trivial")],
        )
    )
    assert not pairs
    assert [d.reason for d in dropped] == ["not_standalone", "evidence_not_in_chunk", "judge_low_score"]
    assert "lowest score 2 < generate.judge.min_score=3" in dropped[2].detail and "trivial" in dropped[2].detail


def test_the_keep_decision_follows_the_scores_not_the_verdict_word():
    good = pair(
        "Can I make an Acme dataset public later?",
        "Yes, from its settings page.",
        "make a dataset public at any time from its settings page",
    )
    pairs, dropped = run(record([good], [verdict("drop", scores=(4, 4, 4, 4))]))
    assert len(pairs) == 1 and not dropped and pairs[0].judge_verdict == "drop"
    pairs, dropped = run(record([good], [verdict("keep", scores=(4, 4, 1, 4))]))
    assert not pairs and [d.reason for d in dropped] == ["judge_low_score"]
    pairs, _ = run(
        record([good], [verdict("keep", scores=(4, 4, 1, 4))]), GenerateConfig(judge={**JUDGED, "min_score": 1})
    )
    assert len(pairs) == 1


def test_exact_repeats_within_a_unit_are_dropped():
    question = "How large can an Acme dataset upload be?"
    pairs, dropped = run(record([pair(question), pair(question)], [verdict(), verdict()]))
    assert len(pairs) == 1 and [d.reason for d in dropped] == ["duplicate_exact"]


@pytest.mark.slow  # loads the MiniLM embedding model
def test_near_duplicates_keep_the_best_scored_pair_and_record_the_cluster():
    pairs, _ = run(
        record(
            [
                pair("How large can an Acme dataset upload be?"),
                pair("What is the maximum size of an Acme dataset upload?"),
                pair(
                    "Can I make an Acme dataset public later?",
                    "Yes, from its settings page.",
                    "make a dataset public at any time from its settings page",
                ),
            ],
            [verdict(scores=(3, 3, 3, 3)), verdict(), verdict()],
        )
    )
    same_fact = pairs[:2]
    # Asked of two facts (two spans), the alike questions are duplicates; of one fact, its phrasings.
    pairs = [replace(p, fact_id=f"fact-{i}") for i, p in enumerate(pairs)]
    kept, dropped = remove_near_duplicates(pairs, GenerateConfig(judge=JUDGED, dedup={"threshold": 0.8}))
    assert [d.reason for d in dropped] == ["near_duplicate"]
    best = next(p for p in kept if p.question.startswith("What is the maximum"))
    assert best.cluster_size == 2 and best.cluster_id == best.pair_id
    assert pairs[0].pair_id in dropped[0].item_id and best.pair_id in dropped[0].detail
    lone = next(p for p in kept if p.question.startswith("Can I"))
    assert lone.cluster_size == 1
    assert same_fact[0].fact_id == same_fact[1].fact_id
    kept, dropped = remove_near_duplicates(same_fact, GenerateConfig(judge=JUDGED, dedup={"threshold": 0.8}))
    assert len(kept) == 2 and not dropped
