"""The stage list that `docs2qa run` and `status` walk is consistent with the config."""

from docs2qa.config import Config
from docs2qa.pipeline import STAGES


def test_every_stage_names_a_config_section_and_earlier_inputs():
    seen = set()
    for stage in STAGES:
        assert stage.config_section in Config.model_fields, stage
        assert set(stage.inputs) <= seen, f"{stage.name} reads a stage that runs after it"
        seen.add(stage.name)


def test_every_stage_target_resolves():
    import importlib

    for stage in STAGES:
        module, _, function = stage.target.partition(":")
        assert callable(getattr(importlib.import_module(module), function))
