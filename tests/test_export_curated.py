"""Export from a real curation snapshot: push to a real local Argilla, review as an annotator,
pull, export (tests/argilla_fixtures.py starts the server)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from docs2qa.config import load_config
from docs2qa.curation.argilla_api import connect
from docs2qa.curation.export import export
from docs2qa.curation.stage import pull, push
from docs2qa.datastore import versions
from docs2qa.errors import AwaitingReview
from docs2qa.records import Dropped, QAPair
from export_helpers import demo_run
from test_curate_push_pull import annotator, submit


def curated_run(argilla_server, tmp_path, monkeypatch):
    """A demo run with pairs that exports from curation against the session's Argilla, in a
    dataset of its own; the key travels in the environment only."""
    monkeypatch.setenv("DOCS2QA_TEST_ARGILLA_KEY", argilla_server.api_key)
    config_path, store, _ = demo_run(tmp_path, source="curation")
    overrides = [
        f"curate.api_url={argilla_server.url}",
        "curate.api_key_env=DOCS2QA_TEST_ARGILLA_KEY",
        f"curate.dataset=exp-{uuid.uuid4().hex[:8]}",
    ]
    return config_path, store, overrides, load_config(config_path, overrides)


def test_export_holds_exactly_what_people_accepted(argilla_server, tmp_path, monkeypatch):
    _, store, _, config = curated_run(argilla_server, tmp_path, monkeypatch)
    push(config, store)
    pull(config, store)
    with pytest.raises(AwaitingReview, match=r"no pair .* is accepted yet"):
        export(config, store)  # nobody has reviewed anything: nothing may be published

    pairs = sorted(store.stage("generate").read("pairs", QAPair), key=lambda p: p.pair_id)
    owner = connect(argilla_server.url, argilla_server.api_key)
    dataset = owner.datasets(name=config.curate.dataset, workspace=config.curate.workspace)
    ids = {r.id: r._server_id for r in dataset.records}
    alice, as_alice = annotator(owner, config.curate.workspace, "alice")
    accepted = pairs[:12]
    for pair in accepted[1:]:
        submit(as_alice, ids[pair.pair_id], "accept", 5)
    submit(as_alice, ids[accepted[0].pair_id], "accept", 4, corrected_answer="A better answer, written by a person.")
    submit(as_alice, ids[pairs[12].pair_id], "reject", 1)
    submit(as_alice, ids[pairs[13].pair_id], "needs-edit", 2)

    snapshot = pull(config, store)["snapshot"]
    manifest = export(config, store)
    path = Path(manifest["dataset"]["path"])
    rows = {r["pair_id"]: r for s in versions.SPLITS for r in versions.read_split_rows(path, s)}
    dropped = store.stage("export").read("dropped", Dropped)
    leaked = {d.item_id for d in dropped if d.reason.startswith("leakage_")}
    assert set(rows) | leaked == {p.pair_id for p in accepted} and not set(rows) & leaked
    reasons = {d.reason for d in dropped if d.item_id == pairs[12].pair_id} | {
        d.reason for d in dropped if d.item_id == pairs[13].pair_id
    }
    assert reasons == {"curation_rejected", "curation_needs_edit"}
    assert sum(d.reason == "curation_pending" for d in dropped) == len(pairs) - 14
    if accepted[0].pair_id in rows:
        assert rows[accepted[0].pair_id]["answer"] == "A better answer, written by a person."
    assert {r["curation"] for r in rows.values()} == {"human"}

    lineage = versions.read_manifest(path)
    assert lineage["source"] == "curation" and lineage["curation"]["snapshot_id"] == snapshot["id"]
    assert lineage["curation"]["annotators"][alice]["submitted"] == 14
    assert lineage["stats"]["curation_outcomes"]["accepted"] == 12
    card = (path / "README.md").read_text()
    assert "reviewed by people in Argilla" in card and "NOT human-curated" not in card
    versions.verify_version(path)


def test_run_waits_for_review_instead_of_exporting_nothing(argilla_server, tmp_path, monkeypatch):
    from docs2qa.pipeline import record
    from docs2qa.store import StageResult
    from generate_helpers import docs2qa

    config_path, store, overrides, config = curated_run(argilla_server, tmp_path, monkeypatch)
    pairs = store.stage("generate").read("pairs", QAPair)
    # Recorded under this config's hash and code version, so `run` takes the pairs as up to date.
    record("generate", config, store, lambda stage: StageResult({"pairs": (pairs, QAPair)}, len(pairs)))
    done = docs2qa(
        "run", "-c", str(config_path), "--run", str(store.root), *[x for o in overrides for x in ("--set", o)]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "generate: up to date, skipped" in done.stderr and "push:" in done.stderr
    assert "waiting for review:" in done.stderr and f"pending {len(pairs)}" in done.stderr
    assert not store.stage("export").is_complete() and not (tmp_path / "datasets").exists()
