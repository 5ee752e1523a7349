"""How people's responses to a record resolve into one outcome: the review policy, the second of
the three layers that decide what reaches a dataset (after generation's filters,
generation/qa/keep/; before the leakage check across splits, leakage.py).

Pull people's decisions from Argilla, resolve them into one outcome per pair, and write an
immutable snapshot (curation/snapshot.py) that later stages read instead of the server.

Statuses of a pair:
  accepted / rejected / needs-edit   the resolved label of enough submitted responses;
  disputed    annotators disagree: `unanimous` with any disagreement, or `majority` with a
              tie for the most common label. Not guessed: a tie between accept and reject
              is a real disagreement, so it is reported for another person to break (raise
              curate.annotators_per_record or have someone else review), never published;
  pending     fewer submitted responses than curate.annotators_per_record (drafts do not
              count), as in Argilla, whose own record status counts submissions the same way;
  discarded   nobody submitted and at least annotators_per_record people discarded it.
With curate.demo_accept_min_score = N, a pair nobody has responded to is accepted when its
lowest judge score is >= N, marked curation = "demo-policy (not human)". Without a judge
(generate.judge.enabled off) there are no scores to compare with N: the demo policy then accepts
every pair nobody has responded to, since each reached review by passing the model-free filters,
and its reason says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from docs2qa.curation.judge_state import DEMO_WITHOUT_JUDGE
from docs2qa.errors import Docs2qaError

HUMAN = "human"

DEMO_POLICY = "demo-policy (not human)"

STATUS_OF_LABEL = {"accept": "accepted", "reject": "rejected", "needs-edit": "needs-edit"}

STATUSES = ("accepted", "rejected", "needs-edit", "disputed", "pending", "discarded")


@dataclass(frozen=True)
class Vote:
    """One annotator's response to one record."""

    user: str
    status: str  # submitted | draft | discarded
    label: str | None = None
    rating: int | None = None
    corrected_question: str = ""
    corrected_answer: str = ""
    comment: str = ""
    at: str = ""  # ISO time of the response's last change; orders `first`


@dataclass(frozen=True)
class Resolution:
    status: str
    label: str | None  # the winning label, None when pending/discarded/disputed
    winners: tuple[Vote, ...] = ()  # submitted votes that carry the winning label, earliest first
    submitted: int = 0
    reason: str = ""


def submitted(votes: Iterable[Vote]) -> list[Vote]:
    """The submitted responses that carry a label, earliest first; the user name breaks ties so
    the order never depends on the server's."""
    return sorted((v for v in votes if v.status == "submitted" and v.label), key=lambda v: (v.at, v.user))


def resolve(votes: Sequence[Vote], policy: str, needed: int) -> Resolution:
    """Resolve one record's responses by `policy` (majority | unanimous | first)."""
    if policy not in ("majority", "unanimous", "first"):
        raise Docs2qaError(f"unknown curation policy {policy!r}", "use majority, unanimous or first")
    done = submitted(votes)
    if len(done) < needed:
        discarded = sum(v.status == "discarded" for v in votes)
        if not done and discarded >= needed:
            return Resolution("discarded", None, submitted=0, reason=f"{discarded} discarded")
        return Resolution("pending", None, submitted=len(done), reason=f"{len(done)}/{needed} submitted")
    counts = Counter(v.label for v in done)
    if policy == "first":
        label = done[0].label
    elif policy == "unanimous":
        if len(counts) > 1:
            return Resolution("disputed", None, submitted=len(done), reason=_describe(counts))
        label = done[0].label
    else:
        ranked = counts.most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            return Resolution("disputed", None, submitted=len(done), reason="tie: " + _describe(counts))
        label = ranked[0][0]
    winners = tuple(v for v in done if v.label == label)
    if policy == "first":
        winners = winners[:1]  # only the first response decides, corrections included
    # submitted() keeps only labelled votes; a missing label would read as "needs-edit" all the same.
    return Resolution(STATUS_OF_LABEL.get(label or "", "needs-edit"), label, winners, len(done), _describe(counts))


def _describe(counts: Counter) -> str:
    return ", ".join(f"{label} x{n}" for label, n in sorted(counts.items()))


def corrections(winners: Sequence[Vote]) -> tuple[str, str]:
    """(question, answer) corrections from the winning responses: the earliest non-empty one
    of each, so a later agreeing annotator who left the text alone does not undo an edit."""
    question = next((v.corrected_question.strip() for v in winners if v.corrected_question.strip()), "")
    answer = next((v.corrected_answer.strip() for v in winners if v.corrected_answer.strip()), "")
    return question, answer


@dataclass(frozen=True)
class ServerRecord:
    """What pull needs of one Argilla record."""

    pair_id: str
    question: str
    answer: str
    original_answer: str
    question_type: str
    page_url: str
    min_judge_score: int
    votes: tuple[Vote, ...] = field(default_factory=tuple)


def demo_accepts(rec: ServerRecord, demo_min_score: int | None, judged: bool = True) -> bool:
    """Whether the demo policy accepts a record nobody has responded to: on the judge's lowest
    score, or, when no judge ran, because it passed the filters that brought it to review."""
    if demo_min_score is None or rec.votes:
        return False
    return rec.min_judge_score >= demo_min_score if judged else True


def resolve_record(
    rec: ServerRecord, policy: str, needed: int, demo_min_score: int | None, judged: bool = True
) -> dict:
    """One snapshot row: the outcome, the final texts and everyone's answers. `judged` False: the
    run had no judge (see demo_accepts)."""
    res = resolve(rec.votes, policy, needed)
    status, curation, label, reason = res.status, HUMAN, res.label, res.reason
    question, answer = rec.question, rec.answer
    fixed_q, fixed_a = corrections(res.winners)
    if res.status in ("accepted", "needs-edit"):
        question, answer = fixed_q or question, fixed_a or answer
    if status == "pending" and demo_accepts(rec, demo_min_score, judged):
        status, curation, label = "accepted", DEMO_POLICY, "accept"
        if not judged:
            reason = f"demo policy, {DEMO_WITHOUT_JUDGE}"
    if status == "pending" and curation == HUMAN and not submitted(rec.votes):
        curation = ""  # nobody decided anything yet
    people = sorted(rec.votes, key=lambda v: (v.at, v.user))
    return {
        "pair_id": rec.pair_id,
        "status": status,
        "label": label or "",
        "curation": curation,
        "question": question,
        "answer": answer,
        "original_question": rec.question,
        "original_answer": rec.answer,
        "generator_answer": rec.original_answer or rec.answer,
        "edited": (question, answer) != (rec.question, rec.answer),
        "reason": reason,
        "submitted": res.submitted,
        "annotators": [v.user for v in people],
        "response_statuses": [v.status for v in people],
        "labels": [v.label or "" for v in people],
        "ratings": [v.rating or 0 for v in people],
        "corrected_questions": [v.corrected_question for v in people],
        "corrected_answers": [v.corrected_answer for v in people],
        "comments": [v.comment for v in people],
        "question_type": rec.question_type,
        "page_url": rec.page_url,
        "min_judge_score": rec.min_judge_score,
    }
