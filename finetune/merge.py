"""Merge a trained adapter into an un-quantized copy of its base model.

Never into the 4-bit base the adapter was trained on: rounding the merged weights back to
nf4 shifts logits by up to ~2, while a bf16/fp32 merge matches the unmerged model.
"""

from __future__ import annotations

from pathlib import Path


def merge_adapter(base: str | Path, adapter_dir: str | Path, target: str | Path, *, dtype: str = "bfloat16") -> Path:
    """Write base + adapter as one plain transformers model (and the adapter's tokenizer) to `target`."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = Path(target)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, dtype), device_map={"": "cpu"})
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(target)
    # The adapter folder holds the tokenizer it was trained with (chat template included).
    AutoTokenizer.from_pretrained(adapter_dir).save_pretrained(target)
    return target
