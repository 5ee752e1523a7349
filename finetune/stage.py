"""Fine-tuning and evaluation as run stages: `finetune` tunes the base model on this run's
exported dataset version (or the one `finetune.dataset` names); `eval` compares it with its
base on the version's test split (or `eval.gold_file`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docs2qa.errors import Docs2qaError
from docs2qa.pipeline import Description, Manifest, Option, Requirement, Stage, record
from docs2qa.records import sha256_hex
from docs2qa.store import StageDir, StageResult

if TYPE_CHECKING:  # the declarations below load for `docs2qa --help`: no pydantic models here
    from docs2qa.config import Config
    from docs2qa.store import RunStore

RESULTS_DIR = "results"


def dataset_ref(config: Config, store: RunStore) -> str:
    """The version to tune on: the configured one, else the one this run exported."""
    if config.finetune.dataset:
        configured: str = config.finetune.dataset
        return configured
    exported = (store.stage("export").manifest() or {}).get("dataset")
    if not exported:
        raise Docs2qaError(
            f"run {store.root} has no exported dataset version to fine-tune on",
            "run `docs2qa export` first, or name a version with --set finetune.dataset=NAME/VERSION",
        )
    path: str = exported["path"]
    return path


def model_dir(config: Config, store: RunStore, dataset: str) -> Path:
    """One folder per dataset version and recipe: tuning on new data or with new settings never
    meets an older run's checkpoints, and nothing earlier is overwritten."""
    if config.finetune.output_dir:
        return Path(config.finetune.output_dir)
    from docs2qa.config import stable_hash
    from docs2qa.datastore.versions import read_manifest, resolve_version
    from docs2qa.finetune.train import RESUME_FREE

    version = read_manifest(resolve_version(dataset, config.export.root))
    # Settings a resume may change (max_steps, threads) stay in the same folder, so it can resume.
    recipe = stable_hash(config.finetune.model_dump(mode="json", exclude={"dataset", *RESUME_FREE}))[:8]
    return store.stage("finetune").path / f"{version['name']}-{version['version']}-{recipe}"


def tuned_model_dir(store: RunStore) -> Path:
    tuned = (store.stage("finetune").manifest() or {}).get("finetune")
    if not tuned or not store.stage("finetune").is_complete():
        raise Docs2qaError(f"run {store.root} has no fine-tuned model to evaluate", "run `docs2qa finetune` first")
    return Path(tuned["model_dir"])


def _adapter_identity(folder: Path) -> str:
    # What eval reads: the adapter's weights and config, not the time they were written.
    files = sorted((folder / "adapter").glob("adapter_*"))
    return sha256_hex(b"".join(sha256_hex(p.read_bytes()).encode() for p in files))[:16]


def finetune(config: Config, store: RunStore, resume: bool | None = None, merge: bool = False) -> Manifest:
    """`resume=None` (what `docs2qa run` does): continue from a checkpoint when this recipe on
    this version left one, e.g. after a kill; True/False are `docs2qa finetune [--resume]`."""
    from docs2qa.finetune.train import finetune as train

    cfg = config.finetune.model_copy(update={"dataset": dataset_ref(config, store)})
    out = model_dir(config, store, cfg.dataset)
    if resume is None:
        resume = any((out / "checkpoints").glob("checkpoint-*"))
    if os.environ.get("RANK", "0") != "0":
        # Under `accelerate launch` every process trains; only the first one records the stage.
        return train(cfg, out_dir=out, dataset_root=Path(config.export.root), resume=resume, merge=merge)

    def body(stage: StageDir) -> StageResult:
        manifest = train(cfg, out_dir=out, dataset_root=Path(config.export.root), resume=resume, merge=merge)
        return StageResult(
            tables={},
            count_in=manifest["examples"]["train"],
            extra={"finetune": {"model_dir": str(out), **_summary(manifest)}},
            identity=_adapter_identity(out),
        )

    return record("finetune", config, store, body)


def _summary(manifest: Manifest) -> dict[str, Any]:
    keep = ("base_model", "dataset", "examples", "global_step", "losses", "wall_time_s", "hardware")
    return {k: manifest[k] for k in keep if k in manifest}


def evaluate(config: Config, store: RunStore) -> Manifest:
    from docs2qa.config import stable_hash
    from docs2qa.finetune.evaluate.run import evaluate as run_eval

    def body(stage: StageDir) -> StageResult:
        dataset = None
        if not config.eval.gold_file:
            from docs2qa.datastore.versions import resolve_version

            dataset = resolve_version(dataset_ref(config, store), config.export.root)
        out = stage.path / RESULTS_DIR
        model_dir = tuned_model_dir(store)
        summary = run_eval(config.eval, model_dir=model_dir, out_dir=out, dataset=dataset)
        # The card was written before eval ran: it gets the scores and the report's link now.
        from docs2qa.finetune.card import add_evaluation

        add_evaluation(model_dir, summary)
        # The scores identify the result; results.json also holds times and timings.
        return StageResult(
            tables={},
            count_in=summary.get("examples", 0),
            extra={"eval": summary},
            identity=stable_hash(summary["aggregates"]),
        )

    return record("eval", config, store, body)


def _describe_finetune(manifest: Manifest) -> Description:
    tuned = manifest.get("finetune", {})
    steps = tuned.get("global_step", "?")
    return Description(
        product=f"adapter after {steps} steps",
        notes=(f"adapter and model card in {tuned.get('model_dir')} ({steps} steps)",),
    )


def _describe_eval(manifest: Manifest) -> Description:
    summary = manifest.get("eval", {})
    files = f"results: {summary.get('results')}; report: {summary.get('report')}"
    if summary.get("measured"):
        # What was measured, and each verdict with its n and interval (`status` prints the notes).
        lines = tuple(v["line"] for v in (summary.get("verdicts") or {}).values())
        return Description(product=summary["measured"], notes=(*lines, files))
    # An eval recorded by an older docs2qa, without its sentences: they are built from its
    # comparisons, so that no score is shown without its n and verdict (bare means never).
    from docs2qa.finetune.evaluate.protocol import verdicts
    from docs2qa.recap import next_command

    lines = tuple(v["line"] for v in verdicts(summary.get("comparisons") or {}, summary.get("protocol")).values())
    n = summary.get("n", summary.get("examples"))
    return Description(
        product="evaluated" if n is None else f"{n} questions evaluated",
        notes=(*(lines or (f"no verdict recorded: rerun `{next_command('eval')}`",)), files),
    )


_STAGE = "docs2qa.finetune.stage"

_TRAIN = tuple(Requirement(m, "finetune") for m in ("torch", "transformers", "peft", "trl", "datasets", "accelerate"))
_EVAL = (
    *(Requirement(m, "finetune") for m in ("torch", "transformers", "peft", "datasets")),
    Requirement("sentence_transformers", "generate", when=lambda config: config.eval.embedding_model is not None),
    Requirement("bitsandbytes", "finetune", when=lambda config: config.eval.quantize != "none"),
)

STAGES = (
    # A dataset version named in the config replaces this run's export.
    Stage(
        "finetune",
        f"{_STAGE}:finetune",
        ("export",),
        "QLoRA-tune the base model on the dataset version (adapter, model card, manifest)",
        requires=(
            *_TRAIN,
            Requirement("bitsandbytes", "finetune", when=lambda config: config.finetune.quantization != "none"),
        ),
        select_inputs=lambda config: () if config.finetune.dataset else ("export",),
        describe=_describe_finetune,
        help="QLoRA-tune the base model on a dataset version (multi-GPU: `accelerate launch -m docs2qa finetune ...`).",
        options=(
            Option("--resume", "resume", bool, False, "Continue from the last checkpoint (same step count)."),
            Option("--merge", "merge", bool, False, "Also write the adapter merged into an un-quantized base."),
        ),
    ),
    # ... and a gold file replaces the dataset version's split.
    Stage(
        "eval",
        f"{_STAGE}:evaluate",
        ("finetune", "export"),
        "compare the tuned model with its base on the test split (results.json, report.html)",
        requires=_EVAL,
        select_inputs=lambda config: (
            ("finetune",) if config.finetune.dataset or config.eval.gold_file else ("finetune", "export")
        ),
        describe=_describe_eval,
        help="Compare the tuned model with its base on the test split (or eval.gold_file).",
    ),
)
