"""The run store: one folder per run, one sub-folder per stage.

    RUN/config.yaml            resolved config (secrets never live in config)
    RUN/blobs/ab/abcdef...     raw page bodies, content-addressed, shared by re-crawls
    RUN/<stage>/<table>.parquet   stage outputs, plus `dropped.parquet` with reasons
    RUN/<stage>/manifest.json  hashes (one per table file, checked on every read), counts, versions, wall time
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

from docs2qa.errors import IntegrityError
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
    """Raw bodies keyed by sha256, so convert can rerun without the network.

    A blob is checked against its name whenever it is read or met again: a damaged one is
    never read into a document, and the next crawl that fetches the same body replaces it."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        target = self.path(digest)
        if not self.has(digest):
            if target.exists():
                log.warning("page body %s was damaged: replaced with the bytes fetched now", target)
            atomic_write_bytes(target, data)
        return digest

    def get(self, digest: str) -> bytes:
        path = self.path(digest)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise self._damaged(path, "is missing") from None
        if sha256_hex(data) != digest:
            raise self._damaged(path, "is damaged: its bytes no longer match the hash that names it")
        return data

    def has(self, digest: str) -> bool:
        """Whether an intact copy is stored (a damaged one counts as none, so it is fetched again)."""
        try:
            return sha256_hex(self.path(digest).read_bytes()) == digest
        except OSError:
            return False

    @staticmethod
    def _damaged(path: Path, what: str) -> IntegrityError:
        return IntegrityError(
            f"the stored page body {path} {what}",
            f"rerun `{_rerun_command('crawl')}` (it fetches such pages again), then this command",
        )


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
        try:
            pq.write_table(arrow_table, tmp)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            # pyarrow's error (a full disk) names no file; the CLI's one line names this one.
            raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from exc
        os.replace(tmp, target)

    def read(self, table: str, record_type: type[Record]) -> list[Record]:
        """The table's records, checked against the hash the stage's manifest recorded for it
        (when the stage is complete) and against the record type: damage raises IntegrityError
        naming the file and the command that writes it again, never a parser's traceback."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.table_path(table)
        expected = self._recorded_tables().get(table)
        if expected is None and not path.exists():
            return []  # a table this stage never wrote
        data, problem = self._table_bytes(table, expected)
        if problem:
            raise self._damaged(path, problem)
        assert data is not None
        try:
            arrow_table = pq.read_table(pa.BufferReader(data))
        except Exception as exc:  # whatever the parser trips on, these bytes are not a table
            raise self._damaged(path, f"not a readable Parquet table ({type(exc).__name__}: {exc})") from None
        mismatch = _schema_mismatch(arrow_table.schema, record_type)
        if mismatch:
            raise self._damaged(path, f"not a table of {record_type.__name__} records ({mismatch})")
        return [record_type(**row) for row in arrow_table.to_pylist()]

    def damage(self) -> str | None:
        """What is wrong with the tables a complete stage's manifest lists ("pages.parquet:
        missing"), or None when each is there with the bytes it recorded."""
        for table, digest in self._recorded_tables().items():
            _data, problem = self._table_bytes(table, digest)
            if problem:
                return f"{self.table_path(table).name}: {problem}"
        return None

    def _recorded_tables(self) -> dict[str, str]:
        """table -> sha256 the manifest recorded; only a complete stage's manifest describes the
        files (an interrupted rerun may have replaced some since). Empty for older manifests."""
        if not self.is_complete():
            return {}
        manifest, problem = self._load_manifest()
        if problem:  # the stage finished, but what it recorded about its files is lost
            raise self._damaged(self.manifest_path, problem)
        tables: dict[str, str] = (manifest or {}).get("tables", {})
        return tables

    def _table_bytes(self, table: str, expected: str | None) -> tuple[bytes | None, str | None]:
        path = self.table_path(table)
        if path.is_dir():
            return None, "a folder, not a table file"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None, "missing (the stage's manifest lists it)"
        except OSError as exc:
            return None, f"unreadable ({exc.strerror or exc})"
        if expected is not None and sha256_hex(data) != expected:
            return None, "its bytes differ from the hash the stage's manifest recorded"
        return data, None

    def _damaged(self, path: Path, problem: str) -> IntegrityError:
        return IntegrityError(
            f"{path} is damaged: {problem}", f"rerun `{_rerun_command(self.name)}`, then this command"
        )

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def manifest(self) -> dict[str, Any] | None:
        """The manifest, or None when there is none or it cannot be read (then the stage counts as
        not run: a truncated file from a full disk or a hand edit must not crash `status` or `run`)."""
        manifest, problem = self._load_manifest()
        if problem:
            log.debug("%s is unreadable (%s): the stage counts as not run", self.manifest_path, problem)
        return manifest

    def _load_manifest(self) -> tuple[dict[str, Any] | None, str]:
        """(the manifest, "") or (None, what is wrong with it); (None, "") when there is none."""
        try:
            manifest = json.loads(self.manifest_path.read_bytes())
        except FileNotFoundError:
            return None, ""
        except (OSError, ValueError, RecursionError) as exc:  # ValueError: empty, invalid JSON or UTF-8
            return None, f"{type(exc).__name__}: {exc}"
        problem = _malformed(manifest)
        return (None, problem) if problem else (manifest, "")

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
        damage = stage.damage()
        if damage:
            return [f"damaged ({damage})"]
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
                f"run `{_rerun_command(name)}` first (or `docs2qa run` with the same options)",
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
        files = {t: sha256_hex(stage.table_path(t).read_bytes()) for t in [*result.tables, "dropped"]}
        digests = {t: files[t] for t in result.tables}
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
            "tables": files,  # each table file's sha256, checked whenever it is read
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


def _rerun_command(stage: str) -> str:
    """`docs2qa <the stage's command>` with the -c/--set/--run of the command running now."""
    from docs2qa.pipeline import stage_named
    from docs2qa.recap import next_command

    try:
        words = (stage_named(stage).command or stage).split()
    except KeyError:
        words = [stage]
    return next_command(*words)


def _schema_mismatch(schema: Any, record_type: type) -> str:
    """What keeps a table's columns from being `record_type` records; "" when nothing does.
    Columns a record type gained since (with a default) may be absent."""
    import dataclasses

    expected = arrow_schema(record_type)
    problems = []
    for column in schema:
        if column.name not in expected.names:
            problems.append(f"unexpected column {column.name!r}")
        elif column.type != expected.field(column.name).type:
            problems.append(f"column {column.name!r} is {column.type}, not {expected.field(column.name).type}")
    required = [
        f.name
        for f in dataclasses.fields(record_type)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    problems += [f"no column {name!r}" for name in required if name not in schema.names]
    return "; ".join(problems)


def _malformed(manifest: Any) -> str:
    """What in a manifest's shape status, run and the readers could not use; "" when nothing.
    A hand edit or a damaged disk must make the stage read as damaged, not crash them."""

    def mapping(value: Any, kind: type | tuple[type, ...]) -> bool:
        return isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, kind) and not isinstance(v, bool) for k, v in value.items()
        )

    if not isinstance(manifest, dict):
        return f"a {type(manifest).__name__}, not an object"
    counts = manifest.get("counts")
    if not (
        isinstance(counts, dict)
        and isinstance(counts.get("in"), int)
        and mapping(counts.get("out"), int)
        and mapping(counts.get("dropped"), int)
    ):
        return "counts is not {in: int, out: {table: int}, dropped: {reason: int}}"
    for key in ("config_hash", "finished_at"):
        if not isinstance(manifest.get(key), str):
            return f"{key} is not a string"
    if not isinstance(manifest.get("wall_s"), int | float):
        return "wall_s is not a number"
    for key in ("stage", "version", "output_hash", "tables_hash"):
        if not isinstance(manifest.get(key, ""), str):
            return f"{key} is not a string"
    if not isinstance(manifest.get("wall_s_earlier_runs", 0), int | float):
        return "wall_s_earlier_runs is not a number"
    for key in ("inputs", "tables"):
        if not mapping(manifest.get(key, {}), str):
            return f"{key} is not an object of strings"
    return ""
