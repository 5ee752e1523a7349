"""The stages in order, each with the stages it reads, imported only when run."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    name: str
    target: str  # "module:function", imported lazily so the CLI starts instantly
    inputs: tuple[str, ...]
    summary: str
    section: str = ""  # the config section it is built from; default: its own name

    @property
    def config_section(self) -> str:
        return self.section or self.name

    def run(self, config, store, **options) -> dict:
        module, _, function = self.target.partition(":")
        return getattr(importlib.import_module(module), function)(config, store, **options)


STAGES = (
    Stage("crawl", "docs2qa.generation.stages:crawl", (), "fetch the docs site into the run (incremental)"),
    Stage("convert", "docs2qa.generation.stages:convert", ("crawl",), "turn pages into clean Markdown"),
    Stage("chunk", "docs2qa.generation.stages:chunk", ("convert",), "split Markdown into token-budgeted chunks"),
    Stage("generate", "docs2qa.generation.generate:generate", ("chunk",),
          "generate grounded Q&A pairs, judge them, drop failed checks and near-duplicates"),
    Stage("push", "docs2qa.curation.stage:push", ("generate",),
          "send the pairs to Argilla for people to review (starts the local server if needed)", section="curate"),
)
STAGE_BY_NAME = {stage.name: stage for stage in STAGES}
