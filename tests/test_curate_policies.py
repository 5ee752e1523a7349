"""Resolution policies, agreement statistics and snapshots, without a server."""

from __future__ import annotations

import os

import pytest

from docs2qa.curation.agreement import agreement, annotator_counts, cohen_kappa, fleiss_kappa
from docs2qa.curation.pull import summarize
from docs2qa.curation.review_policy import (
    DEMO_POLICY,
    ServerRecord,
    Vote,
    corrections,
    resolve,
    resolve_record,
)
from docs2qa.curation.snapshot import latest_snapshot, list_snapshots, read_snapshot, write_snapshot
from docs2qa.errors import Docs2qaError


def vote(user, label, at="2026-01-01T00:00:0", status="submitted", **kw):
    return Vote(user=user, status=status, label=label, at=at, **kw)


def votes(*labels):
    return [vote(f"u{i}", label, at=f"2026-01-01T00:00:{i:02d}") for i, label in enumerate(labels)]


@pytest.mark.parametrize(
    "labels, expected",
    [
        (("accept", "accept", "reject"), "accepted"),
        (("reject", "reject", "accept"), "rejected"),
        (("needs-edit", "needs-edit"), "needs-edit"),
        (("accept", "reject"), "disputed"),  # a tie is a disagreement, never a coin flip
        (("accept", "reject", "needs-edit"), "disputed"),
        (("accept",), "accepted"),
    ],
)
def test_majority(labels, expected):
    assert resolve(votes(*labels), "majority", needed=1).status == expected


def test_unanimous_needs_every_label_equal():
    assert resolve(votes("accept", "accept"), "unanimous", 2).status == "accepted"
    res = resolve(votes("accept", "accept", "reject"), "unanimous", 2)
    assert res.status == "disputed" and res.label is None and "reject x1" in res.reason


def test_first_takes_the_earliest_submission_not_the_list_order():
    late = vote("alice", "reject", at="2026-01-02T00:00:00")
    early = vote("bob", "accept", at="2026-01-01T00:00:00", corrected_answer="Fixed.")
    res = resolve([late, early], "first", 2)
    assert res.status == "accepted" and res.winners == (early,)
    assert corrections(res.winners) == ("", "Fixed.")


def test_pending_until_enough_submissions_drafts_do_not_count():
    some = [vote("a", "accept"), vote("b", "reject", status="draft")]
    res = resolve(some, "majority", 2)
    assert res.status == "pending" and res.submitted == 1 and res.reason == "1/2 submitted"
    assert resolve([], "first", 1).status == "pending"


def test_discarded_only_when_nobody_submitted():
    assert resolve([vote("a", None, status="discarded")], "majority", 1).status == "discarded"
    mixed = [vote("a", None, status="discarded"), vote("b", "accept")]
    assert resolve(mixed, "majority", 2).status == "pending"


def test_unknown_policy_is_an_error():
    with pytest.raises(Docs2qaError):
        resolve([], "vibes", 1)


def test_corrections_come_from_the_earliest_winner_that_made_one():
    a = vote("a", "accept", at="1", corrected_question="Q1?")
    b = vote("b", "accept", at="2", corrected_question="Q2?", corrected_answer="A2")
    assert corrections((a, b)) == ("Q1?", "A2")


def test_cohen_kappa_known_values():
    # Classic 2x2 example: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> kappa 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(["x", "y"], ["x", "y"]) == pytest.approx(1.0)
    assert cohen_kappa(["x", "x"], ["x", "x"]) is None  # chance agreement is 1: undefined


def test_fleiss_kappa_matches_the_textbook_example():
    # Fleiss (1971) / Wikipedia example: 10 items, 14 raters, 5 categories -> 0.210
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    items = [[str(c) for c, n in enumerate(row) for _ in range(n)] for row in table]
    assert fleiss_kappa(items) == pytest.approx(0.210, abs=1e-3)
    assert fleiss_kappa([["a", "a"], ["a", "a"]]) is None
    assert fleiss_kappa([["a"]]) is None


def test_agreement_summary():
    by_record = {
        "r1": votes("accept", "accept"),
        "r2": votes("accept", "reject"),
        "r3": votes("reject", "reject"),
        "r4": votes("accept"),  # a single rating says nothing about agreement
    }
    result = agreement(by_record)
    assert result["records_with_2plus"] == 3
    assert result["percent_agreement"] == pytest.approx(66.67)
    assert result["unanimous_share"] == pytest.approx(0.6667)
    pair = result["cohen_kappa"]["u0|u1"]
    assert pair["records"] == 3 and pair["kappa"] == pytest.approx(
        cohen_kappa(["accept", "accept", "reject"], ["accept", "reject", "reject"]), abs=1e-4
    )
    assert agreement({"r": votes("accept")})["fleiss_kappa"] is None


def test_annotator_counts():
    counts = annotator_counts(
        {
            "r1": [vote("a", "accept"), vote("b", None, status="discarded")],
            "r2": [vote("a", "reject"), vote("b", "reject", status="draft")],
        }
    )
    assert counts["a"] == {"submitted": 2, "draft": 0, "discarded": 0, "labels": {"accept": 1, "reject": 1}}
    assert counts["b"]["discarded"] == 1 and counts["b"]["draft"] == 1 and counts["b"]["labels"] == {}


def record(pid="p1", score=4, vs=()):
    return ServerRecord(
        pair_id=pid,
        question="Q?",
        answer="A.",
        original_answer="",
        question_type="factual",
        page_url="http://x/",
        min_judge_score=score,
        votes=tuple(vs),
    )


def test_rows_apply_corrections_of_the_winner_only():
    vs = [
        vote("a", "accept", at="1", corrected_answer="Better A."),
        vote("b", "reject", at="2"),
        vote("c", "accept", at="3", comment="fine"),
    ]
    row = resolve_record(record(vs=vs), "majority", 2, None)
    assert row["status"] == "accepted" and row["answer"] == "Better A." and row["edited"]
    assert row["annotators"] == ["a", "b", "c"] and row["comments"] == ["", "", "fine"]
    rejected = resolve_record(record(vs=[vote("a", "reject", corrected_answer="x")]), "first", 1, None)
    assert rejected["answer"] == "A." and not rejected["edited"]


def test_demo_policy_accepts_only_unreviewed_pairs_above_the_score_and_says_so():
    rows = [
        resolve_record(record("hi", 4), "majority", 1, 4),
        resolve_record(record("lo", 3), "majority", 1, 4),
        resolve_record(record("human", 5, [vote("a", "reject")]), "majority", 1, 4),
    ]
    assert [(r["status"], r["curation"]) for r in rows] == [
        ("accepted", DEMO_POLICY),
        ("pending", ""),
        ("rejected", "human"),
    ]
    summary = summarize(rows, [], "majority", 1, 4)
    assert summary["curation"] == DEMO_POLICY and summary["demo_policy_accepted"] == 1
    assert summary["counts"]["pending"] == 1 and summary["pending_pair_ids"] == ["lo"]


def _rows(*statuses):
    return [
        resolve_record(record(f"p{i}", vs=[vote("a", s)] if s else []), "first", 1, None)
        for i, s in enumerate(statuses)
    ]


def test_snapshot_is_content_addressed_and_immutable(tmp_path):
    rows = _rows("accept", "reject", None)
    summary = summarize(rows, [], "first", 1, None)
    path, created = write_snapshot(tmp_path, rows, summary)
    assert created and path.parent == tmp_path / "curate" / "snapshots"
    again, created_again = write_snapshot(tmp_path, list(reversed(rows)), dict(summary))
    assert again == path and not created_again and len(list_snapshots(tmp_path)) == 1
    for f in path.iterdir():
        assert not os.access(f, os.W_OK) or os.geteuid() == 0  # root ignores modes
        assert f.stat().st_mode & 0o222 == 0
    back, meta = read_snapshot(path)
    assert [r["pair_id"] for r in back] == ["p0", "p1", "p2"] and back[0]["labels"] == ["accept"]
    assert meta["snapshot_id"] == path.name and meta["counts"]["accepted"] == 1 and meta["pulled_at"]

    changed = _rows("accept", "accept", None)
    other, created_other = write_snapshot(tmp_path, changed, summarize(changed, [], "first", 1, None))
    assert created_other and other != path and latest_snapshot(tmp_path) == other
    # Pulling the first state again points LATEST back at it without a new folder.
    assert write_snapshot(tmp_path, rows, summary) == (path, False)
    assert latest_snapshot(tmp_path) == path and len(list_snapshots(tmp_path)) == 2


def test_latest_snapshot_without_any(tmp_path):
    assert latest_snapshot(tmp_path) is None
    with pytest.raises(Docs2qaError):
        read_snapshot(tmp_path)
