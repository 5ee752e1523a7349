"""`curate pull` and `curate status` print the review summary as tables people read (outcomes,
annotators, agreement, the judge against people), from the numbers `summarize` computes."""

from __future__ import annotations

import io

from rich.console import Console

from docs2qa.curation.pull import summarize
from docs2qa.curation.review_policy import ServerRecord, Vote, resolve_record
from docs2qa.curation.summary_view import print_summary


def record(i: int, votes: tuple[Vote, ...], score: int = 4) -> ServerRecord:
    return ServerRecord(f"pair{i:02d}", f"What is {i}?", f"It is {i}.", f"It is {i}.", "factual", "u", score, votes)


def vote(user: str, label: str | None, status: str = "submitted", answer: str = "") -> Vote:
    return Vote(user, status, label, corrected_answer=answer, at=f"2026-01-01T00:00:0{len(user)}")


RECORDS = [
    record(0, (vote("alice", "accept"), vote("bob", "accept"))),
    record(1, (vote("alice", "accept", answer="It is one."), vote("bob", "accept"))),
    record(2, (vote("alice", "reject"), vote("bob", "reject")), score=2),
    record(3, (vote("alice", "accept"), vote("bob", "reject"))),  # a tie under majority: disputed
    record(4, (vote("alice", "needs-edit", answer="It is four."), vote("bob", "needs-edit"))),
    record(5, (vote("alice", None, "draft"),)),
    record(6, ()),
    record(7, ()),
]


def summary() -> dict:
    rows = [resolve_record(r, "majority", 2, None) for r in RECORDS]
    result = summarize(rows, RECORDS, "majority", 2, None)
    result["dataset"] = {"id": "x", "name": "docs2qa-[demo]", "workspace": "docs2qa"}
    return result


def printed(data: dict) -> str:
    out = io.StringIO()
    print_summary(data, Console(file=out, width=120, soft_wrap=True))
    return out.getvalue()


def cells(text: str) -> dict[str, list[str]]:
    """Table rows by their first cell: the words of each row."""
    return {
        words[0]: words[1:] for line in text.splitlines() if (words := line.replace("│", " ").replace("┃", " ").split())
    }


def test_the_summary_is_tables_not_json():
    text = printed(summary())
    assert not text.lstrip().startswith("{")
    assert "review of 'docs2qa-[demo]': 8 pair(s), policy majority, 2 submitted response(s) per pair" in text
    rows = cells(text)
    assert rows["accepted"][0] == "2" and rows["rejected"][0] == "1" and rows["needs-edit"][0] == "1"
    assert rows["disputed"][0] == "1" and rows["pending"][0] == "3" and rows["discarded"][0] == "0"
    assert rows["edited"][0] == "2"  # pair01's and pair04's corrected answers
    assert rows["total"] == ["8"]


def test_each_annotator_has_a_row_with_their_labels():
    text = printed(summary())
    rows = cells(text)
    header = ["annotator", *rows["annotator"]]
    assert header == ["annotator", "submitted", "accept", "reject", "needs-edit", "draft", "discarded"]
    alice = dict(zip(header[1:], rows["alice"], strict=True))
    bob = dict(zip(header[1:], rows["bob"], strict=True))
    assert alice == {"submitted": "5", "accept": "3", "needs-edit": "1", "reject": "1", "draft": "1", "discarded": "0"}
    assert bob == {"submitted": "5", "accept": "2", "needs-edit": "1", "reject": "2", "draft": "0", "discarded": "0"}


def test_agreement_and_the_judge_are_said_in_words():
    data = summary()
    text = printed(data)
    agree = data["agreement"]
    assert agree["records_with_2plus"] == 5
    assert (
        f"agreement over 5 record(s) with 2+ responses: {agree['percent_agreement']:.1f}% of annotator pairs agree, "
        f"{100 * agree['unanimous_share']:.0f}% unanimous, Fleiss' kappa {agree['fleiss_kappa']:.2f}"
    ) in text
    assert f"Cohen's kappa alice / bob: {agree['cohen_kappa']['alice|bob']['kappa']:.2f} over 5" in text
    judge = data["judge_calibration"]
    assert "judge vs people: 2 of 4 reviewed pair(s) kept; the judge's min score that agrees most is " in text
    assert f"is {judge['proposed_min_score']} (only 4 pair(s) reviewed" in text


def test_pending_pairs_are_listed_then_counted():
    data = summary()
    assert "pending: pair05, pair06, pair07\n" in printed(data)
    data["pending_pair_ids"] = [f"p{i:02d}" for i in range(12)]
    data["counts"]["pending"] = 60  # summarize lists at most 50 ids
    assert "pending: p00, p01, p02, p03, p04, p05, p06, p07, p08, p09 and 50 more" in printed(data)


def test_nobody_has_responded_yet():
    records = [record(0, ()), record(1, ())]
    rows = [resolve_record(r, "majority", 1, None) for r in records]
    text = printed(summarize(rows, records, "majority", 1, None))
    assert "annotators: nobody has responded yet" in text
    assert "agreement: no record has 2 or more submitted responses yet" in text
    assert "judge vs people: no pair has a person's decision yet" in text
    assert cells(text)["pending"][0] == "2"


def test_pending_says_no_response_when_one_is_needed_and_status_says_where_to_review():
    records = [record(0, ()), record(1, (vote("alice", "accept"),))]
    rows = [resolve_record(r, "majority", 1, None) for r in records]
    out = io.StringIO()
    url = "http://127.0.0.1:6900/dataset/d1/annotation-mode"
    print_summary(summarize(rows, records, "majority", 1, None), Console(file=out, width=120, soft_wrap=True), url)
    text = out.getvalue()
    assert cells(text)["pending"] == ["1", "no", "submitted", "response", "yet"]  # not "fewer than 1 ..."
    assert f"review at {url}\n" in text
    assert "fewer than 2 submitted responses yet" in printed(summary())
