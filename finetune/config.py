"""The `finetune:` config section: QLoRA on a dataset version.

Only pydantic and the standard library are imported here, so `docs2qa --help` stays instant.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from docs2qa.config import Section


class LoraSettings(Section):
    """The adapter: which layers get one and how large it is."""

    r: int = Field(16, ge=1, description="LoRA rank.")
    alpha: int = Field(32, ge=1, description="LoRA scaling numerator (the update is scaled by alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input.")
    target_modules: Literal["all-linear"] | list[str] = Field(
        "all-linear", description="'all-linear' (every linear projection but the output head) or module names."
    )


class FinetuneConfig(Section):
    """QLoRA (or LoRA) supervised fine-tuning of a chat model on a curated dataset version."""

    dataset: str | None = Field(
        None, description="Dataset version: 'name/version', 'name' (its newest version) or a version folder."
    )
    format: Literal["prompt_completion", "messages", "sharegpt", "alpaca"] = Field(
        "prompt_completion",
        description="Which of the version's formats to read; each trains on the answer tokens only.",
    )
    base_model: str = Field(
        "embedded:smollm2", description="Model id, local folder or 'embedded:smollm2'; must carry a chat template."
    )
    quantization: Literal["nf4", "int8", "none"] = Field(
        "nf4", description="nf4: 4-bit NormalFloat with double quantisation (QLoRA); int8; none: plain LoRA."
    )
    lora: LoraSettings = Field(default_factory=LoraSettings)
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate.")
    epochs: float = Field(3.0, gt=0, description="Passes over the training split (ignored when max_steps is set).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps (short runs, demos).")
    max_length: int = Field(512, ge=16, description="Longest tokenized example; with packing, the packed length.")
    packing: bool = Field(
        False, description="Pack several examples per sequence (best-fit); attention never crosses examples."
    )
    batch_size: int = Field(4, ge=1, description="Examples per device per forward pass.")
    eval_batch_size: int | None = Field(
        None, ge=1, description="Examples per evaluation forward pass; default: batch_size."
    )
    gradient_accumulation_steps: int = Field(1, ge=1, description="Forward passes per optimizer step.")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Share of the steps spent warming up the learning rate.")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name (cosine, linear, constant, ...).")
    max_grad_norm: float = Field(0.3, gt=0, description="Gradient clipping norm.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    optimizer: str = Field(
        "paged_adamw_32bit",
        description="transformers optimizer name; paged_* ones page optimizer state on GPU and fall back on CPU.",
    )
    eval_steps: int = Field(50, ge=1, description="Evaluate on the validation split every this many steps.")
    save_steps: int | None = Field(None, ge=1, description="Checkpoint every this many steps; default: eval_steps.")
    save_total_limit: int = Field(2, ge=1, description="Checkpoints kept (the best one is always kept).")
    logging_steps: int = Field(10, ge=1, description="Log the training loss every this many steps.")
    early_stopping_patience: int | None = Field(
        3, ge=1, description="Stop after this many evaluations without a better validation loss; null: never."
    )
    seed: int = Field(42, description="Seed for the adapter init, dropout and data order.")
    gradient_checkpointing: bool = Field(
        True, description="Recompute activations in the backward pass (non-reentrant): less memory, ~30% more time."
    )
    bf16: bool | None = Field(
        None, description="bf16 compute; null: on when a GPU supports it, off on CPU (fp32 is faster there)."
    )
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = Field(
        "sdpa", description="Attention kernel; sdpa keeps packed examples apart through their position ids."
    )
    merge_dtype: Literal["bfloat16", "float32"] = Field(
        "bfloat16", description="dtype of the un-quantized base the adapter is merged into (`--merge`)."
    )
    torch_threads: int | None = Field(None, ge=1, description="CPU threads; null: $OMP_NUM_THREADS, else every core.")
    output_dir: str | None = Field(
        None, description="Where the adapter and checkpoints go; null: decided by the caller."
    )

    @model_validator(mode="after")
    def _checkpoints_line_up_with_evaluations(self) -> FinetuneConfig:
        # Early stopping keeps the best checkpoint, so every checkpoint must follow an evaluation.
        if self.early_stopping_patience and self.save_steps and self.save_steps % self.eval_steps:
            raise ValueError("finetune.save_steps must be a multiple of finetune.eval_steps when early stopping is on")
        return self

    @property
    def checkpoint_steps(self) -> int:
        return self.save_steps or self.eval_steps


# Registered with core by name (docs2qa/registry.py): the `finetune:` section of Config.
SECTIONS = {"finetune": FinetuneConfig}
