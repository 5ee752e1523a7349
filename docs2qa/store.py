"""The run store: one folder per run, one sub-folder per stage.

    RUN/config.yaml            resolved config (secrets never live in config)
    RUN/blobs/ab/abcdef...     raw page bodies, content-addressed, shared by re-crawls
    RUN/<stage>/<table>.parquet   stage outputs, plus `dropped.parquet` with reasons
    RUN/<stage>/manifest.json  hashes, counts, versions, wall time
    RUN/<stage>/_COMPLETE      written last: a stage without it is unfinished
    RUN/.lock                  held by the one process writing the run (docs2qa/run_lock.py)

A stage is fresh when it is complete and was made from the same config section, the same
input data (the output hashes of the stages it reads) and the same code (the stage's version:
a hash of its source modules and prompt templates); `docs2qa run` skips fresh stages.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from docs2qa.fsio import atomic_write_bytes, library_versions
from docs2qa.records import Dropped, arrow_schema, sha256_hex, to_rows, utc_now

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Record = TypeVar("Record")

log = logging.getLogger(__name__)

COMPLETE_MARKER = "_COMPLETE"
MANIFEST = "manifest.json"
TRACKED_LIBRARIES = ("docs2qa", "httpx", "beautifulsoup4", "markdownify", "tokenizers", "pyarrow", "pydantic")


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

    def write(self, table: str, records: Sequence[DataclassInstance], record_type: type) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow_table = pa.Table.from_pylist(to_rows(records), schema=arrow_schema(record_type))
        target = self.table_path(table)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        pq.write_table(arrow_table, tmp)
        os.replace(tmp, target)

    def read(self, table: str, record_type: type[Record]) -> list[Record]:
        import pyarrow.parquet as pq

        path = self.table_path(table)
        if not path.exists():
            return []
        return [record_type(**row) for row in pq.read_table(path).to_pylist()]

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def manifest(self) -> dict[str, Any] | None:
        """The manifest, or None when there is none or it cannot be read (then the stage counts as
        not run: a truncated file from a full disk or a hand edit must not crash `status` or `run`)."""
        try:
            manifest = json.loads(self.manifest_path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:  # ValueError: empty, invalid JSON or invalid UTF-8
            log.debug("%s is unreadable (%s): the stage counts as not run", self.manifest_path, exc)
            return None
        return manifest if isinstance(manifest, dict) else None

    def manifest_unreadable(self) -> bool:
        return self.manifest_path.exists() and self.manifest() is None

    def output_hash(self) -> str:
        """Identity of what the stage's dependents read: its tables' bytes, or the identity
        it declared for them (StageResult.identity)."""
        recorded: str = (self.manifest() or {}).get("output_hash", "")
        return recorded

    def is_complete(self) -> bool:
        return (self.path / COMPLETE_MARKER).exists()

    def invalidate(self) -> None:
        (self.path / COMPLETE_MARKER).unlink(missing_ok=True)


@dataclass
class StageResult:
    """What a stage body returns; the runner turns it into files and a manifest."""

    tables: dict[str, tuple[list[Any], type]]
    count_in: int
    dropped: list[Dropped] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # What dependents consume when it lies outside the tables (a snapshot id, a dataset content
    # id, an adapter's weights): when given, it alone is the output hash they compare. Export's
    # drop table can change (a reviewer's new note on a rejected pair, a leakage detail) while
    # it finds the same dataset version; that must not make finetune and eval stale.
    identity: str = ""


class RunStore:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.blobs = BlobStore(self.root / "blobs")

    def stage(self, name: str) -> StageDir:
        return StageDir(self.root, name)

    def save_config(self, resolved: dict[str, Any], config_hash: str) -> None:
        import yaml

        header = f"# Resolved config of this run (hash {config_hash}); written by docs2qa, do not edit.\n"
        atomic_write_bytes(self.root / "config.yaml", (header + yaml.safe_dump(resolved, sort_keys=False)).encode())

    def is_fresh(self, name: str, config_hash: str, inputs: list[str], version: str = "") -> bool:
        return not self.stale_reasons(name, config_hash, inputs, version)

    def stale_reasons(self, name: str, config_hash: str, inputs: list[str], version: str = "") -> list[str]:
        """Why the stage's output is not what this config, these inputs and this code would make;
        empty when it is up to date."""
        stage = self.stage(name)
        manifest = stage.manifest()
        if manifest is None:
            return ["manifest unreadable"] if stage.manifest_unreadable() else ["not run"]
        if not stage.is_complete():
            return ["unfinished"]
        reasons = []
        if manifest.get("config_hash") != config_hash:
            reasons.append("config")
        recorded = manifest.get("inputs") or {}
        changed = [i for i in inputs if recorded.get(i) != self.stage(i).output_hash()]
        if changed or set(recorded) != set(inputs):
            reasons.append("inputs (" + ", ".join(changed or sorted(set(recorded) ^ set(inputs))) + ")")
        if manifest.get("version", "") != version:
            reasons.append("code version")
        return reasons

    def require_complete(self, name: str, needed_by: str) -> StageDir:
        from docs2qa.errors import Docs2qaError

        stage = self.stage(name)
        if not stage.is_complete():
            raise Docs2qaError(
                f"{needed_by} needs the '{name}' stage of run {self.root}, which has not finished",
                f"run `docs2qa {name}` (or `docs2qa run`) with the same --run/--config first",
            )
        return stage

    def run_stage(
        self, name: str, config_hash: str, inputs: list[str], body: Callable[[StageDir], StageResult], version: str = ""
    ) -> dict[str, Any]:
        """Run `body`, then write its tables, the dropped table, the manifest and the marker.

        The marker goes last, so a run killed anywhere before it leaves an unfinished stage.
        The run folder's lock is held throughout: one writer per run.
        """
        from docs2qa import run_lock

        with run_lock.writing(self.root, name):
            return self._run_stage(name, config_hash, inputs, body, version)

    def _run_stage(
        self, name: str, config_hash: str, inputs: list[str], body: Callable[[StageDir], StageResult], version: str
    ) -> dict[str, Any]:
        stage = self.stage(name)
        stage.invalidate()
        stage.path.mkdir(parents=True, exist_ok=True)
        input_hashes = {i: self.require_complete(i, name).output_hash() for i in inputs}
        started, t0 = utc_now(), time.perf_counter()
        result = body(stage)
        for table, (records, record_type) in result.tables.items():
            stage.write(table, records, record_type)
        stage.write("dropped", result.dropped, Dropped)
        digests = {t: sha256_hex(stage.table_path(t).read_bytes()) for t in result.tables}
        digests["dropped"] = _drops_digest(result.dropped)
        tables_hash = sha256_hex(b"".join(digests[t].encode() for t in sorted(digests)))
        output_hash = sha256_hex(result.identity.encode()) if result.identity else tables_hash
        manifest: dict[str, Any] = {
            "stage": name,
            "config_hash": config_hash,
            "version": version,
            "inputs": input_hashes,
            "output_hash": output_hash[:16],  # what dependents compare
            "tables_hash": tables_hash[:16],
            "counts": {
                "in": result.count_in,
                "out": {table: len(records) for table, (records, _) in result.tables.items()},
                "dropped": dict(Counter(d.reason for d in result.dropped).most_common()),
            },
            "started_at": started,
            "finished_at": utc_now(),
            "wall_s": round(time.perf_counter() - t0, 3),
            "libraries": library_versions(TRACKED_LIBRARIES),
            **result.extra,
        }
        atomic_write_bytes(stage.manifest_path, json.dumps(manifest, indent=2).encode())
        atomic_write_bytes(stage.path / COMPLETE_MARKER, manifest["finished_at"].encode())
        return manifest


def _drops_digest(dropped: list[Dropped]) -> str:
    """What was dropped and why, without when: every row carries the time it was written, and a
    rerun that drops the same items for the same reasons must not make the stages after it stale."""
    rows = [(d.item_id, d.ref, d.reason, d.detail) for d in dropped]
    return sha256_hex(json.dumps(rows).encode())
