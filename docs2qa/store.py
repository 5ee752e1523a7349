"""The run store: one folder per run, one sub-folder per stage.

    RUN/config.yaml            resolved config (secrets never live in config)
    RUN/blobs/ab/abcdef...     raw page bodies, content-addressed, shared by re-crawls
    RUN/<stage>/<table>.parquet   stage outputs, plus `dropped.parquet` with reasons
    RUN/<stage>/manifest.json  hashes, counts, versions, wall time
    RUN/<stage>/_COMPLETE      written last: a stage without it is unfinished
    RUN/.lock                  held by the one process writing the run (docs2qa/run_lock.py)

A stage is fresh when it is complete and was made from the same config section and the
same input data (the output hashes of the stages it reads); `docs2qa run` skips fresh stages.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable

import yaml

from docs2qa.records import Dropped, arrow_schema, sha256_hex, to_rows, utc_now

COMPLETE_MARKER = "_COMPLETE"
MANIFEST = "manifest.json"
TRACKED_LIBRARIES = ("docs2qa", "httpx", "beautifulsoup4", "markdownify", "tokenizers", "pyarrow", "pydantic")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def drop_partial_last_line(path: Path) -> None:
    """Cut a JSONL file back to its last complete line.

    A kill mid-write leaves half a line at the end; the next append would be glued onto it
    and both records would be lost. Call this before appending to a journal.
    """
    try:
        with open(path, "r+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            handle.seek(0)
            data = handle.read()
            handle.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        return


def library_versions(names: Iterable[str] = TRACKED_LIBRARIES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


class BlobStore:
    """Raw bodies keyed by sha256, so convert can rerun without the network."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        target = self.path(digest)
        if not target.exists():
            atomic_write_bytes(target, data)
        return digest

    def get(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()


class StageDir:
    def __init__(self, root: Path, name: str):
        self.name = name
        self.path = root / name

    def table_path(self, table: str) -> Path:
        return self.path / f"{table}.parquet"

    def write(self, table: str, records: list, record_type: type) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow_table = pa.Table.from_pylist(to_rows(records), schema=arrow_schema(record_type))
        target = self.table_path(table)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        pq.write_table(arrow_table, tmp)
        os.replace(tmp, target)

    def read(self, table: str, record_type: type) -> list:
        import pyarrow.parquet as pq

        path = self.table_path(table)
        if not path.exists():
            return []
        return [record_type(**row) for row in pq.read_table(path).to_pylist()]

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def manifest(self) -> dict | None:
        if not self.manifest_path.exists():
            return None
        return json.loads(self.manifest_path.read_text())

    def output_hash(self) -> str:
        """Identity of what the stage produced: its tables' bytes, not its timestamps."""
        return (self.manifest() or {}).get("output_hash", "")

    def is_complete(self) -> bool:
        return (self.path / COMPLETE_MARKER).exists()

    def invalidate(self) -> None:
        (self.path / COMPLETE_MARKER).unlink(missing_ok=True)


@dataclass
class StageResult:
    """What a stage body returns; the runner turns it into files and a manifest."""

    tables: dict[str, tuple[list, type]]
    count_in: int
    dropped: list[Dropped] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    # What the stage produced outside its tables (a snapshot id, a dataset content id), so
    # that stages reading it see a change there as new input.
    identity: str = ""


class RunStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.blobs = BlobStore(self.root / "blobs")

    def stage(self, name: str) -> StageDir:
        return StageDir(self.root, name)

    def save_config(self, resolved: dict, config_hash: str) -> None:
        header = f"# Resolved config of this run (hash {config_hash}); written by docs2qa, do not edit.\n"
        atomic_write_bytes(self.root / "config.yaml", (header + yaml.safe_dump(resolved, sort_keys=False)).encode())

    def is_fresh(self, name: str, config_hash: str, inputs: list[str]) -> bool:
        stage = self.stage(name)
        manifest = stage.manifest()
        if not stage.is_complete() or manifest is None:
            return False
        expected = {i: self.stage(i).output_hash() for i in inputs}
        return manifest.get("config_hash") == config_hash and manifest.get("inputs") == expected

    def require_complete(self, name: str, needed_by: str) -> StageDir:
        from docs2qa.errors import Docs2qaError

        stage = self.stage(name)
        if not stage.is_complete():
            raise Docs2qaError(
                f"{needed_by} needs the '{name}' stage of run {self.root}, which has not finished",
                f"run `docs2qa {name}` (or `docs2qa run`) with the same --run/--config first",
            )
        return stage

    def run_stage(self, name: str, config_hash: str, inputs: list[str], body: Callable[[StageDir], StageResult]) -> dict:
        """Run `body`, then write its tables, the dropped table, the manifest and the marker.

        The marker goes last, so a run killed anywhere before it leaves an unfinished stage.
        The run folder's lock is held throughout: one writer per run.
        """
        from docs2qa import run_lock

        with run_lock.writing(self.root, name):
            return self._run_stage(name, config_hash, inputs, body)

    def _run_stage(self, name: str, config_hash: str, inputs: list[str], body: Callable[[StageDir], StageResult]) -> dict:
        stage = self.stage(name)
        stage.invalidate()
        stage.path.mkdir(parents=True, exist_ok=True)
        input_hashes = {i: self.require_complete(i, name).output_hash() for i in inputs}
        started, t0 = utc_now(), time.perf_counter()
        result = body(stage)
        for table, (records, record_type) in result.tables.items():
            stage.write(table, records, record_type)
        stage.write("dropped", result.dropped, Dropped)
        tables = sorted([*result.tables, "dropped"])
        output_hash = sha256_hex(b"".join(sha256_hex(stage.table_path(t).read_bytes()).encode() for t in tables)
                                 + result.identity.encode())
        manifest = {
            "stage": name,
            "config_hash": config_hash,
            "inputs": input_hashes,
            "output_hash": output_hash[:16],
            "counts": {
                "in": result.count_in,
                "out": {table: len(records) for table, (records, _) in result.tables.items()},
                "dropped": dict(Counter(d.reason for d in result.dropped).most_common()),
            },
            "started_at": started,
            "finished_at": utc_now(),
            "wall_s": round(time.perf_counter() - t0, 3),
            "libraries": library_versions(),
            **result.extra,
        }
        atomic_write_bytes(stage.manifest_path, json.dumps(manifest, indent=2).encode())
        atomic_write_bytes(stage.path / COMPLETE_MARKER, manifest["finished_at"].encode())
        return manifest
