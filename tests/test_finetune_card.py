"""The model card says what ruled a run's length: max_steps, the epochs, or early stopping, with
the epochs the Trainer really covered (not `epochs 3.0` when max_steps stopped it)."""

from __future__ import annotations

import pytest

from docs2qa.finetune import card
from docs2qa.finetune.config import FinetuneConfig
from tiny_gemma import qa_rows, tiny_gemma  # noqa: F401  (session fixture)


def manifest(*, global_step: int, epochs_covered: float | None, validation: int = 4, **settings) -> dict:
    cfg = FinetuneConfig(dataset="acme/v1", **settings).model_dump(mode="json")
    return {
        "base_model": "tiny",
        "adapter_dir": "out/adapter",
        "dataset": {"name": "acme", "version": "v1", "content_id": "c0ffee"},
        "config_hash": "h",
        "config": cfg,
        "bf16": False,
        "examples": {"train": 48, "validation": validation},
        "global_step": global_step,
        "resumed_from_step": 0,
        "losses": {
            "train_mean": 1.0,
            "final_train": 0.9,
            "final_validation": 1.1,
            "best_validation": 1.0,
            "epochs_covered": epochs_covered,
        },
        "wall_time_s": 3.0,
        "hardware": {"device": "cpu", "cpu": "x86_64", "threads": 2},
        "libraries": {"peft": "0"},
        "warnings": [],
    }


def test_max_steps_ruled_is_said_with_the_epochs_covered():
    text = card.render(manifest(global_step=20, epochs_covered=20 / 48, max_steps=20))
    assert (
        "| Length | 20 steps, 0.42 epochs of 48 train examples (max_steps 20 ruled; epochs 3.0 did not apply) |" in text
    )
    assert "| epochs | 3.0 (not used: max_steps ruled) |" in text
    assert "| epochs | 3.0 |" not in text


def test_epochs_ruled_when_no_max_steps():
    text = card.render(manifest(global_step=36, epochs_covered=3.0, epochs=3))
    assert "| Length | 36 steps, 3.00 epochs of 48 train examples (epochs 3.0 ruled) |" in text
    assert "| epochs | 3.0 |" in text


@pytest.mark.parametrize(
    ("settings", "step", "covered", "said"),
    [
        ({"max_steps": 20, "early_stopping_patience": 2}, 12, 0.25, "early stopping ended it before max_steps 20"),
        ({"epochs": 3, "early_stopping_patience": 2}, 20, 1.67, "early stopping ended it before epochs 3.0"),
    ],
)
def test_early_stopping_is_what_ruled_when_the_run_stopped_short(settings, step, covered, said):
    assert f"({said})" in card.render(manifest(global_step=step, epochs_covered=covered, **settings))


def test_a_resumed_run_says_where_it_resumed():
    m = manifest(global_step=20, epochs_covered=20 / 48, max_steps=20)
    m["resumed_from_step"] = 8
    assert "| Length | 20 steps, resumed from step 8, 0.42 epochs" in card.render(m)


@pytest.mark.slow  # a real 3-step run (~25 s)
def test_epochs_covered_is_the_trainers_count(tiny_gemma, tmp_path):
    """A real short run: 3 steps of 4 rows over 32 rows is 12/32 = 0.375 epochs, read from the log."""
    pytest.importorskip("trl", reason="docs2qa finetune needs trl")
    from docs2qa.datastore.versions import write_version
    from docs2qa.finetune import data
    from docs2qa.finetune.model import load_base, load_tokenizer
    from docs2qa.finetune.train import build_trainer

    write_version(tmp_path, "acme", {"train": qa_rows(32)}, {"system_prompt": None, "include_context": True}, {})
    cfg = FinetuneConfig(
        dataset="acme/v1",
        base_model=str(tiny_gemma),
        max_steps=3,
        batch_size=2,
        gradient_accumulation_steps=2,
        logging_steps=1,
        torch_threads=2,
    )
    tokenizer = load_tokenizer(cfg.base_model)
    train = data.for_model(data.load_split(data.open_version(cfg.dataset, tmp_path), "train"), tokenizer)
    model = load_base(cfg.base_model, quantization="none", bf16=False)
    trainer = build_trainer(cfg, model, tokenizer, train, None, tmp_path / "checkpoints", bf16=False)
    trainer.train()
    assert card.losses(trainer.state.log_history)["epochs_covered"] == pytest.approx(3 * 2 * 2 / 32)
