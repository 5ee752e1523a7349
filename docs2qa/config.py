"""Typed configuration: YAML file + `--set dotted.key=value` overrides -> validated models.

Unknown keys are errors (a typo must not silently fall back to a default), and every
problem is reported at once with its dotted path.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from docs2qa import config_sources
from docs2qa.config_sources import Layer
from docs2qa.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _not_only_dots(name: str | None) -> str | None:
    if name is not None and not name.strip("."):
        raise ValueError(f"{name!r} is not a name: as a folder it points outside runs/ or the dataset store")
    return name


# Names become folders (runs/<name>, <export.root>/<name>): one path part, never '.' or '..'.
FolderName = Annotated[str, AfterValidator(_not_only_dots)]

SplitName = Literal["train", "validation", "test"]
TrainingFormat = Literal["messages", "prompt_completion", "alpaca", "sharegpt"]


# Default factories as functions: mypy infers a lambda's dict of strings as dict[str, ...], not the Literal keys.
def _split_ratios() -> dict[SplitName, float]:
    return {"train": 0.8, "validation": 0.1, "test": 0.1}


def _training_formats() -> list[TrainingFormat]:
    return ["messages", "prompt_completion", "alpaca", "sharegpt"]


class LLMConfig(Section):
    """One model behind one backend; the generator and the judge each have one."""

    backend: Literal["auto", "transformers", "openai", "vllm", "llamacpp", "inference_endpoints"] = Field(
        "auto",
        description="auto (llamacpp for a GGUF model: embedded:smollm2 or a .gguf file; else transformers), "
        "transformers, openai (any OpenAI-compatible server), vllm, llamacpp, inference_endpoints.",
    )
    model: str = Field(
        "embedded:smollm2",
        description="Model id, local folder or served model name; 'embedded:smollm2' is the offline default.",
    )
    base_url: str | None = Field(None, description="OpenAI-compatible / inference-endpoint URL.")
    api_key_env: str | None = Field(
        None, description="Name of the environment variable that holds the API key (never the key itself)."
    )
    max_new_tokens: int = Field(384, ge=1, description="Longest completion.")
    temperature: float = Field(0.0, ge=0, description="0 means greedy decoding.")
    batch_size: int = Field(8, ge=1, description="Prompts per generation batch.")
    timeout_s: int = Field(
        120, ge=1, description="openai backend: seconds to wait for a reply before that try counts as failed."
    )
    max_retries: int = Field(
        4,
        ge=0,
        description="openai backend: retries of a request that failed (HTTP 429 or 5xx, timeout, dropped connection), "
        "with exponential backoff or the server's Retry-After; a unit still failing is retried by the next run.",
    )
    torch_threads: int = Field(1, ge=1, description="CPU threads per step process (steps run in parallel).")

    @model_validator(mode="after")
    def _resolve_auto_backend(self) -> LLMConfig:
        if self.backend == "auto":
            from docs2qa.models.embedded import is_gguf

            # llama.cpp reads a GGUF as it ships; transformers de-quantizes it (and took 3x as long
            # end to end on the demo, benchmarks/bench_engines.py). Written to __dict__, not
            # assigned: an assignment would count as a key the user set (JudgeConfig.is_own_model).
            self.__dict__["backend"] = "llamacpp" if is_gguf(self.model) else "transformers"
        return self


class ExportConfig(Section):
    """Frozen, versioned datasets: <root>/<name>/<version>/ with a card, a manifest and a report."""

    root: str = Field("datasets", description="Folder of the dataset store.")
    name: FolderName | None = Field(
        None, pattern=r"^[A-Za-z0-9_.-]+$", description="Dataset name; default: the run name."
    )
    source: Literal["curation", "generation"] = Field(
        "curation",
        description="'curation': the accepted pairs of a curation snapshot; 'generation': every generated pair, "
        "skipping human review (the card then says NOT human-curated).",
    )
    snapshot: str | None = Field(None, description="Curation snapshot id; default: the latest pull.")
    protocol: Literal["knowledge", "rag", "generalization"] = Field(
        "generalization",
        description="What the held-out questions measure. 'knowledge': trained facts asked in new words, closed "
        "book (one phrasing of a test fact held out, its others trained); 'rag': unseen pages, every prompt "
        "carrying retrieved chunks (training rows: the oracle among distractors, RAFT); 'generalization': "
        "unseen pages, closed book.",
    )
    split_by: Literal["page", "section"] = Field(
        "page",
        description="rag and generalization: unit kept whole within one split, a page or a top-level section.",
    )
    ratios: dict[SplitName, float] = Field(
        default_factory=_split_ratios,
        description="Share per split: of the facts asked in several phrasings (knowledge), else of the pages "
        "(or sections).",
    )
    rag_chunks: int = Field(3, ge=1, description="rag: chunks in each prompt's retrieved context.")
    rag_oracle_share: float = Field(
        0.8, ge=0, le=1, description="rag: share of training rows whose context holds their oracle chunk."
    )
    seed: int = Field(0, description="Seed of the split assignment.")
    leakage_question_threshold: float = Field(
        0.9,
        gt=0,
        le=1,
        description="Question cosine at which a validation/test pair leaks from training and is removed.",
    )
    leakage_wording_threshold: float = Field(
        0.75,
        gt=0,
        le=1,
        description="knowledge: word overlap (ROUGE-L) at which a held-out question is a near-copy of a trained "
        "one and is removed; embeddings would call every rewording of it a copy (docs2qa/wording.py).",
    )
    leakage_context_threshold: float = Field(
        0.95,
        gt=0,
        le=1,
        description="Context cosine at which a validation/test pair leaks from training and is removed "
        "(not under knowledge, where a held-out fact shares its chunk with training by design).",
    )
    embedding_model: str = Field(
        "embedded:all-minilm-l6-v2", description="sentence-transformers model for the leakage check."
    )
    system_prompt: str | None = Field(
        "You are a helpful assistant that answers questions about this product's documentation.",
        description="System message of every chat format (null for none); training and evaluation use the same.",
    )
    include_context: bool = Field(
        False,
        description="Put the documentation chunk in the prompt instead of answering from memory (always on under "
        "rag, where the prompt carries the retrieved chunks).",
    )
    formats: list[TrainingFormat] = Field(
        default_factory=_training_formats,
        description="Training formats written next to the canonical rows.",
    )
    license: str = Field("other", description="License in the card's header (the docs' license, not ours).")
    license_name: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9.-]*$",
        description="With license 'other': the license's short name in the card (lowercase, hyphens); "
        "default: source-documentation-terms.",
    )
    license_link: str | None = Field(
        None, description="With license 'other': URL of the license's text; default: the crawled site's URL."
    )
    language: str = Field("en", description="Language in the card's header.")
    hub_token_env: str = Field(
        "HF_TOKEN", description="Environment variable holding the Hugging Face token (never the token)."
    )
    hub_private: bool = Field(True, description="Create the hub repository as private.")

    @model_validator(mode="after")
    def _ratios(self) -> ExportConfig:
        if abs(sum(self.ratios.values()) - 1.0) > 1e-6 or any(v < 0 for v in self.ratios.values()):
            raise ValueError("export.ratios must be non-negative and sum to 1")
        if self.ratios.get("train", 0) <= 0:
            raise ValueError("export.ratios.train must be above 0")
        return self


class ConfigBase(Section):
    """The whole config: core's sections here, the stage packages' sections added by `config_model`."""

    name: FolderName = Field(
        ..., pattern=r"^[A-Za-z0-9_.-]+$", description="Run name; the default run folder is runs/<name>."
    )

    def section_hash(self, section: str) -> str:
        return stable_hash(getattr(self, section).model_dump(mode="json"))

    def hash(self) -> str:
        return stable_hash(self.model_dump(mode="json"))


@functools.cache
def config_model() -> type[ConfigBase]:
    """`Config`: the core sections plus those the stage packages declare (docs2qa/registry.py),
    which are imported by name here, on first use, never when this module loads."""
    from pydantic import create_model

    from docs2qa.registry import declared_sections

    fields: dict[str, Any] = {
        # A section that cannot default (crawl: a run needs a source) must be given.
        name: (model, ...) if getattr(model, "required_section", False) else (model, Field(default_factory=model))
        for name, model in declared_sections().items()
    }
    model = create_model("Config", __base__=ConfigBase, __module__=__name__, **fields)
    model.__qualname__ = "Config"  # pickle finds it again through __getattr__ below
    return model


def __getattr__(name: str) -> Any:
    if name == "Config":
        return config_model()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def stable_hash(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """`a.b.c=value`: the value is parsed as YAML, so numbers, booleans and lists work."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {assignment!r} is not key=value", "example: --set crawl.max_pages=20")
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: '{part}' is a value, not a section")
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else None
    except (yaml.YAMLError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser goes
        raise ConfigError(
            f"--set {key.strip()}: the value is not valid YAML ({_yaml_problem(exc)})",
            f"""quote text that holds ': ', '[' or '#': --set '{key.strip()}="text"'; a list is [a, b]""",
        ) from exc


def _yaml_problem(exc: Exception) -> str:
    """The parser's complaint without its multi-line excerpt of the input."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if problem and mark else (problem or str(exc))


def deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """`top` over `base`, section by section (a list or a value in `top` replaces base's)."""
    merged = dict(base)
    for key, value in top.items():
        merged[key] = (
            deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def config_layers(path: Path, seen: tuple[Path, ...] = ()) -> list[Layer]:
    """A YAML config as layers to merge in order: each preset of its `defaults:` (files relative
    to it, each with its own presets before it), then the file's own keys."""
    if not path.is_file():
        where = f" (named in the defaults of {seen[-1]})" if seen else ""
        state = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise ConfigError(f"config file {path} {state}{where}", "pass an existing YAML file, e.g. -c configs/demo.yaml")
    if path.resolve() in seen:
        raise ConfigError(f"config defaults loop back to {path}", "remove the circular entry from `defaults:`")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x})",
            "save it as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text) or {}
    except (yaml.YAMLError, RecursionError) as exc:
        raise ConfigError(f"{path} is not valid YAML: {_yaml_problem(exc)}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections at the top level")
    presets = data.pop("defaults", None) or []
    if not isinstance(presets, list) or not all(isinstance(preset, str) for preset in presets):
        raise ConfigError(
            f"{path}: `defaults` must be a list of YAML file names", "e.g. defaults: [finetune/smollm2-cpu.yaml]"
        )
    layers = []
    for preset in presets:
        for layer in config_layers(path.parent / preset, (*seen, path.resolve())):
            layers.append(Layer(layer.source, layer.data, (str(path), *layer.included_by)))
    return [*layers, Layer(str(path), data)]


# -c given once, several times (stacked in order) or not at all.
ConfigPaths = str | Path | Sequence[str | Path] | None


def config_paths(config: ConfigPaths) -> list[Path]:
    if config is None:
        return []
    return [Path(config)] if isinstance(config, str | Path) else [Path(path) for path in config]


def stacked_layers(paths: Sequence[Path]) -> list[Layer]:
    """The layers of one -c file, or of several stacked as if one config named them all under
    `defaults:` in that order: a later file wins key by key, and the values of an earlier one it
    leaves alone are reported as inherited, as a later preset's are."""
    if len(paths) == 1:
        return config_layers(paths[0])
    return [
        Layer(layer.source, layer.data, (*layer.included_by, "-c")) for path in paths for layer in config_layers(path)
    ]


def load_config(path: ConfigPaths, overrides: Sequence[str] = ()) -> ConfigBase:
    return resolve_config(path, overrides)[0]


def resolve_config(
    path: ConfigPaths, overrides: Sequence[str] = ()
) -> tuple[ConfigBase, dict[str, str], dict[str, str]]:
    """The config, where each leaf value came from (dotted key -> a file, `--set` or "default"),
    and the values a later preset left to an earlier one (config_sources.inherited)."""
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    paths = config_paths(path)
    layers = stacked_layers(paths)
    for layer in layers:
        config_sources.merge(sources, data, layer.data, layer.source)
        data = deep_merge(data, layer.data)
    if paths and "name" not in data:  # the first -c is the run's config; the ones after it add presets
        data["name"] = paths[0].stem
        sources["name"] = f"{paths[0]} (its file name)"
    for assignment in overrides:
        apply_override(data, assignment)
        node: Any = data
        key = assignment.partition("=")[0].strip()
        for part in key.split("."):
            node = node[part]
        config_sources.replace(sources, key, node, "--set")
    try:
        config = config_model().model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(exc, " + ".join(map(str, paths)) or None),
            "fix the keys above; README.md lists every key with its default",
        ) from exc
    values = config.model_dump(mode="json")
    every = {key: sources.get(key, config_sources.DEFAULT) for key in config_sources.leaves(values)}
    return config, every, config_sources.inherited(every, layers)


def format_validation_error(exc: ValidationError, path: str | Path | None) -> str:
    where = str(path) if path else "config"
    lines = [f"{where} has {exc.error_count()} problem(s):"]
    for err in exc.errors():
        dotted = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = "unknown key (check the spelling)" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  {dotted}: {message}")
    return "\n".join(lines)
