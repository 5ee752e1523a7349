"""The answer_first question checks (answer_first.question_problem) on a labelled set:
questions a reader accepts for their answer sentence, and questions that are off target
(a "How do I ...?" of a sentence that gives no step, a question about only the page's
subject, "What is X?" of a sentence about something else). Written by hand from the
Lanternfish fixture pages (tests/generator_sites) and from pairs measured on the demo site."""

from __future__ import annotations

import json
from pathlib import Path

from docs2qa.generation.qa.answer_first import question_problem

LABELS = Path(__file__).parent / "data" / "gate_labels_off_target.jsonl"


def test_off_target_questions_are_caught_without_losing_good_ones():
    rows = [json.loads(line) for line in LABELS.read_text().splitlines()]
    assert len(rows) >= 24
    results = [(row, question_problem(row["question"], row["answer"], row["title"], row["heading"])) for row in rows]
    caught = [row for row, problem in results if problem and row["label"] == "off_target"]
    false_alarms = [(row["question"], problem) for row, problem in results if problem and row["label"] == "good"]
    missed = [row["question"] for row, problem in results if not problem and row["label"] == "off_target"]
    bad = sum(row["label"] == "off_target" for row in rows)
    precision = len(caught) / max(1, len(caught) + len(false_alarms))
    recall = len(caught) / bad
    print(f"off-target checks on {len(rows)} labelled questions: precision {precision:.2f}, recall {recall:.2f}")
    print(f"  false alarms: {false_alarms}\n  missed: {missed}")
    # Measured: precision 0.88, recall 1.00. What the strictness costs: "What is station.toml?" of
    # "Every station is described by a short file named station.toml." (the definition is passive)
    # and a fix for the float chamber the previous sentence names: 2 of 14 good questions.
    assert precision >= 0.85 and recall >= 0.9, (false_alarms, missed)
