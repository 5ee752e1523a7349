"""The model-free gates against a labelled set of good and bad pairs (tests/data), written
by hand from the demo site's pages; plus chunk skipping and the judge-health rules."""

from __future__ import annotations

import json
from pathlib import Path

from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.generation.qa.keep.filters import FilterContext, candidate_of, measure
from docs2qa.generation.qa.keep.gates import GATES, chunk_skip_reason, gate_pair
from docs2qa.generation.qa.keep.judge_health import judge_health

DATA = Path(__file__).parent / "data"


def labelled():
    chunks = json.loads((DATA / "gate_chunks.json").read_text())
    rows = [json.loads(line) for line in (DATA / "gate_labels.jsonl").read_text().splitlines()]
    return [
        (candidate_of(row["question"], row["answer"], row["evidence"], chunks[row["chunk"]]), row["label"])
        for row in rows
    ]


def test_gates_catch_bad_pairs_with_high_precision_and_recall():
    gates = measure(GATES, labelled(), FilterContext(GenerateConfig()))
    precision, recall, _ = gates.figures()
    false_alarms = [r.candidate.question for r in gates.mistakes() if r.label == "good"]
    per_kind = {kind: gates.figures(kind)[1] for kind in ("unsupported", "echo", "degenerate")}  # right reason
    print(
        f"gates on {len(gates.results)} labelled pairs: precision {precision:.2f}, recall {recall:.2f}, "
        f"right reason per kind {per_kind}"
    )
    assert not false_alarms, false_alarms
    assert precision >= 0.95 and recall >= 0.9
    assert min(per_kind.values()) >= 0.8


def test_each_gate_names_its_reason():
    cfg = GenerateConfig()
    chunk = "Invitations to an Acme organization expire after 14 days unless an Owner resends them."
    evidence = "Invitations to an Acme organization expire after 14 days"
    cases = {
        "The answer is:": "degenerate",
        "[insert answer here]": "degenerate",
        "1. 1. 2. 3. 4. 5.": "degenerate",
        "a fact, a fact, a fact, a fact, a fact": "degenerate",
        "When do Acme invitations expire?": "echo",
        "Acme invitations expire.": "echo",
        "They expire after 30 days, by email reminder.": "unsupported",
    }
    for answer, reason in cases.items():
        failure = gate_pair("When do Acme invitations expire?", answer, evidence, chunk, "factual", cfg)
        assert failure and failure[0] == reason, (answer, failure)
    assert gate_pair("When do Acme invitations expire?", "After 14 days.", evidence, chunk, "factual", cfg) is None
    short = gate_pair("When do Acme invitations expire?", "After 14 days.", "14", chunk, "factual", cfg)
    assert short[0] == "unsupported" and "evidence of 1 word" in short[1]
    # The share of content words found in the chunk is tunable.
    lax = GenerateConfig(gates={"support_min_share": 0.0})
    assert (
        gate_pair(
            "When do Acme invitations expire?",
            "They expire after 30 days, by email reminder.",
            evidence,
            chunk,
            "factual",
            lax,
        )
        is None
    )


def test_small_and_navigation_chunks_are_skipped_with_a_reason():
    assert chunk_skip_reason("Thanks for reading.", 25, 64)[0] == "chunk_too_small"
    nav = "# All pages\n\n" + "\n".join(
        f"- [Page {i}](https://acme.example/docs/p{i}) — about page {i}." for i in range(6)
    )
    assert chunk_skip_reason(nav, 200, 64)[0] == "chunk_navigation"
    prose = (
        "Acme notebooks stop after 60 minutes without input. " * 6
        + "\n\nSee [Sessions](https://acme.example/docs/sessions) for more."
    )
    assert chunk_skip_reason(prose, 200, 64) is None


def scores(value):
    return dict(zip(("grounded", "correct", "useful", "standalone"), value))


def test_a_judge_that_scores_everything_alike_is_uninformative_and_not_applied():
    health = judge_health([(scores((1, 1, 1, 1)), ok) for ok in (True, False) * 5], min_score=3)
    assert health["informative"] is False and health["applied"] is False and "same scores" in health["reason"]


def test_a_judge_that_disagrees_with_the_gates_is_uninformative():
    judged = [(scores((5, 5, 4, 5)), False)] * 4 + [(scores((3, 4, 3, 3)), True)] * 4
    health = judge_health(judged, min_score=3)
    assert health["informative"] is False and "no agreement with the model-free gates" in health["reason"]
    assert health["agreement_with_gates"] == 0.5  # it keeps all: right on the passed half only


def test_a_judge_that_barely_separates_or_rejects_everything_is_uninformative():
    # Measured on the demo: SmolLM2's lowest scores averaged 1.17 (gates passed) vs 1.16 (failed).
    judged = (
        [(scores((1, 1, 1, 1)), True)] * 5
        + [(scores((2, 2, 2, 2)), True)]
        + [(scores((1, 1, 1, 1)), False)] * 16
        + [(scores((2, 2, 2, 2)), False)] * 3
    )
    health = judge_health(judged, min_score=3)
    assert health["informative"] is False and health["applied"] is False
    assert "below generate.judge.min_score=3" in health["reason"]
    judged = [(scores((3, 3, 4, 3)), True)] * 4 + [(scores((3, 3, 3, 3)), False)] * 4
    assert "about as high" in judge_health(judged, min_score=3)["reason"]


def test_a_judge_that_follows_the_gates_is_informative_and_applied():
    judged = [(scores((5, 5, 4, 5)), True)] * 4 + [(scores((2, 1, 2, 2)), False)] * 4
    health = judge_health(judged, min_score=3)
    assert health["informative"] is True and health["applied"] is True and health["agreement_with_gates"] == 1.0
    assert judge_health(judged[:3], min_score=3)["informative"] is None  # too few to tell


def test_a_judge_that_keeps_what_the_gates_rejected_is_uninformative():
    judged = [(scores((4, 4, 3, 4)), False)] * 5 + [(scores((2, 2, 2, 2)), False)] * 3
    health = judge_health(judged, min_score=3)
    assert health["informative"] is False and "keep 5 of the 8 pairs they rejected" in health["reason"]
    judged = [(scores((1, 2, 1, 1)), False)] * 5 + [(scores((4, 4, 4, 4)), False)] * 2
    assert judge_health(judged, min_score=3)["informative"] is True
