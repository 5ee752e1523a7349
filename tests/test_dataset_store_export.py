"""`docs2qa export` killed by SIGKILL right after it committed a version, then rerun; what the
published version folder holds; and the `datasets` commands finding versions through -c/--set."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from docs2qa.datastore import versions
from export_helpers import demo_run
from generate_helpers import ROOT, docs2qa

# `docs2qa export` as the user runs it, except that the process SIGKILLs itself the moment
# the finished version folder is renamed into place: before anything else is recorded.
KILLED_AT_COMMIT = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path

    real_rename = os.rename

    def rename(src, dst):
        real_rename(src, dst)
        if Path(src).name.startswith(".tmp-"):
            os.kill(os.getpid(), signal.SIGKILL)

    os.rename = rename
    sys.argv = ["docs2qa", *sys.argv[1:]]
    from docs2qa.cli import main
    main()
""")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("store-export")
    config_path, store, _ = demo_run(tmp)
    return tmp, config_path, store


@pytest.mark.slow  # kills and reruns a real export
def test_export_killed_at_its_commit_reruns_into_the_same_version(run, tmp_path):
    _, config_path, store = run
    shutil.copytree(store.root, tmp_path / "run")
    root = tmp_path / "elsewhere"
    args = ["export", "-c", str(config_path), "--run", str(tmp_path / "run"), "--set", f"export.root={root}"]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AT_COMMIT, *args], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert killed.returncode == -9, killed.stderr
    assert [p.name for p in versions.list_versions(root)] == ["v1"] and not (root / "exp" / versions.INDEX).exists()

    again = docs2qa(*args)
    assert again.returncode == 0, again.stderr
    assert "unchanged, existing version exp/v1" in again.stderr
    assert [p.name for p in versions.list_versions(root)] == ["v1"]
    assert [e["version"] for e in versions.read_index(root / "exp")] == ["v1"]

    # The datasets commands find it through the config and --set, like every other command.
    config = ("-c", str(config_path), "--set", f"export.root={root}")
    diffed = docs2qa("datasets", "diff", "exp/v1", "exp", *config)
    assert diffed.returncode == 0 and "0 added, 0 removed, 0 changed" in diffed.stderr, diffed.stderr
    assert docs2qa("datasets", "verify", "exp/v1", *config).returncode == 0
    listed = docs2qa("datasets", "list", "--set", f"export.root={root}")
    assert listed.returncode == 0 and listed.stdout.startswith("exp/v1  train="), listed.stderr
    assert "exp/v1" not in docs2qa("datasets", "list", "--root", str(tmp_path / "empty")).stdout


@pytest.mark.slow  # a real export run
def test_a_version_publishes_no_local_path(run):
    import pyarrow.parquet as pq

    from docs2qa.config import load_config
    from docs2qa.curation.export import export

    tmp, config_path, store = run
    path = Path(export(load_config(config_path), store)["dataset"]["path"])
    assert versions.read_manifest(path)["run"]["folder"] == "run"  # outside the working folder: its name only
    texts = {}
    for f in path.rglob("*"):
        if f.suffix == ".parquet":  # compressed on disk: compare the values
            texts[f] = json.dumps(pq.read_table(f).to_pylist())
        elif f.is_file():
            texts[f] = f.read_text()
    local = [str(tmp), str(Path.home()) + "/", str(ROOT), "/tmp/"]
    assert not {str(f.relative_to(path)): p for f, text in texts.items() for p in local if p in text}
