"""Immutable, content-addressed snapshots of curation decisions.

    RUN/curate/snapshots/<snapshot_id>/records.parquet   one row per pair (see SCHEMA)
    RUN/curate/snapshots/<snapshot_id>/snapshot.json     dataset, pulled_at, counts, agreement...
    RUN/curate/snapshots/LATEST                          id of the most recent pull (a pointer)

The id is a hash of the rows and the resolution settings, not of the time: pulling the same
responses again finds the existing folder and writes nothing. A snapshot folder is written
under a temporary name and renamed into place whole, then made read-only; it is never
modified afterwards. Export reads snapshots, never the live server.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from docs2qa.config import stable_hash
from docs2qa.errors import Docs2qaError, IntegrityError
from docs2qa.fsio import atomic_write_bytes
from docs2qa.records import sha256_hex, utc_now

SNAPSHOTS = Path("curate") / "snapshots"
LATEST = "LATEST"
RECORDS = "records.parquet"
META = "snapshot.json"
VOLATILE = ("pulled_at",)  # summary keys that do not identify the content


def _schema():
    import pyarrow as pa

    strings = pa.list_(pa.string())
    return pa.schema(
        [
            ("pair_id", pa.string()),
            ("status", pa.string()),
            ("label", pa.string()),
            ("curation", pa.string()),
            ("question", pa.string()),
            ("answer", pa.string()),
            ("original_question", pa.string()),
            ("original_answer", pa.string()),
            ("generator_answer", pa.string()),
            ("edited", pa.bool_()),
            ("reason", pa.string()),
            ("submitted", pa.int64()),
            ("annotators", strings),
            ("response_statuses", strings),
            ("labels", strings),
            ("ratings", pa.list_(pa.int64())),
            ("corrected_questions", strings),
            ("corrected_answers", strings),
            ("comments", strings),
            ("question_type", pa.string()),
            ("page_url", pa.string()),
            ("min_judge_score", pa.int64()),
        ]
    )


def snapshots_dir(run_dir) -> Path:
    return Path(run_dir) / SNAPSHOTS


def snapshot_id(rows: list[dict], summary: dict) -> str:
    identity = {k: v for k, v in summary.items() if k not in VOLATILE}
    return stable_hash({"rows": sorted(rows, key=lambda r: r["pair_id"]), "summary": identity})


def write_snapshot(run_dir, rows: list[dict], summary: dict) -> tuple[Path, bool]:
    """Write the snapshot unless one with the same content exists; returns (folder, created)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = sorted(rows, key=lambda r: r["pair_id"])
    sid = snapshot_id(rows, summary)
    root = snapshots_dir(run_dir)
    final = root / sid
    created = not (final / META).exists()
    if created:
        tmp = root / f".{sid}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=_schema()), tmp / RECORDS)
        # The records' hash, checked on every read: a snapshot is never rewritten, so any change is damage.
        meta = {"snapshot_id": sid, "pulled_at": utc_now(), "records_sha256": sha256_hex((tmp / RECORDS).read_bytes())}
        meta.update(summary)
        (tmp / META).write_text(json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False))
        for f in tmp.iterdir():
            f.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        try:
            os.rename(tmp, final)
        except OSError:
            # Another pull wrote the same content first: same id means same rows, keep theirs.
            shutil.rmtree(tmp, ignore_errors=True)
            created = False
    atomic_write_bytes(root / LATEST, sid.encode())
    return final, created


def list_snapshots(run_dir) -> list[Path]:
    """Complete snapshot folders, oldest pull first."""
    root = snapshots_dir(run_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / META).exists()]
    return sorted(found, key=lambda p: (str(_meta(p).get("pulled_at", "")), p.name))


def latest_snapshot(run_dir) -> Path | None:
    """The snapshot of the most recent pull (the LATEST pointer, which follows a pull that
    found an older identical snapshot), else the newest by pulled_at; None if there is none."""
    root = snapshots_dir(run_dir)
    pointer = root / LATEST
    if pointer.is_file():
        # A damaged pointer (not text, not a folder's name) is no pointer: the newest pull is found below.
        candidate = root / pointer.read_bytes().decode("utf-8", "replace").strip()
        if candidate.parent == root and (candidate / META).exists():
            return candidate
    found = list_snapshots(run_dir)
    return found[-1] if found else None


def read_snapshot(path) -> tuple[list[dict], dict]:
    """(rows, metadata) of one snapshot folder, checked: damage raises IntegrityError naming the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not (path / META).is_file() or not (path / RECORDS).is_file():
        raise Docs2qaError(
            f"{path} is not a curation snapshot (needs {RECORDS} and {META})", "run `docs2qa curate pull` to make one"
        )
    meta = _meta(path)
    data = (path / RECORDS).read_bytes()
    recorded = meta.get("records_sha256")  # absent from snapshots pulled before it was recorded
    if recorded is not None and sha256_hex(data) != recorded:
        raise _damaged(path / RECORDS, f"its bytes differ from the hash {META} recorded")
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # whatever the parser trips on, these bytes are not a table
        raise _damaged(path / RECORDS, f"not a readable Parquet table ({type(exc).__name__}: {exc})") from None
    if not table.schema.equals(_schema()):
        raise _damaged(path / RECORDS, "its columns are not a snapshot's")
    return table.to_pylist(), meta


def _meta(folder: Path) -> dict:
    path = folder / META
    try:
        meta = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: not JSON, not UTF-8
        raise _damaged(path, f"unreadable ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("snapshot_id"), str):
        raise _damaged(path, "not a snapshot summary (an object with its snapshot_id)")
    return meta


def _damaged(path: Path, problem: str) -> IntegrityError:
    return IntegrityError(
        f"the curation snapshot file {path} is damaged: {problem}",
        f"delete its folder (`rm -rf {path.parent}`) and run `docs2qa curate pull` again "
        "(the reviews are kept in Argilla)",
    )
