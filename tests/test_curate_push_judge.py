"""A judge the run found uninformative pre-fills nothing in Argilla: no label, no rating from it
(people would start from its noise). Pushed to a real local Argilla server."""

from __future__ import annotations

from docs2qa.curation import schema
from docs2qa.curation.push import build_records, push
from tests.test_curate_push_pull import fresh_cfg, make_pairs, server_records, vectors


def test_no_suggestions_from_an_uninformative_judge():
    pairs, chunks = make_pairs()
    shown = build_records(pairs, chunks, vectors(6))
    hidden = build_records(pairs, chunks, vectors(6), judge_informative=False)
    assert all(set(r["suggestions"]) == {schema.Q_DECISION, schema.Q_QUALITY} for r in shown)
    assert [r["suggestions"] for r in hidden] == [{}] * 6
    assert [r["metadata"] for r in hidden] == [r["metadata"] for r in shown]  # its scores stay filterable


def test_a_push_after_the_judge_was_found_uninformative_takes_its_suggestions_away(argilla_server):
    pairs, chunks = make_pairs()
    cfg = fresh_cfg()
    push(pairs, chunks, vectors(6), cfg, "run", argilla_server.url, argilla_server.api_key)
    summary = push(
        pairs, chunks, vectors(6), cfg, "run", argilla_server.url, argilla_server.api_key, judge_informative=False
    )
    assert summary["judge_suggestions"] is False
    records, _, _ = server_records(argilla_server, cfg)
    assert {pair_id: list(r.suggestions) for pair_id, r in records.items()} == {p.pair_id: [] for p in pairs}
