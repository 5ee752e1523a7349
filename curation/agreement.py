"""Agreement statistics: among annotators (Fleiss' and Cohen's kappa, percent agreement) and
between the judge's scores and people's decisions (judge_calibration)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from itertools import combinations

from docs2qa.curation.review_policy import HUMAN, Vote, submitted


def fleiss_kappa(items: Sequence[Sequence[Hashable]]) -> float | None:
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


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
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


def agreement(votes_by_record: Mapping[str, Sequence[Vote]]) -> dict:
    """Agreement on the decision label over records with >= 2 submitted responses.

    percent_agreement is the mean share of agreeing annotator pairs per record (Fleiss' P-bar);
    unanimous_share the share of those records where everyone chose the same label; pairwise
    Cohen's kappa is given for each pair of annotators with records in common."""
    multi = {rid: submitted(v) for rid, v in votes_by_record.items()}
    multi = {rid: v for rid, v in multi.items() if len(v) >= 2}
    result: dict = {
        "records_with_2plus": len(multi),
        "percent_agreement": None,
        "unanimous_share": None,
        "fleiss_kappa": None,
        "cohen_kappa": {},
    }
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
    by_user: defaultdict[str, dict[str, str | None]] = defaultdict(dict)  # user -> record -> label
    for rid, votes in multi.items():
        for v in votes:
            by_user[v.user][rid] = v.label
    for u1, u2 in combinations(sorted(by_user), 2):
        common = sorted(by_user[u1].keys() & by_user[u2].keys())
        if common:
            k = cohen_kappa([by_user[u1][r] for r in common], [by_user[u2][r] for r in common])
            result["cohen_kappa"][f"{u1}|{u2}"] = {"records": len(common), "kappa": None if k is None else round(k, 4)}
    return result


def annotator_counts(votes_by_record: Mapping[str, Sequence[Vote]]) -> dict[str, dict]:
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
    result: dict = {
        "reviewed": len(decided),
        "kept_by_people": sum(people),
        "scores_seen": {str(k): n for k, n in sorted(Counter(scores).items())},  # str keys, as JSON has them
        "thresholds": [],
        "proposed_min_score": None,
        "informative": None,
        "note": "",
    }
    if not decided:
        result["note"] = "no pair has a person's decision yet"
        return result
    for threshold in JUDGE_SCORES:
        judge = [score >= threshold for score in scores]
        tp = sum(j and p for j, p in zip(judge, people))
        fp = sum(j and not p for j, p in zip(judge, people))
        fn = sum(p and not j for j, p in zip(judge, people))
        kappa = cohen_kappa([str(j) for j in judge], [str(p) for p in people])
        result["thresholds"].append(
            {
                "min_score": threshold,
                "judge_keeps": tp + fp,
                "agreement": round(sum(j == p for j, p in zip(judge, people)) / len(decided), 4),
                "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                "recall": round(tp / (tp + fn), 4) if tp + fn else None,
                "kappa": None if kappa is None else round(kappa, 4),
            }
        )
    best = max(
        result["thresholds"],
        key=lambda t: (t["agreement"], t["kappa"] if t["kappa"] is not None else -2, -t["min_score"]),
    )
    result["proposed_min_score"] = best["min_score"]
    # The judge tells people's keeps from their rejects only if some threshold agrees beyond chance.
    result["informative"] = any((t["kappa"] or 0) > 0 for t in result["thresholds"])
    notes = []
    if len(set(people)) == 1:
        result["informative"] = None
        notes.append(
            f"people {'kept' if people[0] else 'rejected'} every reviewed pair: nothing to calibrate the judge against"
        )
    elif len(set(scores)) == 1:
        notes.append(
            f"the judge gave every reviewed pair the same lowest score ({scores[0]}): its score says nothing "
            "about which pairs people keep"
        )
    elif not result["informative"]:
        notes.append("no threshold on the judge's score agrees with people beyond chance")
    if len(decided) < MIN_REVIEWED:
        notes.append(
            f"only {len(decided)} pair(s) reviewed: review at least {MIN_REVIEWED} before trusting the proposed "
            "threshold"
        )
    result["note"] = "; ".join(notes)
    return result
