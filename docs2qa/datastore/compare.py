"""`docs2qa datasets diff A B`: which pairs were added, removed or changed, and how the
statistics moved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docs2qa.datastore.versions import read_manifest, read_split_rows

_COMPARED = ("question", "answer", "context", "question_type")


def _rows(path: Path) -> dict[str, dict[str, Any]]:
    manifest = read_manifest(path)
    return {r["pair_id"]: {**r, "split": split} for split in manifest["counts"] for r in read_split_rows(path, split)}


def diff(a: Path, b: Path) -> dict[str, Any]:
    old, new = _rows(a), _rows(b)
    changed = []
    for pid in sorted(old.keys() & new.keys()):
        fields = [f for f in (*_COMPARED, "split") if old[pid][f] != new[pid][f]]
        if fields:
            changed.append(
                {
                    "pair_id": pid,
                    "fields": fields,
                    **{f"old_{f}": old[pid][f] for f in fields},
                    **{f"new_{f}": new[pid][f] for f in fields},
                }
            )
    stats_a, stats_b = read_manifest(a)["stats"]["total"], read_manifest(b)["stats"]["total"]
    return {
        "a": str(a),
        "b": str(b),
        "added": [
            {"pair_id": p, "split": new[p]["split"], "question": new[p]["question"]}
            for p in sorted(new.keys() - old.keys())
        ],
        "removed": [
            {"pair_id": p, "split": old[p]["split"], "question": old[p]["question"]}
            for p in sorted(old.keys() - new.keys())
        ],
        "changed": changed,
        "stats_delta": {k: round(stats_b[k] - stats_a[k], 1) for k in stats_a},
    }
