"""docs2qa eval end to end on a tiny model + LoRA adapter built at test time (SmolLM2: slow)."""

from __future__ import annotations

import json
import shutil
from contextlib import nullcontext

import pytest

from docs2qa.config import LLMConfig
from docs2qa.datastore.versions import read_manifest
from docs2qa.errors import Docs2qaError
from docs2qa.finetune.evaluate.config import EvalConfig
from docs2qa.finetune.evaluate.generate import generate, render_prompts
from docs2qa.finetune.evaluate.models import load_peft_model, load_tokenizer, locate
from docs2qa.finetune.evaluate.run import evaluate
from eval_helpers import QUESTIONS, build_adapter, write_demo_version
from test_eval_units import parse_report
from tiny_models import tiny_chat_model  # noqa: F401  (session fixture)


@pytest.fixture(scope="module")
def version(tmp_path_factory):
    return write_demo_version(tmp_path_factory.mktemp("datasets"))


@pytest.fixture(scope="module")
def finetune_dir(tmp_path_factory, tiny_chat_model, version):
    manifest = read_manifest(version)
    trained_on = {
        "name": "demo",
        "version": manifest["version"],
        "content_id": manifest["content_id"],
        "path": str(version),
    }
    return build_adapter(tiny_chat_model, tmp_path_factory.mktemp("finetune"), dataset=trained_on)


@pytest.mark.slow  # finetune output + a judge model, ~45 s
def test_eval_on_a_version_writes_results_and_a_report(tmp_path, finetune_dir, version, tiny_chat_model):
    judge = LLMConfig(backend="transformers", model=str(tiny_chat_model), max_new_tokens=6, batch_size=8)
    cfg = EvalConfig(batch_size=3, max_new_tokens=10, ceiling=True, judge=judge)
    summary = evaluate(cfg, model_dir=finetune_dir, out_dir=tmp_path / "eval", dataset=version)

    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    manifest = read_manifest(version)
    assert summary["results"] == str(tmp_path / "eval" / "results.json") and summary["examples"] == len(QUESTIONS)
    assert results["dataset"] | {"path": None} == {
        "source": "version",
        "name": "demo",
        "version": "v1",
        "content_id": manifest["content_id"],
        "path": None,
        "split": "test",
        "examples": len(QUESTIONS),
        "available": len(QUESTIONS),
        "system_prompt": "Answer from the docs.",
        "include_context": False,
        "matches_training": True,
    }
    assert results["model"]["base_model"] == str(tiny_chat_model) and len(results["model"]["adapter_sha256"]) == 16
    assert results["model"]["adapter"] == str(finetune_dir / "adapter")
    assert results["generation"] | {"model_bytes": 0, "peak_rss_bytes": 0} == {
        "engine": "transformers",
        "device": "cpu",
        "dtype": "float32",
        "batch_size": 3,
        "max_new_tokens": 10,
        "answer_cap": 2.0,
        "answer_limits": {"min": 10, "max": 10, "mean": 10.0},  # 2x the gold answer + 16 > 10
        "decoding": "greedy",
        "quantize": "none",
        "model_bytes": 0,
        "peak_rss_bytes": 0,
        "torch_threads": None,
    }
    assert list(results["variants"]) == ["base", "tuned", "ceiling"]
    assert results["metrics"] == [
        "rouge_l",
        "rouge_l_gold_length",
        "token_f1",
        "exact_match",
        "embedding_cosine",
        "judge_score",
        "choice_accuracy",
    ]
    assert results["judge"] == f"transformers:{tiny_chat_model.name}"

    rows = results["examples"]
    assert [row["question"] for row in rows] == [q for q, _, _ in QUESTIONS]
    for row in rows:
        for out in row["outputs"].values():
            assert 0 < out["output_tokens"] <= 10
            assert 0 <= out["rouge_l"] <= 1 and 0 <= out["token_f1"] <= 1 and -1 <= out["embedding_cosine"] <= 1.0001
            assert (out["exact_match"] is None) == (row["question_type"] != "yes_no")
            # A judge reply is either a score or an error with its raw text; never missing.
            assert (out["judge_score"] is None) == (out["judge_error"] is not None) and "judge_raw" in out
    assert any(row["outputs"]["tuned"]["prediction"] != row["outputs"]["base"]["prediction"] for row in rows)
    assert any(row["outputs"]["ceiling"]["prediction"] != row["outputs"]["base"]["prediction"] for row in rows)

    tuned = results["aggregates"]["tuned"]
    assert tuned["overall"]["examples"] == len(QUESTIONS) and tuned["overall"]["exact_match"]["n"] == 3
    assert set(tuned["by_question_type"]) == {"yes_no", "factual", "procedural", "conceptual"}
    assert tuned["overall"]["rouge_l"]["mean"] == pytest.approx(
        sum(row["outputs"]["tuned"]["rouge_l"] for row in rows) / len(rows)
    )
    failures = sum(1 for row in rows for out in row["outputs"].values() if out["judge_error"])
    assert sum(results["aggregates"][v]["overall"]["judge_failures"] for v in results["variants"]) == failures
    assert {"load_s", "base", "tuned", "ceiling", "embedding_s", "judge_s", "total_s"} <= set(results["timings"])

    # Seven questions: every surface says the sample is too small to conclude anything.
    assert any("only 7 example(s)" in w for w in results["warnings"]) and summary["warnings"] == results["warnings"]
    for metric in [*results["metrics"], "words", "echo"]:
        c = results["comparisons"][metric]
        assert c["verdict"] in ("tuned better", "tuned worse", "no clear difference", "too few examples")
        if c["n"] >= 2:
            assert c["low"] <= c["difference"] <= c["high"]
    assert results["baselines"]["exact_match_majority"]["n"] == 3
    # Knowledge check: the 3 yes/no and true/false questions are asked as their two truth values,
    # the 4 sentences against the 3 other sentences; chance comes from those choice sets.
    assert results["knowledge_check"] | {"chance": 0} == {
        "items": 7,
        "skipped": 0,
        "options": 4,
        "chance": 0,
        "by_form": {"truth value": {"items": 3, "chance": 0.5}, "sentence": {"items": 4, "chance": 0.25}},
        "scoring": results["knowledge_check"]["scoring"],
        "skipped_reason": "no answer of the same form from another fact of the same site",
    }
    assert results["knowledge_check"]["chance"] == pytest.approx((3 * 0.5 + 4 * 0.25) / 7)
    with_items = [row for row in rows if "choice" in row]
    assert len(with_items) == 7
    for row in with_items:
        gold = row["choice"]["options"][row["choice"]["gold"]]
        truth = row["answer"].split()[0].strip(",:").capitalize()
        assert gold == (truth if row["choice"]["form"] == "truth value" else row["answer"])
    for row in with_items:
        for out in row["outputs"].values():
            assert out["choice_accuracy"] == float(out["choice"] == row["choice"]["gold"])
            assert out["choice"] == max(range(len(out["choice_scores"])), key=out["choice_scores"].__getitem__)

    html = (tmp_path / "eval" / "report.html").read_text()
    report = parse_report(html)
    # A bar per metric, variant and group (overall, each type) that has a value; exact match has
    # none for 3 of the 4 types, and the tiny judge's gibberish rarely holds a score.
    groups = [("overall", None), *(("by_question_type", t) for t in tuned["by_question_type"])]
    with_value = [
        (m, v)
        for v, agg in results["aggregates"].items()
        for kind, t in groups
        for m in results["metrics"]
        if (agg[kind] if t is None else agg[kind][t])[m]["mean"] is not None
    ]
    assert sorted(report.bars) == sorted(with_value)
    assert len(with_value) >= 4 * 3 * (1 + 4) - 3 * 3
    assert "Where tuning helped most" in html and "Where tuning hurt most" in html
    assert "WARNING: only 7 example(s)" in html and 'id="knowledge-table"' in html and "open-book reference" in html
    assert "script" not in report.tags


@pytest.mark.slow  # a whole eval run, both models; the fast lane keeps the run without a dataset
def test_eval_on_a_gold_file_from_the_adapter_folder(tmp_path, finetune_dir, tiny_chat_model):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "".join(json.dumps({"instruction": q, "input": a, "output": a}) + "\n" for q, a, _ in QUESTIONS[:4])
    )
    # The adapter folder alone, away from its manifest: the base comes from adapter_config.json.
    adapter = shutil.copytree(finetune_dir / "adapter", tmp_path / "lonely-adapter")
    cfg = EvalConfig(
        gold_file=str(gold),
        include_context=True,
        ceiling=True,
        batch_size=4,
        max_new_tokens=6,
        embedding_model=None,
        examples_in_report=0,
    )
    summary = evaluate(cfg, model_dir=adapter, out_dir=tmp_path / "eval")
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["model"]["trained_on"] is None and results["model"]["base_model"] == str(tiny_chat_model)
    assert results["dataset"]["source"] == "gold_file" and results["dataset"]["matches_training"] is None
    assert results["metrics"] == ["rouge_l", "rouge_l_gold_length", "token_f1", "exact_match", "choice_accuracy"]
    # The prompts already hold the context: the ceiling run would repeat the base run.
    assert list(results["variants"]) == ["base", "tuned"] and "ceiling skipped" in summary["notes"][0]
    assert {row["question_type"] for row in results["examples"]} == {"untyped"}
    assert "Where tuning helped" not in (tmp_path / "eval" / "report.html").read_text()


@pytest.mark.slow  # two whole eval runs on bitsandbytes layers
@pytest.mark.parametrize("quantize, dtype", [("4bit", "bfloat16"), ("8bit", "float16")])
def test_a_quantized_base_still_evaluates(tmp_path, finetune_dir, version, quantize, dtype):
    cfg = EvalConfig(quantize=quantize, max_examples=2, max_new_tokens=4, embedding_model=None)
    evaluate(cfg, model_dir=finetune_dir, out_dir=tmp_path / "eval", dataset=version)
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert (results["generation"]["quantize"], results["generation"]["dtype"]) == (quantize, dtype)
    assert all(row["outputs"]["tuned"]["output_tokens"] > 0 for row in results["examples"])


def test_without_a_dataset_the_training_version_is_used(tmp_path, finetune_dir, version):
    cfg = EvalConfig(max_examples=2, max_new_tokens=4, embedding_model=None)
    summary = evaluate(cfg, model_dir=finetune_dir, out_dir=tmp_path / "eval")
    assert summary["dataset"]["path"] == str(version) and summary["examples"] == 2


def test_clear_errors_for_a_wrong_model_folder_or_split(tmp_path, finetune_dir, version):
    with pytest.raises(Docs2qaError, match="is not a tuned model"):
        evaluate(EvalConfig(), model_dir=tmp_path, out_dir=tmp_path / "eval", dataset=version)
    with pytest.raises(Docs2qaError, match="no examples to evaluate"):
        evaluate(EvalConfig(split="validation"), model_dir=finetune_dir, out_dir=tmp_path / "eval", dataset=version)
    from docs2qa.finetune.evaluate import vllm_engine

    if not vllm_engine.usable():
        with pytest.raises(Docs2qaError, match="needs the vllm package and a CUDA GPU"):
            evaluate(EvalConfig(engine="vllm"), model_dir=finetune_dir, out_dir=tmp_path / "eval", dataset=version)
    with pytest.raises(Docs2qaError, match="quantize works with the transformers engine only"):
        evaluate(
            EvalConfig(engine="vllm", quantize="4bit"),
            model_dir=finetune_dir,
            out_dir=tmp_path / "eval",
            dataset=version,
        )


@pytest.mark.slow  # generates every answer twice, batched and one by one
def test_batched_generation_equals_one_at_a_time(finetune_dir):
    from docs2qa.finetune.evaluate.data import Example

    tuned = locate(finetune_dir)
    tokenizer = load_tokenizer(tuned)
    model = load_peft_model(tuned, "float32", "none", "cpu")
    # Different lengths, so the batch is padded on the left.
    examples = [Example(str(i), q, a, a * (i % 3), t) for i, (q, a, t) in enumerate(QUESTIONS)]
    prompts = render_prompts(tokenizer, examples, "Answer from the docs.", True)
    assert len({len(p) for p in prompts}) > 3
    runs = {}
    for adapter in (True, False):
        with nullcontext() if adapter else model.disable_adapter():
            batched = generate(model, tokenizer, prompts, batch_size=4, max_new_tokens=12, description="batched")
            single = [
                generate(model, tokenizer, [p], batch_size=1, max_new_tokens=12, description="single")[0]
                for p in prompts
            ]
        assert batched == single
        runs[adapter] = batched
    assert runs[True] != runs[False], "the adapter must change the text"


def test_prompts_use_the_model_template_and_fold_the_system_prompt_where_it_has_none(tiny_chat_model):
    from transformers import AutoTokenizer

    from docs2qa.finetune.evaluate.data import Example
    from tiny_gemma import GEMMA_CHAT_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model)
    example = Example("1", "Does it crawl?", "Yes.", "It crawls.", "yes_no")
    [ids] = render_prompts(tokenizer, [example], "Be brief.", True)
    assert tokenizer.decode(ids) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nDocumentation:\n"
        "It crawls.\n\nQuestion: Does it crawl?<|im_end|>\n<|im_start|>assistant\n"
    )
    tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    [ids] = render_prompts(tokenizer, [example], "Be brief.", False)
    assert tokenizer.decode(ids) == (
        f"{tokenizer.bos_token}<start_of_turn>user\nBe brief.\n\nDoes it crawl?<end_of_turn>\n<start_of_turn>model\n"
    )
    assert ids.count(tokenizer.bos_token_id) == 1, "the template's BOS only, not a second from the tokenizer"


@pytest.mark.slow
def test_smollm2_eval_on_cpu(tmp_path):
    """A real small model: fluent answers, and the time per question printed (pytest -s)."""
    from docs2qa.datastore.versions import write_version
    from docs2qa.models.embedded import resolve_model
    from eval_helpers import canonical_rows

    rows = [dict(row, pair_id=f"{k}-{row['pair_id']}") for k in range(3) for row in canonical_rows("test")][:16]
    version = write_version(
        tmp_path / "datasets", "smol", {"test": rows}, {"system_prompt": None, "include_context": True}, {}
    )
    finetune_dir = build_adapter(
        resolve_model("embedded:smollm2"), tmp_path / "ft", rank=8, b_std=0.02, base_model="embedded:smollm2"
    )
    # One thread: this machine's two cores are shared, and two threads per process thrash.
    cfg = EvalConfig(batch_size=16, max_new_tokens=48, torch_threads=1)
    summary = evaluate(cfg, model_dir=finetune_dir, out_dir=tmp_path / "eval", dataset=version)
    print(json.dumps({"questions": len(rows), **summary["timings"]}))
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["model"]["base_model"] == "embedded:smollm2"
    assert (
        summary["aggregates"]["base"]["rouge_l"]["mean"] > 0.1
        and summary["aggregates"]["tuned"]["rouge_l"]["mean"] > 0.1
    )
    assert summary["aggregates"]["tuned"]["embedding_cosine"]["mean"] > 0.3


def test_the_vllm_path_sends_token_ids_and_the_adapter_only_for_tuned(tmp_path, finetune_dir, version, monkeypatch):
    """vLLM needs CUDA, so a stand-in module records what the engine is asked to do."""
    import sys
    import types

    from docs2qa.finetune.evaluate import vllm_engine

    calls = {}

    class LLM:
        def __init__(self, **kwargs):
            calls["init"] = kwargs

        def generate(self, prompts, params, lora_request=None, use_tqdm=False):
            calls.setdefault("generate", []).append((prompts, lora_request))
            name = lora_request.name if lora_request else "base"
            done = types.SimpleNamespace
            return [
                done(outputs=[done(text=f" {name} {len(p['prompt_token_ids'])} ", token_ids=[1, 2])]) for p in prompts
            ]

    def sampling_params(**kwargs):
        return kwargs

    def lora_request(name, number, path):
        return types.SimpleNamespace(name=name, number=number, path=path)

    fake = types.ModuleType("vllm")
    fake.LLM, fake.SamplingParams = LLM, sampling_params
    request = types.ModuleType("vllm.lora.request")
    request.LoRARequest = lora_request
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setitem(sys.modules, "vllm.lora", types.ModuleType("vllm.lora"))
    monkeypatch.setitem(sys.modules, "vllm.lora.request", request)
    monkeypatch.setattr(vllm_engine, "usable", lambda: True)

    cfg = EvalConfig(engine="auto", max_examples=5, max_new_tokens=7, embedding_model=None)
    evaluate(cfg, model_dir=finetune_dir, out_dir=tmp_path / "eval", dataset=version)
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["generation"]["engine"] == "vllm"
    assert results["knowledge_check"]["reason"] == "needs the transformers engine (set eval.engine: transformers)"
    assert (
        calls["init"]["enable_lora"] is True and calls["init"]["max_lora_rank"] == 8
    )  # rank 4 -> vLLM's smallest slot
    assert calls["init"]["model"] == locate(finetune_dir).base_path
    (base_prompts, base_lora), (tuned_prompts, tuned_lora) = calls["generate"]
    assert base_lora is None and tuned_lora.path == str(finetune_dir / "adapter")
    assert base_prompts == tuned_prompts and all(isinstance(p["prompt_token_ids"][0], int) for p in base_prompts)
    row = results["examples"][0]
    assert row["outputs"]["base"]["prediction"].startswith("base ") and row["outputs"]["tuned"][
        "prediction"
    ].startswith("tuned ")
    assert row["outputs"]["tuned"]["output_tokens"] == 2
