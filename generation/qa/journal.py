"""The generate stage's journal of finished units (the JSONL journal itself: docs2qa/journal.py).

distilabel's own cache cannot always recover an interrupted run (upstream issue #1065),
so the last pipeline step appends every finished unit here and fsyncs before the batch
counts as done. A rerun reads the journal and skips every unit found in it. A unit is
written once: appends take a lock on the file and skip units already there.

A record holds the unit's pairs (answer_first ones with the `try` each came from), the tries
whose reply never parsed (`failed_tries`, with their raw text), the tokens, and the judge's
verdicts (none when generate.judge.enabled is off).

A unit that got no answer (its server still failing after retries) is not done: it goes to
FAILED instead, with the role and the server's error, for the stage to report; the stage
clears that file when it starts, since a new run asks those units again.
"""

from __future__ import annotations

from pathlib import Path

from docs2qa.journal import append_new, count_lines, read

__all__ = ["FAILED", "UNITS", "append", "count_lines", "failed_units", "finished_units", "read"]

UNITS = "journal.jsonl"
FAILED = "failed_units.jsonl"


def append(path: str | Path, records: list[dict]) -> list[dict]:
    """Append the records whose unit the journal does not hold yet; return those written."""
    return append_new(path, records, key="unit")


def finished_units(folder: Path) -> dict[str, dict]:
    """unit key -> its journal record. A journal written before appends skipped known units
    may hold a unit twice: its first record counts, once, as it would have."""
    finished: dict[str, dict] = {}
    for record in read(folder / UNITS):
        finished.setdefault(record["unit"], record)
    return finished


def failed_units(folder: Path) -> dict[str, dict]:
    """unit key -> its failure record ({"unit", "chunk_id", "question_type", "role", "error"})."""
    return {record["unit"]: record for record in read(folder / FAILED)}
