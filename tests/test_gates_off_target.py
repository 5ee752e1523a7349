"""The answer_first question checks (keep.off_target.QUESTION_FORM) on a labelled set:
questions a reader accepts for their answer sentence, and questions that are off target
(a "How do I ...?" of a sentence that gives no step, a question about only the page's
subject, "What is X?" of a sentence about something else, "Why ...?" of the reason an answer
gives). Written by hand from the Lanternfish fixture pages (tests/generator_sites), from pairs
measured on the demo site and on the pennant site (tests/fixture_sites/pennant)."""

from __future__ import annotations

import json
from pathlib import Path

from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.generation.qa.keep.filters import FilterContext, candidate_of, measure
from docs2qa.generation.qa.keep.off_target import QUESTION_FORM

LABELS = Path(__file__).parent / "data" / "gate_labels_off_target.jsonl"


def test_off_target_questions_are_caught_without_losing_good_ones():
    rows = [json.loads(line) for line in LABELS.read_text().splitlines()]
    assert len(rows) >= 24
    labelled = [
        (
            candidate_of(
                row["question"], row["answer"], title=row["title"], heading_path=row["heading"], strategy="answer_first"
            ),
            row["label"],
        )
        for row in rows
    ]
    context = FilterContext(GenerateConfig())
    checks = measure(QUESTION_FORM, labelled, context)
    precision, recall, _ = checks.figures("off_target")
    false_alarms = [(r.candidate.question, r.failure[1:]) for r in checks.mistakes() if r.label == "good"]
    missed = [r.candidate.question for r in checks.mistakes() if r.label == "off_target"]
    print(f"off-target checks on {len(rows)} labelled questions: precision {precision:.2f}, recall {recall:.2f}")
    print(f"  false alarms: {false_alarms}\n  missed: {missed}")
    for rule in QUESTION_FORM:  # each alone: how many it flags, and how many of those are off target
        alone = measure([rule], labelled, context)
        flagged = [r for r in alone.results if r.failure]
        right = sum(r.label == "off_target" for r in flagged)
        print(f"  {rule.name} alone: flags {len(flagged)}, {right} of them off target")
    # Measured: precision 0.90, recall 1.00. What the strictness costs: "What is station.toml?" of
    # "Every station is described by a short file named station.toml." (the definition is passive)
    # and a fix for the float chamber the previous sentence names: 2 of 21 good questions.
    assert precision >= 0.85 and recall >= 0.9, (false_alarms, missed)
