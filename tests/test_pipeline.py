"""The stage list that `docs2qa run` and `status` walk is consistent with the config."""

import importlib

from docs2qa.config import config_model
from docs2qa.pipeline import stages


def test_every_stage_names_a_config_section_and_earlier_inputs():
    seen = set()
    for stage in stages():
        assert stage.config_section in config_model().model_fields, stage
        assert set(stage.inputs) <= seen, f"{stage.name} reads a stage that runs after it"
        seen.add(stage.name)


def test_every_stage_target_resolves_and_has_a_code_version():
    for stage in stages():
        module, _, function = stage.target.partition(":")
        assert callable(getattr(importlib.import_module(module), function))
        assert len(stage.version) == 16, f"{stage.name} names no code, so a fix to it would not make it stale"


def test_the_pipeline_order_is_the_documented_one():
    assert [s.name for s in stages()] == [
        "crawl",
        "convert",
        "chunk",
        "generate",
        "push",
        "pull",
        "export",
        "finetune",
        "eval",
    ]
