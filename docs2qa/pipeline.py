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
    # Reads state outside the run (people's reviews in Argilla): never considered up to date.
    always_run: bool = False

    @property
    def config_section(self) -> str:
        return self.section or self.name

    def run(self, config, store, **options) -> dict:
        module, _, function = self.target.partition(":")
        return getattr(importlib.import_module(module), function)(config, store, **options)

    def is_fresh(self, config, store) -> bool:
        return store.is_fresh(self.name, config.section_hash(self.config_section), list(self.inputs_for(config)))

    def inputs_for(self, config) -> tuple[str, ...]:
        """The stages this one reads under `config`: exporting unreviewed pairs reads no pull;
        a dataset version or gold file named in the config replaces this run's export."""
        skip = set()
        if self.name == "export" and config.export.source == "generation":
            skip.add("pull")
        if self.name == "finetune" and config.finetune.dataset:
            skip.add("export")
        if self.name == "eval" and (config.finetune.dataset or config.eval.gold_file):
            skip.add("export")
        return tuple(i for i in self.inputs if i not in skip)


STAGES = (
    Stage("crawl", "docs2qa.generation.stages:crawl", (), "fetch the docs site into the run (incremental)"),
    Stage("convert", "docs2qa.generation.stages:convert", ("crawl",), "turn pages into clean Markdown"),
    Stage("chunk", "docs2qa.generation.stages:chunk", ("convert",), "split Markdown into token-budgeted chunks"),
    Stage("generate", "docs2qa.generation.generate:generate", ("chunk",),
          "generate grounded Q&A pairs, judge them, drop failed checks and near-duplicates"),
    Stage("push", "docs2qa.curation.stage:push", ("generate",),
          "send the pairs to Argilla for people to review (starts the local server if needed)", section="curate"),
    Stage("pull", "docs2qa.curation.stage:pull", ("push",),
          "freeze people's decisions into an immutable curation snapshot", section="curate", always_run=True),
    Stage("export", "docs2qa.curation.export:export", ("generate", "pull"),
          "freeze the accepted pairs into a versioned dataset with card, manifest and report"),
    Stage("finetune", "docs2qa.finetune.stage:finetune", ("export",),
          "QLoRA-tune the base model on the dataset version (adapter, model card, manifest)"),
    Stage("eval", "docs2qa.finetune.stage:evaluate", ("finetune", "export"),
          "compare the tuned model with its base on the test split (results.json, report.html)"),
)
STAGE_BY_NAME = {stage.name: stage for stage in STAGES}


def record(name: str, config, store, body) -> dict:
    """Run a stage's body through the run store under the stage's own config section and inputs."""
    stage = STAGE_BY_NAME[name]
    return store.run_stage(stage.name, config.section_hash(stage.config_section), list(stage.inputs_for(config)), body)


def stages_for(config) -> list[Stage]:
    """The stages `docs2qa run` goes through: without human review there is nothing to push or pull."""
    skip = {"push", "pull"} if config.export.source == "generation" else set()
    return [s for s in STAGES if s.name not in skip]
