"""The model card says what ruled a run's length: max_steps, the epochs, or early stopping, with
the epochs the Trainer really covered (not `epochs 3.0` when max_steps stopped it)."""

from __future__ import annotations

from pathlib import Path

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


# The card by the Hub's model-card conventions: a header huggingface_hub reads back, a real
# base_model id, the dataset's license and Hub repo, a plain peft snippet and eval's results.


def header_of(text: str) -> dict:
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCard(text, ignore_metadata_errors=False).data
    assert ModelCardData(**data.to_dict()).to_dict() == data.to_dict()  # round-trips
    return data.to_dict()


def versioned(tmp_path, export: dict, push: str | None = None) -> dict:
    """A finetune manifest whose dataset is a real version written by the datastore."""
    from docs2qa.datastore.versions import record_hub_push, write_version

    path = write_version(tmp_path / "datasets", "acme", {"train": qa_rows(8)}, export, {})
    if push:
        record_hub_push(path, {"repo": push, "commit": "abc123", "tag": "v1"})
    m = manifest(global_step=20, epochs_covered=20 / 48, max_steps=20)
    m["dataset"]["path"] = str(path)
    return m


def test_embedded_smollm2_is_named_by_its_hub_id():
    m = manifest(global_step=20, epochs_covered=20 / 48, max_steps=20)
    m["base_model"] = "embedded:smollm2"
    text = card.render(m)
    meta = header_of(text)
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert {"library_name": "peft", "pipeline_tag": "text-generation"}.items() <= meta.items()
    assert {"docs2qa", "lora", "trl"} <= set(meta["tags"])
    assert "embedded:" not in text.split("---")[1]
    assert 'AutoModelForCausalLM.from_pretrained("HuggingFaceTB/SmolLM2-135M-Instruct")' in text
    assert 'PeftModel.from_pretrained(base, "adapter")' in text


def test_a_local_base_folder_is_no_base_model_id(tmp_path):
    m = manifest(global_step=20, epochs_covered=20 / 48, max_steps=20)
    m["base_model"] = str(tmp_path)
    text = card.render(m)
    assert "base_model" not in header_of(text)
    assert f"local folder `{tmp_path}`, which has no Hub id" in text


def test_qlora_is_tagged_only_when_the_base_was_4_bit():
    assert "qlora" in header_of(card.render(manifest(global_step=36, epochs_covered=3.0, quantization="nf4")))["tags"]
    assert (
        "qlora" not in header_of(card.render(manifest(global_step=36, epochs_covered=3.0, quantization="none")))["tags"]
    )


def test_license_and_hub_repo_come_from_the_dataset_version(tmp_path):
    text = card.render(
        versioned(
            tmp_path,
            {"system_prompt": "Answer from the docs.", "include_context": True, "license": "cc-by-4.0"},
            push="acme/docs-qa",
        )
    )
    meta = header_of(text)
    assert meta["license"] == "cc-by-4.0"
    assert meta["datasets"] == ["acme/docs-qa"]
    assert "Hub `acme/docs-qa`" in text
    # The training prompt, built by formats.chat_prompt from the version's settings.
    assert '"content": "Answer from the docs."' in text
    assert "Documentation:\\n<the documentation text>\\n\\nQuestion: <your question>" in text


def test_an_other_license_keeps_its_name_and_link_and_no_push_means_no_datasets(tmp_path):
    export = {
        "system_prompt": None,
        "include_context": False,
        "license": "other",
        "license_link": "https://docs.acme.test/terms",
    }
    text = card.render(versioned(tmp_path, export))
    meta = header_of(text)
    assert meta["license"] == "other"
    assert meta["license_link"] == "https://docs.acme.test/terms"
    assert meta["license_name"] == "source-documentation-terms"
    assert "datasets" not in meta  # acme/v1 is no Hub dataset id
    assert '"content": "<your question>"' in text and "fold_system_message" not in text


def evaluation(report: str) -> dict:
    def comparison(base, tuned):
        return {"n": 12, "base": base, "tuned": tuned, "difference": tuned - base, "low": 0.01, "high": 0.2,
                "level": 0.95, "verdict": "tuned better"}  # fmt: skip

    return {
        "report": report,
        "examples": 12,
        "dataset": {"source": "version", "name": "acme", "version": "v1", "content_id": "c0ffee", "split": "test"},
        "comparisons": {
            "rouge_l": comparison(0.2, 0.35),
            "token_f1": comparison(0.25, 0.4),
            "words": comparison(30, 12),
        },
    }


def test_without_eval_the_card_says_eval_adds_its_results():
    text = card.render(manifest(global_step=20, epochs_covered=20 / 48, max_steps=20))
    assert "model-index" not in header_of(text)
    assert "Not evaluated yet: `docs2qa eval`" in text


def test_eval_writes_model_index_results_and_a_relative_report_link(tmp_path):
    from huggingface_hub import ModelCard

    model_dir = tmp_path / "runs" / "r" / "finetune" / "acme-v1-abc"
    model_dir.mkdir(parents=True)
    card.write_manifest(model_dir, manifest(global_step=20, epochs_covered=20 / 48, max_steps=20))
    (model_dir / "README.md").write_text("old card\n")
    report = tmp_path / "runs" / "r" / "eval" / "results" / "report.html"
    text = card.add_evaluation(model_dir, evaluation(str(report))).read_text()
    results = ModelCard(text).data.eval_results
    assert {(r.metric_type, r.metric_value, r.dataset_split) for r in results} == {
        ("rouge_l", 0.35, "test"),
        ("token_f1", 0.4, "test"),
    }  # the answer-shape measure (words) is no score
    assert "[report.html](../../eval/results/report.html)" in text
    assert "| rouge_l | 0.2000 | 0.3500 | +0.1500 (95%: +0.0100 to +0.2000) | tuned better |" in text


def test_eval_on_a_gold_file_names_the_file_not_a_version(tmp_path):
    from huggingface_hub import ModelCard

    gold = {
        "source": "gold_file",
        "name": "gold",
        "version": None,
        "content_id": "f00d",
        "path": "/data/gold.jsonl",
        "split": None,
    }
    text = card.render(
        manifest(global_step=20, epochs_covered=20 / 48, max_steps=20),
        {**evaluation(str(tmp_path / "report.html")), "dataset": gold},
        card_dir=tmp_path,
    )
    assert "On 12 questions of the gold file gold.jsonl; the full report: [report.html](report.html)." in text
    assert {r.dataset_name for r in ModelCard(text).data.eval_results} == {"the gold file gold.jsonl"}
    assert "None" not in text.split("## Hyper")[0]


def test_the_model_card_names_the_datasets_protocol(tmp_path):
    text = card.render(versioned(tmp_path, {"include_context": False, "protocol": "knowledge"}))
    assert "Protocol **knowledge**: the test questions ask about facts the model trained on" in text
    older = card.render(versioned(tmp_path / "old", {"include_context": False}))
    assert "Protocol **generalization**: the test questions ask about pages the model never trained on" in older


def test_a_rising_validation_loss_is_a_warning_and_a_falling_one_is_not():
    rising = {"validation": [[5, 3.59], [10, 3.62], [20, 3.78]]}
    assert card.validation_rise(rising) == (
        "the validation loss rose from 3.590 to 3.780: the adapter over-fits its training rows; "
        "fewer epochs, a lower learning rate or more rows"
    )
    assert card.validation_rise({"validation": [[5, 3.6], [20, 2.9]]}) == ""
    assert card.validation_rise({"validation": [[5, 3.6]]}) == ""


def test_a_dataset_pushed_after_training_is_named_in_the_card_a_model_push_uploads(tmp_path):
    """The card was written before the dataset went to the Hub: `models push` names its repo in
    `datasets:` and as the `dataset.type` of the scores measured on the trained version."""
    from huggingface_hub import ModelCard

    from docs2qa.datastore.versions import record_hub_push

    def types(meta: dict) -> set[str]:
        return {r["dataset"]["type"] for r in meta["model-index"][0]["results"]}

    model_dir = tmp_path / "acme-v1-abc"
    model_dir.mkdir()
    trained = versioned(tmp_path, {"system_prompt": None, "include_context": True})
    card.write_manifest(model_dir, trained)
    scored = evaluation(str(tmp_path / "report.html"))
    scored["dataset"]["content_id"] = trained["dataset"]["content_id"]
    (model_dir / "README.md").write_text(card.render(trained, scored, card_dir=model_dir))
    before = header_of((model_dir / "README.md").read_text())
    assert "datasets" not in before and types(before) == {"acme/v1 (test split)"}

    record_hub_push(Path(trained["dataset"]["path"]), {"repo": "acme/docs-qa", "commit": "abc123", "tag": "v1"})
    text = card.with_dataset_repos(model_dir)
    meta = header_of(text)
    assert meta["datasets"] == ["acme/docs-qa"] and types(meta) == {"acme/docs-qa"}
    assert {r["dataset"]["name"] for r in meta["model-index"][0]["results"]} == {"acme/v1 (test split)"}
    assert ModelCard(text).text == ModelCard((model_dir / "README.md").read_text()).text  # the body as it was

    # Scores on another dataset (a gold file) keep their own name as their type.
    gold = {"source": "gold_file", "name": "gold", "version": None, "content_id": "f00d", "path": "/g.jsonl"}
    (model_dir / "README.md").write_text(card.render(trained, {**scored, "dataset": gold}, card_dir=model_dir))
    assert types(header_of(card.with_dataset_repos(model_dir))) == {"the gold file g.jsonl"}
