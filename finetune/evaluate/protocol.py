"""What an evaluation measured, in words a reader takes away: the report's first line, the
verdict sentences (recap, status, card, terminal) and the per-fact table.

The dataset version's export.protocol says what its test split holds: `knowledge` (trained
facts asked in new words), `generalization` (questions about pages kept out of training) or
`rag` (the same, with the retrieved passage in the prompt). A version without one, or a gold
file, is described by its split and prompt alone.
"""

from __future__ import annotations

from typing import Any

from docs2qa.finetune.evaluate import intervals

KNOWLEDGE, RAG, GENERALIZATION = "knowledge", "rag", "generalization"
# The two numbers the verdict rests on: both resist answer length (see metrics and choice).
HEADLINE = ("rouge_l_gold_length", "choice_accuracy")
SHORT = {"rouge_l_gold_length": "ROUGE-L at gold length", "choice_accuracy": "multiple-choice accuracy"}
# A fact counts as known on the multiple-choice check when most of its questions are answered right.
KNOWN, LEARNED, FORGOTTEN, UNKNOWN = "knew it already", "learned", "forgotten", "still unknown"


def measured(protocol: str | None, n: int, facts: int, include_context: bool, dataset: dict) -> str:
    """The report's first line: what was asked, of what, with or without the source."""
    book = "with the source passage in the prompt" if include_context else "closed book"
    if protocol == KNOWLEDGE:
        asked = f" ({n} questions)" if n != facts else ""
        return f"{facts} trained facts asked in new words{asked}, {book}"
    if protocol == RAG:
        return f"{n} questions about unseen pages, with retrieved context"
    if protocol == GENERALIZATION:
        return f"{n} questions about unseen pages, {book}"
    if dataset.get("source") == "gold_file":
        source = f"the gold file {dataset.get('name')}"
    else:
        split = f"the {dataset['split']} split of " if dataset.get("split") else ""
        source = f"{split}{dataset.get('name')}/{dataset.get('version')} (protocol not recorded)"
    return f"{n} questions of {source}, {book}"


def about(protocol: str | None) -> str:
    """What the questions are about, for 'tuned beats base on N questions about ...'."""
    if protocol == KNOWLEDGE:
        return "questions about trained facts"
    if protocol in (RAG, GENERALIZATION):
        return "questions about unseen pages"
    return "questions"


def verdict_line(metric: str, c: dict, protocol: str | None) -> str:
    """One sentence with the verdict word beside every number: a gain is claimed only when
    the whole 95% interval lies above zero."""
    label = SHORT.get(metric, metric)
    n = c["n"]
    if c["difference"] is None:
        return f"{label}: not measured (n=0)"
    numbers = f"{label} {c['base']:.2f} -> {c['tuned']:.2f}, {c['difference']:+.2f}"
    if c["low"] is None:
        return f"too few questions to tell (n={n}; {numbers}, no interval)"
    interval = f"{c['level']:.0%} CI [{c['low']:+.2f}, {c['high']:+.2f}]"
    if c["verdict"] == intervals.BETTER:
        return f"tuned beats base on {n} {about(protocol)} ({numbers}, {interval})"
    if c["verdict"] == intervals.WORSE:
        return f"tuned is worse than base on {n} {about(protocol)} ({numbers}, {interval})"
    return f"no clear difference (n={n}; {numbers}, {interval})"


def verdicts(comparisons: dict, protocol: str | None) -> dict[str, dict]:
    """The headline comparisons with their sentence, for results.json and everything reading it."""
    return {
        metric: {**comparisons[metric], "line": verdict_line(metric, comparisons[metric], protocol)}
        for metric in HEADLINE
        if metric in comparisons
    }


def fact_table(rows: list[dict]) -> dict[str, Any]:
    """Per fact (its fact_id, else each question alone): did base and tuned pick the gold
    answer on the multiple-choice check, and their ROUGE-L at gold length, with what tuning
    changed: learned, still unknown, forgotten, knew it already."""
    keyed_by = "fact_id" if any(row.get("fact_id") for row in rows) else "question"
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row.get("fact_id") or row["id"], []).append(row)
    facts = []
    for key, members in groups.items():
        entry: dict[str, Any] = {"fact": key, "questions": len(members), "answer": members[0]["answer"]}
        for variant in ("base", "tuned"):
            outs = [row["outputs"][variant] for row in members]
            picked = [out["choice_accuracy"] for out in outs if out.get("choice_accuracy") is not None]
            entry[f"{variant}_right"] = sum(picked) > len(picked) / 2 if picked else None
            entry[f"{variant}_choices"] = f"{sum(picked):.0f}/{len(picked)}" if picked else None
            entry[f"{variant}_rouge_l_gold_length"] = sum(out["rouge_l_gold_length"] for out in outs) / len(outs)
        entry["status"] = _status(entry["base_right"], entry["tuned_right"])
        facts.append(entry)
    order = {LEARNED: 0, UNKNOWN: 1, FORGOTTEN: 2, KNOWN: 3, None: 4}
    # Learned first, then still unknown, forgotten, known; within each, the largest ROUGE gain first.
    facts.sort(key=lambda f: (order[f["status"]], f["base_rouge_l_gold_length"] - f["tuned_rouge_l_gold_length"]))
    counts = {status: sum(f["status"] == status for f in facts) for status in (LEARNED, UNKNOWN, FORGOTTEN, KNOWN)}
    return {"keyed_by": keyed_by, "counts": counts, "facts": facts}


def _status(base: bool | None, tuned: bool | None) -> str | None:
    if base is None or tuned is None:
        return None
    return {(False, True): LEARNED, (False, False): UNKNOWN, (True, False): FORGOTTEN, (True, True): KNOWN}[
        (base, tuned)
    ]
