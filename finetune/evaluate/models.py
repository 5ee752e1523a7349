"""A tuned model folder -> its adapter, base model and training manifest; loading both.

The tuned and the base model are one PeftModel: the base answers inside
`model.disable_adapter()`, so the base weights sit in memory once, not twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docs2qa.errors import Docs2qaError

if TYPE_CHECKING:
    from torch import nn

ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


@dataclass(frozen=True)
class TunedModel:
    adapter_dir: Path
    base_model: str  # as the manifest or adapter config names it, e.g. "embedded:smollm2"
    base_path: str  # what from_pretrained loads
    manifest: dict | None  # the fine-tune run's manifest.json, when there is one
    adapter_config: dict

    @property
    def tokenizer_dir(self) -> str:
        # Training saves the tokenizer (and its chat template) beside the adapter; prefer it.
        return str(self.adapter_dir) if (self.adapter_dir / "tokenizer_config.json").is_file() else self.base_path

    def identity(self) -> dict[str, Any]:
        weights = next(
            (self.adapter_dir / name for name in ADAPTER_WEIGHTS if (self.adapter_dir / name).is_file()), None
        )
        return {
            "base_model": self.base_model,
            "adapter": str(self.adapter_dir),
            "adapter_sha256": hashlib.sha256(weights.read_bytes()).hexdigest()[:16] if weights else None,
            "lora_rank": self.adapter_config.get("r"),
            "trained_on": (self.manifest or {}).get("dataset"),
        }


def locate(model_dir: str | Path) -> TunedModel:
    """Accept an adapter folder or the fine-tune output folder holding adapter/ and manifest.json."""
    from docs2qa.models.embedded import resolve_model

    model_dir = Path(model_dir)
    if (model_dir / "adapter_config.json").is_file():
        adapter_dir, manifest_path = model_dir, model_dir.parent / "manifest.json"
    elif (model_dir / "adapter" / "adapter_config.json").is_file():
        adapter_dir, manifest_path = model_dir / "adapter", model_dir / "manifest.json"
    else:
        raise Docs2qaError(
            f"{model_dir} is not a tuned model: no adapter_config.json in it or in {model_dir / 'adapter'}",
            "pass the output folder of `docs2qa finetune` or the adapter folder inside it",
        )
    adapter_config = json.loads((adapter_dir / "adapter_config.json").read_text())
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    # The manifest keeps the portable name ("embedded:smollm2"); the adapter config may hold
    # a cache path from the training machine.
    base = (manifest or {}).get("base_model") or adapter_config.get("base_model_name_or_path")
    if not base:
        raise Docs2qaError(
            f"{adapter_dir} does not say which base model it was trained on",
            "set base_model_name_or_path in adapter_config.json or base_model in the run's manifest.json",
        )
    return TunedModel(adapter_dir, base, resolve_model(base), manifest, adapter_config)


def torch_dtype(name: str, device: str, quantize: str = "none"):
    """The dtype of the weights that are not quantized (all of them without quantization)."""
    import torch

    if name == "auto":
        cuda_bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
        dtype = torch.bfloat16 if cuda_bf16 else torch.float32
    else:
        dtype = getattr(torch, name)
    # bitsandbytes computes in 16 bits: fp32 activations would be cast on every matmul.
    if quantize != "none" and dtype == torch.float32:
        return torch.float16 if quantize == "8bit" else torch.bfloat16
    return dtype


def load_tokenizer(tuned: TunedModel):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tuned.tokenizer_dir)
    if not tokenizer.chat_template:
        raise Docs2qaError(
            f"the tokenizer in {tuned.tokenizer_dir} has no chat template",
            "evaluate an instruct/chat base model, or save a tokenizer with a chat template beside the adapter",
        )
    # Left padding keeps each prompt's last token at the end of its row, where generation continues.
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_peft_model(tuned: TunedModel, dtype: str, quantize: str, device: str):
    """Base (optionally quantized) + adapter as one PeftModel, in eval mode on `device`."""
    import peft
    from transformers import AutoModelForCausalLM

    options: dict[str, Any] = {"dtype": torch_dtype(dtype, device, quantize)}
    if quantize != "none":
        from transformers import BitsAndBytesConfig

        options["quantization_config"] = (
            BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=options["dtype"],
            )
            if quantize == "4bit"
            else BitsAndBytesConfig(load_in_8bit=True)
        )
        options["device_map"] = {"": device}
    base = AutoModelForCausalLM.from_pretrained(tuned.base_path, **options)
    if quantize == "none":
        # Called as a torch Module: transformers declares its `to` through functools.wraps, whose
        # type (typeshed's _Wrapped) mypy does not bind to the instance. The call is the same.
        module: nn.Module = base
        module.to(device)
    elif quantize == "4bit":
        from docs2qa.finetune.model import choose_cpu_4bit_path

        choose_cpu_4bit_path(base, training=False)  # layers bitsandbytes' packed CPU path cannot hold
    model = peft.PeftModel.from_pretrained(base, str(tuned.adapter_dir))
    model.eval()
    return model
