"""Did the generate stage's judge run? Push, pull and export read it from here, so that with the
judge off (`generate.judge.enabled`) every consumer says "no judge" instead of showing the
zeros a pair carries where no judge scored it (QAPair: "0 when not judged") as scores.

The generate stage's manifest says it: `"judge": {"enabled": false, "reason": "..."}`. Runs from
before that key are judged unless no pair names a judge model (judge_model "" on every pair).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from docs2qa.records import QAPair

# How the demo policy decides without a judge: every pair that reached review passed the filters.
DEMO_WITHOUT_JUDGE = "no judge: every pair that passed the filters"
NOT_APPLICABLE = "not applicable: no judge"


def generate_judge(manifest: dict[str, Any] | None, pairs: Sequence[QAPair]) -> dict[str, Any]:
    """{"enabled": bool, "reason": str} of the generate stage that made `pairs`."""
    judge = (manifest or {}).get("judge")
    if isinstance(judge, dict) and "enabled" in judge:
        return {"enabled": bool(judge["enabled"]), "reason": str(judge.get("reason") or "")}
    if pairs and not any(p.judge_model for p in pairs):
        return {"enabled": False, "reason": "no pair names a judge model"}
    return {"enabled": True, "reason": ""}


def judge_ran(pairs: Sequence[QAPair]) -> bool:
    """What the pairs alone say: a judge that ran names its model on every pair it scored."""
    return any(p.judge_model for p in pairs)


def of_run(run_dir: Path | str) -> dict[str, Any]:
    """generate_judge() of a run folder's generate stage; judged when it has no readable manifest
    (the stages that read its pairs refuse such a run with their own error)."""
    from docs2qa.store import RunStore

    generate = RunStore(Path(run_dir)).stage("generate")
    manifest = generate.manifest()
    if manifest is None:
        return {"enabled": True, "reason": ""}
    if isinstance(manifest.get("judge"), dict):
        return generate_judge(manifest, [])
    return generate_judge(manifest, generate.read("pairs", QAPair))
