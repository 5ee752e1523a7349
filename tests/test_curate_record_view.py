"""What a reviewer reads is true: no word from a judge the run found uninformative or had off, the
checks the pair passed with their numbers, the answer marked in its passage, and guidelines that
describe this run's settings."""

from __future__ import annotations

import dataclasses

from docs2qa.curation import schema
from docs2qa.curation.push import build_records
from test_curate_push_pull import make_chunk, make_pair, make_pairs, vectors


def test_an_uninformative_or_switched_off_judge_says_nothing_in_the_record():
    pairs, chunks = make_pairs()
    informative = build_records(pairs, chunks, vectors(6))
    uninformative = build_records(pairs, chunks, vectors(6), judge_informative=False)
    assert all(r["fields"]["judge_rationale"] for r in informative)
    assert not any("judge_rationale" in r["fields"] for r in uninformative)  # it said "keep" here before
    # The generate stage's manifest says the judge was off although the pairs still name one.
    switched_off = build_records(pairs, chunks, vectors(6), judged=False)
    assert not any("judge_rationale" in r["fields"] for r in uninformative + switched_off)
    assert not any(r["suggestions"] for r in uninformative + switched_off)
    assert not any("verdict" in r["metadata"] for r in switched_off)


def test_the_context_marks_the_answer_and_lists_the_checks_it_passed():
    from docs2qa.curation.record_view import RunChecks

    chunk = make_chunk(1)  # "Part 1 explains `widget --level 1`.\n\n- it sets the level\n- it is safe"
    free = dataclasses.replace(make_pair(1), evidence_ratio=0.97)
    run = RunChecks(strategy="free", support_min_share=0.6)
    context = build_records([free], {"chunk1": chunk}, vectors(1), checks=run)[0]["fields"]["context"]
    assert "- <mark>it sets the level</mark>\n- it is safe" in context  # the evidence span: the answer is not verbatim
    assert "strategy **free**" in context
    assert "- support: 100% of the answer's content words are in the passage (needed: 60%)" in context
    assert "(match 97%)" in context and "similarity" not in context
    assert context.index("Source: <https://docs.example/guide#part-1>") < context.index("**Checks this pair passed**")

    picked = dataclasses.replace(make_pair(1), answer="it is safe", evidence="it is safe")
    first = RunChecks("answer_first", 0.6, 0.4, {picked.pair_id: 0.71})
    context = build_records([picked], {"chunk1": chunk}, vectors(1), checks=first)[0]["fields"]["context"]
    assert "- <mark>it is safe</mark>" in context and "strategy **answer_first**: the answer is a sentence" in context
    assert "- question-answer similarity: 0.71 (needed: 0.40)" in context
    low = RunChecks("answer_first", 0.6, 0.4, {picked.pair_id: 0.37})
    context = build_records([picked], {"chunk1": chunk}, vectors(1), checks=low)[0]["fields"]["context"]
    assert "0.37 (under the 0.40 the check asks for" in context  # never "passed" with a number below its bar

    elsewhere = dataclasses.replace(make_pair(1), answer="Levels are global.", evidence="levels are global")
    context = build_records([elsewhere], {"chunk1": chunk}, vectors(1))[0]["fields"]["context"]
    assert "<mark>" not in context and "not in the passage word for word" in context


def test_guidelines_describe_the_runs_judge_suggestions_and_reviewers():
    shown = schema.guidelines_text(judge=True, suggest=True, annotators_per_record=1)
    withheld = schema.guidelines_text(judge=True, suggest=False, annotators_per_record=2)
    no_judge = schema.guidelines_text(judge=False, suggest=False, annotators_per_record=3)
    assert "pre-selected. They are hints" in shown and "Filter by `min_judge_score`" in shown
    for promise in ("pre-selected. They are hints", "Filter by `min_judge_score`"):
        assert promise not in withheld and promise not in no_judge
    assert "**Suggestions**: none. Nothing is pre-selected and the judge's rationale is not shown" in withheld
    assert "Suggestions**: none" not in shown + no_judge
    assert "Each record needs one submitted decision" in shown
    assert "Each record needs 2 submitted decisions, from 2 different people" in withheld
    assert "Each record needs 3 submitted decisions" in no_judge
    assert "<!--" not in shown + withheld + no_judge and "{annotators}" not in shown + withheld + no_judge


def test_the_push_stage_shows_the_runs_strategy_and_similarity_and_no_judge_that_was_off(tmp_path, argilla_server):
    import os

    import yaml

    from docs2qa.records import Chunk, QAPair
    from docs2qa.store import RunStore, StageResult
    from test_curate_cli import cli
    from test_curate_push_pull import connect

    pairs, chunks = make_pairs(3)
    store = RunStore(tmp_path / "run")
    store.run_stage("chunk", "t", [], lambda s: StageResult({"chunks": (list(chunks.values()), Chunk)}, 3))
    # The pairs still name a judge, but the stage that made them says it was off.
    generate = {"strategy": "answer_first", "judge": {"enabled": False, "reason": "auto: the embedded model"}}
    store.run_stage("generate", "t", ["chunk"], lambda s: StageResult({"pairs": (pairs, QAPair)}, 3, extra=generate))
    config = tmp_path / "c.yaml"
    curate = {"api_url": argilla_server.url, "dataset": f"view-{tmp_path.name}"[-60:]}
    config.write_text(yaml.safe_dump({"crawl": {"seeds": ["https://docs.example/guide"]}, "curate": curate}))
    env = {**os.environ, "ARGILLA_API_KEY": argilla_server.api_key}
    pushed = cli("curate", "push", "-c", str(config), "--run", str(store.root), env=env)
    assert pushed.returncode == 0, pushed.stderr[-2000:]

    client = connect(argilla_server.url, argilla_server.api_key)
    dataset = client.datasets(name=curate["dataset"], workspace="docs2qa")
    records = list(dataset.records)
    assert len(records) == 3
    for record in records:
        assert not record.fields.get("judge_rationale") and not list(record.suggestions)
        context = record.fields["context"]
        assert "strategy **answer_first**" in context and "question-answer similarity: " in context
        assert "<mark>it sets the level</mark>" in context
    assert "No judge model scored these pairs" in dataset.settings.guidelines
