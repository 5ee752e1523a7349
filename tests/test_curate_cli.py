"""`docs2qa curate push | status | pull` through the real CLI against the session's Argilla."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from docs2qa.records import Chunk, QAPair
from docs2qa.store import RunStore, StageResult
from test_curate_push_pull import make_pairs

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "docs2qa", *args], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env
    )


def test_push_status_pull_through_the_cli(tmp_path, argilla_server):
    pairs, chunks = make_pairs(4)
    store = RunStore(tmp_path / "run")
    store.run_stage("chunk", "t", [], lambda s: StageResult({"chunks": (list(chunks.values()), Chunk)}, 3))
    store.run_stage("generate", "t", ["chunk"], lambda s: StageResult({"pairs": (pairs, QAPair)}, 3))
    config = tmp_path / "cli-curate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "crawl": {"seeds": ["https://docs.example/guide"]},
                "curate": {"api_url": argilla_server.url, "dataset": "cli-test", "demo_accept_min_score": 4},
            }
        )
    )
    # The key travels only in the environment, as it must for a user's own server.
    env = {**os.environ, "ARGILLA_API_KEY": argilla_server.api_key}
    base = ["-c", str(config), "--run", str(store.root)]

    pushed = cli("curate", "push", *base, env=env)
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    assert "4 records in dataset 'cli-test'" in pushed.stdout and "/dataset/" in pushed.stdout
    assert argilla_server.api_key not in (store.root / "push" / "manifest.json").read_text()

    status = cli("curate", "status", *base, "--json", env=env)
    assert status.returncode == 0, status.stderr[-2000:]
    summary = json.loads(status.stdout)
    assert sum(summary["counts"].values()) == 4
    table = cli("curate", "status", *base, env=env)
    assert "review of 'cli-test': 4 pair(s)" in table.stdout and "Outcomes" in table.stdout, table.stderr[-2000:]

    pulled = cli("curate", "pull", *base, env=env)
    assert pulled.returncode == 0, pulled.stderr[-2000:]
    assert "new snapshot" in pulled.stdout and "Outcomes" in pulled.stdout
    assert list((store.root / "curate" / "snapshots").iterdir())
    again = cli("curate", "pull", *base, "--json", env=env)
    assert json.loads(again.stdout)["created"] is False  # JSON alone on stdout, the snapshot's path in it

    wrong = cli("curate", "status", *base, env={**env, "ARGILLA_API_KEY": "not-the-key"})
    assert wrong.returncode == 1 and "rejected the API key" in wrong.stderr


def test_serve_prints_a_stop_hint_with_the_users_options_and_writes_no_run(tmp_path, argilla_server, argilla_config):
    # Overrides that address the session's server: a hint without them would stop another one.
    config = tmp_path / "cli-curate.yaml"
    config.write_text(yaml.safe_dump({"crawl": {"seeds": ["https://docs.example/guide"]}}))
    options = [
        "-c",
        str(config),
        "--set",
        f"curate.state_dir={argilla_config.state_dir}",
        "--set",
        f"curate.port={argilla_config.port}",
        "--set",
        "crawl.user_agent=my agent",
    ]
    served = subprocess.run(
        [sys.executable, "-m", "docs2qa", "curate", "serve", *options],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert served.returncode == 0, served.stderr[-2000:]
    assert f"Argilla is running at {argilla_server.url}" in served.stdout
    hint = served.stdout.split("stop it with: ", 1)[1].strip()
    assert shlex.split(hint) == ["docs2qa", "curate", "stop", *options]
    assert "'crawl.user_agent=my agent'" in hint  # shell-quoted: the user can paste it
    assert not (tmp_path / "runs").exists()  # the server belongs to no run

    # Stopping somewhere nothing runs (not the session's server) writes no run folder either.
    stopped = subprocess.run(
        [
            sys.executable,
            "-m",
            "docs2qa",
            "curate",
            "stop",
            "-c",
            str(config),
            "--set",
            f"curate.state_dir={tmp_path / 'none'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert stopped.returncode == 0 and stopped.stdout == "nothing was running\n", stopped.stderr
    assert not (tmp_path / "runs").exists()
