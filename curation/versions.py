"""The versioned dataset store: frozen, content-addressed dataset versions.

    <root>/<name>/index.json                  every version: content id, manifest sha256, created
    <root>/<name>/<version>/README.md         dataset card (Hugging Face YAML header + statistics)
    <root>/<name>/<version>/manifest.json     lineage, content id, export settings, file hashes
    <root>/<name>/<version>/report.html       the same numbers as plots, one self-contained file
    <root>/<name>/<version>/data/<split>.parquet              canonical rows (CANONICAL_COLUMNS)
    <root>/<name>/<version>/formats/<format>/<split>.parquet  the same rows per training format

A version is written under a temporary name and renamed into place whole, its files are made
read-only, and it is never modified again (only the record of hub pushes is appended to its
manifest). The content id hashes the sorted rows with their splits and the export settings that
shape the files, so exporting the same content finds the existing version instead of adding one.
`verify_version` recomputes everything: any changed byte is reported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

from docs2qa.config import stable_hash
from docs2qa.errors import Docs2qaError
from docs2qa.records import sha256_hex, utc_now

SPLITS = ("train", "validation", "test")
INDEX = "index.json"
MANIFEST = "manifest.json"
CARD = "README.md"
REPORT = "report.html"
_VERSION = re.compile(r"^v(\d+)$")


def canonical_schema():
    import pyarrow as pa

    return pa.schema([
        ("pair_id", pa.string()), ("question", pa.string()), ("answer", pa.string()), ("context", pa.string()),
        ("question_type", pa.string()), ("page_id", pa.string()), ("url", pa.string()),
        ("anchor_url", pa.string()), ("title", pa.string()), ("heading_path", pa.list_(pa.string())),
        ("chunk_id", pa.string()), ("generator_model", pa.string()), ("min_judge_score", pa.int64()),
        ("curation", pa.string()),
    ])


CANONICAL_COLUMNS = ("pair_id", "question", "answer", "context", "question_type", "page_id", "url", "anchor_url",
                     "title", "heading_path", "chunk_id", "generator_model", "min_judge_score", "curation")
def compute_content_id(splits: dict[str, list[dict]], export: dict) -> str:
    rows = sorted(({**{c: row[c] for c in CANONICAL_COLUMNS}, "split": split}
                   for split, split_rows in splits.items() for row in split_rows), key=lambda r: r["pair_id"])
    # `export` holds the settings that shape the files, never where they are written.
    return stable_hash({"rows": rows, "export": export})


def split_file(path, split: str, fmt: str = "data") -> Path:
    path = Path(path)
    return path / "data" / f"{split}.parquet" if fmt == "data" else path / "formats" / fmt / f"{split}.parquet"


def read_manifest(path) -> dict:
    file = Path(path) / MANIFEST
    if not file.is_file():
        raise Docs2qaError(f"{path} is not a dataset version (no {MANIFEST})",
                           "pass name/version, a dataset name, or a version folder; `docs2qa datasets list` shows them")
    return json.loads(file.read_text())


def read_index(dataset_dir: Path) -> list[dict]:
    file = dataset_dir / INDEX
    return json.loads(file.read_text()) if file.is_file() else []


def _write_index(dataset_dir: Path, entries: list[dict]) -> None:
    from docs2qa.store import atomic_write_bytes

    atomic_write_bytes(dataset_dir / INDEX, (json.dumps(entries, indent=2) + "\n").encode())


def version_number(version: str) -> int:
    match = _VERSION.match(version)
    return int(match.group(1)) if match else -1


def list_versions(root: str | Path = "datasets") -> list[Path]:
    """Every complete version under root, by dataset name then version number."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [v for d in sorted(root.iterdir()) if d.is_dir() for v in d.iterdir()
             if v.is_dir() and _VERSION.match(v.name) and (v / MANIFEST).is_file()]
    return sorted(found, key=lambda v: (v.parent.name, version_number(v.name)))


def resolve_version(ref: str, root: str | Path = "datasets") -> Path:
    """`name/version`, `name` (its newest version) or the path of a version folder."""
    as_path = Path(ref)
    if (as_path / MANIFEST).is_file():
        return as_path
    name, _, version = ref.strip("/").partition("/")
    candidates = [v for v in list_versions(root) if v.parent.name == name]
    if version:
        candidates = [v for v in candidates if v.name == version]
    if not candidates:
        known = ", ".join(f"{v.parent.name}/{v.name}" for v in list_versions(root)) or "none"
        raise Docs2qaError(f"no dataset version {ref!r} under {root} (known: {known})",
                           "export one with `docs2qa export`, or pass the path of a version folder")
    return candidates[-1]


def _file_hashes(path: Path) -> dict[str, str]:
    return {str(f.relative_to(path)): sha256_hex(f.read_bytes())
            for f in sorted(path.rglob("*")) if f.is_file() and f.name != MANIFEST}


def read_split_rows(path, split: str, fmt: str = "data") -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(split_file(path, split, fmt)).to_pylist()


def verify_version(path) -> None:
    """Raise, listing every problem, if any byte of the version differs from what was written."""
    path = Path(path)
    manifest = read_manifest(path)
    problems = []
    recorded, actual = manifest.get("files", {}), _file_hashes(path)
    problems += [f"{f}: changed" for f in recorded if f in actual and actual[f] != recorded[f]]
    problems += [f"{f}: missing" for f in recorded if f not in actual]
    problems += [f"{f}: not part of the version" for f in actual if f not in recorded]
    if not problems:
        splits = {s: read_split_rows(path, s) for s in manifest["counts"]}
        if compute_content_id(splits, manifest["export"]) != manifest["content_id"]:
            problems.append("manifest.json: content id does not match the data")
    entry = next((e for e in read_index(path.parent) if e["version"] == path.name), None)
    if entry is not None:
        if entry["content_id"] != manifest["content_id"]:
            problems.append(f"manifest.json: content id differs from {INDEX}")
        if entry["manifest_sha256"] != sha256_hex((path / MANIFEST).read_bytes()):
            problems.append(f"manifest.json: changed since it was written (see {INDEX})")
    if problems:
        raise Docs2qaError(f"dataset version {path} failed verification:\n  " + "\n  ".join(problems),
                           "this version was modified after export; export a new version instead of editing one")


def find_content(dataset_dir: Path, content: str) -> Path | None:
    for entry in read_index(dataset_dir):
        if entry["content_id"] == content and (dataset_dir / entry["version"] / MANIFEST).is_file():
            return dataset_dir / entry["version"]
    return None


def _write_table(rows: list[dict], schema, target: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), target)


def write_version(root, name: str, splits: dict[str, list[dict]], export: dict, lineage: dict,
                  extra_stats: dict | None = None) -> Path:
    """Write a complete version (data, every format, card, report, manifest) unless one with
    the same content exists; return its folder. `export` holds at least system_prompt and
    include_context; `extra_stats` adds the counts only the exporter knows (curation outcomes,
    rejection reasons, leakage removed)."""
    from docs2qa.curation import card, formats, report, stats

    dataset_dir = Path(root) / name
    export = {"formats": list(formats.FORMATS), **export}
    content = compute_content_id(splits, export)
    existing = find_content(dataset_dir, content)
    if existing is not None:
        return existing
    dataset_dir.mkdir(parents=True, exist_ok=True)
    tmp = dataset_dir / f".tmp-{content}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    for split, rows in splits.items():
        _write_table(rows, canonical_schema(), split_file(tmp, split))
        for fmt in export["formats"]:
            shaped = [formats.format_row(r, fmt, export.get("system_prompt"), export["include_context"]) for r in rows]
            _write_table(shaped, formats.arrow_schema(fmt), split_file(tmp, split, fmt))
    numbers = stats.compute(splits, extra_stats or {})
    manifest = {"name": name, "version": "", "content_id": content, "created_at": utc_now(),
                "counts": {s: len(r) for s, r in splits.items()}, "export": export, "stats": numbers, **lineage}
    return _publish(dataset_dir, tmp, manifest, lambda m: (card.render(m, numbers), report.render(m, numbers, splits)))


def _publish(dataset_dir: Path, tmp: Path, manifest: dict, render) -> Path:
    """Number the version, write card, report and manifest, and rename it into place.
    Two exports racing for the same number: the loser takes the next one."""
    while True:
        entries = read_index(dataset_dir)
        taken = [version_number(e["version"]) for e in entries] + [
            version_number(p.name) for p in dataset_dir.iterdir() if _VERSION.match(p.name)]
        manifest["version"] = f"v{max(taken, default=0) + 1}"
        card_text, report_html = render(manifest)
        (tmp / CARD).write_text(card_text)
        (tmp / REPORT).write_text(report_html)
        manifest["files"] = _file_hashes(tmp)
        blob = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
        (tmp / MANIFEST).write_bytes(blob)
        final = dataset_dir / manifest["version"]
        try:
            os.rename(tmp, final)
        except OSError:
            continue
        _make_read_only(final)
        _write_index(dataset_dir, [*entries, {"version": final.name, "content_id": manifest["content_id"],
                                              "manifest_sha256": sha256_hex(blob),
                                              "created_at": manifest["created_at"]}])
        return final


def _make_read_only(path: Path) -> None:
    # Files only: the folders stay writable so that a person can still delete a version.
    for f in path.rglob("*"):
        if f.is_file():
            f.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def record_hub_push(path: Path, push: dict) -> None:
    """Append a hub push (repo, commit, tag) to the manifest and re-seal it in the index:
    the one change a version ever gets, and it touches no data."""
    manifest = read_manifest(path)
    manifest["hub"] = [*manifest.get("hub", []), push]
    blob = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    target = path / MANIFEST
    target.chmod(stat.S_IRUSR | stat.S_IWUSR)
    target.write_bytes(blob)
    target.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    entries = read_index(path.parent)
    for entry in entries:
        if entry["version"] == path.name:
            entry["manifest_sha256"] = sha256_hex(blob)
    _write_index(path.parent, entries)


def load(ref: str, fmt: str = "data", root: str | Path = "datasets"):
    """A version as a `datasets.DatasetDict` (verified first): `load("demo/v1", "messages")`."""
    from datasets import load_dataset

    path = resolve_version(ref, root)
    verify_version(path)
    counts = read_manifest(path)["counts"]
    files = {s: str(split_file(path, s, fmt)) for s, n in counts.items() if n}
    return load_dataset("parquet", data_files=files)
