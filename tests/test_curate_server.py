"""`docs2qa curate serve | stop` against a real local Argilla stack (no fakes).

The stack is the session fixture from argilla_fixtures.py; the restart test runs last in
this file and leaves the server running again for whoever uses the fixture next.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import urllib.request
import uuid
from pathlib import Path

import pytest

from docs2qa.config import CurateConfig
from docs2qa.curation.server import check_api_key, connection, serve, server_status, stop
from docs2qa.errors import Docs2qaError

rg = pytest.importorskip("argilla", reason="needs the Argilla SDK: pip install argilla==2.8.0")

WIDGETS = [f"How do I configure widget {i}?" for i in range(12)]


def _client(info):
    return rg.Argilla(api_url=info.url, api_key=info.api_key)


def _api(info, method: str, path: str, body: dict | None = None) -> dict:
    """The REST calls the web UI makes (the SDK's bulk upsert takes another code path)."""
    req = urllib.request.Request(
        f"{info.url}/api/v1{path}", method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"X-Argilla-Api-Key": info.api_key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else {}


def _texts(dataset, **query) -> list[str]:
    return sorted(r.fields["question"] for r in dataset.records(query=rg.Query(**query)))


def _accepted(dataset) -> list[str]:
    return _texts(dataset, filter=rg.Filter(("verdict.response", "==", "accept")))


@pytest.fixture(scope="module")
def dataset(argilla_server):
    client = _client(argilla_server)
    workspace = rg.Workspace(name=f"ws-{uuid.uuid4().hex[:8]}", client=client).create()
    settings = rg.Settings(
        fields=[rg.TextField(name="question"), rg.TextField(name="answer")],
        questions=[rg.LabelQuestion(name="verdict", labels=["accept", "reject"])],
        vectors=[rg.VectorField(name="emb", dimensions=3)],
    )
    ds = rg.Dataset(name="pairs", workspace=workspace, settings=settings, client=client).create()
    ds.records.log(
        [
            {"question": q, "answer": "Pass the zebra flag." if i == 7 else f"Set option {i}.", "emb": [1.0, i / 10, 0.0]}
            for i, q in enumerate(WIDGETS)
        ]
    )
    return ds


def test_sdk_logs_and_searches(dataset):
    assert len(list(dataset.records)) == len(WIDGETS)
    assert _texts(dataset, query="zebra") == [WIDGETS[7]]
    nearest = list(dataset.records(query=rg.Query(similar=rg.Similar(name="emb", value=[1.0, 0.7, 0.0])), limit=3))
    assert [r.fields["question"] for r, _ in nearest][0] == WIDGETS[7]
    scores = [score for _, score in nearest]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1.0)


def test_ui_submit_edit_discard_reach_search(argilla_server, dataset):
    # Submitting in the UI updates the record's search document in place; osmem has no
    # scripts, so this goes through the engine's read-modify-write.
    record = next(r for r in dataset.records if r.fields["question"] == WIDGETS[3])
    response = _api(argilla_server, "POST", f"/records/{record._server_id}/responses",
                    {"values": {"verdict": {"value": "reject"}}, "status": "submitted"})
    assert _accepted(dataset) == []
    _api(argilla_server, "PUT", f"/responses/{response['id']}", {"values": {"verdict": {"value": "accept"}}, "status": "submitted"})
    assert _accepted(dataset) == [WIDGETS[3]]
    _api(argilla_server, "DELETE", f"/responses/{response['id']}")
    assert _accepted(dataset) == []
    _api(argilla_server, "POST", f"/records/{record._server_id}/responses",
         {"values": {"verdict": {"value": "accept"}}, "status": "submitted"})
    assert _accepted(dataset) == [WIDGETS[3]]


def test_credentials_private_and_loopback_only(argilla_server, argilla_config):
    creds = argilla_server.state_dir / "credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert argilla_server.password != "1234" and len(argilla_server.password) >= 16
    assert argilla_server.api_key != "argilla.apikey" and len(argilla_server.api_key) >= 32
    assert argilla_server.url == f"http://127.0.0.1:{argilla_config.port}"
    assert _listen_addresses(argilla_config.port) == {"127.0.0.1"}
    assert argilla_server.api_key not in repr(argilla_server)
    for log in (argilla_server.state_dir / "logs").glob("*.log"):
        text = log.read_text(errors="replace")
        assert argilla_server.api_key not in text and argilla_server.password not in text, log.name


def test_wrong_api_key_is_a_clear_error(argilla_server):
    assert check_api_key(argilla_server.url, argilla_server.api_key) == argilla_server.username
    with pytest.raises(Docs2qaError, match="rejected the API key"):
        check_api_key(argilla_server.url, "not-the-key-" + uuid.uuid4().hex)
    with pytest.raises(Exception, match="Credentials .* are invalid"):
        rg.Argilla(api_url=argilla_server.url, api_key="not-the-key-" + uuid.uuid4().hex)


def test_connection_prefers_own_server_then_local(monkeypatch, argilla_server, argilla_config, tmp_path):
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    assert connection(argilla_config) == (argilla_server.url, argilla_server.api_key)

    monkeypatch.setenv("ARGILLA_API_URL", "http://argilla.example:6900/")
    monkeypatch.delenv("ARGILLA_API_KEY", raising=False)
    with pytest.raises(Docs2qaError, match=r"\$ARGILLA_API_KEY is not set"):
        connection(argilla_config)
    monkeypatch.setenv("ARGILLA_API_KEY", "their-key")
    assert connection(argilla_config) == ("http://argilla.example:6900", "their-key")

    monkeypatch.delenv("ARGILLA_API_URL")
    with pytest.raises(Docs2qaError, match="docs2qa curate serve"):
        connection(CurateConfig(state_dir=str(tmp_path / "never-served")))


def test_serve_is_idempotent_and_silent(argilla_server, argilla_config, capfd):
    before = server_status(argilla_config)
    assert before["running"]
    assert serve(argilla_config) == argilla_server
    assert server_status(argilla_config)["pids"] == before["pids"]
    assert capfd.readouterr() == ("", "")


def test_missing_redis_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no redis-server on it
    with pytest.raises(Docs2qaError, match="apt-get install redis-server"):
        serve(CurateConfig(state_dir=str(tmp_path / "state"), port=_free_port()))


def test_taken_port_is_refused_before_anything_starts(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(Docs2qaError, match=f"127.0.0.1:{port}.*in use"):
            serve(CurateConfig(state_dir=str(tmp_path / "state"), port=port))
    assert not (tmp_path / "state" / "pids.json").exists()


def test_stop_never_signals_a_process_it_did_not_start(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    # A stale record whose PID now belongs to someone else (here: this test process).
    fake = {"pid": os.getpid(), "started": None, "marker": f"{state}/launcher/launch_server.py start"}
    (state / "pids.json").write_text(json.dumps({"processes": {"server": fake}}))
    assert stop(CurateConfig(state_dir=str(state))) is False
    assert not (state / "pids.json").exists()


def test_a_server_that_dies_at_start_is_reported_and_cleaned_up(argilla_config, tmp_path):
    state = tmp_path / "state"
    (state / "home").mkdir(parents=True)
    (state / "venv").symlink_to(Path(argilla_config.state_dir, "venv").resolve(), target_is_directory=True)
    (state / "home" / "argilla.db").write_bytes(b"this is not a SQLite database" * 100)
    cfg = CurateConfig(state_dir=str(state), port=_free_port())
    with pytest.raises(Docs2qaError, match="exited while starting") as failure:
        serve(cfg)
    assert "database" in str(failure.value).lower()  # the tail of the server log says why
    assert not (state / "pids.json").exists()
    assert server_status(cfg)["pids"] == {}
    assert _listen_addresses(cfg.port) == set()


def test_restart_keeps_data_search_and_leaves_nothing_running(argilla_server, argilla_config, dataset):
    accepted_before = _accepted(dataset)
    groups = set(server_status(argilla_config)["pids"].values())
    ours = _group_members(groups)
    assert len(ours) >= 5  # redis, osmem, server, worker and the worker's rq children

    assert stop(argilla_config) is True
    assert not _alive(ours), f"still running after stop: {_alive(ours)}"
    assert not (argilla_server.state_dir / "pids.json").exists()
    assert server_status(argilla_config)["running"] is False
    assert stop(argilla_config) is False

    info = serve(argilla_config)  # osmem starts empty: serve must reindex from SQLite
    assert info == argilla_server
    reopened = _client(info).datasets(dataset.name, workspace=dataset.workspace.name)
    assert len(list(reopened.records)) == len(WIDGETS)
    assert _texts(reopened, query="zebra") == [WIDGETS[7]]
    assert _accepted(reopened) == accepted_before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _listen_addresses(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                raw = bytes.fromhex(address)
                if len(raw) == 4:
                    found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
                else:
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def _group_members(pgids: set[int]) -> set[int]:
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) in pgids and fields[0] != "Z":
                members.add(int(entry.name))
    return members


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive
