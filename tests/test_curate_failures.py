"""Curation when things go wrong, against the real local Argilla stack (tests/argilla_fixtures.py):
generate's manifest unreadable, the server's connection dying mid-push, two first pushes at
once, and the stack's secrets kept out of every process environment and command line."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from docs2qa.curation import schema
from docs2qa.curation.argilla_api import connect
from docs2qa.curation.config import CurateConfig
from docs2qa.records import Chunk, QAPair
from docs2qa.store import RunStore, StageResult
from test_curate_push_pull import make_pairs
from test_curate_server import _children, _stack_processes

ROOT = Path(__file__).resolve().parents[1]
UNINFORMATIVE = {"informative": False, "reason": "scores do not separate correct from wrong pairs"}


class DyingProxy:
    """An HTTP relay on 127.0.0.1 to the real server that dies on the request `dies_at(method,
    path)` picks: it hangs up without an answer (after forwarding the request when
    `after_upstream`, as a server killed while answering would) and on every request after it,
    until `revive()`."""

    def __init__(self, upstream: str, dies_at: Callable[[str, str], bool], after_upstream: bool = False):
        self.upstream = upstream.removeprefix("http://")
        self.dies_at, self.after_upstream, self.dead = dies_at, after_upstream, False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                dying = proxy.dead or proxy.dies_at(self.command, self.path)
                if dying and not proxy.after_upstream:
                    proxy.dead = True
                    self.close_connection = True
                    return
                conn = http.client.HTTPConnection(proxy.upstream, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                answer = conn.getresponse()
                payload = answer.read()
                conn.close()
                if dying:
                    proxy.dead = True
                    self.close_connection = True
                    return
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def revive(self) -> None:
        self.dead, self.dies_at = False, lambda method, path: False

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _run_dir(tmp_path: Path, judge_health: dict | None = None) -> RunStore:
    pairs, chunks = make_pairs(6)
    store = RunStore(tmp_path / "run")
    store.run_stage("chunk", "t", [], lambda s: StageResult({"chunks": (list(chunks.values()), Chunk)}, 3))
    extra = {"judge_health": judge_health} if judge_health else {}
    store.run_stage("generate", "t", ["chunk"], lambda s: StageResult({"pairs": (pairs, QAPair)}, 3, extra=extra))
    return store


def _config(tmp_path: Path, api_url: str, dataset: str) -> Path:
    config = tmp_path / "curate.yaml"
    config.write_text(
        yaml.safe_dump(
            {"crawl": {"seeds": ["https://docs.example/guide"]}, "curate": {"api_url": api_url, "dataset": dataset}}
        )
    )
    return config


def _curate_push(config: Path, store: RunStore, api_key: str) -> subprocess.CompletedProcess:
    # The key travels only in the environment, as it must for a user's own server.
    return subprocess.run(
        [sys.executable, "-m", "docs2qa", "curate", "push", "-c", str(config), "--run", str(store.root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "ARGILLA_API_KEY": api_key},
    )


def _dataset(server, name: str, workspace: str = "docs2qa"):
    import warnings

    client = connect(server.url, server.api_key)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "(Workspace|Dataset) with name .* not found", UserWarning)
        found = client.workspaces(workspace)
        return client, found and client.datasets(name=name, workspace=found)


def _one_error_line(stderr: str) -> str:
    """The CLI's error: one `error:` line and one hint line, no traceback."""
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr and len(lines) == 2, stderr[-3000:]
    assert lines[0].startswith("error: ") and lines[1].startswith("  -> "), stderr
    return stderr


def test_push_refuses_when_generates_manifest_is_unreadable(tmp_path, argilla_server):
    # The run found its judge uninformative; without that manifest a push would pre-fill its noise.
    store = _run_dir(tmp_path, UNINFORMATIVE)
    manifest = store.stage("generate").manifest_path
    manifest.write_text('{"stage": "generate", "judge_he')  # truncated: a full disk, a bad hand edit
    name = f"t-{uuid.uuid4().hex[:10]}"
    config = _config(tmp_path, argilla_server.url, name)

    pushed = _curate_push(config, store, argilla_server.api_key)
    assert pushed.returncode == 1, pushed.stdout + pushed.stderr[-3000:]
    error = _one_error_line(pushed.stderr)
    assert f"generate's manifest {manifest} is unreadable" in error
    assert f"docs2qa generate -c {config} --run {store.root}" in error
    assert _dataset(argilla_server, name)[1] is None  # nothing reached Argilla


@pytest.mark.parametrize(
    ("where", "dies_at", "after_upstream"),
    [
        # a request that adds to the dataset being created: a draft is left behind
        ("creating the dataset", lambda method, path: method == "POST" and path.endswith("/questions"), False),
        # the server stored the records, then died before answering
        ("storing the records", lambda method, path: "/records/bulk" in path, True),
    ],
)
def test_argilla_dying_mid_push_is_one_line_and_the_rerun_resumes(
    tmp_path, argilla_server, where, dies_at, after_upstream
):
    store = _run_dir(tmp_path)
    name = f"t-{uuid.uuid4().hex[:10]}"
    proxy = DyingProxy(argilla_server.url, dies_at, after_upstream)
    try:
        config = _config(tmp_path, proxy.url, name)
        broken = _curate_push(config, store, argilla_server.api_key)
        assert proxy.dead, f"the proxy never died {where}"
        assert broken.returncode == 1, broken.stdout + broken.stderr[-3000:]
        error = _one_error_line(broken.stderr)
        assert f"the connection to Argilla at {proxy.url} broke during the push to {name!r}" in error
        assert f"rerun `docs2qa curate push -c {config} --run {store.root}`" in error
        assert argilla_server.api_key not in broken.stdout + broken.stderr

        proxy.revive()
        resumed = _curate_push(config, store, argilla_server.api_key)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        stored_before = after_upstream
        assert f"6 records in dataset {name!r} ({0 if stored_before else 6} new" in resumed.stdout
    finally:
        proxy.close()
    client, dataset = _dataset(argilla_server, name)
    assert client.http_client.get(f"/api/v1/datasets/{dataset.id}").json()["status"] == "ready"
    assert sorted(r.id for r in dataset.records) == sorted(p.pair_id for p in make_pairs(6)[0])


# Each push imports everything first, then starts at the same instant as the others.
RACING_PUSH = textwrap.dedent("""
    import json, os, sys, time
    sys.path.insert(0, os.environ["TESTS_DIR"])
    from test_curate_push_pull import make_pairs, vectors
    from docs2qa.curation.config import CurateConfig
    from docs2qa.curation.push import push
    from docs2qa.errors import Docs2qaError

    pairs, chunks = make_pairs(40)
    cfg = CurateConfig(dataset=os.environ["DATASET"], workspace=os.environ["WORKSPACE"])
    time.sleep(max(0.0, float(os.environ["START_AT"]) - time.time()))
    try:
        summary = push(pairs, chunks, vectors(40), cfg, "run", os.environ["ARGILLA_URL"], os.environ["ARGILLA_KEY"])
    except Docs2qaError as exc:
        print(json.dumps({"error": exc.message, "hint": exc.hint}))
    else:
        print(json.dumps(summary))
""")


def test_first_pushes_at_once_all_end_with_the_one_dataset(argilla_server):
    # A workspace and a dataset that do not exist yet: each push starts by creating both.
    workspace, name = f"ws-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "TESTS_DIR": str(Path(__file__).parent),
        "DATASET": name,
        "WORKSPACE": workspace,
        "ARGILLA_URL": argilla_server.url,
        "ARGILLA_KEY": argilla_server.api_key,
        "START_AT": str(time.time() + 25),  # past every push's imports, even on a loaded machine
    }
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACING_PUSH], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outcomes = []
    for racer in racers:
        out, err = racer.communicate(timeout=600)
        assert racer.returncode == 0, err[-3000:]
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    assert [o.get("error") for o in outcomes] == [None] * 3, outcomes
    assert len({o["dataset_id"] for o in outcomes}) == 1
    assert all(o["records"] == 40 for o in outcomes)

    client, dataset = _dataset(argilla_server, name, workspace)
    assert client.http_client.get(f"/api/v1/datasets/{dataset.id}").json()["status"] == "ready"
    assert schema.signature(dataset.settings) == schema.signature(
        schema.build_settings(CurateConfig().annotators_per_record, client)
    )
    assert sorted(r.id for r in dataset.records) == sorted(p.pair_id for p in make_pairs(40)[0])


LOST_PUBLISH_RACE = (
    '{"detail":{"code":"argilla.api.errors::GenericServerError","params":{"type":'
    '"opensearchpy.exceptions.RequestError","message":"RequestError(400, \'{\\"error\\":{\\"reason\\":'
    '\\"index [rg.d030bed5] already exists\\",\\"type\\":\\"resource_already_exists_exception\\"},'
    '\\"status\\":400}\')"}}}'
)


@pytest.mark.parametrize(
    "lost_race",
    [
        # two creations of one workspace passed the existence check; the unique constraint stopped one
        "sqlalchemy.exc.IntegrityError: (sqlite3.IntegrityError) UNIQUE constraint failed: workspaces.name",
        # two publishes of one draft both set it ready; the search engine refused the second's index
        LOST_PUBLISH_RACE,
    ],
)
def test_a_500_from_a_lost_creation_race_reads_as_a_conflict(lost_race):
    # The 500 bodies argilla-server 2.8 answers when two pushes create one dataset at once (CI's
    # three racing pushes met the second); the push then reads the server again.
    from argilla._exceptions._api import InternalServerError

    from docs2qa.curation.argilla_api import is_conflict

    assert is_conflict(InternalServerError(lost_race, 500))
    assert not is_conflict(InternalServerError("Internal server error: disk full", 500))
    assert not is_conflict(InternalServerError(lost_race, 400))


def test_no_process_of_the_stack_holds_a_secret_in_its_environment_or_command_line(argilla_server):
    state = argilla_server.state_dir
    creds = json.loads((state / "credentials.json").read_text())
    redis_password = re.search(r"^requirepass (\S+)$", (state / "redis.conf").read_text(), re.M).group(1)
    secrets = {
        "owner password": creds["password"],
        "owner API key": creds["api_key"],
        "session secret key": creds["auth_secret_key"],
        "redis password": redis_password,
    }
    pids = json.loads((state / "pids.json").read_text())["processes"]
    deadline = time.monotonic() + 120  # rq's pool forks its workers a while after it starts
    while not _children(pids["worker"]["pid"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    ours = _stack_processes(state)
    assert len(ours) >= 6, ours  # redis, relay, osmem, server, the rq pool and its worker
    leaks = []
    for pid in ours:
        for part in ("environ", "cmdline"):
            try:
                raw = Path(f"/proc/{pid}/{part}").read_bytes()
            except OSError:
                continue  # ended meanwhile
            leaks += [f"{pid} {part}: {what}" for what, value in secrets.items() if value.encode() in raw]
    assert leaks == []
    assert oct((state / "service-secrets.json").stat().st_mode & 0o777) == "0o600"
