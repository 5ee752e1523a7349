"""Benchmark: QLoRA training throughput of the finetune path against a plain baseline (GPU).

A randomly initialised model with Gemma-7B's real shapes (hidden 3072, intermediate 24576,
28 layers, 16 heads of 256, vocab 256000; no weights are downloaded) is quantised to nf4 with
double quantisation and trained with LoRA r=16 on every linear projection, twice, in one process:

  ours      docs2qa.finetune.train.build_trainer: trl SFTTrainer, best-fit packing without padding
            (examples kept apart by position ids), SDPA attention, trl's fused LM head (the loss
            is computed in tiles, never the full logits), non-reentrant gradient checkpointing.
  baseline  plain transformers Trainer + bitsandbytes, the classic QLoRA recipe:
            prepare_model_for_kbit_training, padded batches (no packing), eager attention,
            the model's own loss over full fp32 logits.

Both see the same synthetic examples (lengths uniform in [max_length/8, max_length], the last
fifth of each is the answer), the same optimizer (paged AdamW 32-bit), batch size and steps.
After warm-up steps, timed steps give tokens/s (real tokens, padding excluded), peak GPU memory
and MFU at 4N FLOP per token (LoRA: no weight gradients for frozen weights). Goal: ours >= 1.3x
the baseline's tokens/s at no more memory. The last line printed is one JSON object.

    python benchmarks/bench_qlora.py                      # GPU, Gemma-7B shapes (~20 GB free GPU memory)
    python benchmarks/bench_qlora.py --layers 4           # GPU, fewer layers, quicker
    python benchmarks/bench_qlora.py --small --steps 3    # CPU smoke test with tiny shapes
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

# Gemma-7B (google/gemma-7b) architecture.
GEMMA_7B = dict(
    hidden_size=3072,
    intermediate_size=24576,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=16,
    head_dim=256,
    vocab_size=256000,
)
SMALL = dict(
    hidden_size=64,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=4,
    head_dim=16,
    vocab_size=1024,
)
# Dense bf16 peak, TFLOP/s, by device name; MFU is left out for devices not listed (or pass --peak-tflops).
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "L4": 121.0}


def gemma_config(shapes: dict, layers: int | None):
    from transformers import GemmaConfig

    return GemmaConfig(
        **{**shapes, **({"num_hidden_layers": layers} if layers else {})},
        max_position_embeddings=8192,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=1,
    )


def random_nf4_model(config, device: str, compute_dtype, attn_implementation: str):
    """Random weights quantised in place, layer by layer: a 7B model never needs to exist on disk."""
    import bitsandbytes as bnb
    import torch
    from transformers import GemmaForCausalLM
    from transformers.utils.quantization_config import QuantizationMethod

    config._attn_implementation = attn_implementation
    torch.manual_seed(0)
    with torch.device(device):
        previous = torch.get_default_dtype()
        torch.set_default_dtype(compute_dtype)
        try:
            model = GemmaForCausalLM(config)
        finally:
            torch.set_default_dtype(previous)
    for layer in model.model.layers:
        for parent in (layer.self_attn, layer.mlp):
            for name, child in list(parent.named_children()):
                if isinstance(child, torch.nn.Linear):
                    quantised = bnb.nn.Linear4bit(
                        child.in_features,
                        child.out_features,
                        bias=False,
                        compute_dtype=compute_dtype,
                        compress_statistics=True,
                        quant_type="nf4",
                        device="meta",
                    )
                    quantised.weight = bnb.nn.Params4bit(
                        child.weight.data, requires_grad=False, quant_type="nf4", compress_statistics=True
                    ).to(device)
                    setattr(parent, name, quantised)
    # What transformers sets on a model it loaded in 4 bits; peft, trl and the Trainer read these.
    model.is_loaded_in_4bit = True
    model.quantization_method = QuantizationMethod.BITS_AND_BYTES
    model.config.use_cache = False
    if device == "cuda":
        torch.cuda.empty_cache()
    return model


def examples(n: int, max_length: int, vocab: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        length = rng.randint(max_length // 8, max_length)
        answer = max(1, length // 5)
        rows.append(
            {
                "input_ids": [rng.randrange(3, vocab) for _ in range(length)],
                "completion_mask": [0] * (length - answer) + [1] * answer,
            }
        )
    return rows


def tokenizer_stub(path: Path):
    """Any tokenizer with a pad token: the examples are already token ids."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(
            models.WordLevel({"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}, unk_token="<unk>")
        ),
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        unk_token="<unk>",
    )
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    tok.save_pretrained(path)
    return tok


class CountingCollator:
    """Counts the real (non-padding) tokens of every batch, in the order the trainer consumes them."""

    def __init__(self, collate):
        self.collate, self.tokens = collate, []

    def __call__(self, features):
        batch = self.collate(features)
        mask = batch.get("attention_mask")
        self.tokens.append(int(mask.sum()) if mask is not None else int(batch["input_ids"].numel()))
        return batch


def step_timer(device: str):
    import torch
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.seconds = []

        def on_step_begin(self, args, state, control, **kwargs):
            if device == "cuda":
                torch.cuda.synchronize()
            self._t = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if device == "cuda":
                torch.cuda.synchronize()
            self.seconds.append(time.perf_counter() - self._t)

    return StepTimer()


def run_ours(args, config, device, dtype, rows, workdir: Path) -> dict:
    from datasets import Dataset
    from docs2qa.finetune.config import FinetuneConfig
    from docs2qa.finetune.train import build_trainer

    cfg = FinetuneConfig(
        dataset="synthetic",
        base_model="random",
        quantization="nf4",
        lora={"r": args.r, "alpha": 2 * args.r, "dropout": 0.0},
        max_steps=args.warmup + args.steps,
        max_length=args.max_length,
        packing=True,
        batch_size=args.batch_size,
        eval_steps=10_000,
        early_stopping_patience=None,
        logging_steps=10_000,
        bf16=dtype_name(dtype) == "bfloat16",
        attn_implementation="sdpa",
    )
    model = random_nf4_model(config, device, dtype, "sdpa")
    timer = step_timer(device)
    trainer = build_trainer(
        cfg,
        model,
        tokenizer_stub(workdir / "tok"),
        Dataset.from_list(rows),
        None,
        workdir / "ours",
        bf16=cfg.bf16,
        callbacks=[timer],
    )
    return measure(trainer, timer, device, args)


def run_baseline(args, config, device, dtype, rows, workdir: Path) -> dict:
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import Trainer, TrainingArguments

    model = random_nf4_model(config, device, dtype, "eager")
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    model = get_peft_model(
        model,
        LoraConfig(
            r=args.r, lora_alpha=2 * args.r, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
        ),
    )

    def pad(features):
        longest = max(len(f["input_ids"]) for f in features)
        ids = torch.zeros(len(features), longest, dtype=torch.long)
        labels = torch.full((len(features), longest), -100)
        mask = torch.zeros(len(features), longest, dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"])
            mask[i, :n] = 1
            labels[i, :n] = torch.where(torch.tensor(f["completion_mask"]) == 1, ids[i, :n], -100)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    timer = step_timer(device)
    training = TrainingArguments(
        output_dir=str(workdir / "baseline"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.warmup + args.steps,
        learning_rate=2e-4,
        optim="paged_adamw_32bit",
        bf16=dtype_name(dtype) == "bfloat16",
        gradient_checkpointing=True,
        save_strategy="no",
        report_to="none",
        logging_steps=10_000,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        seed=0,
    )
    trainer = Trainer(model=model, args=training, train_dataset=rows, data_collator=pad, callbacks=[timer])
    return measure(trainer, timer, device, args)


def measure(trainer, timer, device: str, args) -> dict:
    import torch

    counter = CountingCollator(trainer.data_collator)
    trainer.data_collator = counter
    before = torch.cuda.memory_allocated() if device == "cuda" else 0
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    timed = slice(args.warmup, args.warmup + args.steps)
    seconds, tokens = sum(timer.seconds[timed]), sum(counter.tokens[timed])
    result = {
        "tokens_per_s": round(tokens / seconds, 1),
        "step_s": round(seconds / args.steps, 4),
        "tokens_per_step": round(tokens / args.steps, 1),
    }
    if device == "cuda":
        result["peak_memory_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
        result["memory_at_start_gb"] = round(before / 1e9, 2)  # the quantised model (and anything leaked)
    else:
        import resource

        result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
    return result


def dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def release(device: str) -> None:
    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="tiny shapes (CPU smoke test)")
    parser.add_argument("--layers", type=int, default=None, help="decoder layers (default: 28, the real model)")
    parser.add_argument("--max-length", type=int, default=512, help="packed length; examples are at most this long")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--r", type=int, default=16, help="LoRA rank")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--peak-tflops", type=float, default=None, help="device bf16 peak for MFU")
    parser.add_argument("--only", choices=["ours", "baseline"], default=None)
    args = parser.parse_args()

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    config = gemma_config(SMALL if args.small else GEMMA_7B, args.layers)
    # Enough examples that no run reaches the end of an epoch inside the timed steps.
    rows = examples(args.batch_size * (args.warmup + args.steps) * 10, args.max_length, config.vocab_size)

    from transformers import GemmaForCausalLM

    with torch.device("meta"):
        n_params = sum(p.numel() for p in GemmaForCausalLM(config).parameters())
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), None)

    results = {
        "device": name,
        "dtype": dtype_name(dtype),
        "params": n_params,
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "vocab": config.vocab_size,
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "lora_r": args.r,
        "warmup_steps": args.warmup,
        "timed_steps": args.steps,
    }
    with tempfile.TemporaryDirectory() as tmp:
        # The baseline goes first: memory a finished run fails to release counts against ours, not it.
        for label, run in (("baseline", run_baseline), ("ours", run_ours)):
            if args.only in (None, label):
                results[label] = run(args, config, device, dtype, rows, Path(tmp))
                if peak:
                    results[label]["mfu"] = round(results[label]["tokens_per_s"] * 4 * n_params / (peak * 1e12), 4)
                print(f"{label}: {results[label]}", file=sys.stderr, flush=True)
                release(device)
    if "ours" in results and "baseline" in results:
        results["speedup"] = round(results["ours"]["tokens_per_s"] / results["baseline"]["tokens_per_s"], 3)
        memory = "peak_memory_gb" if device == "cuda" else "peak_rss_gb"
        results["memory_ratio"] = round(results["ours"][memory] / results["baseline"][memory], 3)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
