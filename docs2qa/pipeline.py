"""The stage contract: what a stage declares, and how core runs, checks and describes it.

A stage package declares its stages once (name, config section, inputs, code, describe, CLI
options) as `Stage` objects in a module that docs2qa/registry.py names; core never imports a
stage package by itself. A stage's version is a hash of its own source modules and prompt
files, so a fix to convert or a template makes that stage (and what reads it) stale.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docs2qa.errors import Docs2qaError

if TYPE_CHECKING:
    from docs2qa.config import ConfigBase
    from docs2qa.store import BlobStore, RunStore, StageDir, StageResult

Manifest = dict[str, Any]

log = logging.getLogger(__name__)

# Files of a stage's code that shape its output: its modules and the prompt files next to them.
_CODE_SUFFIXES = (".py", ".md", ".txt", ".jinja", ".j2", ".yaml", ".json")


@dataclass(frozen=True)
class Description:
    """How a stage's manifest reads in `status` and in the run summary."""

    product: str = ""  # what a stage without tables made ("adapter after 20 steps")
    dropped: str | None = None  # replaces "N dropped (reasons)" when the stage counts drops its own way
    notes: tuple[str, ...] = ()  # further lines: where the output is, warnings


@dataclass(frozen=True)
class Option:
    """An extra CLI option of a stage's command, passed to its function as `param`."""

    flag: str
    param: str
    type: type
    default: Any
    help: str
    override: str = ""  # a config key the value sets (like --set KEY=VALUE) instead of being passed


@dataclass(frozen=True)
class Stage:
    name: str
    target: str  # "module:function(config, store, **options) -> manifest", imported when run
    inputs: tuple[str, ...]  # every stage it may read
    summary: str
    section: str = ""  # the config section it is built from; default: its own name
    # Reads state outside the run (people's reviews in Argilla): never considered up to date.
    always_run: bool = False
    # Modules or packages whose source (and prompt files) make the stage's code version.
    code: tuple[str, ...] = ()
    # The inputs it reads under a config (a subset of `inputs`); default: all of them.
    select_inputs: Callable[[Any], Iterable[str]] | None = None
    # Whether `docs2qa run` goes through it under a config; default: always.
    enabled: Callable[[Any], bool] | None = None
    describe: Callable[[Manifest], Description] = field(default=lambda manifest: Description())
    options: tuple[Option, ...] = ()
    # CLI option values -> the keyword arguments of `target`; default: passed as they are.
    arguments: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    command: str = ""  # CLI name when it differs ("curate push")
    help: str = ""  # the command's help; default: the summary

    @property
    def config_section(self) -> str:
        return self.section or self.name

    @property
    def version(self) -> str:
        return code_version(self.code)

    def inputs_for(self, config: ConfigBase) -> tuple[str, ...]:
        chosen = set(self.select_inputs(config)) if self.select_inputs else set(self.inputs)
        if not chosen <= set(self.inputs):
            undeclared = sorted(chosen - set(self.inputs))
            raise ValueError(f"stage {self.name} selects inputs it does not declare: {undeclared}")
        return tuple(i for i in self.inputs if i in chosen)

    def cli_arguments(self, values: dict[str, Any]) -> dict[str, Any]:
        passed = {o.param: values[o.param] for o in self.options if not o.override and o.param in values}
        return self.arguments(passed) if self.arguments else passed

    def run(self, config: ConfigBase, store: RunStore, **options: Any) -> Manifest:
        module, _, function = self.target.partition(":")
        view = StageView(store, self.name, self.inputs_for(config))
        log.debug(
            "stage %s: inputs %s, code version %s, options %s",
            self.name,
            sorted(view._readable - {self.name}),
            self.version,
            options,
        )
        manifest: Manifest = getattr(importlib.import_module(module), function)(config, view, **options)
        return manifest

    def stale_reasons(self, config: ConfigBase, store: RunStore) -> list[str]:
        """Empty when up to date; else what differs: "config", "inputs (chunk)", "code version"."""
        stale: list[str] = store.stale_reasons(
            self.name, config.section_hash(self.config_section), list(self.inputs_for(config)), self.version
        )
        if stale:
            log.debug("stage %s is not up to date: %s", self.name, ", ".join(stale))
        return stale

    def is_fresh(self, config: ConfigBase, store: RunStore) -> bool:
        return not self.stale_reasons(config, store)


class UndeclaredInput(Docs2qaError):
    """A stage body read a stage it does not declare as an input: a bug in the stage."""


class StageView:
    """The run store as a stage sees it: its own folder and its declared inputs, nothing else,
    so that what freshness compares is exactly what the stage reads."""

    def __init__(self, store: RunStore, name: str, inputs: Iterable[str]):
        self._store = store
        self._readable = {name, *inputs}
        self.name = name
        self.root: Path = store.root
        self.blobs: BlobStore = store.blobs

    def stage(self, name: str) -> StageDir:
        if name not in self._readable:
            raise UndeclaredInput(
                f"stage {self.name} read stage {name!r}, which it does not declare as an input "
                f"(it reads {sorted(self._readable - {self.name})})",
                f"add {name!r} to the inputs of the {self.name} stage's declaration",
            )
        return self._store.stage(name)

    def run_stage(
        self, name: str, config_hash: str, inputs: list[str], body: Callable[[StageDir], StageResult], version: str = ""
    ) -> Manifest:
        return self._store.run_stage(name, config_hash, inputs, body, version)

    def require_complete(self, name: str, needed_by: str) -> StageDir:
        self.stage(name)
        return self._store.require_complete(name, needed_by)


@functools.cache
def code_version(code: tuple[str, ...]) -> str:
    """A hash of the named modules' (and packages' whole folders') source files, found without
    importing them; "" for a stage that names no code."""
    if not code:
        return ""
    digest = hashlib.sha256()
    for name in code:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ValueError(f"stage code {name!r} is not an importable module")
        origin = Path(spec.origin)
        files = (
            sorted(p for p in origin.parent.rglob("*") if p.suffix in _CODE_SUFFIXES and p.is_file())
            if spec.submodule_search_locations
            else [origin]
        )
        for path in files:
            digest.update(f"{name}:{path.relative_to(origin.parent)}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def stages() -> tuple[Stage, ...]:
    """Every declared stage, in pipeline order (the order of registry.STAGE_MODULES)."""
    from docs2qa.registry import declared_stages

    return declared_stages()


def stage_named(name: str) -> Stage:
    for stage in stages():
        if stage.name == name:
            return stage
    raise KeyError(name)


def record(
    name: str, config: ConfigBase, store: RunStore | StageView, body: Callable[[StageDir], StageResult]
) -> Manifest:
    """Run a stage's body through the run store under the stage's config section, inputs and version."""
    stage = stage_named(name)
    return store.run_stage(
        stage.name,
        config.section_hash(stage.config_section),
        list(stage.inputs_for(config)),
        body,
        version=stage.version,
    )


def stages_for(config: ConfigBase) -> list[Stage]:
    """The stages `docs2qa run` and `status` go through under this config."""
    return [s for s in stages() if s.enabled is None or s.enabled(config)]
