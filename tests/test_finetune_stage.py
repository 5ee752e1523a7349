"""`docs2qa finetune` and `docs2qa eval` through the CLI, on a run that exported a version:
the stages find the run's version, keep one folder per version and recipe, resume, and report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docs2qa.config import load_config
from docs2qa.curation.export import export
from export_helpers import demo_run
from generate_helpers import docs2qa
from tiny_gemma import tiny_gemma  # noqa: F401  (session fixture)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_gemma):
    tmp = tmp_path_factory.mktemp("finetune-stage")
    config_path, store, _ = demo_run(tmp)
    export(load_config(config_path), store)
    settings = [
        f"finetune.base_model={tiny_gemma}",
        "finetune.max_steps=2",
        "finetune.eval_steps=1",
        "finetune.batch_size=2",
        "finetune.max_length=256",
        "finetune.gradient_checkpointing=false",
        "eval.max_new_tokens=8",
        "eval.max_examples=4",
        "eval.ceiling=true",
    ]
    base = ["-c", str(config_path), "--run", str(store.root)] + [x for s in settings for x in ("--set", s)]
    return store, base


@pytest.mark.slow  # finetune and eval through the CLI (~100 s here)
def test_finetune_then_eval_through_the_cli(exported):
    store, base = exported
    tuned = docs2qa("finetune", *base)
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    stage = json.loads((store.root / "finetune" / "manifest.json").read_text())
    folder = Path(stage["finetune"]["model_dir"])
    assert folder.parent == store.root / "finetune" and folder.name.startswith("exp-v1-")
    assert f"adapter and model card in {folder}" in tuned.stderr
    manifest = json.loads((folder / "manifest.json").read_text())
    exported_version = json.loads((store.root / "export" / "manifest.json").read_text())["dataset"]
    assert manifest["dataset"]["content_id"] == exported_version["content_id"] and manifest["global_step"] == 2
    assert (folder / "adapter" / "adapter_model.safetensors").is_file() and (folder / "README.md").is_file()

    evaluated = docs2qa("eval", *base)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    results = json.loads((store.root / "eval" / "results" / "results.json").read_text())
    assert set(results["aggregates"]) == {"base", "tuned", "ceiling"}
    assert results["dataset"]["content_id"] == exported_version["content_id"] and results["dataset"]["matches_training"]
    assert (store.root / "eval" / "results" / "report.html").read_text().count("<svg") >= 2
    card = (folder / "README.md").read_text()  # eval put its scores and report link in the card
    assert "[report.html](../../eval/results/report.html)" in card and "model-index:" in card

    status = docs2qa("status", *base)
    assert (
        status.returncode == 0 and "finetune  up to date" in status.stdout and "eval      up to date" in status.stdout
    )


@pytest.mark.slow  # training runs through the CLI
def test_rerunning_finetune_needs_resume_and_resume_keeps_the_step_count(exported):
    store, base = exported
    again = docs2qa("finetune", *base)
    assert again.returncode == 1 and "already holds checkpoints" in again.stderr and "--resume" in again.stderr
    resumed = docs2qa("finetune", *base, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    folder = Path(json.loads((store.root / "finetune" / "manifest.json").read_text())["finetune"]["model_dir"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["global_step"], manifest["resumed_from_step"]) == (2, 2), manifest


@pytest.mark.slow  # training runs through the CLI
def test_a_new_recipe_gets_its_own_folder(exported):
    store, base = exported
    other = docs2qa("finetune", *base, "--set", "finetune.learning_rate=0.001")
    assert other.returncode == 0, other.stderr[-3000:]
    folders = sorted(p.name for p in (store.root / "finetune").iterdir() if p.is_dir())
    assert len(folders) == 2 and all(name.startswith("exp-v1-") for name in folders)


def test_eval_without_a_tuned_model_says_what_to_do(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("crawl:\n  seeds: [https://docs.example/]\neval:\n  gold_file: gold.jsonl\n")
    missing = docs2qa("eval", "-c", str(config), "--run", str(tmp_path / "run"))
    assert missing.returncode == 1 and "run `docs2qa finetune -c" in missing.stderr
