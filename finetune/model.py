"""Loading the base model for training (4-bit nf4, 8-bit or plain) and with an adapter for use.

One code path for a CPU in CI and for GPUs: the quantised layers are bitsandbytes' on both,
and under `accelerate launch` each process puts its copy on its own GPU.
"""

from __future__ import annotations

import os
from pathlib import Path

from docs2qa.errors import Docs2qaError
from docs2qa.finetune.config import FinetuneConfig

# bitsandbytes' packed CPU layout for 4-bit weights holds output rows in blocks of this many.
PACKED_ROWS = 32


def set_threads(threads: int | None) -> int:
    """CPU threads for torch: the configured number, else $OMP_NUM_THREADS, else every core."""
    import torch

    n = threads or int(os.environ.get("OMP_NUM_THREADS") or 0) or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


def use_bf16(cfg: FinetuneConfig) -> bool:
    """bf16 when asked, or by default when a GPU supports it (CPUs without bf16 units crawl in it)."""
    import torch

    if cfg.bf16 is not None:
        return cfg.bf16
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def device_map() -> dict:
    """Every process holds a whole copy of the model on its own device (data parallel)."""
    import torch

    if torch.cuda.is_available():
        from accelerate import PartialState

        return {"": PartialState().local_process_index}
    return {"": "cpu"}


def quantization_config(kind: str, compute_dtype):
    if kind == "none":
        return None
    from transformers import BitsAndBytesConfig

    if kind == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    )


def fits_packed_cpu_path(layer) -> bool:
    """Whether bitsandbytes' packed CPU layout can hold this 4-bit layer: its conversion asserts
    out_features % 32 == 0, and its regrouped scales need in_features to be whole 4-bit blocks."""
    return layer.out_features % PACKED_ROWS == 0 and layer.in_features % layer.weight.blocksize == 0


def choose_cpu_4bit_path(model, *, training: bool) -> int:
    """Keep 4-bit layers off bitsandbytes' packed CPU path where it would break; return how many.

    On a CPU with AVX512-BF16, bitsandbytes 0.50.2 repacks a `Linear4bit` weight in its first
    no-grad eval-mode forward and multiplies packed weights with a kernel that has no backward.
    The weight stays packed, so a training step after an evaluation (the Trainer's eval_steps)
    would pass no gradient through the frozen base layers: training models keep the plain path.
    For inference the packed path is kept (it is bitsandbytes' fast path) except on layers whose
    shape it cannot hold, which would fail its assertion ("N must be divisible by block_n").
    """
    from bitsandbytes.nn import Linear4bit

    switched = 0
    for layer in model.modules():
        if (
            isinstance(layer, Linear4bit)
            and layer.support_avx512bf16_for_cpu
            and (training or not fits_packed_cpu_path(layer))
        ):
            layer.support_avx512bf16_for_cpu = False
            switched += 1
    return switched


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if not tokenizer.chat_template:
        raise Docs2qaError(
            f"the base model {path} has no chat template",
            "fine-tune an instruct/chat model: training, evaluation and inference all use its own template",
        )
    if tokenizer.pad_token is None:
        # Padding positions carry no loss and no attention, so any token will do.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base(
    path: str | Path, *, quantization: str, bf16: bool, attn_implementation: str = "sdpa", inference: bool = False
):
    """The frozen base model, quantised as asked; compute in bf16 or fp32. For training unless `inference`."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if bf16 else torch.float32
    quant = quantization_config(quantization, dtype)
    model = AutoModelForCausalLM.from_pretrained(
        path,
        dtype=dtype,
        quantization_config=quant,
        # bitsandbytes places weights while loading; a plain model is moved by the Trainer.
        device_map=device_map() if quant is not None else None,
        attn_implementation=attn_implementation,
    )
    model.config.use_cache = False  # the KV cache is useless in training and breaks packed attention
    if quantization == "nf4":
        choose_cpu_4bit_path(model, training=not inference)
    return model


def lora_config(cfg: FinetuneConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )


def load_with_adapter(base: str | Path, adapter_dir: str | Path, *, quantization: str = "nf4", bf16: bool = False):
    """Base (a path, hub id or `embedded:` name) + trained adapter for evaluation or inference,
    quantised the way it was trained."""
    from peft import PeftModel

    from docs2qa.models.embedded import resolve_model

    model = PeftModel.from_pretrained(
        load_base(resolve_model(str(base)), quantization=quantization, bf16=bf16, inference=True), str(adapter_dir)
    )
    model.eval()
    return model
