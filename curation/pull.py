"""Pull people's decisions from Argilla, resolve them into one outcome per pair by the review
policy (review_policy.py), with agreement statistics (agreement.py), and write an immutable
snapshot (curation/snapshot.py) that later stages read instead of the server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from docs2qa.curation import argilla_api, judge_state
from docs2qa.curation.agreement import agreement, annotator_counts, judge_calibration
from docs2qa.curation.judge_state import NOT_APPLICABLE
from docs2qa.curation.review_policy import DEMO_POLICY, HUMAN, STATUSES, ServerRecord, resolve_record
from docs2qa.errors import Docs2qaError


def summarize(
    rows: Sequence[dict],
    records: Sequence[ServerRecord],
    policy: str,
    needed: int,
    demo_min_score: int | None,
    judge: dict | None = None,
) -> dict:
    """The counts, agreement and judge calibration of resolved rows. `judge` is the generate
    stage's (judge_state.generate_judge); without one it ran. A run without a judge says so under
    "judge" (judged runs have no such key, so their snapshots keep their ids) and has no calibration."""
    judge = judge or {"enabled": True, "reason": ""}
    counts = Counter(r["status"] for r in rows)
    demo = sum(r["curation"] == DEMO_POLICY for r in rows)
    votes = {r.pair_id: r.votes for r in records}
    summary = {
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
        "judge_calibration": judge_calibration(rows) if judge["enabled"] else no_calibration(judge),
    }
    if not judge["enabled"]:
        summary["judge"] = {"enabled": False, "reason": judge["reason"]}
    return summary


def no_calibration(judge: dict) -> dict:
    """judge_calibration's shape for a run without a judge: nothing to calibrate, and it says why
    instead of tabulating the zeros every unjudged pair carries as if they were scores."""
    reason = f" (off: {judge['reason']})" if judge.get("reason") else ""
    return {
        "applicable": False,
        "reviewed": 0,
        "kept_by_people": 0,
        "scores_seen": {},
        "thresholds": [],
        "proposed_min_score": None,
        "informative": None,
        "note": NOT_APPLICABLE + reason,
    }


def judge_from_records(records: Sequence[ServerRecord]) -> dict:
    """Whether a judge ran, as the records alone tell (for `curate status`, which reads no run
    folder): a judge scores 1-5, so records that all lack a score had none."""
    if records and not any(r.min_judge_score for r in records):
        return {"enabled": False, "reason": "no record carries a judge score"}
    return {"enabled": True, "reason": ""}


def collect(cfg, run_name: str, api_url: str, api_key: str, judge: dict | None = None) -> tuple[list[dict], dict]:
    """Every record of the run's dataset resolved by cfg.policy, and the summary
    (counts per status, per annotator, agreement). `judge`: the generate stage's (see
    summarize); None reads it from the records. Reads only; writes nothing."""
    import warnings

    from docs2qa.curation.push import dataset_name

    client = argilla_api.connect(api_url, api_key)
    name = dataset_name(cfg, run_name)
    with warnings.catch_warnings():
        # A missing workspace or dataset is an expected answer (the error below says what to do);
        # any other warning still shows.
        warnings.filterwarnings("ignore", "(Workspace|Dataset) with name .* not found", UserWarning)
        workspace = client.workspaces(cfg.workspace)
        dataset = client.datasets(name=name, workspace=workspace) if workspace else None
    if dataset is None:
        raise Docs2qaError(
            f"there is no dataset {name!r} in workspace {cfg.workspace!r} at {api_url}",
            "run `docs2qa curate push` first (same run and curate.dataset)",
        )
    usernames = argilla_api.usernames(client)
    records = sorted(argilla_api.server_records(client, dataset.id, usernames), key=lambda r: r.pair_id)
    judge = judge or judge_from_records(records)
    rows = [
        resolve_record(r, cfg.policy, cfg.annotators_per_record, cfg.demo_accept_min_score, judge["enabled"])
        for r in records
    ]
    summary = summarize(rows, records, cfg.policy, cfg.annotators_per_record, cfg.demo_accept_min_score, judge)
    summary["dataset"] = {"id": str(dataset.id), "name": name, "workspace": cfg.workspace}
    return rows, summary


def pull(cfg, run_name: str, run_dir, api_url: str, api_key: str) -> dict:
    """Resolve every record (see `collect`) and write (or find) the content-addressed
    snapshot under RUN/curate/snapshots/.

    Returns {"snapshot_id", "path", "created", "summary", "rows"}."""
    from docs2qa.curation import snapshot

    # The generate stage says whether its judge ran; the demo policy and calibration depend on it.
    rows, summary = collect(cfg, run_name, api_url, api_key, judge_state.of_run(run_dir))
    path, created = snapshot.write_snapshot(run_dir, rows, summary)
    return {"snapshot_id": path.name, "path": path, "created": created, "summary": summary, "rows": rows}
