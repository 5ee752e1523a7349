"""Typed records that flow between stages, with content-hash ids.

Ids are hashes of what identifies a record (a page's final URL; a chunk's page, span and
text), so a rerun produces the same ids and writes are idempotent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from _typeshed import DataclassInstance


def content_id(*parts: str | int, length: int = 16) -> str:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()
    return digest[:length]


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def page_id(url: str) -> str:
    return content_id("page", url)


def chunk_id(page: str, start: int, end: int, text: str) -> str:
    # The text hash is part of the id so that a page edit that keeps the same span
    # still yields a new chunk id, and downstream stages regenerate it.
    return content_id("chunk", page, start, end, sha256_hex(text))


@dataclass(frozen=True)
class Page:
    """One fetched page whose raw body sits in the run's blob store."""

    page_id: str
    url: str  # canonical final URL (mirror origin mapped back to the configured one)
    fetched_url: str  # where the bytes actually came from
    title: str
    source_format: str  # "html" | "markdown"
    content_type: str
    body_sha256: str
    bytes: int
    fetched_at: str
    etag: str = ""
    last_modified: str = ""
    rendered: bool = False  # came from headless Chromium
    change: str = "new"  # new | changed | unchanged (against the previous crawl)


@dataclass(frozen=True)
class Document:
    """A page as normalised Markdown."""

    page_id: str
    url: str
    title: str
    markdown: str
    body_sha256: str
    fetched_at: str
    # Anchor id of each ATX heading in `markdown`, in order (the site's own ids where known).
    heading_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    page_id: str
    url: str
    anchor_url: str
    title: str
    heading_path: list[str]
    text: str
    token_count: int
    start: int  # character span in the document's markdown
    end: int
    body_sha256: str
    fetched_at: str
    note: str = ""  # e.g. why an oversized code block or table had to be split


def pair_id(chunk: str, prompt_hash: str, model: str, question: str) -> str:
    # A pair is the same pair when the same model, asked with the same prompt about the
    # same chunk text, produced the same question: reruns and resumes then write nothing twice.
    return content_id("pair", chunk, prompt_hash, model, question.strip().lower())


@dataclass(frozen=True)
class QAPair:
    """A generated question/answer pair with its provenance, judge scores and dedup cluster."""

    pair_id: str
    chunk_id: str
    page_id: str
    url: str
    anchor_url: str
    title: str
    heading_path: list[str]
    question: str
    answer: str
    question_type: str  # factual | procedural | conceptual | yes_no | unanswerable
    evidence: str  # quote copied from the chunk ("" for unanswerable questions)
    generator_model: str
    generate_prompt_hash: str
    prompt_tokens: int = 0  # generator tokens for this chunk, shared by its pairs
    completion_tokens: int = 0
    evidence_ratio: float = 0.0  # fuzzy match of the evidence inside the chunk, 0-1
    # The fact the pair asks about: one answer span of one chunk. Several phrasings of one fact
    # share it, which is what a split that tests trained facts in new words groups by.
    fact_id: str = ""
    # Judge: each score 1-5, 0 when not judged.
    score_grounded: int = 0
    score_correct: int = 0
    score_useful: int = 0
    score_standalone: int = 0
    judge_verdict: str = ""  # keep | revise | drop
    judge_rationale: str = ""
    revised_answer: str = ""
    judge_model: str = ""
    judge_prompt_hash: str = ""
    judge_prompt_tokens: int = 0
    judge_completion_tokens: int = 0
    # Near-duplicate cluster: the id of the cluster's kept pair, and how many pairs it holds.
    cluster_id: str = ""
    cluster_size: int = 1

    @property
    def shown_answer(self) -> str:
        """The answer reviewers and uncurated exports get: the judge's revision when it asked for one."""
        revised = self.judge_verdict == "revise" and self.revised_answer.strip()
        return self.revised_answer if revised else self.answer


@dataclass(frozen=True)
class Dropped:
    """Anything a stage rejected, with the reason; nothing is dropped silently."""

    item_id: str
    ref: str  # URL or upstream id, whatever lets a person find the item
    reason: str  # short machine-readable code, e.g. "soft_404"
    detail: str = ""
    at: str = field(default_factory=utc_now)


_ARROW_TYPES = {str: "string", int: "int64", float: "float64", bool: "bool", list[str]: "list<string>"}


def arrow_schema(record_type: type) -> pa.Schema:
    import pyarrow as pa

    mapping = {
        "string": pa.string(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "list<string>": pa.list_(pa.string()),
    }
    hints = typing.get_type_hints(record_type)
    return pa.schema([(f.name, mapping[_ARROW_TYPES[hints[f.name]]]) for f in dataclasses.fields(record_type)])


def to_rows(records: Iterable[DataclassInstance]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(r) for r in records]
