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
from docs2qa.errors import Docs2qaError
from docs2qa.fsio import atomic_write_bytes
from docs2qa.records import utc_now

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
        meta = {"snapshot_id": sid, "pulled_at": utc_now(), **summary}
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
    return sorted(found, key=lambda p: (json.loads((p / META).read_text()).get("pulled_at", ""), p.name))


def latest_snapshot(run_dir) -> Path | None:
    """The snapshot of the most recent pull (the LATEST pointer, which follows a pull that
    found an older identical snapshot), else the newest by pulled_at; None if there is none."""
    root = snapshots_dir(run_dir)
    pointer = root / LATEST
    if pointer.is_file():
        candidate = root / pointer.read_text().strip()
        if (candidate / META).exists():
            return candidate
    found = list_snapshots(run_dir)
    return found[-1] if found else None


def read_snapshot(path) -> tuple[list[dict], dict]:
    """(rows, metadata) of one snapshot folder."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not (path / META).is_file() or not (path / RECORDS).is_file():
        raise Docs2qaError(
            f"{path} is not a curation snapshot (needs {RECORDS} and {META})", "run `docs2qa curate pull` to make one"
        )
    return pq.read_table(path / RECORDS).to_pylist(), json.loads((path / META).read_text())
