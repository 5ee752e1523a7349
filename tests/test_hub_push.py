"""Pushes to the Hugging Face Hub when the Hub cannot be reached: `export --push-to-hub`,
`datasets push` and `models push` each end in one line that says what failed and what to do,
exit 1, keep what was made, and write the token nowhere.

No network is needed: HF_ENDPOINT points at a local port nothing listens on, which the real
huggingface_hub client then fails to reach, as it fails to reach a Hub behind a broken network.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from docs2qa.datastore import versions
from export_helpers import ROOT, demo_run

TOKEN = "hf_never_written_anywhere"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def offline(*args: str, token: bool = True) -> subprocess.CompletedProcess:
    """`docs2qa ARGS` with the Hub at a closed local port."""
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}", "HF_TOKEN": TOKEN if token else ""}
    env.pop("HF_HUB_OFFLINE", None)
    return subprocess.run(
        [sys.executable, "-m", "docs2qa", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stderr
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr, done.stderr
    assert TOKEN not in done.stdout + done.stderr
    return done.stderr.strip()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hub")
    config_path, store, _ = demo_run(tmp)
    return tmp, config_path, store


@pytest.mark.slow  # crawls the demo site and exports it (~20 s)
def test_export_push_to_an_unreachable_hub_is_one_line_and_keeps_the_version(run):
    tmp, config_path, store = run
    done = offline("export", "-c", str(config_path), "--run", str(store.root), "--push-to-hub", "me/exp")
    line = one_line_error(done)
    version = tmp / "datasets" / "exp" / "v1"
    assert line.startswith("error: cannot reach the Hugging Face Hub at http://127.0.0.1:")
    assert "to upload exp/v1 to the dataset repo me/exp" in line
    assert line.endswith(f"the version is kept: push it with `docs2qa datasets push {version} me/exp -c {config_path}`")
    versions.verify_version(version)  # the version stands, sealed, without a recorded push
    assert "hub" not in versions.read_manifest(version)
    assert all(TOKEN.encode() not in f.read_bytes() for f in tmp.rglob("*") if f.is_file())

    pushed = offline("datasets", "push", str(version), "me/exp")
    assert one_line_error(pushed).endswith(
        "to upload exp/v1 to the dataset repo me/exp ([Errno 111] Connection refused); rerun once the Hub answers"
    )


@pytest.mark.slow  # crawls the demo site and exports it (~20 s), unless the test above did
@pytest.mark.parametrize(
    ("args", "token", "said"),
    [
        (["exp/v1", "not a repo"], True, "error: 'not a repo' is not a Hub repo id: "),
        (["exp/v9", "me/exp"], True, "error: "),
        (["exp/v1", "me/exp"], False, "error: $HF_TOKEN is not set or empty: a push to the Hub"),
    ],
)
def test_datasets_push_checks_its_arguments_before_any_request(run, args, token, said):
    tmp, config_path, store = run
    if not (tmp / "datasets" / "exp" / "v1").is_dir():
        offline("export", "-c", str(config_path), "--run", str(store.root))
    done = offline("datasets", "push", *args, "-c", str(config_path), token=token)
    assert done.returncode == 1 and done.stderr.startswith(said), done.stderr
    assert "Traceback" not in done.stderr and TOKEN not in done.stderr


def test_datasets_push_needs_a_version_and_a_repo():
    done = offline("datasets", "push", "exp/v1")
    assert done.returncode == 2 and "Missing argument 'repo'" in done.stderr


def adapter_folder(tmp_path: Path) -> Path:
    """What `docs2qa finetune` leaves for a push: an adapter, a manifest and a card."""
    model_dir = tmp_path / "acme-v1-abc"
    (model_dir / "adapter").mkdir(parents=True)
    (model_dir / "adapter" / "adapter_config.json").write_text("{}")
    (model_dir / "manifest.json").write_text('{"dataset": {"name": "acme", "version": "v1"}}')
    (model_dir / "README.md").write_text("---\nlibrary_name: peft\n---\n# acme-v1-abc\n")
    return model_dir


def test_models_push_to_an_unreachable_hub_is_one_line(tmp_path):
    model_dir = adapter_folder(tmp_path)
    line = one_line_error(offline("models", "push", str(model_dir), "me/acme-adapter"))
    assert line.startswith("error: cannot reach the Hugging Face Hub at http://127.0.0.1:")
    assert line.endswith(
        f"to upload the adapter in {model_dir} to the model repo me/acme-adapter ([Errno 111] Connection refused); "
        "rerun once the Hub answers"
    )
    assert all(TOKEN.encode() not in f.read_bytes() for f in tmp_path.rglob("*") if f.is_file())


def test_models_push_checks_its_folder_and_repo_before_any_request(tmp_path):
    done = offline("models", "push", str(tmp_path), "me/acme-adapter")
    assert done.returncode == 1 and done.stderr.startswith(f"error: {tmp_path} holds no trained adapter"), done.stderr
    bad = offline("models", "push", str(adapter_folder(tmp_path)), "me/a/b")
    assert bad.returncode == 1 and bad.stderr.startswith("error: 'me/a/b' is not a Hub repo id: "), bad.stderr
