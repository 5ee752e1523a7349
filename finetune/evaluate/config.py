"""The `eval:` config section. Only pydantic and stdlib here, so `docs2qa --help` stays instant."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from docs2qa.config import LLMConfig, Section


class EvalConfig(Section):
    """Base vs tuned (and optionally base with the gold context) on held-out questions."""

    gold_file: str | None = Field(
        None,
        description="A JSON/JSONL/Parquet file of question/answer[/context] or instruction/input/output rows "
        "to evaluate on instead of the dataset version's split.",
    )
    split: str = Field("test", description="Split of the dataset version to evaluate on.")
    max_examples: int | None = Field(None, ge=1, description="Evaluate only the first N examples (trial runs).")
    batch_size: int = Field(16, ge=1, description="Prompts per generation batch (transformers engine).")
    max_new_tokens: int = Field(256, ge=1, description="Longest generated answer, in tokens.")
    answer_cap: float | None = Field(
        2.0,
        ge=1,
        description="Stop each answer at this many times its gold answer's tokens, plus 16 (and at max_new_tokens): "
        "ROUGE-L at gold length reads only the first |gold| words. null: max_new_tokens alone.",
    )
    engine: Literal["auto", "transformers", "vllm"] = Field(
        "auto", description="auto: vLLM when it is installed and a GPU is present, else transformers."
    )
    ceiling: bool = Field(
        False, description="Also run the base model with the gold context in the prompt, as an upper reference."
    )
    embedding_model: str | None = Field(
        "embedded:all-minilm-l6-v2",
        description="sentence-transformers model for answer cosine similarity; null turns the metric off.",
    )
    judge: LLMConfig | None = Field(
        None, description="An LLM that scores each answer's correctness 1-5 against the gold answer; null: no judge."
    )
    system_prompt: str | None = Field(
        None,
        description="System prompt for gold-file questions; null: the one the adapter was trained with (its "
        "dataset version's), \"\" for none. A prompt other than training's is warned about. A dataset version "
        "carries its own.",
    )
    include_context: bool = Field(
        False, description="Put the gold file's context in the prompt (a dataset version carries its own setting)."
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype; auto: bfloat16 on a GPU that supports it, else float32."
    )
    quantize: Literal["none", "4bit", "8bit"] = Field(
        "none", description="Load the base quantized with bitsandbytes (saves memory, shifts scores slightly)."
    )
    torch_threads: int | None = Field(
        None,
        ge=1,
        description="CPU threads for generation; default: torch's choice. "
        "On a CPU shared with other jobs, 1 avoids thrashing.",
    )
    examples_in_report: int = Field(10, ge=0, description="Rows in each 'tuning helped' / 'tuning hurt' table.")
    choices: int = Field(
        4,
        ge=0,
        description="Options per multiple-choice knowledge item: the gold answer and distractors of its form (numbers, "
        "commands, sentences of similar length) from other facts of the same site; yes/no and true/false answers get "
        "the two truth values. Scored by the model's likelihood; below 2 turns the check off.",
    )


# Registered with core by name (docs2qa/registry.py): the `eval:` section of Config.
SECTIONS = {"eval": EvalConfig}
