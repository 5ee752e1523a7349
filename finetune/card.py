"""The adapter's manifest (lineage: which data, which config, which base) and its model card."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

from docs2qa import fsio

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


def render(manifest: dict) -> str:
    """README.md for the adapter folder (Hugging Face model-card YAML header, then the facts)."""
    ds, loss, cfg = manifest["dataset"], manifest["losses"], manifest["config"]
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
    return f"""---
base_model: {manifest["base_model"]}
library_name: peft
pipeline_tag: text-generation
tags: [docs2qa, lora, {"qlora" if cfg["quantization"] == "nf4" else "peft"}, sft]
---

# {ds["name"]}/{ds["version"]} adapter for {manifest["base_model"]}

A LoRA adapter trained by `docs2qa finetune` on dataset version **{ds["name"]}/{ds["version"]}**
(content id `{ds["content_id"]}`), loss on the answer tokens only, prompts rendered with the base
model's own chat template (the same one evaluation and inference use).
{warnings}
| | |
|---|---|
| Base model | `{manifest["base_model"]}` |
| Dataset | `{ds["name"]}/{ds["version"]}`, content id `{ds["content_id"]}` |
| Examples | {manifest["examples"]["train"]} train, {manifest["examples"]["validation"]} validation |
| Length | {length(manifest)} |
| Training loss (mean / last) | {_number(loss["train_mean"])} / {_number(loss["final_train"])} |
| Validation loss (last / best) | {_number(loss["final_validation"])} / {_number(loss["best_validation"])} |
| Wall time | {manifest["wall_time_s"]:.1f} s |
| Hardware | {where} |
| Config hash | `{manifest["config_hash"]}` |

## Hyper-parameters

| name | value |
|---|---|
{rows}

## Use

```python
from docs2qa.finetune.model import load_with_adapter
model = load_with_adapter("{manifest["base_model"]}", "{manifest["adapter_dir"]}", quantization="{cfg["quantization"]}")
```

`docs2qa finetune --merge` writes the adapter merged into an un-quantized base ({cfg["merge_dtype"]}).
Library versions: {", ".join(f"{k} {v}" for k, v in manifest["libraries"].items() if v)}.
"""
