"""`docs2qa curate users add | list | remove` against the session's real Argilla: two people with
their own accounts, each signing in with the credentials docs2qa wrote for them, disagree, and
pull's agreement tables show both of them."""

from __future__ import annotations

import json
import os
import stat
import uuid

import httpx
import yaml

from docs2qa.curation.argilla_api import connect
from docs2qa.curation.pull import pull
from docs2qa.curation.push import push
from test_curate_cli import cli
from test_curate_push_pull import fresh_cfg, make_pairs, server_records, submit, vectors


def _config(tmp_path, server, cfg, needed: int):
    path = tmp_path / "users.yaml"
    curate = {
        "api_url": server.url,
        "dataset": cfg.dataset,
        "workspace": cfg.workspace,
        "state_dir": str(tmp_path / "state"),
    }
    path.write_text(
        yaml.safe_dump(
            {
                "crawl": {"seeds": ["https://docs.example/guide"]},
                "curate": {**curate, "annotators_per_record": needed},
            }
        )
    )
    return ["-c", str(path)]


def _sign_in(url: str, creds: dict) -> httpx.Response:
    """Argilla's own password sign-in (what its web UI sends)."""
    return httpx.post(f"{url}/api/v1/token", data={"username": creds["username"], "password": creds["password"]})


def test_two_annotators_sign_in_with_their_own_credentials_and_their_disagreement_is_reported(tmp_path, argilla_server):
    pairs, chunks = make_pairs(3)
    # Pushed needing one response per record: adding people raises it to two. A workspace of its
    # own: the session's server holds other tests' people, and the count of annotators is asserted.
    cfg = fresh_cfg(workspace=f"w-{uuid.uuid4().hex[:8]}")
    push(pairs, chunks, vectors(3), cfg, "run", argilla_server.url, argilla_server.api_key)
    options = _config(tmp_path, argilla_server, cfg, needed=2)
    env = {**os.environ, "ARGILLA_API_KEY": argilla_server.api_key}

    creds, said = {}, {}
    for name in ("alice", "bob"):
        added = cli("curate", "users", "add", name, *options, env=env)
        assert added.returncode == 0, added.stderr[-2000:]
        path = tmp_path / "state" / "annotators" / f"{name}.json"
        assert str(path) in added.stdout
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        creds[name] = json.loads(path.read_text())
        assert creds[name]["password"] not in added.stdout + added.stderr  # only the file holds it
        said[name] = added.stdout
    assert "now needs 2 submitted response(s) per record" in said["alice"]
    assert "add more" in said["alice"] and "add more" not in said["bob"]

    records, _, owner = server_records(argilla_server, cfg)
    assert owner.datasets(name=cfg.dataset, workspace=cfg.workspace).settings.distribution.min_submitted == 2
    ids = {pid: r._server_id for pid, r in records.items()}
    for name in ("alice", "bob"):
        assert _sign_in(argilla_server.url, creds[name]).status_code == 201
    as_alice = connect(argilla_server.url, creds["alice"]["api_key"])
    as_bob = connect(argilla_server.url, creds["bob"]["api_key"])
    assert (as_alice.me.username, as_bob.me.username) == ("alice", "bob")
    assert as_alice.me.role == "annotator" and as_bob.me.role == "annotator"
    submit(as_alice, ids["pair00000"], "accept", 5)
    submit(as_bob, ids["pair00000"], "accept", 4)
    submit(as_alice, ids["pair00001"], "accept", 4)
    submit(as_bob, ids["pair00001"], "reject", 2)

    needed_two = cfg.model_copy(update={"annotators_per_record": 2})
    result = pull(needed_two, "run", tmp_path / "run", argilla_server.url, argilla_server.api_key)
    status = {r["pair_id"]: r["status"] for r in result["rows"]}
    assert status == {"pair00000": "accepted", "pair00001": "disputed", "pair00002": "pending"}
    agreement = result["summary"]["agreement"]
    assert agreement["records_with_2plus"] == 2 and agreement["percent_agreement"] == 50.0
    assert agreement["cohen_kappa"]["alice|bob"]["records"] == 2
    annotators = result["summary"]["annotators"]
    assert annotators["alice"]["labels"] == {"accept": 2}
    assert annotators["bob"]["labels"] == {"accept": 1, "reject": 1}

    listed = cli("curate", "users", "list", *options, env=env)
    assert listed.returncode == 0, listed.stderr[-2000:]
    lines = listed.stdout.splitlines()
    for name in ("alice", "bob"):
        assert f"{name}  annotator  {tmp_path / 'state' / 'annotators' / f'{name}.json'}" in lines

    removed = cli("curate", "users", "remove", "bob", *options, env=env)
    assert removed.returncode == 0, removed.stderr[-2000:]
    assert not (tmp_path / "state" / "annotators" / "bob.json").exists()
    assert _sign_in(argilla_server.url, creds["bob"]).status_code == 401
    assert "bob" not in cli("curate", "users", "list", *options, env=env).stdout
    again = pull(needed_two, "run", tmp_path / "run", argilla_server.url, argilla_server.api_key)
    assert again["summary"]["annotators"]["bob"]["submitted"] == 2  # a removed reviewer's decisions stay

    back = cli("curate", "users", "add", "bob", *options, env=env)
    assert back.returncode == 0 and "the account existed: its password is new" in back.stdout, back.stderr[-2000:]
    renewed = json.loads((tmp_path / "state" / "annotators" / "bob.json").read_text())
    assert _sign_in(argilla_server.url, renewed).status_code == 201


def test_adding_an_owner_or_a_bad_name_is_refused(tmp_path, argilla_server):
    cfg = fresh_cfg()
    options = _config(tmp_path, argilla_server, cfg, needed=1)
    env = {**os.environ, "ARGILLA_API_KEY": argilla_server.api_key}
    owner = cli("curate", "users", "add", argilla_server.username, *options, env=env)
    assert owner.returncode == 1 and "is an owner account, not an annotator" in owner.stderr
    bad = cli("curate", "users", "add", "../alice", *options, env=env)
    assert bad.returncode == 1 and "not a usable annotator name" in bad.stderr
    assert not (tmp_path / "state" / "annotators").exists()
