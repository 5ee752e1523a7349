"""The versioned dataset store: frozen, content-addressed dataset versions.

    <root>/<name>/index.json                  per version: content id, manifest sha256 (a seal), created
    <root>/<name>/.lock                       held by the one process writing to the dataset
    <root>/<name>/<version>/README.md         dataset card (Hugging Face YAML header + statistics)
    <root>/<name>/<version>/manifest.json     lineage, content id, export settings, file hashes, own seal
    <root>/<name>/<version>/report.html       the same numbers as plots, one self-contained file
    <root>/<name>/<version>/data/<split>.parquet              canonical rows (CANONICAL_COLUMNS)
    <root>/<name>/<version>/formats/<format>/<split>.parquet  the same rows per training format
    ...<split>.jsonl beside each .parquet                     the same rows as JSON Lines (LLaMA-Factory
                                                              and many trainers read JSONL only)

A version is written whole under `.tmp-*`, its files made read-only, and renamed to vN: that
rename is the commit, so a folder named vN is a version. Two seals guard it, so that no single
file can be edited or deleted unnoticed: the manifest holds the sha256 of every other file and
of itself (`seal`, over its other keys), and index.json records the manifest's sha256 and content
id. A version the index lacks is unsealed and fails verification; the next export seals again
each version whose files and manifest match that manifest's own seal (a kill between rename and
index, a deleted index.json), never one a person edited. It is never modified again (only the
record of hub pushes is appended to its manifest, which is sealed again). The content id hashes
the sorted rows with their splits and the export settings that shape the files, so exporting the
same content finds the existing version, verified first, instead of adding one. `verify_version`
recomputes everything: any changed byte is reported, and a damaged or unreadable file is a
problem listed, never a crash.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from docs2qa.config import stable_hash
from docs2qa.errors import Docs2qaError, IntegrityError
from docs2qa.fsio import atomic_write_bytes
from docs2qa.records import sha256_hex, utc_now

if TYPE_CHECKING:
    import pyarrow as pa

    from datasets import DatasetDict

SPLITS = ("train", "validation", "test")
INDEX = "index.json"
MANIFEST = "manifest.json"
CARD = "README.md"
REPORT = "report.html"
LOCK = ".lock"
_VERSION = re.compile(r"^v(\d+)$")


# The canonical row, declared once: column -> arrow type ("list" is a list of strings). The parquet
# schema, the content id and export's rows (curation/export.py canonical_row) all follow it.
_CANONICAL = {
    "pair_id": "string",
    "question": "string",
    "answer": "string",
    "context": "string",
    "question_type": "string",
    "page_id": "string",
    "url": "string",
    "anchor_url": "string",
    "title": "string",
    "heading_path": "list",
    "chunk_id": "string",
    "fact_id": "string",
    "generator_model": "string",
    "min_judge_score": "int64",
    "curation": "string",
}
CANONICAL_COLUMNS = tuple(_CANONICAL)


Row = dict[str, Any]  # one row of a split file: the canonical columns, or a format's
Manifest = dict[str, Any]  # manifest.json: lineage, counts, export settings, stats, file hashes


class SplitSize(TypedDict):
    """One split file's sizes, as the card's `dataset_info` declares them."""

    num_examples: int
    num_bytes: int  # the rows in memory (Arrow), what `datasets` calls num_bytes
    parquet_bytes: int  # the Parquet file on disk, what a download costs


def canonical_schema() -> pa.Schema:
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "list": pa.list_(pa.string())}
    return pa.schema([(name, types[kind]) for name, kind in _CANONICAL.items()])


def compute_content_id(splits: dict[str, list[Row]], export: dict[str, Any]) -> str:
    rows = sorted(
        (
            {**{c: row[c] for c in CANONICAL_COLUMNS}, "split": split}
            for split, split_rows in splits.items()
            for row in split_rows
        ),
        key=lambda r: r["pair_id"],
    )
    # `export` holds the settings that shape the files, never where they are written.
    return stable_hash({"rows": rows, "export": export})


def split_file(path: str | Path, split: str, fmt: str = "data", suffix: str = ".parquet") -> Path:
    """Where a split of format `fmt` ("data": the canonical rows) lies; `suffix` ".jsonl" for its JSONL twin."""
    folder = Path(path) / "data" if fmt == "data" else Path(path) / "formats" / fmt
    return folder / f"{split}{suffix}"


_REQUIRED = {
    "name": str,
    "version": str,
    "content_id": str,
    "created_at": str,
    "counts": dict,
    "export": dict,
    "files": dict,
}
_INDEX_KEYS = ("version", "content_id", "manifest_sha256")
SEAL = "seal"  # the manifest key holding its own seal
_UNSEALED = "not sealed: "


def _broken_hint(path: Path) -> str:
    return (
        f"restore the folder from a copy (or the hub), or delete {path} and run `docs2qa export` again; "
        "`docs2qa datasets verify` checks the others"
    )


def _read_json(file: Path, what: str, expected: type, hint: str) -> Any:
    """The JSON value of `file`, or a Docs2qaError saying what is wrong with it."""
    try:
        value = json.loads(file.read_bytes().decode("utf-8"))
    except RecursionError as exc:  # json parses nested arrays and objects by recursion
        raise IntegrityError(f"{what} {file} is unreadable (JSON nested too deeply)", hint) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise IntegrityError(f"{what} {file} is unreadable ({type(exc).__name__}: {exc})", hint) from exc
    if not isinstance(value, expected):
        raise IntegrityError(
            f"{what} {file} holds a JSON {type(value).__name__}, not a JSON {'object' if expected is dict else 'list'}",
            hint,
        )
    return value


def read_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    file = path / MANIFEST
    if not file.is_file():
        if _VERSION.match(path.name) and path.is_dir():
            raise IntegrityError(f"dataset version {path} is broken: {MANIFEST} is missing", _broken_hint(path))
        raise Docs2qaError(
            f"{path} is not a dataset version (no {MANIFEST})",
            "pass name/version, a dataset name, or a version folder; `docs2qa datasets list` shows them",
        )
    manifest: Manifest = _read_json(file, "the manifest", dict, _broken_hint(path))
    wrong = [k for k, kind in _REQUIRED.items() if not isinstance(manifest.get(k), kind)]
    if wrong:
        raise IntegrityError(f"the manifest {file} lacks or mistypes {', '.join(wrong)}", _broken_hint(path))
    return manifest


def read_index(dataset_dir: Path) -> list[dict[str, str]]:
    """The index of a dataset: a seal (manifest sha256) per committed version. The version
    folders are the truth; a version committed without its entry gets one when export finds it."""
    file = dataset_dir / INDEX
    if not file.is_file():
        return []
    hint = f"move {file} aside and rerun `docs2qa export`: it records each version again as it finds and verifies it"
    entries: list[dict[str, str]] = _read_json(file, "the dataset index", list, hint)
    if not all(isinstance(e, dict) and all(isinstance(e.get(k), str) for k in _INDEX_KEYS) for e in entries):
        raise IntegrityError(f"the dataset index {file} has entries without {', '.join(_INDEX_KEYS)}", hint)
    return entries


def _write_index(dataset_dir: Path, entries: list[dict[str, str]]) -> None:
    atomic_write_bytes(
        dataset_dir / INDEX,
        (json.dumps(entries, indent=2) + "\n").encode(),
        tmp=dataset_dir / f".tmp-index-{os.getpid()}",
    )  # `.tmp-*`: swept after a kill


def version_number(version: str) -> int:
    match = _VERSION.match(version)
    return int(match.group(1)) if match else -1


def list_versions(root: str | Path = "datasets") -> list[Path]:
    """Every committed version folder under root (broken ones too), by dataset name then number.
    The rename of a finished folder to vN is the commit: a folder named vN is a version."""
    root = Path(root)
    if not root.is_dir():
        return []
    return [v for d in sorted(root.iterdir()) if d.is_dir() for v in _version_dirs(d)]


def _version_dirs(dataset_dir: Path) -> list[Path]:
    found = [v for v in dataset_dir.iterdir() if v.is_dir() and _VERSION.match(v.name)] if dataset_dir.is_dir() else []
    return sorted(found, key=lambda v: version_number(v.name))


def resolve_version(ref: str, root: str | Path = "datasets") -> Path:
    """`name/version`, `name` (its newest version) or the path of a version folder."""
    as_path = Path(ref)
    if (as_path / MANIFEST).is_file() or (as_path.is_dir() and _VERSION.match(as_path.name)):
        return as_path
    name, _, version = ref.strip("/").partition("/")
    candidates = [v for v in list_versions(root) if v.parent.name == name]
    if version:
        candidates = [v for v in candidates if v.name == version]
    if not candidates:
        known = ", ".join(f"{v.parent.name}/{v.name}" for v in list_versions(root)) or "none"
        raise Docs2qaError(
            f"no dataset version {ref!r} under {root} (known: {known})",
            "export one with `docs2qa export`, or pass the path of a version folder",
        )
    return candidates[-1]


def _file_hashes(path: Path) -> dict[str, str]:
    return {
        str(f.relative_to(path)): sha256_hex(f.read_bytes())
        for f in sorted(path.rglob("*"))
        if f.is_file() and f.name != MANIFEST
    }


def read_split_rows(path: str | Path, split: str, fmt: str = "data") -> list[Row]:
    import pyarrow.parquet as pq

    rows: list[Row] = pq.read_table(split_file(path, split, fmt)).to_pylist()
    return rows


def manifest_seal(manifest: Manifest) -> str:
    """The manifest's own seal: the sha256 of all its other keys, so that an edit shows even
    where index.json is gone (a person editing by hand does not recompute it)."""
    rest = {k: v for k, v in manifest.items() if k != SEAL}
    try:
        return sha256_hex(json.dumps(rest, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
    except RecursionError:  # nested too deeply to be anything export wrote
        return ""


def _file_problems(path: Path, manifest: Manifest) -> list[str]:
    """The files against the manifest's hashes, and the data against its content id."""
    recorded, actual = manifest["files"], _file_hashes(path)
    problems = [f"{f}: changed" for f in recorded if f in actual and actual[f] != recorded[f]]
    problems += [f"{f}: missing" for f in recorded if f not in actual]
    problems += [f"{f}: not part of the version" for f in actual if f not in recorded]
    if not problems:
        splits = {s: read_split_rows(path, s) for s in manifest["counts"]}
        if compute_content_id(splits, manifest["export"]) != manifest["content_id"]:
            problems.append(f"{MANIFEST}: content id does not match the data")
    return problems


def _own_seal_problems(manifest: Manifest) -> list[str]:
    # A manifest without a seal was written before manifests sealed themselves: the index alone seals it.
    if SEAL in manifest and manifest[SEAL] != manifest_seal(manifest):
        return [f"{MANIFEST}: edited after export (its {SEAL} does not match its content)"]
    return []


def seal_problems(path: Path, manifest: Manifest, entries: list[dict[str, str]] | None) -> list[str]:
    """What contradicts the version's seals, without reading its data: the manifest's own seal and,
    unless `entries` is None (no readable index.json, reported on its own), the index entry."""
    problems = _own_seal_problems(manifest)
    if entries is None:
        return problems
    entry = next((e for e in entries if e["version"] == path.name), None)
    if entry is None:
        return [*problems, f"{_UNSEALED}{INDEX} has no entry for {path.name}"]
    expected = _index_entry(path.name, manifest, (path / MANIFEST).read_bytes())
    differ = sorted(k for k in {*entry, *expected} if entry.get(k) != expected.get(k))
    if differ:
        problems.append(f"{MANIFEST} and its entry in {INDEX} differ in {', '.join(differ)}: one changed after export")
    return problems


def version_problems(path: str | Path) -> list[str]:
    """Everything that differs from what was written: empty when the version is intact and sealed."""
    path = Path(path)
    try:
        manifest = read_manifest(path)
    except Docs2qaError as exc:
        return [exc.message]
    problems = _file_problems(path, manifest)
    index = path.parent / INDEX
    if not index.is_file():
        return [*problems, *_own_seal_problems(manifest), f"{_UNSEALED}{index} is missing"]
    try:
        entries = read_index(path.parent)
    except Docs2qaError as exc:
        return [*problems, *_own_seal_problems(manifest), exc.message]
    return problems + seal_problems(path, manifest, entries)


def verify_version(path: str | Path) -> None:
    """Raise, listing every problem, if any byte of the version differs from what was written."""
    problems = version_problems(path)
    if problems:
        hint = "a version is never edited after export: " + _broken_hint(Path(path))
        if all(p.startswith(_UNSEALED) for p in problems):
            hint = (
                "if nobody edited the folder, rerun `docs2qa export`: it seals again each version whose files "
                f"and manifest match the manifest's own {SEAL}; else " + _broken_hint(Path(path))
            )
        raise IntegrityError(f"dataset version {path} failed verification:\n  " + "\n  ".join(problems), hint)


def _reseal(dataset_dir: Path) -> None:
    """Enter in the index each version it lacks (an export killed after its commit, a deleted or
    moved-aside index.json) whose files match its manifest and whose manifest matches its own
    seal; a manifest without that seal, or one a person edited, stays unsealed."""
    entries = read_index(dataset_dir)
    indexed = {e["version"] for e in entries}
    found = []
    for path in _version_dirs(dataset_dir):
        if path.name in indexed:
            continue
        try:
            manifest = read_manifest(path)
        except Docs2qaError:
            continue  # verify and list name what is wrong with it
        if SEAL in manifest and not _own_seal_problems(manifest) and not _file_problems(path, manifest):
            found.append(_index_entry(path.name, manifest, (path / MANIFEST).read_bytes()))
    if found:
        _write_index(dataset_dir, sorted([*entries, *found], key=lambda e: version_number(e["version"])))


def find_content(dataset_dir: Path, content: str) -> Path | None:
    """The intact, sealed version holding `content`; an error if that version is damaged, since
    reusing it would publish or train on bytes nobody exported."""
    entries = read_index(dataset_dir)
    indexed = {e["version"] for e in entries if e["content_id"] == content}
    for path in _version_dirs(dataset_dir):
        try:
            same = read_manifest(path)["content_id"] == content
        except Docs2qaError:
            same = False  # an unreadable manifest names no content; the index may still
        if not same and path.name not in indexed:
            continue
        problems = version_problems(path)
        if problems:
            raise Docs2qaError(
                f"dataset version {path} holds the same content as this export but is damaged:\n  "
                + "\n  ".join(problems),
                f"delete {path} (or restore it from a copy) and run `docs2qa export` again",
            )
        return path
    return None


def _index_entry(version: str, manifest: Manifest, blob: bytes) -> dict[str, str]:
    return {
        "version": version,
        "content_id": manifest["content_id"],
        "manifest_sha256": sha256_hex(blob),
        "created_at": manifest["created_at"],
    }


@contextmanager
def _dataset_lock(dataset_dir: Path) -> Iterator[None]:
    """One writer per dataset at a time (an OS lock a killed process releases): numbering,
    temporary folders and the index change only under it."""
    import fcntl

    dataset_dir.mkdir(parents=True, exist_ok=True)
    with open(dataset_dir / LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_leftovers(dataset_dir: Path) -> None:
    # Only a lock holder writes `.tmp-*`: under the lock, any that exists is from a killed export.
    for tmp in dataset_dir.glob(".tmp-*"):
        shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()


def _write_split(rows: list[Row], schema: pa.Schema, target: Path) -> SplitSize:
    """The split as Parquet and, beside it, the same rows as JSONL; its sizes for the card."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, target)
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in table.to_pylist())
    target.with_suffix(".jsonl").write_text(lines, encoding="utf-8")
    return {"num_examples": table.num_rows, "num_bytes": table.nbytes, "parquet_bytes": target.stat().st_size}


def write_version(
    root: str | Path,
    name: str,
    splits: dict[str, list[Row]],
    export: dict[str, Any],
    lineage: dict[str, Any],
    extra_stats: dict[str, Any] | None = None,
) -> Path:
    """Write a complete version (data, every format, card, report, manifest) unless one with
    the same content exists (verified first); return its folder. `export` holds at least
    system_prompt and include_context; `extra_stats` adds the counts only the exporter knows
    (see stats.compute)."""
    from docs2qa.datastore import card, formats, report, stats

    dataset_dir = Path(root) / name
    export = {"formats": list(formats.FORMATS), **export}
    content = compute_content_id(splits, export)
    with _dataset_lock(dataset_dir):
        _remove_leftovers(dataset_dir)
        _reseal(dataset_dir)
        existing = find_content(dataset_dir, content)
        if existing is not None:
            return existing
        tmp = dataset_dir / f".tmp-{content}-{os.getpid()}"
        sizes: dict[str, dict[str, SplitSize]] = {"data": {}, **{fmt: {} for fmt in export["formats"]}}
        for split, rows in splits.items():
            sizes["data"][split] = _write_split(rows, canonical_schema(), split_file(tmp, split))
            for fmt in export["formats"]:
                shaped = [
                    formats.format_row(r, fmt, export.get("system_prompt"), export["include_context"]) for r in rows
                ]
                sizes[fmt][split] = _write_split(shaped, formats.arrow_schema(fmt), split_file(tmp, split, fmt))
        numbers = stats.compute(splits, extra_stats or {})
        manifest = {
            "name": name,
            "version": "",
            "content_id": content,
            "created_at": utc_now(),
            "counts": {s: len(r) for s, r in splits.items()},
            "export": export,
            "stats": numbers,
            **lineage,
        }
        where = _usage_path(Path(root) / name)
        return _commit(
            dataset_dir,
            tmp,
            manifest,
            lambda m: (card.render(m, numbers, sizes, where), report.render(m, numbers, splits)),
        )


def _usage_path(dataset_dir: Path) -> str:
    """The dataset's folder as the card's usage snippet names it: valid from the folder export ran
    in when the store lies inside it (the usual `datasets/`), else the dataset's name alone, to be
    read from the store's root; an absolute path would publish a home or temp folder."""
    if not dataset_dir.is_absolute():
        return dataset_dir.as_posix()
    try:
        return dataset_dir.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return dataset_dir.name


def _commit(dataset_dir: Path, tmp: Path, manifest: Manifest, render: Callable[[Manifest], tuple[str, str]]) -> Path:
    """Number the version, finish it in `tmp` (card, report, manifest, read-only files) and
    rename it into place: the rename is the commit. The index entry that follows is a seal;
    a kill before it leaves a whole version that `_reseal` seals on the next export."""
    entries = read_index(dataset_dir)
    taken = [version_number(e["version"]) for e in entries] + [
        version_number(p.name) for p in _version_dirs(dataset_dir)
    ]
    manifest["version"] = f"v{max(taken, default=0) + 1}"
    card_text, report_html = render(manifest)
    (tmp / CARD).write_text(card_text)
    (tmp / REPORT).write_text(report_html)
    manifest["files"] = _file_hashes(tmp)
    manifest[SEAL] = manifest_seal(manifest)
    blob = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    (tmp / MANIFEST).write_bytes(blob)
    _make_read_only(tmp)
    final = dataset_dir / str(manifest["version"])
    os.rename(tmp, final)
    _write_index(dataset_dir, [*entries, _index_entry(final.name, manifest, blob)])
    return final


def _make_read_only(path: Path) -> None:
    # Files only: the folders stay writable so that a person can still delete a version.
    for f in path.rglob("*"):
        if f.is_file():
            f.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def record_hub_push(path: Path, push: dict[str, Any]) -> None:
    """Append a hub push (repo, commit, tag) to the manifest and re-seal it in the index:
    the one change a version ever gets, and it touches no data."""
    with _dataset_lock(path.parent):
        manifest = read_manifest(path)
        manifest["hub"] = [*manifest.get("hub", []), push]
        manifest[SEAL] = manifest_seal(manifest)
        blob = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
        # Written beside the dataset (`.tmp-*`, swept after a kill) and renamed in, read-only.
        atomic_write_bytes(
            path / MANIFEST,
            blob,
            mode=stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH,
            tmp=path.parent / f".tmp-manifest-{os.getpid()}",
        )
        sealed = _index_entry(path.name, manifest, blob)
        entries = [e for e in read_index(path.parent) if e["version"] != path.name]
        _write_index(path.parent, sorted([*entries, sealed], key=lambda e: version_number(e["version"])))


def load(ref: str, fmt: str = "data", root: str | Path = "datasets") -> DatasetDict:
    """A version as a `datasets.DatasetDict` (verified first): `load("demo/v1", "messages")`."""
    from datasets import load_dataset

    path = resolve_version(ref, root)
    verify_version(path)
    counts = read_manifest(path)["counts"]
    files = {s: str(split_file(path, s, fmt)) for s, n in counts.items() if n}
    loaded: DatasetDict = load_dataset("parquet", data_files=files)
    return loaded
