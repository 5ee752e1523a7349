"""The dataset store under damage, kills and a second writer: it never crashes on a broken
file, never hides the intact versions, never reuses a damaged one, and commits a version in
one step (real processes, real SIGKILL)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from docs2qa.datastore import versions
from docs2qa.errors import Docs2qaError
from generate_helpers import ROOT, docs2qa


def rows(split: str, n: int, tag: str = "") -> list[dict]:
    return [
        {
            "pair_id": f"{split}{tag}{i}",
            "question": f"What does step {i} of {split}{tag} do?",
            "answer": f"It runs part {i}.",
            "context": "",
            "question_type": "factual",
            "page_id": f"p-{split}",
            "url": "https://docs.example/a",
            "anchor_url": "https://docs.example/a#s",
            "title": "A",
            "heading_path": ["A"],
            "chunk_id": f"c-{split}{i}",
            "fact_id": "",
            "generator_model": "tiny",
            "min_judge_score": 4,
            "curation": "accepted",
        }
        for i in range(n)
    ]


def content(tag: str = "") -> dict[str, list[dict]]:
    return {"train": rows("train", 3, tag), "validation": rows("validation", 1, tag), "test": rows("test", 1, tag)}


SETTINGS = {"system_prompt": "Answer from the docs.", "include_context": False}


def write(root: Path, tag: str = "") -> Path:
    return versions.write_version(root, "exp", content(tag), SETTINGS, {"source": "generation"})


def writable(path: Path) -> Path:
    path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return path


@pytest.fixture
def two_versions(tmp_path):
    root = tmp_path / "datasets"
    assert write(root).name == "v1" and write(root, "b").name == "v2"
    return root


def cli(*args: str) -> subprocess.CompletedProcess:
    done = docs2qa(*args, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    return done


@pytest.mark.parametrize(
    "damage",
    [b"", b'{"name": "exp", "vers', b"[1, 2]", b"{}", None],
    ids=["empty", "invalid", "list", "no-keys", "missing"],
)
@pytest.mark.slow  # each case runs docs2qa in a subprocess
def test_a_broken_manifest_is_reported_and_hides_nothing(two_versions, damage):
    manifest = two_versions / "exp" / "v1" / versions.MANIFEST
    writable(manifest).unlink() if damage is None else writable(manifest).write_bytes(damage)
    root = ("--root", str(two_versions))

    listed = cli("datasets", "list", *root)
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("exp/v1  BROKEN") and "manifest" in lines[0]
    assert lines[1].startswith("exp/v2  train=3 validation=1 test=1")
    verified = cli("datasets", "verify", "exp/v1", *root)
    assert verified.returncode == 1 and "failed verification" in verified.stderr and "manifest" in verified.stderr
    shown = cli("datasets", "show", "exp/v1", *root)
    assert shown.returncode == 1 and ("broken" if damage is None else "manifest") in shown.stderr
    assert "no dataset version" not in shown.stderr
    assert cli("datasets", "verify", "exp/v2", *root).returncode == 0
    assert json.loads(cli("datasets", "show", "exp", *root).stdout)["version"] == "v2"

    # Export of the same content: the index says v1 holds it, and v1 cannot be trusted.
    with pytest.raises(Docs2qaError, match=r"(?s)exp/v1 holds the same content.*damaged.*manifest") as caught:
        write(two_versions)
    assert "delete" in caught.value.hint
    assert sorted(p.name for p in (two_versions / "exp").iterdir() if not p.name.startswith(".")) == [
        "index.json",
        "v1",
        "v2",
    ]


@pytest.mark.parametrize(
    "damage", [b"[{]", b'{"v1": 1}', b'[{"version": "v1"}]'], ids=["invalid", "object", "entry-without-keys"]
)
@pytest.mark.slow  # each case runs docs2qa in a subprocess
def test_a_broken_index_is_reported_and_export_says_what_to_do(two_versions, damage):
    index = two_versions / "exp" / versions.INDEX
    index.write_bytes(damage)
    root = ("--root", str(two_versions))

    listed = cli("datasets", "list", *root)
    assert listed.returncode == 0 and "exp/index.json  BROKEN" in listed.stdout
    assert "exp/v1  train=3" in listed.stdout and "exp/v2  train=3" in listed.stdout
    verified = cli("datasets", "verify", "exp/v2", *root)
    assert verified.returncode == 1 and "index.json" in verified.stderr
    with pytest.raises(Docs2qaError, match="index") as caught:
        write(two_versions)
    assert "move" in caught.value.hint

    index.rename(index.with_suffix(".broken"))  # what the hint says; the versions themselves are intact
    assert write(two_versions, "b").name == "v2"
    # Each intact version is entered again (its manifest's own seal holds), not only the one exported.
    assert [e["version"] for e in versions.read_index(two_versions / "exp")] == ["v1", "v2"]
    versions.verify_version(two_versions / "exp" / "v1")
    versions.verify_version(two_versions / "exp" / "v2")


def test_export_never_reuses_a_damaged_version(two_versions):
    victim = writable(two_versions / "exp" / "v1" / "data" / "train.parquet")
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 1
    victim.write_bytes(bytes(data))
    with pytest.raises(Docs2qaError, match=r"(?s)same content.*damaged.*data/train\.parquet: changed") as caught:
        write(two_versions)
    assert str(two_versions / "exp" / "v1") in caught.value.hint
    shutil.rmtree(two_versions / "exp" / "v1")  # what the hint says
    again = write(two_versions)
    assert again.name == "v3"  # a number is never given twice, even to the same content
    versions.verify_version(again)


# A real writer in its own process; HOOK runs at the commit (the rename of the finished folder).
WRITER = textwrap.dedent("""
    import os, signal, sys, time
    sys.path.insert(0, {tests!r})
    from test_dataset_store import write
    from pathlib import Path

    hook, real_rename = sys.argv[2], os.rename

    def rename(src, dst):
        if Path(src).name.startswith(".tmp-") and hook == "kill-before":
            os.kill(os.getpid(), signal.SIGKILL)
        if Path(src).name.startswith(".tmp-") and hook == "slow":
            Path(sys.argv[3]).touch()  # tell the test the folder is written and the commit is near
            time.sleep(3)
        real_rename(src, dst)
        if Path(src).name.startswith(".tmp-") and hook == "kill-after":
            os.kill(os.getpid(), signal.SIGKILL)

    os.rename = rename
    print(write(Path(sys.argv[1])).name)
""")


def writer(root: Path, hook: str, *extra: str, **popen) -> subprocess.Popen:
    script = WRITER.format(tests=str(ROOT / "tests"))
    return subprocess.Popen(
        [sys.executable, "-c", script, str(root), hook, *extra],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


@pytest.mark.slow  # kills a writer subprocess
def test_a_version_killed_after_its_commit_is_found_again_not_duplicated(tmp_path):
    root = tmp_path / "datasets"
    killed = writer(root, "kill-after")
    killed.communicate(timeout=300)
    assert killed.returncode == -9
    assert (root / "exp" / "v1" / versions.MANIFEST).is_file() and not (root / "exp" / versions.INDEX).exists()

    assert write(root).name == "v1"  # the same content: the committed v1, not a v2
    assert [p.name for p in versions.list_versions(root)] == ["v1"]
    assert [e["version"] for e in versions.read_index(root / "exp")] == ["v1"]  # and now sealed
    versions.verify_version(root / "exp" / "v1")


@pytest.mark.slow  # kills a writer subprocess
def test_a_kill_before_the_commit_leaves_nothing_listed_and_its_leftovers_go(tmp_path):
    root = tmp_path / "datasets"
    killed = writer(root, "kill-before")
    killed.communicate(timeout=300)
    assert killed.returncode == -9
    leftovers = list((root / "exp").glob(".tmp-*"))
    assert leftovers and versions.list_versions(root) == []
    assert write(root).name == "v1"
    assert not list((root / "exp").glob(".tmp-*"))


@pytest.mark.slow  # two writer subprocesses
def test_a_second_writer_waits_for_the_first_and_leaves_its_folder_alone(tmp_path):
    root, ready = tmp_path / "datasets", tmp_path / "ready"
    first = writer(root, "slow", str(ready))
    deadline = time.monotonic() + 300
    while not ready.exists():
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.1)
    assert list((root / "exp").glob(".tmp-*"))  # the first writer's folder, about to be committed
    second = writer(root, "none")
    out_first, err_first = first.communicate(timeout=300)
    out_second, err_second = second.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, err_first + err_second
    assert out_first.strip() == out_second.strip() == "v1"
    assert [p.name for p in versions.list_versions(root)] == ["v1"]
    versions.verify_version(root / "exp" / "v1")
