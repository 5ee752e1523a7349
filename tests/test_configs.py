"""Every shipped config loads, and says in its first lines how to run and override it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


def test_kaggle_config_is_polite_and_offline_by_default():
    config = load_config(ROOT / "configs" / "kaggle.yaml")
    crawl = config.crawl
    assert crawl.markdown_alternates and not crawl.render_js and not crawl.allow_private_addresses
    assert crawl.delay_s > 0 and crawl.concurrency_per_host <= 2
    assert len(crawl.seeds) == len(set(crawl.seeds)) >= 14
    assert "https://www.kaggle.com/docs/efficient-gpu-usage" in crawl.seeds
