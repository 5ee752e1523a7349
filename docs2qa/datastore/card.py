"""The dataset card: a Hugging Face README.md whose YAML header declares the configs (one per
format), their features, splits and sizes (`dataset_info`, complete, so `datasets` loads each
config without a warning), license, creators and task categories; then what really filtered the
pairs (drops by reason, the judge's health and calibration against people), statistics computed
from the data, the columns, a few rows as they are, limitations, lineage, use and citation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from docs2qa.datastore.formats import FORMATS
from docs2qa.datastore.protocol import measures, protocol_of

if TYPE_CHECKING:
    import pyarrow as pa

    from docs2qa.datastore.versions import SplitSize

_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
_USAGE = {
    "messages": 'SFTTrainer(model, train_dataset=ds["train"])  # conversational',
    "prompt_completion": 'SFTTrainer(model, train_dataset=ds["train"])  # loss on the answer only',
    "alpaca": 'SFTTrainer(model, train_dataset=ds["train"], formatting_func=docs2qa.datastore.formats.alpaca_text)',
    "sharegpt": 'SFTTrainer(model, train_dataset=ds["train"])  # from/value: human/gpt, as LLaMA-Factory reads it',
}
# What each column holds, for the card's Columns section (the default config's, then each format's).
COLUMNS = {
    "pair_id": "stable id of the pair (hash of chunk, prompt, generator and question)",
    "question": "the question, as people left it after review (else as generated)",
    "answer": "the answer, as people left it after review (else the judge's revision or the generator's)",
    "context": "the documentation chunk the pair was generated from (rag: the chunks retrieval hands the model)",
    "question_type": "factual, procedural, conceptual, yes_no, ...",
    "page_id": "id of the crawled page",
    "url": "the page's URL",
    "anchor_url": "the URL of the section the chunk comes from",
    "title": "the page's title",
    "heading_path": "the headings above the chunk, outermost first",
    "chunk_id": "id of the chunk",
    "fact_id": "id of the fact the pair asks about (one answer span of one chunk): its phrasings share it",
    "generator_model": "the model that wrote the pair's question, or 'template' (written from its sentence's shape)",
    "min_judge_score": "the LLM judge's lowest score (1-5) over grounded, correct, useful, standalone; "
    "0 when no judge scored the pair",
    "curation": "who accepted the pair: human, demo-policy (not human), or none (not human-curated)",
    "messages": "system (if any), user and assistant messages: [{role, content}]",
    "prompt": "the messages before the answer: [{role, content}]",
    "completion": "the assistant's answer: [{role, content}]",
    "instruction": "the question",
    "input": "the documentation chunk when the prompt includes it, else empty",
    "output": "the answer",
    "system": "the system prompt, or empty",
    "conversations": "the messages as [{from: system|human|gpt, value}], as LLaMA-Factory reads them",
}
_CONFIG_DIR = {"default": "data"}
# How the demo policy decides without a judge (the words of curation/judge_state.py, which core
# cannot import): every pair that reached review passed the filters.
DEMO_WITHOUT_JUDGE = "no judge: every pair that passed the filters"


def size_category(rows: int) -> str:
    return next((label for limit, label in _SIZES if rows < limit), "n>1M")


def _feature_type(arrow_type: pa.DataType) -> dict[str, Any]:
    import pyarrow as pa

    if pa.types.is_list(arrow_type):
        inner = _feature_type(arrow_type.value_type)
        return {"list": inner.get("dtype") or inner["struct"]}
    if pa.types.is_struct(arrow_type):
        return {"struct": [{"name": f.name, **_feature_type(f.type)} for f in arrow_type]}
    if pa.types.is_string(arrow_type) or pa.types.is_int64(arrow_type):
        return {"dtype": str(arrow_type)}
    raise ValueError(f"no dataset-card feature for Arrow type {arrow_type}")


def features(schema: pa.Schema) -> list[dict[str, Any]]:
    """An Arrow schema as the card's `features`, the YAML form `datasets` writes itself."""
    return [{"name": field.name, **_feature_type(field.type)} for field in schema]


def _schema(config: str) -> pa.Schema:
    from docs2qa.datastore import formats, versions

    return versions.canonical_schema() if config == "default" else formats.arrow_schema(config)


def _files(config: str, split: str) -> str:
    return f"{_CONFIG_DIR.get(config, 'formats/' + config)}/{split}.parquet"


def config_names(manifest: dict[str, Any]) -> list[str]:
    return ["default", *(fmt for fmt in manifest["export"]["formats"] if fmt in FORMATS)]


def empty_splits(manifest: dict[str, Any]) -> list[str]:
    return [s for s, n in manifest["counts"].items() if not n]


def header(manifest: dict[str, Any], sizes: dict[str, dict[str, SplitSize]]) -> dict[str, Any]:
    """The YAML header. Empty splits are left out of configs and dataset_info: `datasets` cannot
    load an empty split file (parquet: "BatchSize must be greater than 0"; a file without row
    groups: "corresponds to no data"), so the card says why they are empty instead."""
    splits = [s for s, n in manifest["counts"].items() if n]
    export = manifest["export"]
    license_id = export.get("license", "other")
    licensing: dict[str, str] = {"license": license_id}
    if license_id == "other":
        # The Hub asks `other` for a name and a link; the docs' own terms unless the config names them.
        licensing["license_name"] = export.get("license_name") or "source-documentation-terms"
        link = export.get("license_link") or manifest.get("source_url") or ""
        if link.startswith(("http://", "https://")):
            licensing["license_link"] = link
    human = manifest.get("source") == "curation" and "human" in manifest.get("stats", {}).get("curation", {})

    def config(name: str) -> dict[str, Any]:
        return {"config_name": name, "data_files": [{"split": s, "path": _files(name, s)} for s in splits]}

    def info(name: str) -> dict[str, Any]:
        files = sizes.get(_CONFIG_DIR.get(name, name), {})
        split_info = [
            {"name": s, "num_bytes": files[s]["num_bytes"], "num_examples": files[s]["num_examples"]} for s in splits
        ]
        return {
            "config_name": name,
            "features": features(_schema(name)),
            "splits": split_info,
            "download_size": sum(files[s]["parquet_bytes"] for s in splits),
            "dataset_size": sum(i["num_bytes"] for i in split_info),
        }

    return {
        "pretty_name": f"{manifest['name']} {manifest['version']}",
        **licensing,
        "language": [export.get("language", "en")],
        "multilinguality": ["monolingual"],
        "annotations_creators": ["machine-generated", *(["expert-generated"] if human else [])],
        "language_creators": ["found", "machine-generated"],
        "source_datasets": ["original"],
        "task_categories": ["question-answering", "text-generation"],
        "size_categories": [size_category(sum(manifest["counts"].values()))],
        "tags": ["docs2qa", "synthetic", "documentation"],
        "configs": [{**config("default"), "default": True}, *(config(n) for n in config_names(manifest)[1:])],
        "dataset_info": [info(name) for name in config_names(manifest)],
    }


def _table(rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(_cell(c) for c in rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows[1:]])


def _cell(value: object) -> str:
    # Generated text may hold pipes and newlines, which would break the table.
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in counts.items()) or "none"


def judge_off(manifest: dict[str, Any]) -> str | None:
    """Why the generation judge was off (generate.judge.enabled), or None when it ran. Versions
    exported before the switch have no such record: their judge ran."""
    judge = manifest.get("generation", {}).get("judge") or {}
    return str(judge.get("reason") or "") if judge.get("enabled", True) is False else None


def off_words(reason: str) -> str:
    """'none (off: <reason>)': the one phrase the card, the report and the lineage give a judge
    that never ran, where a judged version shows its scores."""
    reason = reason.strip().rstrip(".")
    return f"none (off: {reason})" if reason else "none (off)"


def judge_state(manifest: dict[str, Any]) -> tuple[bool | None, str]:
    """(informative, sentence) about the generation judge, from the generate stage's record. A
    judge that was off is neither informative nor not: there was none, which is no warning."""
    generation = manifest.get("generation", {})
    off = judge_off(manifest)
    if off is not None:
        return None, off_words(off) + "; no model scored these pairs."
    health = generation.get("judge_health")
    model = generation.get("judge_model") or "the judge"
    if not health:
        return None, f"{model}: no record of whether its scores told pairs apart"
    state = {True: "informative", False: "NOT informative", None: "informativeness unknown"}[health.get("informative")]
    applied = health.get("applied", True)
    use = (
        "its scores decided what was kept"
        + (f" (lowest score >= {health['min_score']})" if "min_score" in health else "")
        if applied
        else "its scores were not used to drop pairs"
    )
    # The generate stage's reasons for an unused judge already say so, in sentences of their own;
    # older records may not, so the use is added only where the reason leaves it out.
    reason = health.get("reason", "").strip().rstrip(".")
    said = not applied and "not used" in reason
    return health.get("informative"), f"{model}: {state}" + (f": {reason}" if reason else "") + (
        "." if said else f"; {use}."
    )


def _pairs(n: int) -> str:
    return f"{n} pair" if n == 1 else f"{n} pairs"


def calibration_state(manifest: dict[str, Any]) -> str | None:
    """The judge against people's decisions (from `curate pull`), in one sentence."""
    calibration = manifest.get("curation", {}).get("judge_calibration")
    if not calibration:
        return None
    if judge_off(manifest) is not None or calibration.get("applicable") is False:
        return "not applicable: no judge"
    if not calibration.get("reviewed"):
        return "not measured: " + str(calibration.get("note", "no human decisions"))
    best = next(t for t in calibration["thresholds"] if t["min_score"] == calibration["proposed_min_score"])
    return (
        f"against {calibration['reviewed']} decisions by people ({calibration['kept_by_people']} kept), the "
        f"threshold that agrees best is generate.judge.min_score = {best['min_score']} (agreement "
        f"{best['agreement']}, precision of keep {best['precision']}, recall {best['recall']})"
        + (f"; {calibration['note']}" if calibration.get("note") else "")
    )


def filters(manifest: dict[str, Any], stats: dict[str, Any]) -> list[tuple[str, str]]:
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
                f"people's decisions in Argilla (policy {review.get('policy')}): "
                + _decided(stats["decisions"], manifest)
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


def render(manifest: dict[str, Any], stats: dict[str, Any], sizes: dict[str, dict[str, SplitSize]], where: str) -> str:
    """The card. `sizes` are the split files' (for dataset_info); `where` is the dataset's folder as
    the usage snippet names it (see versions._usage_path)."""
    name, version = manifest["name"], manifest["version"]
    curated = manifest.get("source") == "curation" and stats["curation"].keys() == {"human"}
    split_rows = [["split", "rows", "pages", "avg question words", "avg answer words", "avg context words"]]
    for split, s in [*stats["splits"].items(), ("all", stats["total"])]:
        split_rows.append(
            [split, s["rows"], s["pages"], s["avg_question_words"], s["avg_answer_words"], s["avg_context_words"]]
        )
    generation = manifest.get("generation", {})
    parts = [
        "---\n" + yaml.safe_dump(header(manifest, sizes), sort_keys=False) + "---",
        f"# {name} {version}",
        f"Question/answer pairs about the documentation at {manifest.get('source_url') or 'the crawled site'}, "
        f"generated by docs2qa from run `{manifest.get('run', {}).get('name', '?')}`.",
        (
            "**Curation:** reviewed by people in Argilla."
            if curated
            else "**Curation: NOT human-curated.** " + manifest.get("curation_note", "")
        ),
        measures(manifest["export"]),
        f"Content id `{manifest['content_id']}`; {_split_rule(manifest['export'])}; "
        f"{stats['leakage_removed']} pair(s) removed from validation/test as near-duplicates of training.",
        *_judge_warning(manifest),
        "## How these pairs were chosen",
        "\n".join(f"- **{stage}:** {text}" for stage, text in filters(manifest, stats)),
        *_calibration_table(manifest),
        "## Statistics",
        _table(split_rows),
        "Question types: " + (", ".join(f"{t} {n}" for t, n in stats["question_types"].items()) or "none") + "  \n"
        "Lowest judge score per pair: " + _judge_scores(manifest, stats) + "  \n"
        "Review decisions: "
        + (_decided(stats["decisions"], manifest) if stats["curation_outcomes"] else "none")
        + "  \n"
        "Rejected before export: " + (", ".join(f"{k} {n}" for k, n in stats["rejections"].items()) or "none") + "  \n"
        "Coverage: " + coverage_sentence(stats.get("coverage")),
        *_empty_split_note(manifest, stats),
        "## Columns",
        _columns(manifest),
        "## Sample rows",
        f"{len(stats.get('samples', []))} rows drawn at random (seeded), as they are in the data:",
        _samples_table(manifest, stats),
        "## Lineage",
        _table(
            [
                ["", ""],
                ["generator", generation.get("generator_model", "")],
                ["judge", _judge_lineage(manifest)],
                ["prompt hashes", ", ".join(generation.get("prompt_hashes", []))],
                ["config hash", manifest.get("run", {}).get("config_hash", "")],
                ["crawl", f"{len(manifest.get('crawl', {}).get('pages', []))} pages"],
                ["curation snapshot", manifest.get("curation", {}).get("snapshot_id", "none")],
                ["docs2qa", manifest.get("code", {}).get("docs2qa", "")],
            ]
        ),
        *_limitations(manifest, curated),
        "## Use",
        _usage(manifest, where),
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
        "## Citation",
        _citation(manifest),
    ]
    return "\n\n".join(parts) + "\n"


def _judge_lineage(manifest: dict[str, Any]) -> str:
    off = judge_off(manifest)
    return manifest.get("generation", {}).get("judge_model", "") if off is None else off_words(off)


def _judge_scores(manifest: dict[str, Any], stats: dict[str, Any]) -> str:
    """The lowest judge score per pair, in words; a judge that was off has none to count, and a
    pair no judge scored is counted as such, not as a score of 0."""
    off = judge_off(manifest)
    if off is not None:
        return off_words(off)
    scores = [f"score {k}: {_pairs(n)}" for k, n in stats["judge_min_score"].items()]
    if stats.get("unjudged"):
        scores.append(f"not judged: {_pairs(stats['unjudged'])}")
    return ", ".join(scores) or "none"


def judge_cell(score: int) -> Any:
    """A pair's lowest judge score as a table cell: 0 is no score, and is not shown as one."""
    return score if score else "not judged"


def _samples_table(manifest: dict[str, Any], stats: dict[str, Any]) -> str:
    # Without a judge the score column would hold nothing but "not judged": it is left out.
    judged = judge_off(manifest) is None
    head = ["split", "type", "question", "answer", *(["judge's lowest score"] if judged else [])]
    return _table(
        [
            head,
            *(
                [
                    r["split"],
                    r["question_type"],
                    _cut(r["question"]),
                    _cut(r["answer"]),
                    *([judge_cell(r["min_judge_score"])] if judged else []),
                ]
                for r in stats.get("samples", [])
            ),
        ]
    )


def _decided(decisions: dict[str, dict[str, int]], manifest: dict[str, Any]) -> str:
    """People's decisions, then the demo policy's and the undecided, never summed together."""
    text = _counts(decisions["people"])
    if decisions.get("demo_policy"):
        # Without a judge the demo policy had no score to go by: it says what it accepted instead.
        how = "" if judge_off(manifest) is None else f" ({DEMO_WITHOUT_JUDGE})"
        text += f"; by the demo policy{how}, not a person: {_counts(decisions['demo_policy'])}"
    if decisions.get("nobody"):
        text += f"; nobody decided yet: {_counts(decisions['nobody'])}"
    return text


def coverage_sentence(coverage: dict[str, Any] | None) -> str:
    if not coverage:
        return "not recorded"
    return (
        f"{coverage['pages_with_pairs']} of {coverage['pages']} chunked pages and {coverage['chunks_with_pairs']} of "
        f"{coverage['chunks']} chunks have at least one pair"
    )


def _split_rule(export: dict[str, Any]) -> str:
    if protocol_of(export) == "knowledge":
        return "splits by fact (a held-out fact's other phrasings train; a fact asked once trains)"
    unit = export.get("split_by", "page")
    return f"splits by {unit} (no {unit} feeds two splits)"


def _empty_split_note(manifest: dict[str, Any], stats: dict[str, Any]) -> list[str]:
    export = manifest["export"]
    unit = export.get("split_by", "page")
    notes = []
    for split in empty_splits(manifest):
        ratio = (export.get("ratios") or {}).get(split)
        why = (
            f"export.ratios.{split} is 0"
            if ratio == 0
            else (
                f"by fact at ratio {ratio}: too few facts asked in two or more phrasings"
                if protocol_of(export) == "knowledge"
                else f"split by {unit}"
                + (f" at ratio {ratio}" if ratio is not None else "")
                + f", none of the {stats['total']['pages']} page(s) with kept pairs fell to it"
            )
            + (
                f", or leakage removal emptied it ({stats['leakage_removed']} pair(s) removed)"
                if stats["leakage_removed"]
                else ""
            )
        )
        notes.append(
            f"- **{split}** holds no pairs ({why}). Its files are in the folder, empty; the configs above leave it "
            "out because `datasets` cannot load an empty split file."
        )
    return ["## Empty splits", "\n".join(notes)] if notes else []


def _columns(manifest: dict[str, Any]) -> str:
    rows: list[list[Any]] = [["config", "column", "type", "what it holds"]]
    for name in config_names(manifest):
        for field in features(_schema(name)):
            kind = field.get("dtype") or (
                "list of "
                + (
                    field["list"]
                    if isinstance(field["list"], str)
                    else "{" + ", ".join(f["name"] for f in field["list"]) + "}"
                )
            )
            rows.append([name, field["name"], kind, COLUMNS.get(field["name"], "")])
    return (
        _table(rows) + "\n\nEach split file `<split>.parquet` has a twin `<split>.jsonl` beside it with the same rows "
        "(for trainers that read JSON Lines, LLaMA-Factory among them); `manifest.json` holds the sha256 of both."
    )


def _limitations(manifest: dict[str, Any], curated: bool) -> list[str]:
    generation = manifest.get("generation", {})
    writers = [w for w in generation.get("generator_model", "").split(", ") if w]
    # generation/qa/assemble.TEMPLATE: a question a template wrote from its sentence's shape.
    models = ", ".join(w for w in writers if w != "template")
    if "template" in writers:
        writer = f"a language model ({models}) and by templates" if models else "templates"
        writer += " (a question from the shape of its sentence)"
    else:
        writer = f"a language model ({models or 'unknown'})"
    points = [
        f"The questions and answers were written by {writer}"
        " from the documentation: an answer can be wrong, incomplete, or say more than its chunk supports.",
        "They describe the documentation as it was when it was crawled (see the lineage); later versions of the "
        "product may behave differently.",
        "The pairs cover only what the crawl reached and the chunks generation kept; see the report's coverage.",
        (
            "People reviewed every pair in this version."
            if curated
            else "No person checked every pair in this version: treat it as unreviewed synthetic data."
        ),
        "The license of the text is the documentation's, not docs2qa's: check it before you publish or train on it.",
    ]
    return ["## Limitations", "\n".join(f"- {p}" for p in points)]


def _usage(manifest: dict[str, Any], where: str) -> str:
    name, version = manifest["name"], manifest["version"]
    path = f"{where}/{version}"
    whence = "from the folder export ran in" if "/" in where else "from the dataset store's root folder (export.root)"
    lines = [
        "```python",
        "from datasets import load_dataset",
        "",
        f"# {whence}",
        f'ds = load_dataset("{path}", "messages")  # configs: {", ".join(config_names(manifest))}',
        f"# after `docs2qa export --push-to-hub USER/{name}` (the version is also a tag)",
        f'ds = load_dataset("USER/{name}", "messages", revision="{version}")',
        *(f"# {fmt}: {_USAGE[fmt]}" for fmt in manifest["export"]["formats"]),
        "```",
    ]
    return "\n".join(lines)


def _citation(manifest: dict[str, Any]) -> str:
    name, version = manifest["name"], manifest["version"]
    key = f"{name}_{version}".replace("-", "_").replace(".", "_")
    source = manifest.get("source_url") or "the crawled documentation"
    return (
        "Cite the documentation's authors as its license asks. For this dataset:\n\n"
        "```bibtex\n"
        f"@misc{{{key},\n"
        f"  title = {{{{{name} {version}: question/answer pairs about {source}}}}},\n"
        f"  year = {{{manifest['created_at'][:4]}}},\n"
        f"  note = {{Generated with docs2qa, content id {manifest['content_id']}}}\n"
        "}\n```"
    )


def _judge_warning(manifest: dict[str, Any]) -> list[str]:
    informative, text = judge_state(manifest)
    return [f"> **Warning: the LLM judge was not informative.** {text}"] if informative is False else []


def _calibration_table(manifest: dict[str, Any]) -> list[str]:
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
