"""Where core finds the stage packages: module names, imported by name when first needed (like
entry points), so that core never imports generation/, curation/ or finetune/ itself and
`import docs2qa.cli` loads none of them.

A stage module holds `STAGES` (a tuple of pipeline.Stage, in order); a section module holds
`SECTIONS` ({"finetune": FinetuneConfig}), the config sections its stages are built from: each
stage package declares its own settings next to its code, and core only assembles them.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import BaseModel

    from docs2qa.pipeline import Stage

# In pipeline order.
STAGE_MODULES = (
    "docs2qa.generation.ingest.stages",
    "docs2qa.generation.qa.stages",
    "docs2qa.curation.stage",
    "docs2qa.finetune.stage",
)
# Section modules import only pydantic and docs2qa.config, so loading a config stays light.
# In pipeline order too: it is the order of the config's sections.
SECTION_MODULES = (
    "docs2qa.generation.ingest.config",
    "docs2qa.generation.qa.config",
    "docs2qa.curation.config",
    "docs2qa.finetune.config",
    "docs2qa.finetune.evaluate.config",
)
# CLI command groups a stage package adds: (name, "module:typer app").
COMMAND_GROUPS = (
    ("curate", "docs2qa.curation.cli:curate_app"),
    ("datasets", "docs2qa.curation.cli:datasets_app"),
    ("models", "docs2qa.finetune.cli:models_app"),
)


@functools.cache
def declared_stages() -> tuple[Stage, ...]:
    found: tuple[Stage, ...] = tuple(stage for name in STAGE_MODULES for stage in importlib.import_module(name).STAGES)
    names = [stage.name for stage in found]
    if len(set(names)) != len(names):
        raise ValueError(f"a stage is declared twice: {names}")
    return found


@functools.cache
def declared_sections() -> dict[str, type[BaseModel]]:
    sections: dict[str, type[BaseModel]] = {}
    for name in SECTION_MODULES:
        for section, model in importlib.import_module(name).SECTIONS.items():
            if section in sections:
                raise ValueError(f"config section {section!r} is declared twice ({name})")
            sections[section] = model
    return sections
