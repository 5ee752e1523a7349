"""The dataset card: a Hugging Face README.md whose YAML header declares the configs (one per
format), splits, license, task categories and size, followed by what really filtered the pairs
(drops by reason, the judge's health and calibration against people), statistics computed from
the data, a few rows as they are, and the lineage from the manifest."""

from __future__ import annotations

import yaml

from docs2qa.datastore.formats import FORMATS

_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
_USAGE = {
    "messages": 'SFTTrainer(model, train_dataset=ds["train"])  # conversational',
    "prompt_completion": 'SFTTrainer(model, train_dataset=ds["train"])  # loss on the answer only',
    "alpaca": 'SFTTrainer(model, train_dataset=ds["train"], formatting_func=docs2qa.datastore.formats.alpaca_text)',
    "sharegpt": 'SFTTrainer(model, train_dataset=ds["train"])  # from/value: human/gpt, as LLaMA-Factory reads it',
}


def size_category(rows: int) -> str:
    return next((label for limit, label in _SIZES if rows < limit), "n>1M")


def header(manifest: dict) -> dict:
    splits = [s for s, n in manifest["counts"].items() if n]

    def config(name: str, fmt: str) -> dict:
        return {
            "config_name": name,
            "data_files": [
                {"split": s, "path": f"data/{s}.parquet" if fmt == "data" else f"formats/{fmt}/{s}.parquet"}
                for s in splits
            ],
        }

    return {
        "pretty_name": f"{manifest['name']} {manifest['version']}",
        "license": manifest["export"].get("license", "other"),
        "language": [manifest["export"].get("language", "en")],
        "task_categories": ["question-answering", "text-generation"],
        "size_categories": [size_category(sum(manifest["counts"].values()))],
        "tags": ["docs2qa", "synthetic", "documentation"],
        "configs": [
            {**config("default", "data"), "default": True},
            *(config(fmt, fmt) for fmt in manifest["export"]["formats"] if fmt in FORMATS),
        ],
        "dataset_info": {"splits": [{"name": s, "num_examples": n} for s, n in manifest["counts"].items()]},
    }


def _table(rows: list[list]) -> str:
    lines = ["| " + " | ".join(_cell(c) for c in rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows[1:]])


def _cell(value) -> str:
    # Generated text may hold pipes and newlines, which would break the table.
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {n}" for k, n in counts.items()) or "none"


def judge_state(manifest: dict) -> tuple[bool | None, str]:
    """(informative, sentence) about the generation judge, from the generate stage's record."""
    generation = manifest.get("generation", {})
    health = generation.get("judge_health")
    model = generation.get("judge_model") or "the judge"
    if not health:
        return None, f"{model}: no record of whether its scores told pairs apart"
    state = {True: "informative", False: "NOT informative", None: "informativeness unknown"}[health.get("informative")]
    use = (
        "its scores decided what was kept"
        + (f" (lowest score >= {health['min_score']})" if "min_score" in health else "")
        if health.get("applied", True)
        else "its scores were not used to drop pairs"
    )
    return health.get("informative"), f"{model}: {state} ({health.get('reason', '')}); {use}"


def calibration_state(manifest: dict) -> str | None:
    """The judge against people's decisions (from `curate pull`), in one sentence."""
    calibration = manifest.get("curation", {}).get("judge_calibration")
    if not calibration:
        return None
    if not calibration.get("reviewed"):
        return "not measured: " + calibration.get("note", "no human decisions")
    best = next(t for t in calibration["thresholds"] if t["min_score"] == calibration["proposed_min_score"])
    return (
        f"against {calibration['reviewed']} decisions by people ({calibration['kept_by_people']} kept), the "
        f"threshold that agrees best is generate.judge.min_score = {best['min_score']} (agreement "
        f"{best['agreement']}, precision of keep {best['precision']}, recall {best['recall']})"
        + (f"; {calibration['note']}" if calibration.get("note") else "")
    )


def filters(manifest: dict, stats: dict) -> list[tuple[str, str]]:
    """What chose these pairs, stage by stage, as (stage, what it did): what the card and the
    report say instead of a claim that the judge alone filtered."""
    generation = manifest.get("generation", {})
    dropped = generation.get("dropped")
    curated = manifest.get("source") == "curation"
    review = manifest.get("curation", {})
    out = [
        (
            "Generation" + (f" ({generation['strategy']})" if generation.get("strategy") else ""),
            "dropped before export, by reason: " + (_counts(dropped) if dropped is not None else "not recorded"),
        ),
        ("LLM judge", judge_state(manifest)[1]),
        (
            "Human review",
            (
                f"people's decisions in Argilla (policy {review.get('policy')}): {_counts(stats['curation_outcomes'])}"
                if curated
                else "none: no person reviewed these pairs"
            ),
        ),
        ("Export", f"{stats['leakage_removed']} pair(s) removed from validation/test as near-duplicates of training"),
    ]
    calibration = calibration_state(manifest)
    if calibration:
        out.insert(3, ("Judge vs people", calibration))
    return out


def render(manifest: dict, stats: dict) -> str:
    name, version = manifest["name"], manifest["version"]
    curated = manifest.get("source") == "curation" and stats["curation"].keys() == {"human"}
    split_rows = [["split", "rows", "pages", "avg question words", "avg answer words", "avg context words"]]
    for split, s in [*stats["splits"].items(), ("all", stats["total"])]:
        split_rows.append(
            [split, s["rows"], s["pages"], s["avg_question_words"], s["avg_answer_words"], s["avg_context_words"]]
        )
    generation = manifest.get("generation", {})
    parts = [
        "---\n" + yaml.safe_dump(header(manifest), sort_keys=False) + "---",
        f"# {name} {version}",
        f"Question/answer pairs about the documentation at {manifest.get('source_url') or 'the crawled site'}, "
        f"generated by docs2qa from run `{manifest.get('run', {}).get('name', '?')}`.",
        (
            "**Curation:** reviewed by people in Argilla."
            if curated
            else "**Curation: NOT human-curated.** " + manifest.get("curation_note", "")
        ),
        f"Content id `{manifest['content_id']}`; splits by {manifest['export'].get('split_by', 'page')} "
        f"(no {manifest['export'].get('split_by', 'page')} feeds two splits); "
        f"{stats['leakage_removed']} pair(s) removed from validation/test as near-duplicates of training.",
        *_judge_warning(manifest),
        "## How these pairs were chosen",
        "\n".join(f"- **{stage}:** {text}" for stage, text in filters(manifest, stats)),
        *_calibration_table(manifest),
        "## Statistics",
        _table(split_rows),
        "Question types: " + (", ".join(f"{t} {n}" for t, n in stats["question_types"].items()) or "none") + "  \n"
        "Lowest judge score per pair: "
        + (", ".join(f"{k}: {n}" for k, n in stats["judge_min_score"].items()) or "none")
        + "  \n"
        "Curation outcomes: "
        + (", ".join(f"{k} {n}" for k, n in stats["curation_outcomes"].items()) or "none")
        + "  \n"
        "Rejected before export: " + (", ".join(f"{k} {n}" for k, n in stats["rejections"].items()) or "none"),
        "## Sample rows",
        f"{len(stats.get('samples', []))} rows drawn at random (seeded), as they are in the data:",
        _table(
            [
                ["split", "type", "question", "answer", "judge's lowest score"],
                *(
                    [r["split"], r["question_type"], _cut(r["question"]), _cut(r["answer"]), r["min_judge_score"]]
                    for r in stats.get("samples", [])
                ),
            ]
        ),
        "## Lineage",
        _table(
            [
                ["", ""],
                ["generator", generation.get("generator_model", "")],
                ["judge", generation.get("judge_model", "")],
                ["prompt hashes", ", ".join(generation.get("prompt_hashes", []))],
                ["config hash", manifest.get("run", {}).get("config_hash", "")],
                ["crawl", f"{len(manifest.get('crawl', {}).get('pages', []))} pages"],
                ["curation snapshot", manifest.get("curation", {}).get("snapshot_id", "none")],
                ["docs2qa", manifest.get("code", {}).get("docs2qa", "")],
            ]
        ),
        "## Use",
        "```python\nfrom datasets import load_dataset\n"
        f'ds = load_dataset("parquet", data_files={{s: f"{name}/{version}/formats/messages/{{s}}.parquet" '
        f"for s in {[s for s, n in manifest['counts'].items() if n]!r}}})\n"
        + "\n".join(f"# {fmt}: {_USAGE[fmt]}" for fmt in manifest["export"]["formats"])
        + "\n```",
        "The prompt each format holds is the one evaluation and inference use"
        + (
            f', with the system prompt: "{manifest["export"]["system_prompt"]}"'
            if manifest["export"].get("system_prompt")
            else ""
        )
        + (
            "; the documentation chunk is part of the prompt."
            if manifest["export"].get("include_context")
            else "; the model answers without the documentation in its prompt."
        ),
    ]
    return "\n\n".join(parts) + "\n"


def _judge_warning(manifest: dict) -> list[str]:
    informative, text = judge_state(manifest)
    return [f"> **Warning: the LLM judge was not informative.** {text}"] if informative is False else []


def _calibration_table(manifest: dict) -> list[str]:
    calibration = manifest.get("curation", {}).get("judge_calibration") or {}
    if not calibration.get("thresholds"):
        return []
    return [
        _table(
            [
                [
                    "keep when judge's lowest score >=",
                    "judge keeps",
                    "agreement with people",
                    "precision of keep",
                    "recall of keep",
                    "kappa",
                ],
                *(
                    [t["min_score"], t["judge_keeps"], t["agreement"], t["precision"], t["recall"], t["kappa"]]
                    for t in calibration["thresholds"]
                ),
            ]
        )
    ]


def _cut(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + " …"
