"""The seals of a dataset version: no single file of it can be edited or deleted unnoticed, not
even the seal itself (index.json), and no JSON of the store, however deep, crashes a command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from docs2qa.datastore import versions
from docs2qa.errors import Docs2qaError, IntegrityError
from test_dataset_store import cli, writable, write


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Two intact versions, copied by each test that damages them."""
    root = tmp_path_factory.mktemp("sealed") / "datasets"
    assert write(root).name == "v1" and write(root, "b").name == "v2"
    return root


@pytest.fixture
def root(store, tmp_path) -> Path:
    return Path(shutil.copytree(store, tmp_path / "datasets"))


def test_an_edited_manifest_with_its_index_deleted_fails_verify(root):
    manifest = writable(root / "exp" / "v1" / versions.MANIFEST)
    edited = json.loads(manifest.read_text())
    edited["source"] = "curation"  # the hand edit: a lineage field, no file hash touched
    manifest.write_text(json.dumps(edited, indent=2))
    (root / "exp" / versions.INDEX).unlink()
    where = ("--root", str(root))

    verified = cli("datasets", "verify", "exp/v1", *where)
    assert verified.returncode == 1, verified.stdout
    assert "manifest.json: edited after export" in verified.stderr and "index.json is missing" in verified.stderr
    intact = cli("datasets", "verify", "exp/v2", *where)  # untouched, but nothing seals it now
    assert intact.returncode == 1 and "not sealed" in intact.stderr and "rerun `docs2qa export`" in intact.stderr
    listed = cli("datasets", "list", *where)
    assert "exp/index.json  MISSING" in listed.stdout
    assert "exp/v1  BROKEN  manifest.json: edited after export" in listed.stdout
    assert "exp/v2  train=3" in listed.stdout

    # The next export seals the intact version again, never the edited one.
    assert write(root, "c").name == "v3"
    assert [e["version"] for e in versions.read_index(root / "exp")] == ["v2", "v3"]
    versions.verify_version(root / "exp" / "v2")
    with pytest.raises(IntegrityError, match=r"(?s)edited after export.*index.json has no entry for v1"):
        versions.verify_version(root / "exp" / "v1")


def test_deleting_or_editing_any_single_file_is_detected(store, tmp_path):
    version = store / "exp" / "v1"
    files = [store / "exp" / versions.INDEX, *(f for f in sorted(version.rglob("*")) if f.is_file())]
    assert len(files) > 20  # index, manifest, card, report, data and every format, parquet and jsonl
    for n, file in enumerate(files):
        for damage in ("delete", "edit"):
            root = Path(shutil.copytree(store, tmp_path / f"{n}-{damage}"))
            victim = writable(root / file.relative_to(store))
            if damage == "delete":
                victim.unlink()
            else:
                data = bytearray(victim.read_bytes())
                data[len(data) // 2] ^= 0x01
                victim.write_bytes(bytes(data))
            problems = [p for v in ("v1", "v2") for p in versions.version_problems(root / "exp" / v)]
            named = file.name if file.name in (versions.INDEX, versions.MANIFEST) else str(file.relative_to(version))
            assert any(named in p for p in problems), (damage, file, problems)


def test_a_hub_push_is_sealed_again(root):
    path = root / "exp" / "v1"
    versions.record_hub_push(path, {"repo": "me/exp", "commit": "abc", "tag": "v1", "pushed_at": "now"})
    versions.verify_version(path)
    (root / "exp" / versions.INDEX).unlink()  # the manifest's own seal still holds: export re-enters it
    write(root)
    assert [e["version"] for e in versions.read_index(root / "exp")] == ["v1", "v2"]
    versions.verify_version(path)


DEEP = b"[" * 100_000


@pytest.mark.parametrize("damaged", [versions.MANIFEST, versions.INDEX])
def test_deeply_nested_json_is_an_error_not_a_crash(root, damaged):
    writable(root / "exp" / "v1" / damaged if damaged == versions.MANIFEST else root / "exp" / damaged).write_bytes(
        DEEP
    )
    where = ("--root", str(root))
    for command in (("verify", "exp/v1"), ("show", "exp/v1"), ("diff", "exp/v1", "exp/v2")):
        if damaged == versions.INDEX and command[0] != "verify":
            continue  # show and diff read no index
        done = cli("datasets", *command, *where)  # cli() asserts that no traceback is printed
        assert done.returncode == 1, (command, done.stdout)
        assert "RecursionError" not in done.stderr and "nested too deeply" in done.stderr, done.stderr
        assert done.stderr.startswith("error: ") and "\n  -> " in done.stderr
    listed = cli("datasets", "list", *where)
    name = "exp/v1" if damaged == versions.MANIFEST else "exp/index.json"
    assert f"{name}  BROKEN" in listed.stdout and "nested too deeply" in listed.stdout
    assert "exp/v2  train=3" in listed.stdout
    with pytest.raises(Docs2qaError, match="nested too deeply"):
        write(root)  # export of v1's content finds it damaged; with a deep index, export cannot start
