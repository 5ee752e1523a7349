"""Examples to evaluate on: a dataset version's split, or a user's own gold file.

Both give the same `Example` rows plus the prompt settings (system prompt, whether the
context goes in the prompt) and an identity for results.json, so a score can always be
traced back to the exact bytes it was computed on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docs2qa.errors import Docs2qaError

GOLD_SUFFIXES = (".json", ".jsonl", ".parquet")
# Rows without a question type are grouped under this name in per-type aggregates.
UNTYPED = "untyped"


@dataclass(frozen=True)
class Example:
    id: str
    question: str
    answer: str
    context: str
    question_type: str
    # The fact asked about (one answer span of one chunk; several phrasings share it), "" when
    # the rows do not say; and the site (host) the answer comes from, "" when unknown.
    fact_id: str = ""
    site: str = ""


@dataclass(frozen=True)
class EvalData:
    examples: list[Example]
    system_prompt: str | None
    include_context: bool
    identity: dict[str, Any]
    # Where multiple-choice distractors come from: the evaluated rows, and a version's other
    # splits when its rows carry fact ids (a distractor is then surely another fact).
    pool: list[Example] = field(default_factory=list)
    # What the split measures (export.protocol: knowledge | rag | generalization), when known.
    protocol: str | None = None


def load_version(path: Path, split: str) -> EvalData:
    """A dataset version's `data/<split>.parquet`, checked byte for byte against its manifest."""
    from docs2qa.datastore.versions import read_manifest, read_split_rows, split_file, verify_version

    path = Path(path)
    verify_version(path)
    manifest = read_manifest(path)
    file = split_file(path, split)
    if not file.is_file():
        raise Docs2qaError(
            f"dataset version {path} has no split {split!r} ({file} is missing)",
            "set eval.split to one of: " + ", ".join(sorted(manifest.get("counts", {}))),
        )
    examples = [_version_example(row) for row in read_split_rows(path, split)]
    pool = list(examples)
    if any(example.fact_id for example in examples):
        pool += [
            _version_example(row)
            for other in sorted(manifest.get("counts", {}))
            if other != split and split_file(path, other).is_file()
            for row in read_split_rows(path, other)
        ]
    export = manifest.get("export", {})
    identity = {
        "source": "version",
        "name": manifest.get("name"),
        "version": manifest.get("version"),
        "content_id": manifest.get("content_id"),
        "path": str(path),
        "split": split,
    }
    return EvalData(
        examples,
        export.get("system_prompt"),
        bool(export.get("include_context")),
        identity,
        pool,
        export.get("protocol"),
    )


def _version_example(row: dict) -> Example:
    return Example(
        id=str(row["pair_id"]),
        question=row["question"],
        answer=row["answer"],
        context=row.get("context") or "",
        question_type=row.get("question_type") or UNTYPED,
        fact_id=str(row.get("fact_id") or ""),
        site=site_of(row.get("url")),
    )


def site_of(url: Any) -> str:
    """The host a row's page lives on: distractors come from the same site."""
    from urllib.parse import urlsplit

    return urlsplit(url).netloc.lower() if isinstance(url, str) else ""


def training_prompt(manifest: dict | None) -> tuple[bool, str | None, str]:
    """(known, system prompt, where from) of the version an adapter was trained on.

    The adapter's manifest names its dataset version; that version's manifest holds the
    system prompt training rendered every example with."""
    from docs2qa.datastore.versions import read_manifest

    trained = ((manifest or {}).get("dataset") or {}).get("path")
    if not trained:
        return False, None, "the adapter's manifest names no dataset version"
    if not (Path(trained) / "manifest.json").is_file():
        return False, None, f"its dataset version {trained} is gone"
    export = read_manifest(trained).get("export") or {}
    return True, export.get("system_prompt"), f"dataset version {trained}"


def load_gold_file(path: str | Path, system_prompt: str | None, include_context: bool) -> EvalData:
    """A JSON (list of objects), JSONL or Parquet file with question/answer[/context] or
    instruction/input/output columns; `question_type`, `id`, `fact_id` and `url` columns are
    used when present."""
    path = Path(path)
    if not path.is_file():
        raise Docs2qaError(
            f"gold file {path} does not exist", "set eval.gold_file to an existing .json/.jsonl/.parquet file"
        )
    rows = _read_rows(path)
    examples = [_example(row, index, path) for index, row in enumerate(rows)]
    identity = {
        "source": "gold_file",
        "name": path.stem,
        "version": None,
        # Content-addressed like a version: the same file gives the same id wherever it lives.
        "content_id": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
        "path": str(path),
        "split": None,
    }
    return EvalData(examples, system_prompt, include_context, identity, list(examples))


def _read_rows(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            rows = pq.read_table(path).to_pylist()
        elif suffix == ".jsonl":
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        elif suffix == ".json":
            rows = json.loads(path.read_text(encoding="utf-8"))
        else:
            raise Docs2qaError(f"gold file {path} has an unknown type", "use one of: " + ", ".join(GOLD_SUFFIXES))
    except (ValueError, OSError) as exc:  # json.JSONDecodeError and pyarrow's errors are ValueErrors/OSErrors
        raise Docs2qaError(
            f"gold file {path} cannot be read: {exc}", "check that the file is valid " + suffix[1:]
        ) from exc
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise Docs2qaError(f"gold file {path} must hold a list of objects (one per question)")
    if not rows:
        raise Docs2qaError(f"gold file {path} holds no rows", "add at least one question with its gold answer")
    _check_columns(path, rows[0])
    return rows


def _check_columns(path: Path, row: dict) -> None:
    if {"question", "answer"} <= row.keys() or {"instruction", "output"} <= row.keys():
        return
    raise Docs2qaError(
        f"gold file {path} lacks the required columns (it has: {', '.join(sorted(row)) or 'none'})",
        "use question + answer (+ context), or instruction + output (+ input as the context)",
    )


def _example(row: dict, index: int, path: Path) -> Example:
    alpaca = "question" not in row
    question = row.get("instruction" if alpaca else "question")
    answer = row.get("output" if alpaca else "answer")
    context = row.get("input" if alpaca else "context")
    if not isinstance(question, str) or not question.strip() or not isinstance(answer, str) or not answer.strip():
        raise Docs2qaError(
            f"gold file {path}, row {index + 1}: the question and the answer must both be non-empty text",
            "fix or remove that row",
        )
    return Example(
        # Parquet fills a column missing from some rows with nulls: fall back past None too.
        id=str(row.get("id") or row.get("pair_id") or index + 1),
        question=question,
        answer=answer,
        context=context if isinstance(context, str) else "",
        question_type=row.get("question_type") or UNTYPED,
        fact_id=str(row.get("fact_id") or ""),
        site=site_of(row.get("url")),
    )
