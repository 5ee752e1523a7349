"""Commands that only look (`status`, `config`, `datasets list/show/verify/diff`, `curate status`)
change nothing: every file under the run folder, the dataset store and the working directory
keeps its bytes, and the review server keeps running where it runs, with no other started.
Only `curate serve`/`stop` and the stages manage servers."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import yaml

from docs2qa.config import load_config
from docs2qa.curation.config import CurateConfig
from docs2qa.curation.push import push
from docs2qa.curation.server import server_status
from docs2qa.records import Chunk, QAPair
from docs2qa.store import RunStore, StageResult
from test_cli_errors import call
from test_curate_push_pull import make_pairs, vectors
from test_curate_server import _free_port, _listen_addresses, _stack_processes
from test_dataset_store import write
from test_terminal import _fake_run


def tree(*roots: Path) -> dict[str, str]:
    """Every file (the sha256 of its bytes) and folder under `roots`."""
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        for root in roots
        for path in sorted(root.rglob("*"))
    }


def _recorded(config_path: Path, store: RunStore) -> None:
    """The run's config.yaml, as the commands that ran in it left it."""
    config = load_config(config_path)
    store.save_config(config.model_dump(mode="json"), config.hash())


def test_looking_at_a_run_and_its_datasets_writes_nothing(tmp_path, monkeypatch, capsys):
    config_path, store = _fake_run(tmp_path, argilla=False)
    _recorded(config_path, store)
    (store.root / "logs").mkdir()
    (store.root / "logs" / "run.log").write_text("---- docs2qa run -c mine.yaml\n")
    datasets = tmp_path / "datasets"  # holds mine/v1 (files without a manifest) and two sealed versions
    write(datasets)
    write(datasets, "b")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config, run, root = str(config_path), str(store.root), str(datasets)
    before = tree(tmp_path)
    for command in (
        # other values than the run used: they must not become what `config --run` reports
        ["status", "-c", config, "--run", run, "--set", "generate.max_chunks=3"],
        ["config", "-c", config, "--set", "generate.max_chunks=3"],
        ["config", "--run", run],
        ["datasets", "list", "-c", config],
        ["datasets", "show", "exp/v1", "--root", root],
        ["datasets", "verify", "exp/v2", "--root", root],
        ["datasets", "diff", "exp/v1", "exp/v2", "--root", root],
    ):
        code, out, err = call(monkeypatch, capsys, *command)
        assert code == 0 and out, (command, err)
        assert tree(tmp_path) == before, command
    assert yaml.safe_load((store.root / "config.yaml").read_text())["generate"]["max_chunks"] != 3

    # From a folder without the run: it says where it looked, and creates nothing there.
    code, _, err = call(monkeypatch, capsys, "status", "-c", config)
    assert code == 1 and f"there is no run folder {elsewhere / 'runs' / 'mine'}" in err, err
    assert "pass --run" in err and "Traceback" not in err
    assert tree(tmp_path) == before


def test_curate_status_never_starts_stops_or_moves_the_review_server(
    tmp_path, monkeypatch, capsys, argilla_server, argilla_config
):
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)  # the session's local server, not a user's own
    curate = {"state_dir": argilla_config.state_dir, "port": argilla_config.port, "dataset": f"ro-{uuid.uuid4().hex}"}
    config_path = tmp_path / "ro.yaml"
    config_path.write_text(
        yaml.safe_dump({"name": "ro", "crawl": {"seeds": ["https://docs.example/"]}, "curate": curate})
    )
    pairs, chunks = make_pairs(3)
    store = RunStore(tmp_path / "run")
    store.run_stage("chunk", "t", [], lambda s: StageResult({"chunks": (list(chunks.values()), Chunk)}, 3))
    store.run_stage("generate", "t", ["chunk"], lambda s: StageResult({"pairs": (pairs, QAPair)}, 3))
    _recorded(config_path, store)
    push(pairs, chunks, vectors(3), CurateConfig(**curate), "ro", argilla_server.url, argilla_server.api_key)
    monkeypatch.chdir(tmp_path)
    state = Path(argilla_config.state_dir)
    recorded, processes, before = (state / "pids.json").read_bytes(), _stack_processes(state), tree(tmp_path)
    assert processes

    options = ["-c", str(config_path), "--run", str(store.root)]
    code, out, err = call(monkeypatch, capsys, "curate", "status", *options)
    assert code == 0 and "review of" in out and "3 pair(s)" in out, err
    code, out, err = call(monkeypatch, capsys, "status", *options)
    assert code == 0 and "generate" in out, err

    # A typo'd port finds nothing there: it says where the recorded server runs and leaves it be.
    typo = _free_port()
    code, _, err = call(monkeypatch, capsys, "curate", "status", *options, "--set", f"curate.port={typo}")
    assert code == 1 and "Traceback" not in err, err
    assert f"no local Argilla at http://127.0.0.1:{typo}" in err and f"runs at {argilla_server.url}" in err
    assert f"--set curate.port={argilla_config.port}" in err

    assert (state / "pids.json").read_bytes() == recorded
    assert _stack_processes(state) == processes  # the same pids alive, none new
    assert not _listen_addresses(typo)
    assert server_status(argilla_config)["running"]
    assert tree(tmp_path) == before

    # The stages may start a server, but not move the reviewers' one to a typo'd port either.
    code, _, err = call(monkeypatch, capsys, "curate", "push", *options, "--set", f"curate.port={typo}")
    assert code == 1 and "Traceback" not in err, err
    assert f"no local Argilla at http://127.0.0.1:{typo}" in err and f"runs at {argilla_server.url}" in err
    assert (state / "pids.json").read_bytes() == recorded
    assert _stack_processes(state) == processes
    assert not _listen_addresses(typo)
