"""Builders for the eval tests: a LoRA adapter on a tiny model, canonical rows, a version.

The adapter's B matrices are drawn non-zero (peft initialises them to zero, which would
make tuned == base), so the tuned model's greedy text differs from the base model's.
"""

from __future__ import annotations

import json
from pathlib import Path

QUESTIONS = [
    ("Does the crawler read the sitemap?", "Yes, the crawler reads the sitemap before the next stage.", "yes_no"),
    ("What does the converter split?", "The converter splits every heading in one pass.", "factual"),
    (
        "How does the exporter store a dropped record?",
        "The exporter stores a dropped record with a clear reason.",
        "procedural",
    ),
    ("Is the robots file skipped?", "No, the judge checks the robots file.", "yes_no"),
    (
        "Why does each page follow the run manifest?",
        "Each page follows the run manifest and keeps the order.",
        "conceptual",
    ),
    ("Which stage checks each code block?", "A judge checks each code block when the cache is warm.", "factual"),
    ("Does a chunk write the question?", "True: a chunk writes the question in one pass.", "yes_no"),
]


def build_adapter(
    model_path: Path,
    out_dir: Path,
    *,
    dataset: dict | None = None,
    rank: int = 4,
    b_std: float = 0.5,
    base_model: str | None = None,
) -> Path:
    """A fine-tune output folder: out_dir/adapter (weights + tokenizer) and out_dir/manifest.json.

    `b_std` 0.5 changes the tiny model's text visibly; a real model stays fluent near 0.02.
    `base_model` is what the manifest names (default: the model path).
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)  # A is drawn here: the same adapter every time
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    peft = get_peft_model(
        model,
        LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=["q_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM"),
    )
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, b_std)
    adapter = out_dir / "adapter"
    peft.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(model_path).save_pretrained(adapter)
    manifest = {"base_model": base_model or str(model_path), "dataset": dataset or {}}
    (out_dir / "manifest.json").write_text(json.dumps(manifest))
    return out_dir


def canonical_rows(split: str, count: int | None = None) -> list[dict]:
    chosen = QUESTIONS if count is None else QUESTIONS[:count]
    return [
        {
            "pair_id": f"{split}-{i}",
            "question": q,
            "answer": a,
            "context": f"Documentation: {a}",
            "question_type": t,
            "page_id": "p1",
            "url": "http://docs.test/a",
            "anchor_url": "http://docs.test/a#x",
            "title": "A",
            "heading_path": ["A"],
            "chunk_id": "c1",
            "fact_id": "",
            "generator_model": "tiny",
            "min_judge_score": 4,
            "curation": "accepted",
        }
        for i, (q, a, t) in enumerate(chosen)
    ]


def write_demo_version(
    root: Path, *, system_prompt: str | None = "Answer from the docs.", include_context: bool = False
) -> Path:
    from docs2qa.datastore.versions import write_version

    splits = {"train": canonical_rows("train", 3), "validation": [], "test": canonical_rows("test")}
    return write_version(root, "demo", splits, {"system_prompt": system_prompt, "include_context": include_context}, {})
