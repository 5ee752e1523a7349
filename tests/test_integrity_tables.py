"""Nothing read unchecked: every stage table, manifest, journal line and curation snapshot that
is damaged on disk is found when read, through the real readers behind the CLI. The command
exits 1 with one line naming the file and the command that writes it again, never a traceback,
and `status` shows the stage as damaged. A full disk or a read-only run folder is one line too.
"""

from __future__ import annotations

import errno
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from docs2qa import journal
from docs2qa.cli import main
from docs2qa.config import load_config
from docs2qa.errors import IntegrityError
from docs2qa.records import Chunk, Document, Page, QAPair, pair_id, sha256_hex
from docs2qa.store import RunStore, StageResult

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DOCS = ROOT / "tests" / "fixture_site" / "docs"


def call(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """main() as the console script runs it: (exit code, stdout, stderr). A traceback escapes."""
    monkeypatch.setattr(sys, "argv", ["docs2qa", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> tuple[Path, Path]:
    """crawl -> convert -> chunk of the fixture docs folder, and pairs in a generate stage."""
    from docs2qa.generation.ingest import stages

    tmp = tmp_path_factory.mktemp("integrity")
    config_path = tmp / "integrity.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "name": "integrity",
                "crawl": {"local_dir": str(FIXTURE_DOCS), "local_base_url": "https://docs.example/docs/"},
                "export": {"root": str(tmp / "datasets"), "source": "generation"},
            }
        )
    )
    config = load_config(config_path)
    store = RunStore(tmp / "run")
    for stage in (stages.crawl, stages.convert, stages.chunk):
        stage(config, store)
    chunks = store.stage("chunk").read("chunks", Chunk)
    pairs = [_pair(c) for c in chunks]
    store.run_stage("generate", "test", ["chunk"], lambda stage: StageResult({"pairs": (pairs, QAPair)}, len(pairs)))
    return config_path, store.root


def _pair(chunk: Chunk) -> QAPair:
    question = f"What does '{chunk.title}' say?"
    return QAPair(
        pair_id(chunk.chunk_id, "p", "m", question),
        chunk.chunk_id,
        chunk.page_id,
        chunk.url,
        chunk.anchor_url,
        chunk.title,
        list(chunk.heading_path),
        question,
        "It says what it says.",
        "factual",
        "",
        "m",
        "p",
    )


@pytest.fixture
def run(ingested, tmp_path) -> tuple[Path, Path]:
    """A copy of the ingested run, free to damage."""
    config_path, root = ingested
    copy = tmp_path / "run"
    shutil.copytree(root, copy)
    return config_path, copy


def flip_byte(path: Path, at: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * at)] ^= 0x01
    path.write_bytes(bytes(data))


def garbage(path: Path) -> None:
    path.write_bytes(b"PAR1 this is not a parquet file at all PAR1")


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def empty(path: Path) -> None:
    path.write_bytes(b"")


def wrong_schema(path: Path) -> None:
    pq.write_table(pa.table({"page_id": [1, 2], "something": ["a", "b"]}), path)


def folder(path: Path) -> None:
    path.unlink()
    path.mkdir()
    pq.write_table(pa.table({"x": []}), path / "part-0.parquet")


def missing(path: Path) -> None:
    path.unlink()


DAMAGE = {
    "truncated": truncate,
    "garbage": garbage,
    "empty": empty,
    "wrong_schema": wrong_schema,
    "one_byte_flip": flip_byte,
    "folder": folder,
    "missing": missing,
}
# (stage that holds the table, table, command that reads it)
READERS = [("crawl", "pages", "convert"), ("convert", "documents", "chunk"), ("generate", "pairs", "export")]


def assert_one_line(code: int, err: str, *expected: str) -> None:
    assert code == 1, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()  # progress lines may come first
    assert lines[-2].startswith("error: ") and lines[-1].startswith("  -> "), err
    assert sum(line.startswith("error: ") for line in lines) == 1, err
    for text in expected:
        assert text in err, err


@pytest.mark.parametrize("kind", DAMAGE)
@pytest.mark.parametrize(("stage", "table", "reader"), READERS)
def test_a_damaged_table_stops_its_reader_with_the_file_and_the_rerun(
    run, monkeypatch, capsys, kind, stage, table, reader
):
    config_path, root = run
    path = root / stage / f"{table}.parquet"
    DAMAGE[kind](path)
    options = ["-c", str(config_path), "--run", str(root)]
    code, _out, err = call(monkeypatch, capsys, reader, *options)
    assert_one_line(code, err, f"{path} is damaged", f"rerun `docs2qa {stage} -c {config_path} --run {root}`")
    assert not (root / reader / "_COMPLETE").exists()
    code, out, _err = call(monkeypatch, capsys, "status", *options)
    assert code == 0
    assert f"  {stage:<9} damaged ({table}.parquet: " in out and f"rerun `docs2qa {stage}`" in out, out


def test_a_stage_whose_table_is_damaged_is_not_up_to_date_and_run_rewrites_it(run, monkeypatch, capsys):
    config_path, root = run
    flip_byte(root / "convert" / "documents.parquet")
    from docs2qa.pipeline import stage_named

    config = load_config(config_path)
    reasons = stage_named("convert").stale_reasons(config, RunStore(root))
    assert reasons == ["damaged (documents.parquet: its bytes differ from the hash the stage's manifest recorded)"]
    code, _out, err = call(monkeypatch, capsys, "convert", "-c", str(config_path), "--run", str(root))
    assert code == 0, err
    assert stage_named("convert").is_fresh(config, RunStore(root))
    assert stage_named("chunk").is_fresh(config, RunStore(root))  # the same documents again: chunk keeps its output


def test_a_table_of_an_older_manifest_is_still_checked_against_its_record_type(run, monkeypatch, capsys):
    """A manifest written before tables were hashed: the table's columns are still checked."""
    config_path, root = run
    manifest_path = root / "crawl" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["tables"]
    manifest_path.write_text(json.dumps(manifest))
    pq.write_table(
        pa.Table.from_pylist([], schema=pa.schema([("chunk_id", pa.string())])), root / "crawl/pages.parquet"
    )
    code, _out, err = call(monkeypatch, capsys, "convert", "-c", str(config_path), "--run", str(root))
    assert_one_line(code, err, "pages.parquet is damaged: not a table of Page records", "unexpected column 'chunk_id'")


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: {**m, "counts": "12"},
        lambda m: {**m, "counts": {**m["counts"], "out": ["pages"]}},
        lambda m: {**m, "wall_s": "1.5"},
        lambda m: {**m, "inputs": ["crawl"]},
        lambda m: {**m, "tables": {"documents": 7}},
        lambda m: {**m, "finished_at": None},
    ],
    ids=["counts_string", "out_list", "wall_s_string", "inputs_list", "tables_digest_int", "finished_at_null"],
)
def test_a_manifest_with_wrong_field_types_reads_as_damaged(run, monkeypatch, capsys, edit):
    config_path, root = run
    manifest_path = root / "convert" / "manifest.json"
    manifest_path.write_text(json.dumps(edit(json.loads(manifest_path.read_text()))))
    options = ["-c", str(config_path), "--run", str(root)]
    code, out, err = call(monkeypatch, capsys, "status", *options)
    assert code == 0 and "Traceback" not in err, err
    assert "convert   manifest unreadable: rerun `docs2qa convert`" in out, out
    code, _out, err = call(monkeypatch, capsys, "chunk", *options)
    assert_one_line(code, err, f"{manifest_path} is damaged", f"rerun `docs2qa convert {' '.join(options)}`")


def test_a_damaged_page_body_is_found_when_read(run, monkeypatch, capsys):
    config_path, root = run
    store = RunStore(root)
    documents = store.stage("convert").read("documents", Document)
    page = store.stage("crawl").read("pages", Page)[0]
    blob = store.blobs.path(page.body_sha256)
    flip_byte(blob)
    with pytest.raises(IntegrityError, match="bytes no longer match"):
        store.blobs.get(page.body_sha256)
    assert not store.blobs.has(page.body_sha256)
    options = ["-c", str(config_path), "--run", str(root)]
    code, _out, err = call(monkeypatch, capsys, "convert", *options)
    assert_one_line(code, err, f"the stored page body {blob} is damaged", f"rerun `docs2qa crawl {' '.join(options)}`")
    # The crawl meets the body again and replaces the damaged copy; convert then reads it whole.
    code, _out, err = call(monkeypatch, capsys, "crawl", *options)
    assert code == 0, err
    assert store.blobs.get(page.body_sha256)
    code, _out, err = call(monkeypatch, capsys, "convert", *options)
    assert code == 0, err
    assert [d.markdown for d in store.stage("convert").read("documents", Document)] == [d.markdown for d in documents]


def test_a_recrawl_replaces_a_damaged_body_instead_of_asking_if_it_changed(site, tmp_path, monkeypatch, capsys):
    """Over HTTP the crawl sends If-None-Match for a page it holds; for a damaged copy it must
    not (a 304 would keep the bad file): it fetches the page whole and stores it again."""
    config_path = tmp_path / "site.yaml"
    crawl = {"seeds": [f"{site}/docs/"], "allow_private_addresses": True, "backoff_s": 0.01, "max_retry_after_s": 0.05}
    config_path.write_text(yaml.safe_dump({"name": "s", "crawl": {**crawl, "retries": 1, "max_pages": 12}}))
    root = tmp_path / "run"
    options = ["-c", str(config_path), "--run", str(root)]
    code, _out, err = call(monkeypatch, capsys, "crawl", *options)
    assert code == 0, err
    store = RunStore(root)
    pages = store.stage("crawl").read("pages", Page)
    damaged = [store.blobs.path(p.body_sha256) for p in pages[:3]]
    for blob in damaged:
        flip_byte(blob)
    code, _out, err = call(monkeypatch, capsys, "crawl", *options)
    assert code == 0, err
    for blob in damaged:
        assert sha256_hex(blob.read_bytes()) == blob.name
    assert "was damaged: replaced" in (root / "logs" / "run.log").read_text()


@pytest.mark.parametrize(
    "line",
    [b"this is not json\n", b"[1, 2, 3]\n", b'"a string"\n', b"[" * 100_000 + b"]" * 100_000 + b"\n"],
    ids=["garbage", "list", "string", "nested_too_deep"],
)
def test_a_damaged_journal_line_is_named_or_skipped_and_redone(tmp_path, monkeypatch, capsys, line):
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"unit": "a"}\n' + line + b'{"unit": "b"}\n')
    with pytest.raises(IntegrityError, match=re.escape(f"{path} line 2 is damaged")) as err:
        list(journal.read(path))
    assert "delete that line" in str(err.value)
    assert [r["unit"] for r in journal.read(path, skip_invalid=True)] == ["a", "b"]
    assert journal.append_new(path, [{"unit": "b"}, {"unit": "c"}], key="unit") == [{"unit": "c"}]

    # A crawl resuming from a journal with that line redoes the URL it may have held.
    config_path = tmp_path / "crawl.yaml"
    config_path.write_text(yaml.safe_dump({"name": "j", "crawl": {"local_dir": str(FIXTURE_DOCS)}}))
    run = tmp_path / "run"
    (run / "crawl").mkdir(parents=True)
    (run / "crawl" / "_journal.jsonl").write_bytes(line)
    code, _out, err = call(monkeypatch, capsys, "crawl", "-c", str(config_path), "--run", str(run))
    assert code == 0 and "Traceback" not in err, err
    assert "_journal.jsonl line 1 is damaged" in (run / "logs" / "run.log").read_text()


def _snapshot_config(config_path: Path, tmp_path: Path) -> Path:
    config = yaml.safe_load(config_path.read_text())
    config["export"]["source"] = "curation"
    path = tmp_path / "curated.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("file", "content"),
    [("snapshot.json", b"[1, 2]"), ("snapshot.json", b"{not json"), ("records.parquet", b"garbage")],
    ids=["summary_list", "summary_garbage", "records_garbage"],
)
def test_a_damaged_curation_snapshot_is_named(run, tmp_path, monkeypatch, capsys, file, content):
    from docs2qa.curation.snapshot import write_snapshot

    config_path, root = run
    folder, _created = write_snapshot(root, [], {"policy": "test"})
    # What `curate pull` records (the snapshot's id is its identity), without an Argilla server.
    RunStore(root).run_stage("pull", "test", [], lambda stage: StageResult({}, 0, identity=folder.name))
    (folder / file).chmod(0o644)
    (folder / file).write_bytes(content)
    options = ["-c", str(_snapshot_config(config_path, tmp_path)), "--run", str(root)]
    code, _out, err = call(monkeypatch, capsys, "export", *options)
    assert_one_line(code, err, f"the curation snapshot file {folder / file} is damaged", "docs2qa curate pull")


def test_a_snapshot_whose_records_changed_is_damaged(run):
    from docs2qa.curation.snapshot import read_snapshot, write_snapshot

    _config, root = run
    row = {"pair_id": "p1", "status": "accepted", "edited": False, "submitted": 1, "labels": ["good"]}
    folder, _created = write_snapshot(root, [row], {"policy": "test"})
    assert read_snapshot(folder)[0][0]["pair_id"] == "p1"
    records = folder / "records.parquet"
    records.chmod(0o644)
    flip_byte(records, at=0.3)
    with pytest.raises(IntegrityError, match=r"records\.parquet is damaged"):
        read_snapshot(folder)


def test_a_full_disk_in_a_stage_is_one_line_and_the_run_resumes(run, monkeypatch, capsys):
    """ENOSPC as pyarrow raises it on a full disk (errno set, no file name), from the table write."""
    config_path, root = run
    real_write = pq.write_table

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pq, "write_table", full_disk)
    options = ["-c", str(config_path), "--run", str(root)]
    code, _out, err = call(monkeypatch, capsys, "chunk", *options)
    assert_one_line(
        code,
        err,
        f"{root / 'chunk' / 'chunks.parquet'}: No space left on device",
        f"rerun `docs2qa chunk {' '.join(options)}`",
    )
    assert "finished work is kept" in err and not list((root / "chunk").glob(".*tmp"))
    monkeypatch.setattr(pq, "write_table", real_write)
    code, _out, err = call(monkeypatch, capsys, "chunk", *options)
    assert code == 0, err


def test_a_run_folder_turned_read_only_mid_stage_is_one_line(run, monkeypatch, capsys):
    """EROFS from the stage's writes (as root, chmod does not stop them: the error is raised here)."""
    config_path, root = run
    from docs2qa import fsio

    real = fsio.atomic_write_bytes

    def read_only(path, data, *args, **kwargs):
        if path.name == "manifest.json":
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        real(path, data, *args, **kwargs)

    monkeypatch.setattr("docs2qa.store.atomic_write_bytes", read_only)
    options = ["-c", str(config_path), "--run", str(root)]
    code, _out, err = call(monkeypatch, capsys, "convert", *options)
    assert_one_line(code, err, f"{root / 'convert' / 'manifest.json'}: Read-only file system", "docs2qa convert -c")


def _unshare_available() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


def test_status_reads_a_read_only_run_folder(run):
    """A real read-only mount of the run folder (a private mount namespace: nothing outside sees it)."""
    if not _unshare_available():
        pytest.skip("needs `unshare -m` and mount (root in a container that allows it)")
    config_path, root = run
    script = (
        f'mount --bind "{root}" "{root}" && mount -o remount,bind,ro "{root}" && '
        f'! touch "{root}/probe" 2>/dev/null && '
        f'"{sys.executable}" -m docs2qa status -c "{config_path}" --run "{root}"'
    )
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "crawl     up to date" in done.stdout and "chunk     up to date" in done.stdout, done.stdout


def test_a_resumed_crawl_fetches_a_journaled_page_whose_body_is_damaged(tmp_path, monkeypatch, capsys):
    """A killed crawl's journal holds finished pages; a body damaged since must be read again,
    not stop every rerun with the same IntegrityError."""
    config_path = tmp_path / "crawl.yaml"
    config_path.write_text(yaml.safe_dump({"name": "j", "crawl": {"local_dir": str(FIXTURE_DOCS)}}))
    run = tmp_path / "run"
    options = ["-c", str(config_path), "--run", str(run)]
    from docs2qa.store import StageDir

    real_write = StageDir.write

    def killed(*args, **kwargs):  # every URL journaled, the stage's tables never written
        raise KeyboardInterrupt

    monkeypatch.setattr(StageDir, "write", killed)
    code, _out, err = call(monkeypatch, capsys, "crawl", *options)
    assert code == 130, err
    monkeypatch.setattr(StageDir, "write", real_write)
    store = RunStore(run)
    journaled = [json.loads(line) for line in (run / "crawl" / "_journal.jsonl").read_text().splitlines()]
    page = Page(**next(entry["page"] for entry in journaled if "page" in entry))
    flip_byte(store.blobs.path(page.body_sha256))
    code, _out, err = call(monkeypatch, capsys, "crawl", *options)
    assert code == 0, err
    assert store.blobs.get(page.body_sha256)  # stored whole again
    code, _out, err = call(monkeypatch, capsys, "convert", *options)
    assert code == 0, err


def test_a_full_disk_while_storing_a_page_stops_the_crawl_and_loses_no_page(tmp_path, monkeypatch, capsys):
    """ENOSPC is the machine's failure, not the page's: no page may be journaled as crawl_error
    (a resumed crawl would never fetch it again)."""
    from docs2qa import store as store_module

    config_path = tmp_path / "crawl.yaml"
    config_path.write_text(yaml.safe_dump({"name": "j", "crawl": {"local_dir": str(FIXTURE_DOCS)}}))
    run = tmp_path / "run"
    options = ["-c", str(config_path), "--run", str(run)]
    real = store_module.atomic_write_bytes

    def full_disk(path, data, *args, **kwargs):
        if "blobs" in path.parts:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data, *args, **kwargs)

    monkeypatch.setattr(store_module, "atomic_write_bytes", full_disk)
    code, _out, err = call(monkeypatch, capsys, "crawl", *options)
    assert_one_line(code, err, "No space left on device", f"rerun `docs2qa crawl {' '.join(options)}`")
    assert "crawl_error" not in (run / "crawl" / "_journal.jsonl").read_text()
    monkeypatch.setattr(store_module, "atomic_write_bytes", real)
    code, _out, err = call(monkeypatch, capsys, "crawl", *options)
    assert code == 0, err
    code, _out, err = call(monkeypatch, capsys, "crawl", "-c", str(config_path), "--run", str(tmp_path / "clean"))
    assert code == 0, err

    def urls(root: Path) -> list[str]:
        return sorted(p.url for p in RunStore(root).stage("crawl").read("pages", Page))

    assert urls(run) == urls(tmp_path / "clean")
