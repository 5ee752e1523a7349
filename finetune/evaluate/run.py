"""`evaluate`: generate with base, tuned (and ceiling), score, write results.json + report.html."""

from __future__ import annotations

import datetime as dt
import gc
import json
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from docs2qa.errors import Docs2qaError
from docs2qa.finetune.evaluate.config import EvalConfig
from docs2qa.finetune.evaluate.data import EvalData, Example, load_gold_file, load_version, training_prompt
from docs2qa.finetune.evaluate.generate import Generation, answer_limits, generate, render_prompts
from docs2qa.finetune.evaluate.models import TunedModel, load_peft_model, load_tokenizer, locate, torch_dtype
from docs2qa.finetune.evaluate.scoring import CHOICE, PER_EXAMPLE, score, summarize
from docs2qa.fsio import atomic_write_text

RESULTS = "results.json"
REPORT = "report.html"
# name -> (adapter on, context in the prompt: None = as the dataset says), in the report's order.
VARIANTS: dict[str, tuple[bool, bool | None]] = {"base": (False, None), "tuned": (True, None), "ceiling": (False, True)}
DESCRIPTIONS = {
    "base": "base model, same prompt as the tuned one",
    "tuned": "base + adapter",
    "ceiling": "base model with the gold context in the prompt: an open-book reference, not an upper bound "
    "(a closed-book model that learned the answers can beat it)",
}


def evaluate(cfg: EvalConfig, *, model_dir: Path, out_dir: Path, dataset: Path | None = None) -> dict:
    """Evaluate the tuned model in `model_dir` against its base; return the summary.

    `dataset` is a dataset version folder, used unless `cfg.gold_file` is set; with neither,
    the version the adapter was trained from (its manifest's dataset.path) is used.
    """
    from docs2qa.finetune.evaluate import protocol

    started = time.monotonic()
    out_dir = Path(out_dir)
    tuned = locate(model_dir)
    data, prompt_warnings = _load_data(cfg, tuned, dataset)
    examples = data.examples[: cfg.max_examples]
    if not examples:
        where = data.identity["path"] + (f" (split {data.identity['split']})" if data.identity["split"] else "")
        raise Docs2qaError(
            f"no examples to evaluate in {where}", "evaluate another split (eval.split) or a gold file (eval.gold_file)"
        )
    notes: list[str] = []
    variants = ["base", "tuned"]
    if cfg.ceiling and data.include_context:
        notes.append("ceiling skipped: the prompts already hold the gold context, so 'base' is that run")
    elif cfg.ceiling:
        variants.append("ceiling")

    from docs2qa.finetune.evaluate.choice import build_items

    items = build_items(examples, cfg.choices, data.pool or examples)
    timings: dict[str, Any] = {}
    with _torch_threads(cfg.torch_threads):
        generations, generation_info, choice_scores = _generate_all(
            cfg, tuned, data, examples, variants, timings, items
        )
        choices = {"items": items, "scores": choice_scores} if choice_scores else None
        rows = score(cfg, examples, variants, generations, timings, choices)
    timings["total_s"] = round(time.monotonic() - started, 2)

    active = [
        *PER_EXAMPLE,
        *(["embedding_cosine"] if cfg.embedding_model else []),
        *(["judge_score"] if cfg.judge else []),
        *([CHOICE] if choices else []),
    ]
    knowledge = _knowledge_check(cfg, items, choices, generation_info["engine"])
    trained_on = (tuned.manifest or {}).get("dataset") or {}
    matches = data.identity["content_id"] == trained_on["content_id"] if trained_on.get("content_id") else None
    if matches is False:
        notes.append(
            f"evaluated on content {data.identity['content_id']}, trained on {trained_on['content_id']}: "
            "check that these questions were held out from training"
        )
    summary = summarize(rows, variants, active, data.protocol)
    summary["warnings"] = [*prompt_warnings, *summary["warnings"]]
    facts = protocol.fact_table(rows)
    results = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        # The first thing every surface says: what these numbers are about.
        "measured": protocol.measured(
            data.protocol, len(rows), len(facts["facts"]), data.include_context, data.identity
        ),
        "protocol": data.protocol,
        "n": len(rows),
        "model": {**tuned.identity(), "tokenizer": tuned.tokenizer_dir},
        "dataset": {
            **data.identity,
            "examples": len(examples),
            "available": len(data.examples),
            "system_prompt": data.system_prompt,
            "include_context": data.include_context,
            # The adapter's own version: its test split was held out from training by construction.
            "matches_training": matches,
        },
        "generation": {
            **generation_info,
            "batch_size": cfg.batch_size,
            "max_new_tokens": cfg.max_new_tokens,
            "answer_cap": cfg.answer_cap,
            "decoding": "greedy",
            "quantize": cfg.quantize,
        },
        "variants": {name: DESCRIPTIONS[name] for name in variants},
        "metrics": active,
        "embedding_model": cfg.embedding_model,
        "judge": _judge_label(cfg),
        "notes": notes,
        **summary,
        "verdicts": protocol.verdicts(summary["comparisons"], data.protocol),
        "knowledge_check": knowledge,
        "facts": facts,
        "timings": timings,
        "examples": rows,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / RESULTS, json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    from docs2qa.finetune.evaluate.report import render

    atomic_write_text(out_dir / REPORT, render(results, cfg.examples_in_report))
    _tell(results)
    return {
        "results": str(out_dir / RESULTS),
        "report": str(out_dir / REPORT),
        "examples": len(examples),
        "measured": results["measured"],
        "protocol": data.protocol,
        "n": len(rows),
        # What the recap, `status` and the model card print: each verdict with its n and interval.
        "verdicts": results["verdicts"],
        "dataset": results["dataset"],
        "aggregates": {name: agg["overall"] for name, agg in results["aggregates"].items()},
        "comparisons": results["comparisons"],
        "warnings": results["warnings"],
        "timings": timings,
        "notes": notes,
    }


def _knowledge_check(cfg: EvalConfig, items: list, choices: dict | None, engine: str) -> dict:
    from docs2qa.finetune.evaluate.choice import SKIPPED, chance

    built = [item for item in items if item is not None]
    if choices is None:
        reason = (
            "turned off (eval.choices < 2)"
            if cfg.choices < 2
            else "needs the transformers engine (set eval.engine: transformers)"
            if built and engine != "transformers"
            else SKIPPED
        )
        return {"items": 0, "skipped": len(items), "reason": reason}
    return {
        "items": len(built),
        "skipped": len(items) - len(built),
        "options": cfg.choices,
        # From the choice sets as built: a true/false item has two options whatever eval.choices says.
        **chance(items),
        "scoring": "mean log-probability per option token after the question's prompt",
        "skipped_reason": SKIPPED,
    }


def _tell(results: dict) -> None:
    """What was measured, the warnings and the verdicts in the terminal: nobody has to open
    the report to see them."""
    from rich.console import Console
    from rich.markup import escape

    from docs2qa.finetune.evaluate.report import LABELS

    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(f"[bold]eval[/]: {escape(results['measured'])}")
    for warning in results["warnings"]:
        console.print(f"[bold red]WARNING[/]: {escape(warning)}")
    for verdict in results.get("verdicts", {}).values():
        console.print(f"  {escape(verdict['line'])}")
    for metric in results["metrics"]:
        c = results["comparisons"][metric]
        if c["difference"] is None:
            continue
        interval = f" [{c['low']:+.3f}, {c['high']:+.3f}]" if c["low"] is not None else ""
        console.print(f"  {LABELS[metric]}: tuned - base {c['difference']:+.3f}{interval} (n={c['n']}): {c['verdict']}")


def _load_data(cfg: EvalConfig, tuned: TunedModel, dataset: Path | None) -> tuple[EvalData, list[str]]:
    """The examples, and warnings about a prompt that differs from the one training used."""
    known, trained, source = training_prompt(tuned.manifest)
    if cfg.gold_file:
        # A gold file has no prompt of its own: by default it is asked in training's.
        chosen = trained if cfg.system_prompt is None else cfg.system_prompt or None
        data = load_gold_file(cfg.gold_file, chosen, cfg.include_context)
        if not known:
            return data, [
                f"the system prompt the adapter was trained with is unknown ({source}): the gold file is asked "
                f"with {_shown(chosen)}; if training used another, the tuned model is asked in a prompt it never "
                "saw and scores lower than it should. Set eval.system_prompt to training's."
            ]
    else:
        if dataset is None:
            path = ((tuned.manifest or {}).get("dataset") or {}).get("path")
            if not path:
                raise Docs2qaError(
                    "no dataset to evaluate on",
                    "name a dataset version, or set eval.gold_file to a JSON/JSONL/Parquet file of questions and "
                    "answers",
                )
            dataset = Path(path)
        data = load_version(Path(dataset), cfg.split)
    if known and (data.system_prompt or None) != (trained or None):
        return data, [
            f"eval asks with {_shown(data.system_prompt)}, but the adapter was trained with {_shown(trained)} "
            f"({source}): the tuned model is asked in a prompt it never saw, and its scores understate it"
            + (". Unset eval.system_prompt to use training's." if cfg.gold_file else ".")
        ]
    return data, []


def _shown(prompt: str | None) -> str:
    return f"the system prompt {prompt!r}" if prompt else "no system prompt"


def choose_engine(cfg: EvalConfig) -> str:
    from docs2qa.finetune.evaluate import vllm_engine

    if cfg.engine == "vllm" and cfg.quantize != "none":
        raise Docs2qaError(
            "eval.quantize works with the transformers engine only",
            "set eval.engine: transformers, or eval.quantize: none",
        )
    if cfg.engine == "auto":
        return "vllm" if cfg.quantize == "none" and vllm_engine.usable() else "transformers"
    return cfg.engine


def _generate_all(
    cfg: EvalConfig,
    tuned: TunedModel,
    data: EvalData,
    examples: list[Example],
    variants: list[str],
    timings: dict,
    items: list,
) -> tuple[dict[str, list[Generation]], dict, dict | None]:
    import torch

    tokenizer = load_tokenizer(tuned)
    rendered: dict[bool, list[list[int]]] = {}
    prompts = {}
    for name in variants:
        context = VARIANTS[name][1]
        context = data.include_context if context is None else context
        if context not in rendered:
            rendered[context] = render_prompts(tokenizer, examples, data.system_prompt, context)
        prompts[name] = rendered[context]
    limits = answer_limits(tokenizer, [e.answer for e in examples], cfg.max_new_tokens, cfg.answer_cap)

    engine = choose_engine(cfg)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    info: dict[str, Any] = {"engine": engine, "device": device, "torch_threads": cfg.torch_threads}
    info["answer_limits"] = {"min": min(limits), "max": max(limits), "mean": round(sum(limits) / len(limits), 1)}
    choice_scores = None
    if engine == "vllm":
        outputs = _run_vllm(cfg, tuned, prompts, limits, info, timings)
    else:
        outputs, choice_scores = _run_transformers(cfg, tuned, tokenizer, prompts, limits, device, info, timings, items)
    # The embedding model and a local judge come next and need the memory.
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    info["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return outputs, info, choice_scores


def _run_transformers(
    cfg: EvalConfig,
    tuned: TunedModel,
    tokenizer: Any,
    prompts: dict[str, list[list[int]]],
    limits: list[int],
    device: str,
    info: dict,
    timings: dict,
    items: list,
) -> tuple[dict[str, list[Generation]], dict[str, list] | None]:
    import torch

    clock = time.monotonic()
    model = load_peft_model(tuned, cfg.dtype, cfg.quantize, device)
    info["dtype"] = str(torch_dtype(cfg.dtype, device, cfg.quantize)).removeprefix("torch.")
    # One copy of the base serves every variant (the adapter is switched off for base and
    # ceiling): this is all the run holds in memory.
    info["model_bytes"] = model.get_memory_footprint()
    timings["load_s"] = round(time.monotonic() - clock, 2)
    # The options' token ids, scored by likelihood from the same prompt pass as each answer.
    options = [
        [tokenizer(text, add_special_tokens=False)["input_ids"] for text in item.options] if item else []
        for item in items
    ]
    asked = any(options)
    outputs = {}
    for name, batch in prompts.items():
        clock = time.monotonic()
        with nullcontext() if VARIANTS[name][0] else model.disable_adapter():
            outputs[name] = generate(
                model,
                tokenizer,
                batch,
                batch_size=cfg.batch_size,
                max_new_tokens=cfg.max_new_tokens,
                description=f"eval {name}",
                limits=limits,
                options=options if asked else None,
            )
        timings[name] = _throughput(outputs[name], time.monotonic() - clock)
    scores = {name: [g.choice_scores for g in found] for name, found in outputs.items()} if asked else None
    if device == "cuda":
        info["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
    return outputs, scores


def _run_vllm(
    cfg: EvalConfig,
    tuned: TunedModel,
    prompts: dict[str, list[list[int]]],
    limits: list[int],
    info: dict,
    timings: dict,
) -> dict[str, list[Generation]]:
    from docs2qa.finetune.evaluate.vllm_engine import VllmEngine

    clock = time.monotonic()
    runner = VllmEngine(tuned, cfg.dtype, cfg.max_new_tokens)
    info["dtype"] = cfg.dtype
    timings["load_s"] = round(time.monotonic() - clock, 2)
    outputs = {}
    for name, batch in prompts.items():
        clock = time.monotonic()
        outputs[name] = runner.generate(batch, adapter=VARIANTS[name][0], limits=limits)
        timings[name] = _throughput(outputs[name], time.monotonic() - clock)
    return outputs


@contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    if count is None:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _throughput(outputs: list[Generation], seconds: float) -> dict:
    tokens = sum(g.output_tokens for g in outputs)
    return {
        "seconds": round(seconds, 2),
        "examples": len(outputs),
        "output_tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1) if seconds else None,
    }


def _judge_label(cfg: EvalConfig) -> str | None:
    if cfg.judge is None:
        return None
    from docs2qa.generation.llm.factory import model_label

    return model_label(cfg.judge)
