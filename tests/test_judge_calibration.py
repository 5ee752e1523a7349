"""The judge measured against people's decisions: per-threshold agreement, precision and
recall of "keep", the proposed threshold, on a synthetic snapshot and through a real Argilla."""

from __future__ import annotations

import pytest

from docs2qa.curation.agreement import judge_calibration
from docs2qa.curation.pull import summarize
from docs2qa.curation.review_policy import DEMO_POLICY, HUMAN
from docs2qa.curation.snapshot import read_snapshot, write_snapshot


def row(score: int, status: str, curation: str = HUMAN, pid: str = "") -> dict:
    return {
        "pair_id": pid or f"p{score}-{status}-{id(object())}",
        "status": status,
        "curation": curation,
        "min_judge_score": score,
    }


def synthetic_snapshot() -> list[dict]:
    """12 decided pairs (6 kept by people) plus rows that must not count."""
    rows = [row(5, "accepted") for _ in range(3)]
    rows += [row(4, "accepted") for _ in range(2)] + [row(4, "rejected")]
    rows += [row(3, "accepted"), row(3, "rejected"), row(3, "rejected"), row(3, "needs-edit")]
    rows += [row(2, "rejected") for _ in range(2)]
    # Not a person's decision: the demo policy, undecided, disputed.
    rows += [row(1, "accepted", DEMO_POLICY), row(1, "pending", ""), row(1, "disputed")]
    return [dict(r, pair_id=f"p{i:02d}") for i, r in enumerate(rows)]


def test_per_threshold_agreement_precision_recall_worked_out_by_hand():
    result = judge_calibration(synthetic_snapshot())
    assert (result["reviewed"], result["kept_by_people"]) == (12, 6)
    assert result["scores_seen"] == {"2": 2, "3": 4, "4": 3, "5": 3}  # string keys, as JSON keeps them
    by = {t["min_score"]: t for t in result["thresholds"]}
    # >= 1 and >= 2 keep all 12: agreement 6/12, precision 6/12, recall 1.
    assert (by[1]["judge_keeps"], by[1]["agreement"], by[1]["precision"], by[1]["recall"]) == (12, 0.5, 0.5, 1.0)
    assert by[2] | {"min_score": 1} == by[1]
    # >= 3 keeps 10: 6 right keeps, 4 wrong; 2 right drops -> 8/12.
    assert (by[3]["judge_keeps"], by[3]["agreement"], by[3]["precision"], by[3]["recall"]) == (10, 0.6667, 0.6, 1.0)
    # >= 4 keeps 6 (5 kept by people): tp 5, fp 1, fn 1, tn 5 -> 10/12; kappa (10/12 - 1/2) / (1/2).
    assert (by[4]["agreement"], by[4]["precision"], by[4]["recall"], by[4]["kappa"]) == (0.8333, 0.8333, 0.8333, 0.6667)
    # >= 5 keeps 3, all kept by people: precision 1, recall 3/6, agreement 9/12.
    assert (by[5]["agreement"], by[5]["precision"], by[5]["recall"]) == (0.75, 1.0, 0.5)
    assert result["proposed_min_score"] == 4 and result["informative"] is True
    assert "only 12 pair(s) reviewed" in result["note"]


def test_a_judge_that_scores_everything_the_same_is_called_uninformative():
    rows = [row(5, "accepted", pid="a"), row(5, "rejected", pid="b"), row(5, "needs-edit", pid="c")]
    result = judge_calibration(rows)
    assert result["informative"] is False and "same lowest score (5)" in result["note"]
    assert all(t["kappa"] is None or t["kappa"] <= 0 for t in result["thresholds"])


def test_nothing_to_calibrate_without_decisions_or_without_disagreement():
    empty = judge_calibration([row(4, "pending", "", pid="a"), row(5, "accepted", DEMO_POLICY, pid="b")])
    assert empty["reviewed"] == 0 and empty["proposed_min_score"] is None and "no pair" in empty["note"]
    all_kept = judge_calibration([row(3, "accepted", pid="a"), row(5, "accepted", pid="b")])
    assert all_kept["informative"] is None and "kept every reviewed pair" in all_kept["note"]
    # Every threshold that keeps everything agrees fully; the lowest is proposed (it keeps most).
    assert all_kept["proposed_min_score"] == 1


def test_the_calibration_is_part_of_the_summary_and_the_snapshot(tmp_path):
    rows = [_full(r) for r in synthetic_snapshot()]
    summary = summarize(rows, [], "majority", 1, None)
    assert summary["judge_calibration"] == judge_calibration(rows)
    path, _ = write_snapshot(tmp_path, rows, summary)
    _, meta = read_snapshot(path)
    assert meta["judge_calibration"]["proposed_min_score"] == 4


def _full(r: dict) -> dict:
    """A snapshot row with every column (the synthetic rows carry only what calibration reads)."""
    empty: list = []
    return {
        "label": "",
        "question": "q",
        "answer": "a",
        "original_question": "q",
        "original_answer": "a",
        "generator_answer": "a",
        "edited": False,
        "reason": "",
        "submitted": 1,
        "annotators": empty,
        "response_statuses": empty,
        "labels": empty,
        "ratings": empty,
        "corrected_questions": empty,
        "corrected_answers": empty,
        "comments": empty,
        "question_type": "factual",
        "page_url": "",
        **r,
    }


def test_pull_from_a_real_argilla_measures_the_judge_against_people(argilla_server, tmp_path):
    from docs2qa.curation.pull import pull
    from docs2qa.curation.push import push
    from test_curate_push_pull import annotator, fresh_cfg, make_pair, make_pairs, server_records, submit, vectors

    # Judge's lowest scores 5, 5, 4, 3, 2, 2; the person keeps the first three only.
    _, chunks = make_pairs(6)
    lowest = [5, 5, 4, 3, 2, 2]
    pairs = [make_pair(i, "keep", scores=(5, 5, s, 5)) for i, s in enumerate(lowest)]
    cfg = fresh_cfg()
    push(pairs, chunks, vectors(6), cfg, "run", argilla_server.url, argilla_server.api_key)
    records, _, owner = server_records(argilla_server, cfg)
    _, as_carol = annotator(owner, cfg.workspace, "carol")
    for i, pair in enumerate(pairs):
        submit(as_carol, records[pair.pair_id]._server_id, "accept" if i < 3 else "reject", 4)

    result = pull(cfg, "run", tmp_path, argilla_server.url, argilla_server.api_key)
    calibration = result["summary"]["judge_calibration"]
    assert (calibration["reviewed"], calibration["kept_by_people"]) == (6, 3)
    assert calibration["proposed_min_score"] == 4 and calibration["informative"] is True
    by = {t["min_score"]: t for t in calibration["thresholds"]}
    assert (by[4]["agreement"], by[4]["precision"], by[4]["recall"]) == (1.0, 1.0, 1.0)
    assert by[3]["precision"] == pytest.approx(0.75)
    _, meta = read_snapshot(result["path"])
    assert meta["judge_calibration"] == calibration
