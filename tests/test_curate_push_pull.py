"""Push to and pull from a real local Argilla server (tests/argilla_fixtures.py starts one)."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from docs2qa.curation import schema
from docs2qa.curation.argilla_api import connect
from docs2qa.curation.config import CurateConfig
from docs2qa.curation.pull import pull
from docs2qa.curation.push import push
from docs2qa.curation.review_policy import DEMO_POLICY
from docs2qa.curation.snapshot import latest_snapshot, list_snapshots, read_snapshot
from docs2qa.errors import Docs2qaError
from docs2qa.records import Chunk, QAPair

VERDICTS = ("keep", "revise", "drop", "keep", "revise", "keep")


def make_chunk(i: int) -> Chunk:
    return Chunk(
        chunk_id=f"chunk{i}",
        page_id="page1",
        url="https://docs.example/guide",
        anchor_url=f"https://docs.example/guide#part-{i}",
        title="Guide",
        heading_path=["Guide", f"Part {i}"],
        text=f"Part {i} explains `widget --level {i}`.\n\n- it sets the level\n- it is safe",
        token_count=20,
        start=0,
        end=60,
        body_sha256="b",
        fetched_at="2026-01-01T00:00:00+00:00",
    )


def make_pair(
    i: int, verdict: str = "keep", revised: str = "", scores=(4, 5, 4, 4), chunk: int | None = None
) -> QAPair:
    c = i % 3 if chunk is None else chunk
    return QAPair(
        pair_id=f"pair{i:05d}",
        chunk_id=f"chunk{c}",
        page_id="page1",
        url="https://docs.example/guide",
        anchor_url=f"https://docs.example/guide#part-{c}",
        title="Guide",
        heading_path=["Guide", f"Part {c}"],
        question=f"What does widget --level {i} do?",
        answer=f"It sets the level to {i}.",
        question_type="factual",
        evidence="it sets the level",
        generator_model="gen",
        generate_prompt_hash="g",
        score_grounded=scores[0],
        score_correct=scores[1],
        score_useful=scores[2],
        score_standalone=scores[3],
        judge_verdict=verdict,
        revised_answer=revised or (f"It sets the widget level to {i}." if verdict == "revise" else ""),
        judge_rationale="checked against the passage",
        judge_model="judge",
        cluster_size=1 + i % 2,
    )


def make_pairs(n: int = 6) -> tuple[list[QAPair], dict[str, Chunk]]:
    pairs = [make_pair(i, VERDICTS[i % len(VERDICTS)]) for i in range(n)]
    return pairs, {f"chunk{i}": make_chunk(i) for i in range(3)}


def vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, schema.VECTOR_DIMS)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def fresh_cfg(**kw) -> CurateConfig:
    return CurateConfig(dataset=f"t-{uuid.uuid4().hex[:10]}", **kw)


def server_records(server, cfg):
    client = connect(server.url, server.api_key)
    dataset = client.datasets(name=cfg.dataset, workspace=cfg.workspace)
    return {r.id: r for r in dataset.records(with_vectors=True)}, dataset, client


def test_push_creates_then_updates_in_place(argilla_server):
    pairs, chunks = make_pairs()
    cfg = fresh_cfg()
    first = push(pairs, chunks, vectors(6), cfg, "run", argilla_server.url, argilla_server.api_key)
    assert (first["created_dataset"], first["records"], first["created"], first["updated"]) == (True, 6, 6, 0)
    again = push(pairs, chunks, vectors(6), cfg, "run", argilla_server.url, argilla_server.api_key)
    assert (again["created_dataset"], again["created"], again["updated"]) == (False, 0, 6)

    records, dataset, _ = server_records(argilla_server, cfg)
    assert sorted(records) == [p.pair_id for p in pairs]
    keep, revise, drop = (records[f"pair{i:05d}"] for i in range(3))
    assert keep.fields["answer"] == pairs[0].answer and not keep.fields.get("original_answer")
    assert revise.fields["answer"] == pairs[1].revised_answer and revise.fields["original_answer"] == pairs[1].answer
    assert "Source: <https://docs.example/guide#part-0>" in keep.fields["context"]
    assert [r.suggestions[schema.Q_DECISION].value for r in (keep, revise, drop)] == ["accept", "needs-edit", "reject"]
    assert keep.suggestions[schema.Q_QUALITY].value == 4  # mean 4.25 rounds to 4
    assert keep.suggestions[schema.Q_DECISION].score == pytest.approx(0.85)
    assert keep.metadata["min_judge_score"] == 4 and keep.metadata["verdict"] == "keep"
    assert keep.metadata["heading"] == "Guide > Part 0" and keep.metadata["score_correct"] == 5
    assert len(keep.vectors[schema.VECTOR_NAME]) == schema.VECTOR_DIMS
    assert dataset.settings.distribution.min_submitted == 1
    assert "Reviewing documentation Q&A pairs" in dataset.settings.guidelines

    # Guidelines are refreshed on every push; they are not part of the layout.
    client = connect(argilla_server.url, argilla_server.api_key)
    client.http_client.patch(f"/api/v1/datasets/{dataset.id}", json={"guidelines": "old text"}).raise_for_status()

    # A regenerated pair with the same id (the judge revised it now) updates its record.
    changed = [make_pair(0, "revise", revised="A better answer."), *pairs[1:]]
    third = push(changed, chunks, vectors(6), cfg, "run", argilla_server.url, argilla_server.api_key)
    assert (third["created"], third["updated"]) == (0, 6)
    records, _, _ = server_records(argilla_server, cfg)
    assert len(records) == 6
    assert records["pair00000"].fields["answer"] == "A better answer."
    assert records["pair00000"].suggestions[schema.Q_DECISION].value == "needs-edit"
    assert client.datasets(name=cfg.dataset, workspace=cfg.workspace).settings.guidelines == schema.guidelines_text()


@pytest.mark.slow  # loads the MiniLM embedding model
def test_question_vectors_support_similarity_search(argilla_server):
    import argilla as rg

    pairs, chunks = make_pairs(3)
    cfg = fresh_cfg()
    push(pairs, chunks, None, cfg, "run", argilla_server.url, argilla_server.api_key)  # embeds with MiniLM
    records, dataset, _ = server_records(argilla_server, cfg)
    vector = records["pair00001"].vectors[schema.VECTOR_NAME]
    assert len(vector) == 384 and abs(np.linalg.norm(vector) - 1) < 1e-3
    query = rg.Query(similar=rg.Similar(name=schema.VECTOR_NAME, value=vector))
    hits = list(dataset.records(query=query, limit=3))
    assert hits and hits[0][0].id == "pair00001"


def test_bad_credentials_and_dead_server_are_clear_errors(argilla_server):
    pairs, chunks = make_pairs(2)
    with pytest.raises(Docs2qaError, match="rejected the API key") as exc:
        push(pairs, chunks, vectors(2), fresh_cfg(), "run", argilla_server.url, "not-the-key")
    assert "curate serve" in exc.value.hint
    with pytest.raises(Docs2qaError, match="cannot reach the Argilla server") as exc:
        push(pairs, chunks, vectors(2), fresh_cfg(), "run", "http://127.0.0.1:9", argilla_server.api_key)
    assert "curate serve" in exc.value.hint


def test_input_is_validated_before_anything_is_sent(argilla_server):
    pairs, chunks = make_pairs(3)
    cfg = fresh_cfg()
    with pytest.raises(Docs2qaError, match="chunks referenced by pairs are missing"):
        push(pairs, {}, vectors(3), cfg, "run", argilla_server.url, argilla_server.api_key)
    with pytest.raises(Docs2qaError, match="384 dimensions"):
        push(pairs, chunks, np.zeros((3, 8)), cfg, "run", argilla_server.url, argilla_server.api_key)
    with pytest.raises(Docs2qaError, match="2 embeddings for 3 pairs"):
        push(pairs, chunks, vectors(2), cfg, "run", argilla_server.url, argilla_server.api_key)
    client = connect(argilla_server.url, argilla_server.api_key)
    assert client.datasets(name=cfg.dataset, workspace=cfg.workspace) is None


def test_schema_drift_is_reported_with_what_differs(argilla_server):
    import argilla as rg

    pairs, chunks = make_pairs(2)
    cfg = fresh_cfg()
    client = connect(argilla_server.url, argilla_server.api_key)
    push(pairs, chunks, vectors(2), cfg, "run", argilla_server.url, argilla_server.api_key)
    with pytest.raises(Docs2qaError, match="distribution:min_submitted is '1', expected '2'") as exc:
        push(
            pairs,
            chunks,
            vectors(2),
            cfg.model_copy(update={"annotators_per_record": 2}),
            "run",
            argilla_server.url,
            argilla_server.api_key,
        )
    assert "curate.dataset" in exc.value.hint

    other = fresh_cfg()
    settings = rg.Settings(
        fields=[rg.TextField("question")], questions=[rg.LabelQuestion(schema.Q_DECISION, labels=["yes", "no"])]
    )
    rg.Dataset(name=other.dataset, workspace=other.workspace, settings=settings, client=client).create()
    with pytest.raises(Docs2qaError) as exc:
        push(pairs, chunks, vectors(2), other, "run", argilla_server.url, argilla_server.api_key)
    message = str(exc.value)
    assert "question:decision is 'label_selection required labels=no,yes'" in message
    assert "field:answer is missing" in message and "vector:question_embedding is missing" in message
    dataset = client.datasets(name=other.dataset, workspace=other.workspace)
    assert len(list(dataset.records)) == 0  # nothing was logged into the foreign dataset


# -- pull with two annotators ----------------------------------------------------------------


def annotator(owner_client, workspace: str, name: str):
    """A fresh annotator user in the workspace and a client that acts as them."""
    import argilla as rg

    username = f"{name}-{uuid.uuid4().hex[:6]}"
    user = rg.User(username=username, password="annotator-pass-1", role="annotator", client=owner_client).create()
    owner_client.workspaces(workspace).add_user(user)
    # The SDK's User model has no api_key; the owner reads it from the REST API.
    key = owner_client.http_client.get(f"/api/v1/users/{user.id}").json()["api_key"]
    return username, connect(owner_client.api_url, key)


def submit(client, record_id, label: str, rating: int = 4, status: str = "submitted", **texts):
    from argilla._models import UserResponseModel

    values = {schema.Q_DECISION: {"value": label}, schema.Q_QUALITY: {"value": rating}}
    values.update({name: {"value": text} for name, text in texts.items()})
    client.api.records.create_record_response(
        record_id=record_id, user_response=UserResponseModel(values=values, status=status, user_id=client.me.id)
    )


@pytest.fixture(scope="module")
def reviewed(argilla_server):
    """Six pairs reviewed by alice and bob (annotators_per_record = 2):
    p0 both accept, alice corrects the answer; p1 alice accept first, then bob reject;
    p2 both reject; p3 only alice; p4 both needs-edit; p5 nobody."""
    pairs, chunks = make_pairs(6)
    pairs[5] = make_pair(5, "keep", scores=(5, 5, 4, 5))
    pairs[3] = make_pair(3, "keep", scores=(5, 5, 2, 5))
    cfg = fresh_cfg(annotators_per_record=2)
    push(pairs, chunks, vectors(6), cfg, "run", argilla_server.url, argilla_server.api_key)
    records, _, owner = server_records(argilla_server, cfg)
    ids = {pid: r._server_id for pid, r in records.items()}
    alice, as_alice = annotator(owner, cfg.workspace, "alice")
    bob, as_bob = annotator(owner, cfg.workspace, "bob")
    submit(as_alice, ids["pair00000"], "accept", 5, corrected_answer="It sets the widget level to 0 (default 1).")
    submit(as_bob, ids["pair00000"], "accept", 4)
    submit(as_alice, ids["pair00001"], "accept", 4, comment="looks right")
    submit(as_bob, ids["pair00001"], "reject", 2, comment="answer is vague")
    submit(as_alice, ids["pair00002"], "reject", 1)
    submit(as_bob, ids["pair00002"], "reject", 2)
    submit(as_alice, ids["pair00003"], "accept", 4)
    submit(as_bob, ids["pair00003"], "reject", 3, status="draft")  # a draft never counts
    submit(as_alice, ids["pair00004"], "needs-edit", 3, corrected_question="What does --level 4 set?")
    submit(as_bob, ids["pair00004"], "needs-edit", 3)
    return cfg, alice, bob


def test_pull_majority_with_two_annotators(argilla_server, reviewed, tmp_path):
    cfg, alice, bob = reviewed
    result = pull(cfg, "run", tmp_path, argilla_server.url, argilla_server.api_key)
    rows = {r["pair_id"]: r for r in result["rows"]}
    status = {pid: r["status"] for pid, r in rows.items()}
    assert status == {
        "pair00000": "accepted",
        "pair00001": "disputed",
        "pair00002": "rejected",
        "pair00003": "pending",
        "pair00004": "needs-edit",
        "pair00005": "pending",
    }
    assert rows["pair00000"]["answer"] == "It sets the widget level to 0 (default 1)." and rows["pair00000"]["edited"]
    assert rows["pair00000"]["original_answer"] == "It sets the level to 0."
    assert rows["pair00004"]["question"] == "What does --level 4 set?"
    assert rows["pair00001"]["annotators"] == [alice, bob] and rows["pair00001"]["labels"] == ["accept", "reject"]
    assert rows["pair00001"]["comments"] == ["looks right", "answer is vague"]
    assert rows["pair00003"]["submitted"] == 1 and rows["pair00003"]["response_statuses"] == ["submitted", "draft"]
    assert rows["pair00002"]["ratings"] == [1, 2]

    summary = result["summary"]
    assert summary["counts"] == {
        "accepted": 1,
        "rejected": 1,
        "needs-edit": 1,
        "disputed": 1,
        "pending": 2,
        "discarded": 0,
    }
    assert summary["pending_pair_ids"] == ["pair00003", "pair00005"] and summary["curation"] == "human"
    agreement = summary["agreement"]
    assert agreement["records_with_2plus"] == 4 and agreement["percent_agreement"] == 75.0
    assert agreement["cohen_kappa"][f"{alice}|{bob}"]["records"] == 4
    assert summary["annotators"][alice]["submitted"] == 5 and summary["annotators"][bob]["draft"] == 1

    rows_back, meta = read_snapshot(result["path"])
    assert result["created"] and meta["dataset"]["name"] == cfg.dataset and meta["policy"] == "majority"
    assert sorted(r["pair_id"] for r in rows_back) == sorted(rows)
    again = pull(cfg, "run", tmp_path, argilla_server.url, argilla_server.api_key)
    assert again["path"] == result["path"] and not again["created"] and len(list_snapshots(tmp_path)) == 1


def test_pull_other_policies_and_demo_policy(argilla_server, reviewed, tmp_path):
    cfg, _alice, _bob = reviewed
    first = pull(
        cfg.model_copy(update={"policy": "first"}), "run", tmp_path, argilla_server.url, argilla_server.api_key
    )
    status = {r["pair_id"]: r["status"] for r in first["rows"]}
    assert status["pair00001"] == "accepted"  # alice submitted first
    unanimous = pull(
        cfg.model_copy(update={"policy": "unanimous"}), "run", tmp_path, argilla_server.url, argilla_server.api_key
    )
    status = {r["pair_id"]: r["status"] for r in unanimous["rows"]}
    assert status["pair00001"] == "disputed" and status["pair00000"] == "accepted"
    assert unanimous["path"] != first["path"] and latest_snapshot(tmp_path) == unanimous["path"]

    demo = pull(
        cfg.model_copy(update={"demo_accept_min_score": 4}), "run", tmp_path, argilla_server.url, argilla_server.api_key
    )
    rows = {r["pair_id"]: r for r in demo["rows"]}
    assert (rows["pair00005"]["status"], rows["pair00005"]["curation"]) == ("accepted", DEMO_POLICY)
    assert rows["pair00003"]["status"] == "pending"  # people have started on it: never auto-accepted
    assert demo["summary"]["demo_policy_accepted"] == 1 and demo["summary"]["curation"] == DEMO_POLICY
    assert len(list_snapshots(tmp_path)) == 3


def test_pull_of_a_missing_dataset(argilla_server, tmp_path):
    with pytest.raises(Docs2qaError, match="no dataset"):
        pull(fresh_cfg(), "run", tmp_path, argilla_server.url, argilla_server.api_key)
    assert latest_snapshot(tmp_path) is None
