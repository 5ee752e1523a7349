"""Pull people's decisions from Argilla, resolve them into one outcome per pair, and write an
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
lowest judge score is >= N, marked curation = "demo-policy (not human)".
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from typing import Iterable, Sequence

from docs2qa.curation import schema
from docs2qa.errors import Docs2qaError

HUMAN = "human"
DEMO_POLICY = "demo-policy (not human)"
STATUS_OF_LABEL = {"accept": "accepted", "reject": "rejected", "needs-edit": "needs-edit"}
STATUSES = ("accepted", "rejected", "needs-edit", "disputed", "pending", "discarded")
PAGE = 500


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


# -- resolution policies ------------------------------------------------------------------


def _submitted(votes: Iterable[Vote]) -> list[Vote]:
    # Earliest first; the user name breaks ties so the order never depends on the server's.
    return sorted((v for v in votes if v.status == "submitted" and v.label), key=lambda v: (v.at, v.user))


def resolve(votes: Sequence[Vote], policy: str, needed: int) -> Resolution:
    """Resolve one record's responses by `policy` (majority | unanimous | first)."""
    if policy not in ("majority", "unanimous", "first"):
        raise Docs2qaError(f"unknown curation policy {policy!r}", "use majority, unanimous or first")
    done = _submitted(votes)
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
    return Resolution(STATUS_OF_LABEL.get(label, "needs-edit"), label, winners, len(done), _describe(counts))


def _describe(counts: Counter) -> str:
    return ", ".join(f"{label} x{n}" for label, n in sorted(counts.items()))


def corrections(winners: Sequence[Vote]) -> tuple[str, str]:
    """(question, answer) corrections from the winning responses: the earliest non-empty one
    of each, so a later agreeing annotator who left the text alone does not undo an edit."""
    question = next((v.corrected_question.strip() for v in winners if v.corrected_question.strip()), "")
    answer = next((v.corrected_answer.strip() for v in winners if v.corrected_answer.strip()), "")
    return question, answer


# -- agreement ----------------------------------------------------------------------------


def fleiss_kappa(items: Sequence[Sequence[str]]) -> float | None:
    """Fleiss' kappa over items rated by >= 2 raters each (raters per item may vary: the
    usual generalisation with per-item agreement P_i = sum n_ij(n_ij-1) / n_i(n_i-1)).
    None when undefined: no item has two ratings, or only one label was ever used."""
    items = [list(i) for i in items if len(i) >= 2]
    if not items:
        return None
    totals: Counter = Counter()
    p_items = []
    for labels in items:
        n = len(labels)
        counts = Counter(labels)
        totals.update(counts)
        p_items.append(sum(c * (c - 1) for c in counts.values()) / (n * (n - 1)))
    p_bar = sum(p_items) / len(p_items)
    grand = sum(totals.values())
    p_e = sum((c / grand) ** 2 for c in totals.values())
    if math.isclose(p_e, 1.0):
        return None
    return (p_bar - p_e) / (1 - p_e)


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters over the same items; None when undefined (chance agreement 1)."""
    if len(a) != len(b):
        raise ValueError("both raters must label the same items")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[label] * cb[label] for label in ca.keys() | cb.keys()) / (n * n)
    if math.isclose(expected, 1.0):
        return None
    return (observed - expected) / (1 - expected)


def agreement(votes_by_record: dict[str, Sequence[Vote]]) -> dict:
    """Agreement on the decision label over records with >= 2 submitted responses.

    percent_agreement is the mean share of agreeing annotator pairs per record (Fleiss' P-bar);
    unanimous_share the share of those records where everyone chose the same label; pairwise
    Cohen's kappa is given for each pair of annotators with records in common."""
    multi = {rid: _submitted(v) for rid, v in votes_by_record.items()}
    multi = {rid: v for rid, v in multi.items() if len(v) >= 2}
    result: dict = {"records_with_2plus": len(multi), "percent_agreement": None, "unanimous_share": None,
                    "fleiss_kappa": None, "cohen_kappa": {}}
    if not multi:
        return result
    shares = []
    for votes in multi.values():
        counts = Counter(v.label for v in votes)
        n = len(votes)
        shares.append(sum(c * (c - 1) for c in counts.values()) / (n * (n - 1)))
    result["percent_agreement"] = round(100 * sum(shares) / len(shares), 2)
    result["unanimous_share"] = round(sum(len({v.label for v in vs}) == 1 for vs in multi.values()) / len(multi), 4)
    kappa = fleiss_kappa([[v.label for v in vs] for vs in multi.values()])
    result["fleiss_kappa"] = None if kappa is None else round(kappa, 4)
    by_user = defaultdict(dict)
    for rid, votes in multi.items():
        for v in votes:
            by_user[v.user][rid] = v.label
    for u1, u2 in combinations(sorted(by_user), 2):
        common = sorted(by_user[u1].keys() & by_user[u2].keys())
        if common:
            k = cohen_kappa([by_user[u1][r] for r in common], [by_user[u2][r] for r in common])
            result["cohen_kappa"][f"{u1}|{u2}"] = {"records": len(common), "kappa": None if k is None else round(k, 4)}
    return result


def annotator_counts(votes_by_record: dict[str, Sequence[Vote]]) -> dict[str, dict]:
    counts: dict[str, dict] = {}
    for votes in votes_by_record.values():
        for v in votes:
            entry = counts.setdefault(v.user, {"submitted": 0, "draft": 0, "discarded": 0, "labels": {}})
            entry[v.status] = entry.get(v.status, 0) + 1
            if v.status == "submitted" and v.label:
                entry["labels"][v.label] = entry["labels"].get(v.label, 0) + 1
    return {user: counts[user] for user in sorted(counts)}


# -- the judge against people --------------------------------------------------------------

JUDGE_SCORES = range(1, 6)
# Fewer human decisions than this and a proposed threshold is a guess: the summary says so.
MIN_REVIEWED = 30


def judge_calibration(rows: Sequence[dict]) -> dict:
    """How well "the judge's lowest score >= t" predicts people's keep decision, per t.

    People's decisions are the resolved statuses of pairs a person decided (demo-policy and
    undecided pairs are left out): accepted is keep; rejected and needs-edit are not (the pair
    as generated was not good enough). For each threshold: agreement, precision and recall of
    "keep", Cohen's kappa. The proposed threshold is the one that agrees with people most often
    (ties: higher kappa, then the lower threshold, which keeps more pairs). Only pairs the judge
    let through reach Argilla, so thresholds below the one used at generation cannot be told apart.
    """
    decided = [r for r in rows if r["curation"] == HUMAN and r["status"] in ("accepted", "rejected", "needs-edit")]
    people = [r["status"] == "accepted" for r in decided]
    scores = [int(r["min_judge_score"]) for r in decided]
    result: dict = {"reviewed": len(decided), "kept_by_people": sum(people),
                    "scores_seen": {str(k): n for k, n in sorted(Counter(scores).items())},  # str keys, as JSON has them
                    "thresholds": [], "proposed_min_score": None, "informative": None, "note": ""}
    if not decided:
        result["note"] = "no pair has a person's decision yet"
        return result
    for threshold in JUDGE_SCORES:
        judge = [score >= threshold for score in scores]
        tp = sum(j and p for j, p in zip(judge, people))
        fp = sum(j and not p for j, p in zip(judge, people))
        fn = sum(p and not j for j, p in zip(judge, people))
        kappa = cohen_kappa([str(j) for j in judge], [str(p) for p in people])
        result["thresholds"].append({
            "min_score": threshold, "judge_keeps": tp + fp,
            "agreement": round(sum(j == p for j, p in zip(judge, people)) / len(decided), 4),
            "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None,
            "kappa": None if kappa is None else round(kappa, 4),
        })
    best = max(result["thresholds"], key=lambda t: (t["agreement"], t["kappa"] if t["kappa"] is not None else -2,
                                                     -t["min_score"]))
    result["proposed_min_score"] = best["min_score"]
    # The judge tells people's keeps from their rejects only if some threshold agrees beyond chance.
    result["informative"] = any((t["kappa"] or 0) > 0 for t in result["thresholds"])
    notes = []
    if len(set(people)) == 1:
        result["informative"] = None
        notes.append(f"people {'kept' if people[0] else 'rejected'} every reviewed pair: nothing to calibrate the judge against")
    elif len(set(scores)) == 1:
        notes.append(f"the judge gave every reviewed pair the same lowest score ({scores[0]}): its score says nothing "
                     "about which pairs people keep")
    elif not result["informative"]:
        notes.append("no threshold on the judge's score agrees with people beyond chance")
    if len(decided) < MIN_REVIEWED:
        notes.append(f"only {len(decided)} pair(s) reviewed: review at least {MIN_REVIEWED} before trusting the proposed "
                     "threshold")
    result["note"] = "; ".join(notes)
    return result


# -- rows ---------------------------------------------------------------------------------


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


def resolve_record(rec: ServerRecord, policy: str, needed: int, demo_min_score: int | None) -> dict:
    """One snapshot row: the outcome, the final texts and everyone's answers."""
    res = resolve(rec.votes, policy, needed)
    status, curation, label = res.status, HUMAN, res.label
    question, answer = rec.question, rec.answer
    fixed_q, fixed_a = corrections(res.winners)
    if res.status in ("accepted", "needs-edit"):
        question, answer = fixed_q or question, fixed_a or answer
    if status == "pending" and not rec.votes and demo_min_score is not None:
        if rec.min_judge_score >= demo_min_score:
            status, curation, label = "accepted", DEMO_POLICY, "accept"
    if status == "pending" and curation == HUMAN and not _submitted(rec.votes):
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
        "reason": res.reason,
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


def summarize(rows: Sequence[dict], records: Sequence[ServerRecord], policy: str, needed: int,
              demo_min_score: int | None) -> dict:
    counts = Counter(r["status"] for r in rows)
    demo = sum(r["curation"] == DEMO_POLICY for r in rows)
    votes = {r.pair_id: r.votes for r in records}
    return {
        "policy": policy,
        "annotators_per_record": needed,
        "demo_accept_min_score": demo_min_score,
        "records": len(rows),
        "counts": {s: counts.get(s, 0) for s in STATUSES},
        "edited": sum(r["edited"] for r in rows),
        "demo_policy_accepted": demo,
        "curation": DEMO_POLICY if demo else HUMAN,
        "pending_pair_ids": sorted(r["pair_id"] for r in rows if r["status"] == "pending")[:50],
        "agreement": agreement(votes),
        "annotators": annotator_counts(votes),
        "judge_calibration": judge_calibration(rows),
    }


# -- server -------------------------------------------------------------------------------


def _value(values: dict, question: str):
    entry = (values or {}).get(question)
    return entry.get("value") if isinstance(entry, dict) else None


def server_records(client, dataset_id, usernames: dict[str, str]) -> list[ServerRecord]:
    """Every record with its responses, read page by page from the REST API: the SDK's
    response model drops the response timestamps that the `first` policy orders by."""
    out: list[ServerRecord] = []
    offset = 0
    while True:
        response = client.http_client.get(
            f"/api/v1/datasets/{dataset_id}/records",
            params={"offset": offset, "limit": PAGE, "include": ["responses"]},
        )
        response.raise_for_status()
        items = response.json()["items"]
        for item in items:
            fields, meta = item.get("fields") or {}, item.get("metadata") or {}
            votes = []
            for r in item.get("responses") or []:
                values = r.get("values") or {}
                rating = _value(values, schema.Q_QUALITY)
                votes.append(Vote(
                    user=usernames.get(str(r.get("user_id")), str(r.get("user_id"))),
                    status=r.get("status", ""),
                    label=_value(values, schema.Q_DECISION),
                    rating=int(rating) if rating is not None else None,
                    corrected_question=_value(values, schema.Q_CORRECTED_QUESTION) or "",
                    corrected_answer=_value(values, schema.Q_CORRECTED_ANSWER) or "",
                    comment=_value(values, schema.Q_COMMENT) or "",
                    at=str(r.get("updated_at") or r.get("inserted_at") or ""),
                ))
            out.append(ServerRecord(
                pair_id=str(item.get("external_id") or item["id"]),
                question=fields.get("question") or "",
                answer=fields.get("answer") or "",
                original_answer=fields.get("original_answer") or "",
                question_type=str(meta.get("question_type", "")),
                page_url=str(meta.get("page_url", "")),
                min_judge_score=int(meta.get("min_judge_score") or 0),
                votes=tuple(votes),
            ))
        offset += len(items)
        if len(items) < PAGE:
            return out


def collect(cfg, run_name: str, api_url: str, api_key: str) -> tuple[list[dict], dict]:
    """Every record of the run's dataset resolved by cfg.policy, and the summary
    (counts per status, per annotator, agreement). Reads only; writes nothing."""
    import warnings

    from argilla._exceptions import ArgillaAPIError

    from docs2qa.curation.push import connect, dataset_name

    client = connect(api_url, api_key)
    name = dataset_name(cfg, run_name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        workspace = client.workspaces(cfg.workspace)
        dataset = client.datasets(name=name, workspace=workspace) if workspace else None
    if dataset is None:
        raise Docs2qaError(f"there is no dataset {name!r} in workspace {cfg.workspace!r} at {api_url}",
                           "run `docs2qa curate push` first (same run and curate.dataset)")
    try:
        usernames = {str(u.id): u.username for u in client.users}
    except ArgillaAPIError:  # an admin's key may not list users: fall back to user ids
        usernames = {}
    records = sorted(server_records(client, dataset.id, usernames), key=lambda r: r.pair_id)
    rows = [resolve_record(r, cfg.policy, cfg.annotators_per_record, cfg.demo_accept_min_score) for r in records]
    summary = summarize(rows, records, cfg.policy, cfg.annotators_per_record, cfg.demo_accept_min_score)
    summary["dataset"] = {"id": str(dataset.id), "name": name, "workspace": cfg.workspace}
    return rows, summary


def pull(cfg, run_name: str, run_dir, api_url: str, api_key: str) -> dict:
    """Resolve every record (see `collect`) and write (or find) the content-addressed
    snapshot under RUN/curate/snapshots/.

    Returns {"snapshot_id", "path", "created", "summary", "rows"}."""
    from docs2qa.curation import snapshot

    rows, summary = collect(cfg, run_name, api_url, api_key)
    path, created = snapshot.write_snapshot(run_dir, rows, summary)
    return {"snapshot_id": path.name, "path": path, "created": created, "summary": summary, "rows": rows}
