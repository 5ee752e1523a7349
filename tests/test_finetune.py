"""docs2qa finetune on a tiny random Gemma, on the CPU: quantisation, masking, packing, training,
reloading, merging, resuming, lineage. The model is gibberish; the plumbing is what is checked."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import yaml

from docs2qa.errors import Docs2qaError
from docs2qa.finetune.config import FinetuneConfig
from tiny_gemma import qa_rows, tiny_gemma  # noqa: F401  (session fixture)

pytest.importorskip("trl", reason="docs2qa finetune needs trl")
pytest.importorskip("bitsandbytes", reason="4-bit fine-tuning needs bitsandbytes")

ROOT = Path(__file__).resolve().parents[1]
SYSTEM = "Answer from the Acme docs."


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> Path:
    from docs2qa.datastore.versions import write_version

    root = tmp_path_factory.mktemp("datasets")
    rows = qa_rows(40)
    write_version(
        root,
        "acme",
        {"train": rows[:32], "validation": rows[32:36], "test": rows[36:]},
        {"system_prompt": SYSTEM, "include_context": True},
        {"source": "tests"},
    )
    return root


def config(model: Path, **overrides) -> FinetuneConfig:
    settings = dict(
        dataset="acme/v1",
        base_model=str(model),
        max_steps=4,
        eval_steps=2,
        logging_steps=1,
        batch_size=4,
        learning_rate=2e-2,
        warmup_ratio=0.0,
        torch_threads=2,
        lora={"r": 8, "alpha": 16, "dropout": 0.0},
    )
    return FinetuneConfig(**{**settings, **overrides})


def trainer_for(cfg: FinetuneConfig, dataset_root: Path, out: Path):
    from docs2qa.finetune import data
    from docs2qa.finetune.model import load_base, load_tokenizer
    from docs2qa.finetune.train import build_trainer

    version = data.open_version(cfg.dataset, dataset_root)
    tokenizer = load_tokenizer(cfg.base_model)
    train = data.for_model(data.load_split(version, "train"), tokenizer)
    validation = data.for_model(data.load_split(version, "validation"), tokenizer)
    model = load_base(cfg.base_model, quantization=cfg.quantization, bf16=False)
    return build_trainer(cfg, model, tokenizer, train, validation, out, bf16=False), tokenizer


def probe_ids(tokenizer):
    import torch

    messages = [
        {"role": "user", "content": "Which port does the server use?"},
        {"role": "assistant", "content": "The server listens on port 6900."},
    ]
    return torch.tensor([tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]])


def logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=ids, use_cache=False).logits.float()


# --- quantisation ---------------------------------------------------------------------------------


def test_quantised_layers_are_bitsandbytes_layers(tiny_gemma):
    import bitsandbytes as bnb
    import torch

    from docs2qa.finetune.model import load_base

    nf4 = load_base(tiny_gemma, quantization="nf4", bf16=False)
    q_proj = nf4.model.layers[0].self_attn.q_proj
    assert isinstance(q_proj, bnb.nn.Linear4bit)
    assert q_proj.weight.quant_state.quant_type == "nf4"
    assert q_proj.weight.quant_state.nested, "double quantisation is on"
    assert isinstance(
        load_base(tiny_gemma, quantization="int8", bf16=False).model.layers[0].mlp.down_proj, bnb.nn.Linear8bitLt
    )
    assert type(load_base(tiny_gemma, quantization="none", bf16=False).model.layers[0].mlp.down_proj) is torch.nn.Linear


def test_lora_wraps_every_linear_projection_of_the_4bit_model(tiny_gemma, dataset_root, tmp_path):
    import bitsandbytes as bnb
    from peft.tuners.lora import LoraLayer

    trainer, _ = trainer_for(config(tiny_gemma), dataset_root, tmp_path)
    wrapped = {name.split(".")[-1] for name, module in trainer.model.named_modules() if isinstance(module, LoraLayer)}
    assert wrapped == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    bases = [m.base_layer for m in trainer.model.modules() if isinstance(m, LoraLayer)]
    assert len(bases) == 14 and all(isinstance(b, bnb.nn.Linear4bit) for b in bases)
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_trainer_settings_follow_the_recipe(tiny_gemma, dataset_root, tmp_path):
    from transformers import EarlyStoppingCallback

    trainer, _ = trainer_for(config(tiny_gemma, eval_steps=3, early_stopping_patience=2), dataset_root, tmp_path)
    args = trainer.args
    assert args.optim == "paged_adamw_32bit" and args.lr_scheduler_type == "cosine" and args.max_grad_norm == 0.3
    assert args.gradient_checkpointing and args.gradient_checkpointing_kwargs == {"use_reentrant": False}
    assert args.eval_strategy == "steps" and args.eval_steps == 3 and args.save_steps == 3
    assert args.load_best_model_at_end and args.metric_for_best_model == "eval_loss" and not args.greater_is_better
    stoppers = [c for c in trainer.callback_handler.callbacks if isinstance(c, EarlyStoppingCallback)]
    assert len(stoppers) == 1 and stoppers[0].early_stopping_patience == 2
    assert all(
        p.dtype.is_floating_point and p.dtype.itemsize == 4 for p in trainer.model.parameters() if p.requires_grad
    )


# --- what the model is trained on -----------------------------------------------------------------


def test_only_answer_tokens_carry_loss_in_a_collated_batch(tiny_gemma, dataset_root, tmp_path):
    trainer, tokenizer = trainer_for(config(tiny_gemma), dataset_root, tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    answers = {row["answer"] for row in qa_rows(40)[:32]}
    model_turn = tokenizer.encode("<start_of_turn>model\n", add_special_tokens=False)
    for ids, labels, mask in zip(
        batch["input_ids"].tolist(), batch["labels"].tolist(), batch["attention_mask"].tolist()
    ):
        length = sum(mask)
        start = max(i + len(model_turn) for i in range(length) if ids[i : i + len(model_turn)] == model_turn)
        assert all(label == -100 for label in labels[:start]), "prompt tokens carry no loss"
        assert labels[start:length] == ids[start:length], "every answer token carries loss"
        assert all(label == -100 for label in labels[length:]), "padding carries no loss"
        prompt, answer = tokenizer.decode(ids[:start]), tokenizer.decode(ids[start:length])
        # Gemma's own template, with the system prompt folded into the user turn (it has no system role).
        assert prompt.startswith("<bos><start_of_turn>user\n" + SYSTEM + "\n\nDocumentation:\n")
        assert answer.removesuffix("<end_of_turn>\n") in answers


def test_packed_examples_do_not_attend_to_each_other(tiny_gemma, dataset_root, tmp_path):
    import torch

    trainer, _ = trainer_for(config(tiny_gemma, packing=True, max_length=256), dataset_root, tmp_path)
    batch = next(iter(trainer.get_train_dataloader()))
    assert "attention_mask" not in batch
    positions = batch["position_ids"][0]
    starts = [*(positions == 0).nonzero().flatten().tolist(), positions.numel()]
    assert len(starts) > 2, "several examples share one packed sequence"
    model = trainer.model.eval()
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits
    for begin, end in itertools.pairwise(starts):
        alone = logits(model, batch["input_ids"][:, begin:end])
        torch.testing.assert_close(packed[:, begin:end].float(), alone, atol=1e-4, rtol=1e-4)
        assert batch["labels"][0, begin] == -100


# --- a whole run from a dataset version -----------------------------------------------------------


@pytest.fixture(scope="module")
def run(tiny_gemma, dataset_root, tmp_path_factory) -> tuple[Path, dict]:
    from docs2qa.finetune.train import finetune

    out = tmp_path_factory.mktemp("finetune-run")
    cfg = config(tiny_gemma, max_steps=24, eval_steps=8, logging_steps=4)
    return out, finetune(cfg, out_dir=out, dataset_root=dataset_root, merge=True)


@pytest.mark.slow  # the module's finetune run (~90 s)
def test_a_run_from_a_dataset_version_writes_adapter_card_and_lineage(run, dataset_root, tiny_gemma):
    from docs2qa.config import stable_hash

    out, manifest = run
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert (out / "adapter" / "tokenizer_config.json").is_file() and (out / "merged" / "config.json").is_file()
    version = json.loads((dataset_root / "acme" / "v1" / "manifest.json").read_text())
    assert manifest["dataset"] == {
        "name": "acme",
        "version": "v1",
        "content_id": version["content_id"],
        "path": str((dataset_root / "acme" / "v1").resolve()),
    }
    cfg = config(tiny_gemma, max_steps=24, eval_steps=8, logging_steps=4)
    assert manifest["config_hash"] == stable_hash(cfg.model_dump(mode="json"))
    assert manifest["base_model"] == str(tiny_gemma) and manifest["adapter_dir"] == str(out / "adapter")
    assert manifest["global_step"] == 24 and manifest["libraries"]["peft"] and manifest["wall_time_s"] > 0
    assert [step for step, _ in manifest["losses"]["validation"]] == [8, 16, 24]
    assert manifest["warnings"] == []  # 32 training rows and a falling validation loss warn of nothing
    card = (out / "README.md").read_text()
    for fact in (
        "acme/v1",
        version["content_id"],
        str(tiny_gemma),
        "Validation loss",
        "lora_r | 8",
        "Wall time",
        "Hardware",
    ):
        assert fact in card


@pytest.mark.slow  # the module's finetune run (~90 s)
def test_loss_falls(run):
    losses = run[1]["losses"]
    first, last = losses["train"][0][1], losses["train"][-1][1]
    assert last < first - 0.5, losses["train"]
    assert losses["validation"][-1][1] < losses["validation"][0][1], losses["validation"]


@pytest.mark.slow  # the module's finetune run (~90 s)
def test_merged_model_equals_base_plus_adapter(run, tiny_gemma, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from docs2qa.finetune.merge import merge_adapter

    out, _ = run
    ids = probe_ids(AutoTokenizer.from_pretrained(out / "adapter"))
    base = AutoModelForCausalLM.from_pretrained(tiny_gemma, dtype=torch.float32)
    unmerged = logits(PeftModel.from_pretrained(base, str(out / "adapter")).eval(), ids)
    merged32 = AutoModelForCausalLM.from_pretrained(
        merge_adapter(tiny_gemma, out / "adapter", tmp_path / "m32", dtype="float32")
    )
    torch.testing.assert_close(logits(merged32, ids), unmerged, atol=1e-4, rtol=1e-4)
    # The run's own --merge output: bf16 weights, so bf16 rounding is the only difference.
    merged16 = AutoModelForCausalLM.from_pretrained(out / "merged")
    assert merged16.dtype == torch.bfloat16
    assert (logits(merged16, ids) - unmerged).abs().max() < 0.15


@pytest.mark.slow  # trains, saves and reloads
def test_reloaded_adapter_reproduces_the_trained_logits(tiny_gemma, dataset_root, tmp_path):
    import torch

    from docs2qa.finetune.model import load_base, load_with_adapter

    trainer, tokenizer = trainer_for(config(tiny_gemma, max_steps=6), dataset_root, tmp_path / "ckpt")
    trainer.train()
    ids = probe_ids(tokenizer)
    trained = logits(trainer.model.eval(), ids)
    trainer.save_model(str(tmp_path / "adapter"))
    reloaded = logits(load_with_adapter(tiny_gemma, tmp_path / "adapter", quantization="nf4"), ids)
    torch.testing.assert_close(reloaded, trained, atol=2e-3, rtol=1e-3)
    base = logits(load_base(tiny_gemma, quantization="nf4", bf16=False), ids)
    assert (trained - base).abs().max() > 1e-2, "the adapter changed the model"


# --- resume ---------------------------------------------------------------------------------------


class Killed(Exception):
    pass


@pytest.mark.slow  # two training runs
def test_resume_continues_the_step_count_exactly(tiny_gemma, dataset_root, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import load_file
    from trl import SFTTrainer

    from docs2qa.finetune.train import finetune

    cfg = config(tiny_gemma, max_steps=4, eval_steps=2, save_total_limit=3)
    straight = finetune(cfg, out_dir=tmp_path / "straight", dataset_root=dataset_root)

    original = SFTTrainer.training_step

    def dies_after_the_step_2_checkpoint(self, *args, **kwargs):
        if self.state.global_step == 2:
            raise Killed
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SFTTrainer, "training_step", dies_after_the_step_2_checkpoint)
    with pytest.raises(Killed):
        finetune(cfg, out_dir=tmp_path / "killed", dataset_root=dataset_root)
    monkeypatch.setattr(SFTTrainer, "training_step", original)
    assert sorted(p.name for p in (tmp_path / "killed" / "checkpoints").glob("checkpoint-*")) == ["checkpoint-2"]

    with pytest.raises(Docs2qaError, match="--resume"):
        finetune(cfg, out_dir=tmp_path / "killed", dataset_root=dataset_root)
    with pytest.raises(Docs2qaError, match="different finetune config"):
        finetune(
            config(tiny_gemma, learning_rate=1e-3), out_dir=tmp_path / "killed", dataset_root=dataset_root, resume=True
        )
    resumed = finetune(cfg, out_dir=tmp_path / "killed", dataset_root=dataset_root, resume=True)

    assert resumed["resumed_from_step"] == 2 and resumed["global_step"] == straight["global_step"] == 4
    state = json.loads((tmp_path / "killed" / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert [s for s, _ in resumed["losses"]["train"]] == [1, 2, 3, 4]
    for (step, a), (_, b) in zip(resumed["losses"]["train"], straight["losses"]["train"]):
        assert a == pytest.approx(b, abs=1e-4), f"step {step}"
    weights = [load_file(tmp_path / run / "adapter" / "adapter_model.safetensors") for run in ("straight", "killed")]
    for name, tensor in weights[0].items():
        torch.testing.assert_close(weights[1][name].float(), tensor.float(), atol=1e-5, rtol=1e-4)


def test_a_changed_dataset_version_is_refused(tiny_gemma, dataset_root, tmp_path):
    import shutil

    from docs2qa.finetune.train import finetune

    copy = tmp_path / "datasets" / "acme" / "v1"
    shutil.copytree(dataset_root / "acme" / "v1", copy)
    card = copy / "README.md"
    card.chmod(0o644)
    card.write_text(card.read_text() + "edited\n")
    with pytest.raises(Docs2qaError, match="failed verification"):
        finetune(config(tiny_gemma, dataset=str(copy)), out_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "checkpoints").exists()


# --- presets --------------------------------------------------------------------------------------

PRESETS = sorted((ROOT / "configs" / "finetune").glob("*.yaml"))


def test_both_presets_ship():
    assert {"gemma-7b-qlora.yaml", "smollm2-cpu.yaml"} <= {p.name for p in PRESETS}


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_validates_and_names_its_command(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# docs2qa finetune "), "first line: the command that uses this preset"
    assert f"configs/finetune/{path.name}" in first
    data = yaml.safe_load(path.read_text())
    assert set(data) == {"finetune"}, "a preset holds only its section"
    FinetuneConfig.model_validate(data["finetune"])


def test_gemma_preset_is_the_seed_recipe():
    cfg = FinetuneConfig.model_validate(
        yaml.safe_load((ROOT / "configs/finetune/gemma-7b-qlora.yaml").read_text())["finetune"]
    )
    assert (cfg.base_model, cfg.quantization, cfg.lora.r, cfg.lora.alpha, cfg.lora.dropout) == (
        "google/gemma-7b-it",
        "nf4",
        128,
        256,
        0.15,
    )
    assert (
        cfg.learning_rate,
        cfg.epochs,
        cfg.max_length,
        cfg.lr_scheduler,
        cfg.warmup_ratio,
        cfg.max_grad_norm,
        cfg.optimizer,
    ) == (2e-4, 3, 512, "cosine", 0.03, 0.3, "paged_adamw_32bit")


def test_examples_longer_than_max_length_are_counted(tiny_gemma, dataset_root):
    from docs2qa.finetune import data
    from docs2qa.finetune.model import load_tokenizer

    tokenizer = load_tokenizer(tiny_gemma)
    train = data.for_model(data.load_split(data.open_version("acme/v1", dataset_root), "train"), tokenizer)
    assert data.count_too_long(train, tokenizer, 1024) == 0
    assert data.count_too_long(train, tokenizer, 16) == len(train) == 32


# --- the real small model and the GPU benchmark's plumbing ---------------------------------------


@pytest.mark.slow
def test_smollm2_cpu_preset_trains_the_embedded_model(dataset_root, tmp_path):
    from docs2qa.finetune.train import finetune

    preset = yaml.safe_load((ROOT / "configs/finetune/smollm2-cpu.yaml").read_text())["finetune"]
    cfg = FinetuneConfig.model_validate({**preset, "dataset": "acme/v1", "max_steps": 4, "eval_steps": 2})
    manifest = finetune(cfg, out_dir=tmp_path, dataset_root=dataset_root)
    assert manifest["base_model"] == "embedded:smollm2" and manifest["global_step"] == 4
    assert manifest["losses"]["validation"][-1][1] < manifest["losses"]["validation"][0][1]


@pytest.mark.slow  # benchmarks QLoRA steps
def test_qlora_benchmark_runs_with_tiny_shapes():
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks/bench_qlora.py"),
            "--small",
            "--warmup",
            "1",
            "--steps",
            "2",
            "--max-length",
            "128",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    numbers = json.loads(result.stdout.strip().splitlines()[-1])
    assert numbers["ours"]["tokens_per_s"] > 0 and numbers["baseline"]["tokens_per_s"] > 0
    assert numbers["speedup"] > 0 and numbers["layers"] == 2


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "alpaca"])
def test_every_format_of_a_version_trains_as_the_same_prompt_and_answer(dataset_root, fmt):
    from docs2qa.finetune import data

    version = data.open_version("acme/v1", dataset_root)
    for split in ("train", "validation"):
        assert data.load_split(version, split, fmt).to_list() == data.load_split(version, split).to_list()


@pytest.mark.slow  # trains until validation stops improving
def test_early_stopping_ends_a_run_whose_validation_loss_stops_improving(tiny_gemma, dataset_root, tmp_path):
    from docs2qa.finetune.train import finetune

    # A learning rate this large makes the validation loss worse after the first steps.
    cfg = config(
        tiny_gemma, max_steps=30, eval_steps=2, early_stopping_patience=1, learning_rate=3.0, quantization="none"
    )
    manifest = finetune(cfg, out_dir=tmp_path, dataset_root=dataset_root)
    validation = manifest["losses"]["validation"]
    assert manifest["global_step"] < 30 and len(validation) >= 2, validation
    best = min(range(len(validation)), key=lambda i: validation[i][1])
    assert manifest["best_checkpoint"].endswith(f"checkpoint-{validation[best][0]}")
