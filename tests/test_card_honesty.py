"""Honest dataset cards and reports: what really filtered the pairs (drops by reason, the
judge's health and calibration against people) and a few rows as they are."""

from __future__ import annotations

import pytest

from docs2qa.curation.agreement import judge_calibration
from docs2qa.datastore import versions
from docs2qa.datastore.stats import sample_rows
from test_eval_units import parse_report

UNINFORMATIVE = {
    "informative": False,
    "applied": False,
    "judged": 26,
    "min_score": 3,
    "reason": "the judge gave all 26 pairs the same scores (1/1/1/1); its scores were not used",
}
HEALTHY = {"informative": True, "applied": True, "judged": 40, "min_score": 4, "reason": "scores vary"}
DROPPED = {"unsupported": 9, "echo": 7, "degenerate": 4, "chunk_too_short": 3, "near_duplicate": 1}


def rows(n: int, split: str) -> list[dict]:
    return [
        {
            "pair_id": f"{split}-{i:03d}",
            "question": f"What does option {i} | set?",
            "answer": f"It sets level {i}.\nDone.",
            "context": "ctx",
            "question_type": "factual",
            "page_id": f"p{i % 3}",
            "url": "https://docs.test/a",
            "anchor_url": f"https://docs.test/a#o{i}",
            "title": "A",
            "heading_path": ["A"],
            "chunk_id": f"c{i}",
            "fact_id": "",
            "generator_model": "gen",
            "min_judge_score": 1 + i % 5,
            "curation": "human",
        }
        for i in range(n)
    ]


def lineage(source: str, health: dict | None, calibration: dict | None = None) -> dict:
    return {
        "source": source,
        "source_url": "https://docs.test/",
        "curation_note": "",
        "run": {"name": "t", "config_hash": "h"},
        "crawl": {"pages": []},
        "generation": {
            "generator_model": "gen",
            "judge_model": "embedded:smollm2",
            "prompt_hashes": [],
            "dropped": DROPPED,
            "judge_health": health,
            "strategy": "answer_first",
        },
        "curation": {"policy": "majority", "judge_calibration": calibration} if calibration else {},
        "code": {"docs2qa": "0"},
    }


def write(tmp_path, source="generation", health=UNINFORMATIVE, calibration=None, rejections=DROPPED):
    splits = {"train": rows(12, "train"), "validation": [], "test": rows(3, "test")}
    extra = {
        "curation_outcomes": {"accepted": 15, "rejected": 4} if source == "curation" else {},
        "rejections": rejections,
        "leakage_removed": 2,
    }
    path = versions.write_version(
        tmp_path,
        "t",
        splits,
        {"system_prompt": None, "include_context": False},
        lineage(source, health, calibration),
        extra,
    )
    return path, (path / "README.md").read_text(), (path / "report.html").read_text()


def test_the_card_says_what_really_filtered_and_warns_about_an_uninformative_judge(tmp_path):
    path, card, html = write(tmp_path)
    assert "only filter" not in card
    assert "## How these pairs were chosen" in card
    assert (
        "- **Generation (answer_first):** dropped before export, by reason: unsupported 9, echo 7, degenerate 4" in card
    )
    # The reason already says the scores were not used: the card says it once, in plain sentences.
    judge = (
        "embedded:smollm2: NOT informative: the judge gave all 26 pairs the same scores (1/1/1/1); "
        "its scores were not used."
    )
    assert f"> **Warning: the LLM judge was not informative.** {judge}\n" in card
    assert f"- **LLM judge:** {judge}\n" in card
    assert "to drop pairs" not in card and ")." not in card.split("## Statistics")[0]
    assert "- **Human review:** none: no person reviewed these pairs" in card
    assert "2 pair(s) removed from validation/test" in card
    report = parse_report(html)
    text = " ".join(report.text)
    assert "The LLM judge was not informative" in text and "Dropped at generation, by reason" in text
    assert html.count("unsupported: 9") == 1  # one bar's tooltip: the generation drops are drawn once
    assert "None: review and the leakage check removed no pair." in text
    versions.verify_version(path)


def test_a_reason_that_does_not_say_the_scores_were_unused_gets_it_said(tmp_path):
    older = {**UNINFORMATIVE, "reason": "the judge gave all 26 pairs the same scores (1/1/1/1)"}
    _, card, _ = write(tmp_path, health=older)
    assert (
        "embedded:smollm2: NOT informative: the judge gave all 26 pairs the same scores (1/1/1/1); "
        "its scores were not used to drop pairs.\n"
    ) in card


def test_the_report_charts_what_review_and_leakage_removed_apart_from_generation_drops(tmp_path):
    _, _, html = write(
        tmp_path, source="curation", rejections={**DROPPED, "curation_rejected": 4, "leakage_question": 2}
    )
    later = html.split("<h2>Removed after generation (review, leakage), by reason")[1].split("</section>")[0]
    assert "curation_rejected: 4" in later and "leakage_question: 2" in later and "unsupported" not in later
    assert "Why pairs were rejected" not in html


def test_lowest_judge_scores_read_as_pairs_per_score(tmp_path):
    from docs2qa.datastore.report import histogram

    splits = {"train": rows(6, "train"), "validation": [], "test": []}  # lowest scores 1, 2, 3, 4, 5, 1
    path = versions.write_version(
        tmp_path, "t", splits, {"system_prompt": None, "include_context": False}, lineage("generation", HEALTHY), {}
    )
    card, html = (path / "README.md").read_text(), (path / "report.html").read_text()
    assert "Lowest judge score per pair: score 1: 2 pairs, score 2: 1 pair, score 3: 1 pair," in card
    assert "<title>score 1: 2</title>" in html
    # A range of one value is labelled with it: '4', not '4-4'.
    assert histogram([4, 4, 5, 7]) == {"4": 2, "5": 1, "6": 0, "7": 1}
    assert list(histogram(list(range(30))))[:2] == ["0-2", "3-5"]


def test_a_healthy_judge_gets_no_warning_and_says_its_threshold(tmp_path):
    _, card, html = write(tmp_path, health=HEALTHY)
    assert "Warning" not in card and "alarm" not in html.split("</style>")[1]
    assert "embedded:smollm2: informative: scores vary; its scores decided what was kept (lowest score >= 4)." in card


def test_a_card_without_a_judge_record_says_so(tmp_path):
    _, card, _ = write(tmp_path, health=None)
    assert "no record of whether its scores told pairs apart" in card and "Warning" not in card


def test_sample_rows_are_random_seeded_and_shown_as_they_are(tmp_path):
    splits = {"train": rows(12, "train"), "test": rows(3, "test")}
    first = sample_rows(splits)
    assert first == sample_rows({"test": splits["test"], "train": splits["train"]}), "order of splits must not matter"
    assert len(first) == 5 and len({r["question"] + r["split"] for r in first}) == 5
    every = {(s, r["question"], r["answer"]) for s, split_rows in splits.items() for r in split_rows}
    assert all((r["split"], r["question"], r["answer"]) in every for r in first)
    assert sample_rows(splits, seed=1) != first
    _, card, html = write(tmp_path)
    shown = card.split("## Sample rows")[1].split("## Lineage")[0]
    # Pipes and newlines in generated text must not break the Markdown table.
    assert shown.count("\n| ") == 1 + 5 and "option" in shown and "\\|" in shown and "It sets level" in shown
    assert parse_report(html).tables["samples"] == 6


def test_curated_versions_show_the_judge_calibration_against_people(tmp_path):
    decided = [
        {"pair_id": f"p{i}", "status": status, "curation": "human", "min_judge_score": score}
        for i, (score, status) in enumerate(
            [(5, "accepted"), (5, "accepted"), (4, "accepted"), (3, "rejected"), (2, "rejected"), (2, "needs-edit")]
        )
    ]
    calibration = judge_calibration(decided)
    _, card, html = write(tmp_path, source="curation", health=HEALTHY, calibration=calibration)
    assert (
        "- **Judge vs people:** against 6 decisions by people (3 kept), the threshold that agrees best is "
        "generate.judge.min_score = 4 (agreement 1.0, precision of keep 1.0, recall 1.0)"
    ) in card
    assert "| keep when judge's lowest score >= | judge keeps |" in card
    assert "people's decisions in Argilla (policy majority): accepted 15, rejected 4" in card
    assert parse_report(html).tables["calibration"] == 6
    assert "proposed min_score 4" in html


@pytest.mark.slow  # crawls, converts and chunks the demo site, then exports
def test_export_carries_the_generate_stage_drops_and_judge_health_into_the_card(tmp_path):
    """Through the real export: the generate stage's dropped table and judge health reach the card."""
    from docs2qa.config import load_config
    from docs2qa.curation.export import export
    from docs2qa.records import Dropped, QAPair
    from docs2qa.store import StageResult
    from export_helpers import demo_run, pair_for

    config_path, store, chunks = demo_run(tmp_path)
    pairs = [pair_for(c, i) for i, c in enumerate(chunks)]
    dropped = [
        Dropped(f"x{i}", "https://acme-cloud.example/docs/", reason, "test")
        for i, reason in enumerate(["echo", "echo", "degenerate", "unsupported"])
    ]
    store.run_stage(
        "generate",
        "test",
        ["chunk"],
        lambda stage: StageResult(
            {"pairs": (pairs, QAPair)},
            len(chunks),
            dropped=dropped,
            extra={"judge_health": UNINFORMATIVE, "strategy": "answer_first"},
        ),
    )
    manifest = export(load_config(config_path), store)
    path = manifest["dataset"]["path"]
    card = (versions.resolve_version(path) / "README.md").read_text()
    assert "dropped before export, by reason: echo 2, degenerate 1, unsupported 1" in card
    assert "Warning: the LLM judge was not informative" in card and "only filter" not in card
    assert "## Sample rows" in card
