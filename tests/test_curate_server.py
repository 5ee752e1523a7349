"""`docs2qa curate serve | stop` against a real local Argilla stack (no fakes).

The stack is the session fixture from argilla_fixtures.py; the restart test runs last in
this file and leaves the server running again for whoever uses the fixture next.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from docs2qa.curation.argilla_api import check_api_key
from docs2qa.curation.config import CurateConfig
from docs2qa.curation.server import connection, serve, server_status, stop
from docs2qa.errors import Docs2qaError

rg = pytest.importorskip("argilla", reason="needs the Argilla SDK: pip install argilla==2.8.0")

WIDGETS = [f"How do I configure widget {i}?" for i in range(12)]


def _client(info):
    return rg.Argilla(api_url=info.url, api_key=info.api_key)


def _api(info, method: str, path: str, body: dict | None = None) -> dict:
    """The REST calls the web UI makes (the SDK's bulk upsert takes another code path)."""
    req = urllib.request.Request(
        f"{info.url}/api/v1{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
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
            {
                "question": q,
                "answer": "Pass the zebra flag." if i == 7 else f"Set option {i}.",
                "emb": [1.0, i / 10, 0.0],
            }
            for i, q in enumerate(WIDGETS)
        ]
    )
    return ds


def test_sdk_logs_and_searches(dataset):
    assert len(list(dataset.records)) == len(WIDGETS)
    assert _texts(dataset, query="zebra") == [WIDGETS[7]]
    nearest = list(dataset.records(query=rg.Query(similar=rg.Similar(name="emb", value=[1.0, 0.7, 0.0])), limit=3))
    assert next(r.fields["question"] for r, _ in nearest) == WIDGETS[7]
    scores = [score for _, score in nearest]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1.0)


def test_ui_submit_edit_discard_reach_search(argilla_server, dataset):
    # Submitting in the UI updates the record's search document in place; osmem has no
    # scripts, so this goes through the engine's read-modify-write.
    record = next(r for r in dataset.records if r.fields["question"] == WIDGETS[3])
    response = _api(
        argilla_server,
        "POST",
        f"/records/{record._server_id}/responses",
        {"values": {"verdict": {"value": "reject"}}, "status": "submitted"},
    )
    assert _accepted(dataset) == []
    _api(
        argilla_server,
        "PUT",
        f"/responses/{response['id']}",
        {"values": {"verdict": {"value": "accept"}}, "status": "submitted"},
    )
    assert _accepted(dataset) == [WIDGETS[3]]
    _api(argilla_server, "DELETE", f"/responses/{response['id']}")
    assert _accepted(dataset) == []
    _api(
        argilla_server,
        "POST",
        f"/records/{record._server_id}/responses",
        {"values": {"verdict": {"value": "accept"}}, "status": "submitted"},
    )
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


def test_search_backend_is_private_and_holds_no_argilla_secret(argilla_server, argilla_config):
    # osmem has no authentication: nothing of the stack may listen on TCP but the web
    # server and redis (which has a password); the search backend is a 0600 Unix socket.
    redis_port = int(
        next(
            line.split()[1]
            for line in (argilla_server.state_dir / "redis.conf").read_text().splitlines()
            if line.startswith("port ")
        )
    )
    ours = _stack_processes(argilla_server.state_dir)
    assert _tcp_listen_ports(ours) == {argilla_config.port, redis_port}
    sock = argilla_server.state_dir / "search.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
    if os.getuid() == 0:  # another local user cannot reach it (this state dir's folders and the socket)
        assert _connect_as_nobody(sock) == "PermissionError"
    # Only the server and the worker receive Argilla's secrets.
    creds = json.loads((argilla_server.state_dir / "credentials.json").read_text())
    secrets = [creds[k].encode() for k in ("api_key", "password", "auth_secret_key")]
    names = {pid: _cmdline(pid) for pid in ours}
    backend = [
        pid for pid, cmd in names.items() if "osmem-server" in cmd or "private_search.py" in cmd or "redis" in cmd
    ]
    assert len(backend) >= 3, names  # redis, the relay and osmem
    for pid in backend:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert not any(secret in environ for secret in secrets), names[pid]


def test_wrong_api_key_is_a_clear_error(argilla_server):
    assert check_api_key(argilla_server.url, argilla_server.api_key) == argilla_server.username
    with pytest.raises(Docs2qaError, match="rejected the API key"):
        check_api_key(argilla_server.url, "not-the-key-" + uuid.uuid4().hex)
    with pytest.raises(Exception, match=r"Credentials .* are invalid"):
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


@pytest.mark.slow  # starts the real service stack and waits for it to fail
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


KILLED_SERVE = """
import os, signal, sys
from docs2qa.curation.config import CurateConfig
from docs2qa.curation import server

def killed(paths, record):  # SIGKILL at the worst moment: services started, none recorded yet
    os.kill(os.getpid(), signal.SIGKILL)

server._write_pids = killed
server.serve(CurateConfig(state_dir=sys.argv[1], port=int(sys.argv[2])))
"""


def test_stop_after_a_killed_serve_leaves_nothing_of_its_state_dir(argilla_config, tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "venv").symlink_to(Path(argilla_config.state_dir, "venv").resolve(), target_is_directory=True)
    cfg = CurateConfig(state_dir=str(state), port=_free_port())
    killed = subprocess.run([sys.executable, "-c", KILLED_SERVE, str(state), str(cfg.port)], timeout=300)
    assert killed.returncode == -signal.SIGKILL
    assert not (state / "pids.json").exists()
    left = _stack_processes(state)
    assert len(left) >= 2, "redis and the search backend were running when serve was killed"

    assert stop(cfg) is True
    assert not _alive(left) and not _stack_processes(state)


def test_restart_keeps_data_search_and_leaves_nothing_running(argilla_server, argilla_config, dataset):
    accepted_before = _accepted(dataset)
    pids = server_status(argilla_config)["pids"]
    deadline = time.monotonic() + 120  # the pool forks its workers a while after it starts
    while not (pool_children := _children(pids["worker"])) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pool_children, "rq's pool started no worker"
    ours = _group_members(set(pids.values()))
    assert len(ours) >= 6  # redis, relay + osmem, server, worker and the worker's rq children
    assert _stack_processes(argilla_server.state_dir) >= ours

    # The rq pool killed outright: its forked workers must not live on as orphans.
    os.kill(pids["worker"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(pool_children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pool_children), "rq workers outlived their killed pool"

    assert stop(argilla_config) is True
    assert not _alive(ours), f"still running after stop: {_alive(ours)}"
    assert not _stack_processes(argilla_server.state_dir), "a process of this state dir survived stop"
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
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
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


def _stack_processes(state_dir: Path) -> set[int]:
    """Live processes whose command line or environment names this state dir."""
    mark = str(state_dir).encode()
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            text = (entry / "cmdline").read_bytes() + b"\0" + (entry / "environ").read_bytes()
        except OSError:
            continue
        if mark in text and int(entry.name) != os.getpid() and _alive({int(entry.name)}):
            found.add(int(entry.name))
    return found


def _tcp_listen_ports(pids: set[int]) -> set[int]:
    """TCP ports in LISTEN state, in this network namespace, held by these processes."""
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _connect_as_nobody(path: Path) -> str:
    """What connecting to a Unix socket as user `nobody` gives, from a forked child."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        outcome = "connected"
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(path))
        except OSError as exc:
            outcome = type(exc).__name__
        finally:
            os.write(write, outcome.encode())
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read) as pipe:
        return pipe.read()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children(parent: int) -> set[int]:
    children = set()
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                children.add(int(entry.name))
    return _alive(children)


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
