"""Typed configuration: YAML file + `--set dotted.key=value` overrides -> validated models.

Unknown keys are errors (a typo must not silently fall back to a default), and every
problem is reported at once with its dotted path.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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

QuestionType = Literal["factual", "procedural", "conceptual", "yes_no", "unanswerable"]
SplitName = Literal["train", "validation", "test"]
TrainingFormat = Literal["messages", "prompt_completion", "alpaca", "sharegpt"]


# Default factories as functions: mypy infers a lambda's dict of strings as dict[str, ...], not the Literal keys.
def _questions_per_type() -> dict[QuestionType, int]:
    return {"factual": 1, "procedural": 1, "conceptual": 1}


def _split_ratios() -> dict[SplitName, float]:
    return {"train": 0.8, "validation": 0.1, "test": 0.1}


def _training_formats() -> list[TrainingFormat]:
    return ["messages", "prompt_completion", "alpaca", "sharegpt"]


class CrawlConfig(Section):
    """Where pages come from and how politely they are fetched."""

    seeds: list[str] = Field(default_factory=list, description="Start URLs; links are followed inside `scope`.")
    sitemaps: list[str] = Field(default_factory=list, description="sitemap.xml URLs whose pages are seeds.")
    llms_txt: list[str] = Field(default_factory=list, description="llms.txt URLs whose links are seeds.")
    local_dir: str | None = Field(None, description="A folder of .html/.md files to read instead of the network.")
    local_base_url: str | None = Field(
        None, description="URL that files in local_dir are published under (for links and ids)."
    )
    demo_site: bool = Field(False, description="Serve the bundled demo docs site on 127.0.0.1 and crawl it.")
    scope: list[str] = Field(
        default_factory=list,
        description="URL prefixes a page must start with; default: each seed's folder.",
    )
    base_url: str | None = Field(
        None,
        description="Fetch from this origin (a mirror) while keeping the configured URLs as page identity.",
    )
    follow_links: bool = Field(True, description="Follow links found on pages (inside scope).")
    markdown_alternates: bool = Field(True, description="Prefer a page's `.md` twin when the site serves one.")
    render_js: bool = Field(False, description="Render JavaScript-only pages with headless Chromium.")
    chromium_path: str = Field(
        "/usr/bin/chromium", description="System Chromium used for rendering (never downloaded)."
    )
    respect_robots: bool = Field(True, description="Honour robots.txt (a missing one allows all).")
    user_agent: str = Field("docs2qa/0.1", description="User-Agent header, also the robots.txt agent.")
    concurrency_per_host: int = Field(4, ge=1, description="Requests in flight per host.")
    delay_s: float = Field(0.0, ge=0, description="Pause between requests to one host.")
    timeout_s: float = Field(20.0, gt=0, description="Per-request timeout.")
    retries: int = Field(3, ge=0, description="Retries on 429/5xx and network errors.")
    backoff_s: float = Field(0.5, ge=0, description="First retry delay; doubles each attempt.")
    max_retry_after_s: float = Field(60.0, ge=0, description="Longest Retry-After that is honoured.")
    max_pages: int = Field(500, ge=1, description="Stop after this many pages.")
    max_bytes: int = Field(5_000_000, ge=1024, description="Larger bodies are dropped as too_large.")
    allow_private_addresses: bool = Field(
        False, description="Allow loopback/private hosts (needed for tests and local mirrors)."
    )
    min_text_chars: int = Field(200, ge=0, description="Pages with less visible text are recorded as empty.")

    @field_validator("seeds", "sitemaps", "llms_txt", "scope")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        bad = [u for u in urls if not u.startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"only http(s) URLs are allowed, got {bad}")
        return urls

    @model_validator(mode="after")
    def _has_a_source(self) -> CrawlConfig:
        if not (self.seeds or self.sitemaps or self.llms_txt or self.local_dir or self.demo_site):
            raise ValueError(
                "no source: set crawl.seeds, crawl.sitemaps, crawl.llms_txt, crawl.local_dir or crawl.demo_site"
            )
        return self


class ConvertConfig(Section):
    """HTML -> Markdown."""

    main_selector: str | None = Field(
        None,
        description="CSS selector of the main content; "
        "default: detected (main/article/[role=main], else the page without its chrome).",
    )
    drop_selectors: list[str] = Field(
        default_factory=list, description="Extra CSS selectors to remove before conversion."
    )
    workers: int | None = Field(
        None,
        ge=1,
        description="Processes that convert and chunk pages; default: the machine's cores. "
        "Output is identical for any number.",
    )


class ChunkConfig(Section):
    """Heading-aware, token-budgeted chunks."""

    tokenizer: str = Field(
        "embedded:smollm2",
        description="'embedded:smollm2', a tokenizer.json file, or a folder holding one.",
    )
    max_tokens: int = Field(512, ge=16, description="Token budget of a chunk.")
    min_tokens: int = Field(64, ge=0, description="Sections smaller than this merge into a neighbour.")
    overlap_tokens: int = Field(0, ge=0, description="Context repeated from the previous piece of a split section.")

    @model_validator(mode="after")
    def _budgets(self) -> ChunkConfig:
        if self.min_tokens >= self.max_tokens:
            raise ValueError("chunk.min_tokens must be smaller than chunk.max_tokens")
        if self.overlap_tokens >= self.max_tokens // 2:
            raise ValueError("chunk.overlap_tokens must be under half of chunk.max_tokens")
        return self


class LLMConfig(Section):
    """One model behind one backend; the generator and the judge each have one."""

    backend: Literal["transformers", "openai", "vllm", "llamacpp", "inference_endpoints"] = Field(
        "transformers",
        description="transformers, openai (any OpenAI-compatible server), vllm, llamacpp, inference_endpoints.",
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


class DedupConfig(Section):
    model: str = Field(
        "embedded:all-minilm-l6-v2", description="sentence-transformers model id/folder for question embeddings."
    )
    threshold: float = Field(0.9, gt=0, le=1, description="Cosine similarity at or above which pairs are duplicates.")


class JudgeConfig(LLMConfig):
    """The judge model (default: the generator itself) and the score a pair needs to be kept."""

    min_score: int = Field(
        3,
        ge=1,
        le=5,
        description="A pair is kept when its lowest judge score (grounded, correct, useful, standalone) "
        "is at least this; the judge's verdict word never overrides its scores.",
    )

    def is_own_model(self) -> bool:
        # Only min_score set: the generator judges (the default before the threshold existed).
        return bool(self.model_fields_set - {"min_score"})


# Generator names that say the model is under 1B parameters ("SmolLM2-360M", "Qwen2.5-0.5B").
_SMALL_MODEL_RE = r"(?i)(?:^|[^0-9.])(?:[1-9][0-9]{0,2}m|0\.[0-9]+b)(?:[^a-z0-9]|$)"


class GenerateConfig(Section):
    """Grounded Q&A generation with self-critique (a distilabel pipeline)."""

    generator: LLMConfig = Field(default_factory=LLMConfig)
    judge: JudgeConfig = Field(
        default_factory=JudgeConfig, description="Judge model; with no model key set here, the generator judges."
    )
    strategy: Literal["auto", "answer_first", "free"] = Field(
        "auto",
        description="'answer_first': pick informative sentences of the chunk as answers and have the model write only "
        "their questions (grounded by construction; for small models); 'free': the model writes whole pairs. "
        "'auto': answer_first for the embedded SmolLM2 and models named under 1B parameters (e.g. 360M, 0.5B), "
        "else free.",
    )
    questions_per_type: dict[QuestionType, int] = Field(
        default_factory=_questions_per_type,
        description="Pairs asked per chunk for each question type; "
        "'unanswerable' asks for questions the chunk cannot answer.",
    )
    output_format: Literal["lines", "json"] = Field(
        "lines",
        description="'lines' (Q:/A:/EVIDENCE:, followed by small models) or 'json' (schema, for capable models).",
    )
    parse_retries: int = Field(2, ge=0, description="Re-asks after a malformed output before the chunk is dropped.")
    max_chunks: int | None = Field(
        None, ge=1, description="Use at most this many chunks, spread over the pages (for trial runs and demos)."
    )
    min_question_chars: int = Field(12, ge=1, description="Shorter questions are dropped.")
    max_question_chars: int = Field(300, ge=1, description="Longer questions are dropped.")
    min_answer_chars: int = Field(2, ge=1, description="Shorter answers are dropped.")
    max_answer_chars: int = Field(2000, ge=1, description="Longer answers are dropped.")
    evidence_min_ratio: float = Field(
        0.85, gt=0, le=1, description="Fuzzy match needed to find the evidence in the chunk."
    )
    evidence_min_words: int = Field(
        4, ge=1, description="Shorter evidence proves nothing and the pair is dropped (unsupported)."
    )
    support_min_share: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Share of the answer's content words that must occur in the chunk (else unsupported).",
    )
    min_qa_similarity: float = Field(
        0.4,
        ge=-1,
        le=1,
        description="answer_first: questions whose embedding cosine with their answer is lower "
        "are off target and dropped.",
    )
    language: str = Field("en", description="Expected language of questions and answers.")
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    max_tokens: int | None = Field(None, ge=1, description="Token budget for this stage; stops cleanly when reached.")
    prices: dict[str, dict[Literal["prompt", "completion"], float]] = Field(
        default_factory=dict, description="USD per million tokens by model, for cost in the manifest."
    )

    def judge_llm(self) -> LLMConfig:
        """The model that judges: the judge's own, or the generator."""
        if not self.judge.is_own_model():
            return self.generator
        return LLMConfig(**self.judge.model_dump(exclude={"min_score"}))

    def resolved_strategy(self) -> str:
        if self.strategy != "auto":
            return self.strategy
        model = self.generator.model
        small = model == "embedded:smollm2" or re.search(_SMALL_MODEL_RE, model.rsplit("/", 1)[-1]) is not None
        return "answer_first" if small else "free"


class CurateConfig(Section):
    """Human review in Argilla: a local server docs2qa runs, or your own."""

    api_url: str | None = Field(
        None,
        description="An Argilla server you run yourself; "
        "default: $ARGILLA_API_URL, else the one `curate serve` started.",
    )
    api_key_env: str = Field(
        "ARGILLA_API_KEY", description="Environment variable holding the API key of your own server (never the key)."
    )
    state_dir: str = Field(
        ".docs2qa/argilla", description="Where `curate serve` keeps its database, logs, PIDs and generated credentials."
    )
    host: str = Field("127.0.0.1", description="Address `curate serve` binds; anything but loopback exposes the UI.")
    port: int = Field(6900, ge=1, le=65535)
    workspace: str = "docs2qa"
    dataset: str | None = Field(None, description="Argilla dataset name; default: docs2qa-<run name>.")
    annotators_per_record: int = Field(1, ge=1, description="Submitted responses a record needs to count as done.")
    policy: Literal["majority", "unanimous", "first"] = Field(
        "majority", description="How several annotators' answers to one record are resolved."
    )
    demo_accept_min_score: int | None = Field(
        None,
        ge=1,
        le=5,
        description="NOT human curation: pull accepts pairs whose lowest judge score is at least this, for demos.",
    )


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
    split_by: Literal["page", "section"] = Field(
        "page", description="Unit kept whole within one split: a page, or a top-level section of a page."
    )
    ratios: dict[SplitName, float] = Field(
        default_factory=_split_ratios,
        description="Share of pages (or sections) per split.",
    )
    seed: int = Field(0, description="Seed of the split assignment.")
    leakage_question_threshold: float = Field(
        0.9,
        gt=0,
        le=1,
        description="Question cosine at which a validation/test pair leaks from training and is removed.",
    )
    leakage_context_threshold: float = Field(
        0.95,
        gt=0,
        le=1,
        description="Context cosine at which a validation/test pair leaks from training and is removed.",
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
        description="Put the documentation chunk in the prompt (retrieval-style) instead of answering from memory.",
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
    crawl: CrawlConfig
    convert: ConvertConfig = Field(default_factory=ConvertConfig)
    chunk: ChunkConfig = Field(default_factory=ChunkConfig)
    generate: GenerateConfig = Field(default_factory=GenerateConfig)
    curate: CurateConfig = Field(default_factory=CurateConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)

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
        name: (model, Field(default_factory=model)) for name, model in declared_sections().items()
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


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> ConfigBase:
    return resolve_config(path, overrides)[0]


def resolve_config(
    path: str | Path | None, overrides: Sequence[str] = ()
) -> tuple[ConfigBase, dict[str, str], dict[str, str]]:
    """The config, where each leaf value came from (dotted key -> a file, `--set` or "default"),
    and the values a later preset left to an earlier one (config_sources.inherited)."""
    data: dict[str, Any] = {}
    sources: dict[str, str] = {}
    layers: list[Layer] = []
    if path is not None:
        path = Path(path)
        layers = config_layers(path)
        for layer in layers:
            config_sources.merge(sources, data, layer.data, layer.source)
            data = deep_merge(data, layer.data)
        if "name" not in data:
            data["name"] = path.stem
            sources["name"] = f"{path} (its file name)"
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
            format_validation_error(exc, path), "fix the keys above; README.md lists every key with its default"
        ) from exc
    values = config.model_dump(mode="json")
    every = {key: sources.get(key, config_sources.DEFAULT) for key in config_sources.leaves(values)}
    return config, every, config_sources.inherited(every, layers)


def format_validation_error(exc: ValidationError, path: Path | None) -> str:
    where = str(path) if path else "config"
    lines = [f"{where} has {exc.error_count()} problem(s):"]
    for err in exc.errors():
        dotted = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = "unknown key (check the spelling)" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  {dotted}: {message}")
    return "\n".join(lines)
