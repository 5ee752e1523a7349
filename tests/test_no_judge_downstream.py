"""With the generate stage's judge off (`generate.judge.enabled`), everything downstream says "no
judge" instead of reading the zeros an unjudged pair carries (QAPair: "0 when not judged") as
scores: push (records, suggestions, guidelines), pull's demo policy and its lines, the judge's
calibration, and the dataset card and report. The generate stage is written here, as the judge-off
generate stage writes it: its manifest's `judge` and `judge_health`, pairs without scores."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace

import pytest

from docs2qa.curation import schema
from docs2qa.curation.judge_state import generate_judge, of_run
from docs2qa.curation.push import build_records
from docs2qa.curation.review_policy import DEMO_POLICY, ServerRecord, Vote, resolve_record
from docs2qa.datastore import versions
from docs2qa.pipeline import stage_named
from docs2qa.records import QAPair
from docs2qa.store import RunStore, StageResult
from test_card_honesty import DROPPED, rows
from test_curate_push_pull import make_pair, make_pairs, vectors
from test_eval_units import parse_report

REASON = "auto: embedded generator under answer_first"
OFF = {"enabled": False, "reason": REASON}
HEALTH_OFF = {"applied": False, "informative": None, "reason": f"judge off ({REASON})"}
NO_JUDGE = "no judge: every pair that passed the filters"
JUDGE_KEYS = {"verdict", "score_grounded", "score_correct", "score_useful", "score_standalone"}
JUDGE_KEYS |= {"min_judge_score", "mean_judge_score"}


def unjudged(pair: QAPair) -> QAPair:
    """The pair as a generate stage without a judge writes it."""
    return replace(
        pair,
        score_grounded=0,
        score_correct=0,
        score_useful=0,
        score_standalone=0,
        judge_verdict="",
        judge_rationale="",
        revised_answer="",
        judge_model="",
        judge_prompt_hash="",
    )


def generate_stage(store: RunStore, pairs: list[QAPair], judge: dict | None = OFF, health: dict = HEALTH_OFF):
    extra = {"judge_health": health, "strategy": "answer_first", **({"judge": judge} if judge else {})}
    store.run_stage("generate", "h", [], lambda stage: StageResult({"pairs": (pairs, QAPair)}, len(pairs), extra=extra))


# -- push ------------------------------------------------------------------------------------


def test_push_sends_nothing_of_a_judge_that_did_not_run():
    pairs, chunks = make_pairs()
    records = build_records([unjudged(p) for p in pairs], chunks, vectors(6))
    assert [r["suggestions"] for r in records] == [{}] * 6
    assert all("judge_rationale" not in r["fields"] for r in records)
    # No verdict "unjudged", no scores of 0 that would sort as the worst pairs: no judge metadata at all.
    assert {key for r in records for key in r["metadata"]} == {
        "question_type",
        "page_url",
        "page_title",
        "heading",
        "cluster_size",
    }
    judged = build_records(pairs, chunks, vectors(6))  # a judged run keeps all of it
    assert set(judged[0]["metadata"]) >= JUDGE_KEYS and judged[0]["fields"]["judge_rationale"]
    assert set(judged[0]["suggestions"]) == {schema.Q_DECISION, schema.Q_QUALITY}


def test_guidelines_without_a_judge_say_what_the_pairs_passed_instead():
    without, with_judge = schema.guidelines_text(judge=False), schema.guidelines_text()
    assert "## No judge ran" in without and "No judge model scored these pairs" in without
    for filtered in ("support_min_share", "min_qa_similarity", "answer_first", "model-free filters"):
        assert filtered in without
    for judge_only in ("pre-selected. They are hints", "min_judge_score", "judge's scores (1-5)", "revised it"):
        assert judge_only not in without and judge_only in with_judge
    assert "No judge ran" not in with_judge
    assert "<!--" not in without + with_judge and "\n\n\n" not in without + with_judge


def test_push_line_does_not_call_a_judge_that_was_off_uninformative():
    argilla = {"records": 6, "url": "http://127.0.0.1:6900/dataset/d1/annotation-mode", "judge_suggestions": False}
    notes = stage_named("push").describe({"argilla": {**argilla, "judge_ran": False}}).notes
    assert len(notes) == 1 and "judge" not in notes[0]  # the generate stage's line says it, once


# -- whether the judge ran -------------------------------------------------------------------


def test_the_generate_stage_says_whether_its_judge_ran(tmp_path):
    pairs = [make_pair(i) for i in range(3)]
    generate_stage(RunStore(tmp_path / "off"), [unjudged(p) for p in pairs])
    assert of_run(tmp_path / "off") == OFF
    # Runs from before the switch: judged, unless no pair names a judge model.
    generate_stage(RunStore(tmp_path / "old"), pairs, judge=None, health={"informative": True})
    assert of_run(tmp_path / "old") == {"enabled": True, "reason": ""}
    generate_stage(RunStore(tmp_path / "old-off"), [unjudged(p) for p in pairs], judge=None, health={})
    assert of_run(tmp_path / "old-off")["enabled"] is False
    assert generate_judge({"judge": {"enabled": True}}, [unjudged(pairs[0])])["enabled"] is True
    assert of_run(tmp_path / "nothing") == {"enabled": True, "reason": ""}


# -- pull's demo policy ----------------------------------------------------------------------


def server_record(i: int, votes: tuple[Vote, ...] = ()) -> ServerRecord:
    # A pair without a judge reaches Argilla without min_judge_score, which pull reads as 0.
    return ServerRecord(f"p{i}", f"Q{i}?", f"A{i}.", "", "factual", "https://docs.test/a", 0, votes)


def test_the_demo_policy_accepts_every_filtered_pair_without_a_judge_and_says_so(tmp_path):
    from rich.console import Console

    from docs2qa.curation.pull import summarize
    from docs2qa.curation.summary_view import print_summary

    generate_stage(RunStore(tmp_path), [unjudged(make_pair(i)) for i in range(3)])
    judge = of_run(tmp_path)
    rejected = (Vote("ann", "submitted", "reject", 2, at="2026-01-01T00:00:00"),)
    records = [server_record(0), server_record(1), server_record(2, rejected)]
    # With a judge, a pair without a score is never above curate.demo_accept_min_score: it waits.
    assert resolve_record(records[0], "majority", 1, 1)["status"] == "pending"
    got = [resolve_record(r, "majority", 1, 1, judge["enabled"]) for r in records]
    assert [(r["status"], r["curation"]) for r in got] == [
        ("accepted", DEMO_POLICY),
        ("accepted", DEMO_POLICY),
        ("rejected", "human"),  # a person's decision stands
    ]
    assert got[0]["reason"] == f"demo policy, {NO_JUDGE}"
    assert resolve_record(records[0], "majority", 1, None, False)["status"] == "pending"  # no demo policy: no accept

    summary = summarize(got, records, "majority", 1, 1, judge)
    assert summary["judge"] == OFF and summary["demo_policy_accepted"] == 2
    assert NO_CALIBRATION.items() <= summary["judge_calibration"].items()
    product = stage_named("pull").describe({"snapshot": {"id": "1a11", **summary}}).product
    assert product == f"snapshot 1a11: 2 accepted by the demo policy (not a person; {NO_JUDGE}), 1 rejected, 0 pending"

    console = io.StringIO()
    print_summary(summary, Console(file=console, width=160, soft_wrap=True))
    out = console.getvalue()
    assert f"2 by the demo policy (not human; {NO_JUDGE})" in out
    assert f"judge vs people: not applicable: no judge (off: {REASON})" in out
    # A judged run's summary has no "judge" key, so its snapshots keep their ids.
    assert "judge" not in summarize(got, records, "majority", 1, 1)


def test_export_says_the_demo_policy_accepted_without_a_judge():
    from docs2qa.curation.export import curation_note

    curation = {"counts": {"accepted": 3}, "demo_policy_accepted": 3, "demo_accept_min_score": 1}
    assert curation_note("curation", {**curation, "judge": OFF}) == (
        f"3 pair(s) were accepted by the demo policy without a judge ({NO_JUDGE}), not by a person."
    )
    assert "the judge's lowest score" in curation_note("curation", curation)


# -- card and report -------------------------------------------------------------------------


# What pull's summary holds as the judge's calibration when there was no judge (pull.no_calibration).
NO_CALIBRATION = {
    "applicable": False,
    "reviewed": 0,
    "thresholds": [],
    "note": f"not applicable: no judge (off: {REASON})",
}


def no_judge_version(tmp_path, demo: int = 15):
    splits = {"train": rows(12, "train"), "validation": [], "test": rows(3, "test")}
    for split_rows in splits.values():
        for row in split_rows:
            row.update(min_judge_score=0, curation=DEMO_POLICY)
    lineage = {
        "source": "curation",
        "source_url": "https://docs.test/",
        "curation_note": f"{demo} pair(s) were accepted by the demo policy without a judge ({NO_JUDGE}).",
        "run": {"name": "t", "config_hash": "h"},
        "crawl": {"pages": []},
        "generation": {
            "generator_model": "embedded:smollm2",
            "judge_model": "",
            "prompt_hashes": [],
            "dropped": DROPPED,
            "judge": OFF,
            "judge_health": HEALTH_OFF,
            "strategy": "answer_first",
        },
        "curation": {"policy": "majority", "judge_calibration": NO_CALIBRATION, "judge": OFF},
        "code": {"docs2qa": "0"},
    }
    extra = {"curation_outcomes": {"accepted": 15}, "demo_policy_accepted": demo, "leakage_removed": 0}
    path = versions.write_version(
        tmp_path, "t", splits, {"system_prompt": None, "include_context": False}, lineage, extra
    )
    return path, (path / "README.md").read_text(), (path / "report.html").read_text()


def test_the_card_and_report_say_no_judge_instead_of_scores_of_zero(tmp_path):
    path, card, html = no_judge_version(tmp_path)
    off = f"none (off: {REASON})"
    assert f"- **LLM judge:** {off}; no model scored these pairs.\n" in card
    assert "- **Judge vs people:** not applicable: no judge\n" in card
    assert f"Lowest judge score per pair: {off}  \n" in card
    assert f"| judge | {off} |" in card
    assert f"by the demo policy ({NO_JUDGE}), not a person: accepted 15" in card
    assert "score 0" not in card and "Warning" not in card and "informativeness unknown" not in card
    samples = card.split("## Sample rows")[1].split("## Lineage")[0]
    assert "judge's lowest score" not in samples and samples.count("\n| ") == 1 + 5

    text = " ".join(parse_report(html).text)
    assert f"Judge: {off}. No model scored these pairs." in text
    assert f"without a judge ({NO_JUDGE}): NOT human curation" in text
    assert "score 0" not in html and "judge's lowest score" not in html and "class=alarm" not in html
    assert versions.read_manifest(path)["stats"]["unjudged"] == 15
    versions.verify_version(path)


def test_a_judged_version_counts_pairs_no_judge_scored_apart_from_scores(tmp_path):
    splits = {"train": rows(6, "train"), "validation": [], "test": []}  # lowest scores 1, 2, 3, 4, 5, 1
    splits["train"][0]["min_judge_score"] = 0
    from test_card_honesty import HEALTHY, lineage

    path = versions.write_version(
        tmp_path, "t", splits, {"system_prompt": None, "include_context": False}, lineage("generation", HEALTHY), {}
    )
    card, html = (path / "README.md").read_text(), (path / "report.html").read_text()
    assert "Lowest judge score per pair: score 1: 1 pair, score 2: 1 pair," in card
    assert "score 5: 1 pair, not judged: 1 pair  \n" in card and "score 0" not in card
    assert "<title>not judged: 1</title>" in html and "score 0" not in html


# -- through the real parts --------------------------------------------------------------------


@pytest.mark.slow  # the real Argilla stack, the demo site's crawl and the embedding model
def test_a_run_without_a_judge_goes_from_push_to_an_exported_card(argilla_server, tmp_path, monkeypatch):
    """The main job's stages after generate, with the judge off: push to a real Argilla, pull with
    the demo policy (demo_accept_min_score 1, as configs/demo.yaml has it), export, read the card."""
    from docs2qa.config import load_config
    from docs2qa.curation.argilla_api import connect
    from docs2qa.curation.export import export
    from docs2qa.curation.pull import collect
    from docs2qa.curation.stage import pull, push
    from export_helpers import demo_run, pair_for

    monkeypatch.setenv("DOCS2QA_TEST_ARGILLA_KEY", argilla_server.api_key)
    config_path, store, chunks = demo_run(tmp_path, source="curation")
    pairs = [unjudged(pair_for(c, i)) for i, c in enumerate(chunks)]
    store.run_stage(
        "generate",
        "test",
        ["chunk"],
        lambda stage: StageResult(
            {"pairs": (pairs, QAPair)},
            len(chunks),
            extra={"judge": OFF, "judge_health": HEALTH_OFF, "strategy": "answer_first"},
        ),
    )
    config = load_config(
        config_path,
        [
            f"curate.api_url={argilla_server.url}",
            "curate.api_key_env=DOCS2QA_TEST_ARGILLA_KEY",
            f"curate.dataset=nojudge-{uuid.uuid4().hex[:8]}",
            "curate.demo_accept_min_score=1",
        ],
    )
    pushed = push(config, store)["argilla"]
    assert (pushed["judge_ran"], pushed["judge_suggestions"]) == (False, False)
    assert stage_named("push").describe({"argilla": pushed}).notes[1:] == ()

    client = connect(argilla_server.url, argilla_server.api_key)
    dataset = client.datasets(name=config.curate.dataset, workspace=config.curate.workspace)
    assert dataset.settings.guidelines == schema.guidelines_text(judge=False)
    records = list(dataset.records)
    assert len(records) == len(pairs)
    assert all(not r.suggestions and not (JUDGE_KEYS & set(r.metadata or {})) for r in records)
    assert not any(r.fields.get("judge_rationale") for r in records)

    # `curate status` reads no run folder: the records alone tell it that no judge ran.
    _, status = collect(config.curate, config.name, argilla_server.url, argilla_server.api_key)
    assert status["judge"]["enabled"] is False and status["demo_policy_accepted"] == len(pairs)
    snapshot = pull(config, store)["snapshot"]
    assert snapshot["judge"] == OFF and snapshot["counts"]["accepted"] == snapshot["demo_policy_accepted"] == len(pairs)
    said = stage_named("pull").describe({"snapshot": snapshot}).product
    assert f"{len(pairs)} accepted by the demo policy (not a person; {NO_JUDGE}), 0 pending" in said

    path = versions.resolve_version(export(config, store)["dataset"]["path"])
    card = (path / "README.md").read_text()
    assert f"- **LLM judge:** none (off: {REASON}); no model scored these pairs." in card
    assert "- **Judge vs people:** not applicable: no judge" in card
    assert f"accepted by the demo policy without a judge ({NO_JUDGE}), not by a person" in card
    assert "score 0" not in card and "Warning" not in card
    assert versions.read_manifest(path)["generation"]["judge"] == OFF
