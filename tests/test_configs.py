"""Every shipped config loads, and says in its first lines how to run and override it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from docs2qa.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def test_the_expected_configs_ship():
    assert {"demo.yaml", "kaggle.yaml"} <= {p.name for p in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads(path: Path):
    config = load_config(path)
    assert config.name == path.stem
    for seed in config.crawl.seeds:
        assert any(seed.startswith(prefix) for prefix in config.crawl.scope), f"seed {seed} is out of scope"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_header_names_its_command(path: Path):
    first, second = path.read_text().splitlines()[:2]
    assert first.startswith("# docs2qa "), "first line must be the command that runs this config"
    assert f"configs/{path.name}" in first.split()
    # The override example on the second line must itself be valid for this config.
    match = re.search(r"--set (\S+=\S+)", second)
    assert match, "second line must show how to override a key with --set"
    load_config(path, [match.group(1)])


def test_demo_config_targets_the_bundled_site():
    config = load_config(ROOT / "configs" / "demo.yaml")
    assert config.crawl.demo_site and config.crawl.allow_private_addresses
    assert config.crawl.seeds == ["https://acme-cloud.example/docs/"]
    assert config.crawl.sitemaps == ["https://acme-cloud.example/sitemap.xml"]


PRESETS = sorted((ROOT / "configs" / "finetune").glob("*.yaml"))


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_presets_load_under_a_config_and_name_their_command(path: Path, tmp_path):
    assert path.read_text().startswith("# "), "a preset starts with the command that uses it"
    config = tmp_path / "uses-preset.yaml"
    config.write_text(f"defaults: [{path}]\ncrawl:\n  seeds: [https://docs.example/]\n")
    loaded = load_config(config).model_dump()
    own = yaml.safe_load(path.read_text())
    own.pop("defaults", None)  # the preset it builds on, loaded by the same rules
    for section, values in own.items():
        for key, value in values.items():
            if isinstance(value, dict):
                for inner, setting in value.items():
                    assert loaded[section][key][inner] == setting, f"{section}.{key}.{inner} was not applied"
            else:
                assert loaded[section][key] == value, f"{section}.{key} of the preset was not applied"


def test_gemma_preset_is_the_seed_recipe():
    config = load_config(ROOT / "configs" / "kaggle.yaml")
    tune = config.finetune
    assert (tune.quantization, tune.lora.r, tune.lora.alpha, tune.lora.dropout) == ("nf4", 128, 256, 0.15)
    assert (tune.learning_rate, tune.epochs, tune.max_length, tune.lr_scheduler) == (2e-4, 3, 512, "cosine")
    assert (tune.warmup_ratio, tune.max_grad_norm, tune.optimizer) == (0.03, 0.3, "paged_adamw_32bit")


def test_demo_tunes_the_embedded_model_on_trained_facts_with_the_knowledge_recipe():
    config = load_config(ROOT / "configs" / "demo.yaml")
    knowledge = yaml.safe_load((ROOT / "configs" / "finetune" / "smollm2-cpu-knowledge.yaml").read_text())
    tune, recipe = config.finetune, knowledge["finetune"]
    assert config.export.protocol == "knowledge" and config.generate.rephrase
    assert tune.base_model == "embedded:smollm2" and tune.quantization == "none"
    assert (tune.epochs, tune.learning_rate, tune.lora.r) == (
        recipe["epochs"],
        recipe["learning_rate"],
        recipe["lora"]["r"],
    )
    assert tune.max_steps is None  # a number of passes over the trained facts, not a demo's 20 steps


def test_kaggle_config_is_polite_and_offline_by_default():
    config = load_config(ROOT / "configs" / "kaggle.yaml")
    crawl = config.crawl
    assert crawl.markdown_alternates and not crawl.render_js and not crawl.allow_private_addresses
    assert crawl.delay_s > 0 and crawl.concurrency_per_host <= 2
    assert len(crawl.seeds) == len(set(crawl.seeds)) >= 14
    assert "https://www.kaggle.com/docs/efficient-gpu-usage" in crawl.seeds
