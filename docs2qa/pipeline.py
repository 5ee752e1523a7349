"""The stage contract: what a stage declares, and how core runs, checks and describes it.

A stage package declares its stages once (name, config section, inputs, describe, CLI options)
as `Stage` objects in a module that docs2qa/registry.py names; core never imports a stage
package by itself. A stage's version is a hash of the code it runs, found from its target: the
modules of docs2qa it imports, directly or not, and the files they name (code_files), so a fix
to convert or to the annotator guidelines makes that stage (and what reads it) stale.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docs2qa.errors import Docs2qaError

if TYPE_CHECKING:
    from docs2qa.config import ConfigBase
    from docs2qa.store import BlobStore, RunStore, StageDir, StageResult

Manifest = dict[str, Any]

log = logging.getLogger(__name__)


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
class Requirement:
    """A package a stage's code imports, the extra that installs it, and the configs that need it."""

    module: str  # a top-level import name ("distilabel", "playwright")
    extra: str  # pip install "docs2qa[extra]"
    when: Callable[[Any], bool] | None = None  # needed under this config only; default: always


@dataclass(frozen=True)
class Stage:
    name: str
    target: str  # "module:function(config, store, **options) -> manifest", imported when run
    inputs: tuple[str, ...]  # every stage it may read
    summary: str
    section: str = ""  # the config section it is built from; default: its own name
    # Reads state outside the run (people's reviews in Argilla): never considered up to date.
    always_run: bool = False
    # The inputs it reads under a config (a subset of `inputs`); default: all of them.
    select_inputs: Callable[[Any], Iterable[str]] | None = None
    # Whether `docs2qa run` goes through it under a config; default: always.
    enabled: Callable[[Any], bool] | None = None
    describe: Callable[[Manifest], Description] = field(default=lambda manifest: Description())
    options: tuple[Option, ...] = ()
    # CLI option values -> the keyword arguments of `target`; default: passed as they are.
    arguments: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # Packages it imports, checked once before it runs, so a missing one is one line naming
    # the extra, never an ImportError deep in a body (or after an hour of crawling).
    requires: tuple[Requirement, ...] = ()
    # "module:function(config, store, **options) -> list of lines (str or rich renderables)":
    # what running it would do, from what is on disk (`--dry-run`). It must load no model and
    # write nothing; `options` are the CLI option values as given.
    dry_run: str = ""
    command: str = ""  # CLI name when it differs ("curate push")
    help: str = ""  # the command's help; default: the summary

    @property
    def config_section(self) -> str:
        return self.section or self.name

    @property
    def version(self) -> str:
        module, _, function = self.target.partition(":")
        return code_version(module, function)

    def inputs_for(self, config: ConfigBase) -> tuple[str, ...]:
        chosen = set(self.select_inputs(config)) if self.select_inputs else set(self.inputs)
        if not chosen <= set(self.inputs):
            undeclared = sorted(chosen - set(self.inputs))
            raise ValueError(f"stage {self.name} selects inputs it does not declare: {undeclared}")
        return tuple(i for i in self.inputs if i in chosen)

    def cli_arguments(self, values: dict[str, Any]) -> dict[str, Any]:
        passed = {o.param: values[o.param] for o in self.options if not o.override and o.param in values}
        return self.arguments(passed) if self.arguments else passed

    def missing_requirements(self, config: ConfigBase) -> list[Requirement]:
        return [
            r
            for r in self.requires
            if (r.when is None or r.when(config)) and importlib.util.find_spec(r.module) is None
        ]

    def check_requirements(self, config: ConfigBase) -> None:
        missing = self.missing_requirements(config)
        if missing:
            names = ", ".join(repr(r.module) for r in missing)
            extras = ",".join(dict.fromkeys(r.extra for r in missing))
            raise Docs2qaError(
                f"the {self.command or self.name} stage needs the Python package(s) {names}, not installed here",
                f'pip install "docs2qa[{extras}]"',
            )

    def run(self, config: ConfigBase, store: RunStore, **options: Any) -> Manifest:
        self.check_requirements(config)
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

    def plan(self, config: ConfigBase, store: RunStore, **options: Any) -> list[Any]:
        """Its `dry_run` target's lines, reading through the same view a run would: only what
        it declares."""
        module, _, function = self.dry_run.partition(":")
        view = StageView(store, self.name, self.inputs_for(config))
        passed = {o.param: options[o.param] for o in self.options if not o.override and o.param in options}
        lines: list[Any] = getattr(importlib.import_module(module), function)(config, view, **passed)
        return lines

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


PROJECT = "docs2qa"  # the namespace whose modules make a stage's code; what it imports from outside are libraries


@functools.cache
def code_version(module: str, function: str = "") -> str:
    """A stage's version: a hash of what `code_files` finds, so a fix anywhere in what the stage
    runs, or in a file it reads, makes it stale, with no hand-kept list of modules to drift."""
    digest = hashlib.sha256()
    for key, path in code_files(module, function):
        digest.update(f"{key}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def code_files(module: str, function: str = "") -> tuple[tuple[str, Path], ...]:
    """`module` and every module of this project it imports, directly or not, at module level or
    inside functions, plus the data files they name: a string literal naming a file or a folder
    beside the module ("guidelines.md" in curation/schema.py, "demo_site" in docs2qa/demo.py).
    Found by parsing, never importing: importing would load the stages' heavy libraries.

    Of `module` itself, only its top-level code and what `function` reaches count: one module
    declares several stages, and eval's imports must not make finetune stale. Keys are names
    (docs2qa.curation.schema, docs2qa.curation/guidelines.md), so the version is the same
    wherever docs2qa is installed."""
    modules: dict[str, Path] = {}
    data: dict[str, Path] = {}
    todo, seen = [module], {module}
    while todo:
        name = todo.pop()
        spec = _find_spec(name)
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            raise ValueError(f"stage code {name!r} is not a Python source module")
        path = modules[name] = Path(spec.origin)
        package = name if spec.submodule_search_locations is not None else name.rpartition(".")[0]
        imports, maybe_submodules, literals = _parse(path, package, function if name == module else "")
        for literal in literals:
            data.update(_data_files(path.parent, package, literal))
        for imported in imports:
            if _in_project(imported) and _find_spec(imported) is None:
                raise ValueError(f"{path} imports {imported!r}, which does not exist")
        submodules = [m for m in maybe_submodules if _in_project(m) and _find_spec(m) is not None]
        for imported in (*imports, *submodules):
            parts = imported.split(".")
            # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
            for parent in (".".join(parts[:depth]) for depth in range(1, len(parts) + 1)):
                if _in_project(parent) and parent not in seen:
                    seen.add(parent)
                    todo.append(parent)
    counted = set(modules.values())  # a literal "__init__.py" names a module already there
    return tuple(sorted({**modules, **{k: p for k, p in data.items() if p not in counted}}.items()))


def _in_project(name: str) -> bool:
    return name == PROJECT or name.startswith(PROJECT + ".")


@functools.cache
def _find_spec(name: str) -> ModuleSpec | None:
    """Where a module's file is, found as its import would find it (the import system's finders
    with the parent package's path: the editable install's package-dir mapping included) but
    without running any package's __init__, as importlib.util.find_spec would."""
    parent = name.rpartition(".")[0]
    if not parent:
        return importlib.util.find_spec(name)
    parent_spec = _find_spec(parent)
    if parent_spec is None or parent_spec.submodule_search_locations is None:
        return None
    path = list(parent_spec.submodule_search_locations)
    for finder in sys.meta_path:
        find = getattr(finder, "find_spec", None)
        spec: ModuleSpec | None = find(name, path) if find else None
        if spec is not None:
            return spec
    return None


@functools.cache
def _parse(path: Path, package: str, function: str) -> tuple[tuple[str, ...], tuple[str, ...], frozenset[str]]:
    """The modules a file imports, the names `from pkg import name` imports (submodules or not),
    and the string literals that may name a data file beside it; of `function`'s module, only
    from its top-level code and the definitions that code and `function` reach."""
    source = path.read_bytes()
    tree = ast.parse(source, filename=str(path))
    scopes: list[ast.AST] = [tree]
    if function:
        defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
        # Top-level code runs when the module loads, and what it names may run: generate runs its
        # pipeline in a child process through `if __name__ == "__main__": _pipeline_process(...)`.
        scopes = [n for n in tree.body if n not in defs.values()]
        todo, reached = [function, *_names(scopes)], set()
        while todo:
            if (name := todo.pop()) in defs and name not in reached:
                reached.add(name)
                scopes.append(defs[name])
                todo.extend(_names([defs[name]]))
    imports: list[str] = []
    names: list[str] = []
    for statement in _statements(scopes):
        if isinstance(statement, ast.Import):
            imports.extend(alias.name for alias in statement.names)
        elif isinstance(statement, ast.ImportFrom):
            base = importlib.util.resolve_name("." * statement.level + (statement.module or ""), package)
            imports.append(base)
            names.extend(f"{base}.{alias.name}" for alias in statement.names if alias.name != "*")
    literals: frozenset[str] = frozenset()
    # Walking every expression costs more than parsing: only where a data file's name is quoted.
    if any(f'"{entry}'.encode() in source or f"'{entry}".encode() in source for entry in _data_entries(path.parent)):
        strings = (n.value for s in scopes for n in ast.walk(s) if isinstance(n, ast.Constant))
        literals = frozenset(v for v in strings if isinstance(v, str))
    return tuple(imports), tuple(names), literals


def _names(nodes: list[ast.AST]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def _statements(scopes: list[ast.AST]) -> Iterator[ast.AST]:
    """These statements (a module's: its body) and all nested in them, less `if TYPE_CHECKING:`
    blocks: their imports never run."""
    todo = [s for scope in scopes for s in (scope.body if isinstance(scope, ast.Module) else [scope])]
    while todo:
        statement = todo.pop()
        yield statement
        if isinstance(statement, ast.If) and _type_checking(statement.test):
            todo.extend(statement.orelse)
            continue
        for block in ("body", "orelse", "finalbody", "handlers", "cases"):
            todo.extend(getattr(statement, block, ()))


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _data_files(folder: Path, package: str, literal: str) -> dict[str, Path]:
    """The file, or the files of the folder, that `literal` names beside a module."""
    parts = literal.split("/")
    if parts[0] not in _data_entries(folder) or ".." in parts or "\0" in literal:
        return {}
    named = folder / literal
    if named.is_file():
        return {f"{package}/{literal}": named}
    inside = (p for p in named.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    return {f"{package}/{p.relative_to(folder).as_posix()}": p for p in inside}


@functools.cache
def _data_entries(folder: Path) -> frozenset[str]:
    """What lies beside a module, less subpackages: their modules count when imported."""
    return frozenset(p.name for p in folder.iterdir() if p.name != "__pycache__" and not (p / "__init__.py").exists())


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
