"""LLMConfig -> a distilabel LLM, plus a stable, secret-free label for records.

API keys are read from the environment variable that `api_key_env` names, at build
time, straight into distilabel's `SecretStr` field: they are never part of the config,
the label, a repr or the pipeline dump (distilabel excludes `api_key` from it).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from docs2qa.config import LLMConfig
from docs2qa.errors import Docs2qaError
from docs2qa.models.embedded import PREFIX, SMOLLM2_DIRNAME, resolve_gguf, resolve_model
from docs2qa.secrets import env_secret

if TYPE_CHECKING:
    from distilabel.models.llms.base import LLM

# Local servers (transformers serve, llama.cpp, vLLM) ignore the key but the OpenAI
# client refuses to start without one.
LOCAL_DUMMY_KEY = "not-needed"
# llama.cpp's default context (512) is smaller than one chunk plus its prompt.
LLAMACPP_CONTEXT = 4096
# Requests llama.cpp decodes together. One: every request then reuses the prompt cache of the
# one before it, and answer_first prompts share ~400 tokens of instructions and examples, so
# only their last ~40 are computed; each extra slot computes the shared part again. Measured
# (benchmarks/bench_engines.py, 24 questions, 1 thread): 1 slot 23.7 CPU s, 8 slots 51.2.
LLAMACPP_SLOTS = 1
# The xllamacpp release measured and pinned (constraints.txt); the install hint names it.
XLLAMACPP_VERSION = "2026.10.11549"

_EMBEDDED_LABELS = {"smollm2": SMOLLM2_DIRNAME}


def generation_kwargs(cfg: LLMConfig) -> dict[str, Any]:
    """The `generation_kwargs` each backend's `generate`/`agenerate` accepts for cfg.

    Temperature 0 means greedy everywhere: transformers and TGI get `do_sample=False`
    (TGI rejects temperature 0), OpenAI-compatible servers, vLLM and llama.cpp treat
    temperature 0 as greedy themselves.
    """
    greedy = cfg.temperature == 0
    kwargs: dict[str, Any] = {"max_new_tokens": cfg.max_new_tokens}
    if cfg.backend == "transformers":
        kwargs.update(temperature=cfg.temperature, do_sample=not greedy)
    elif cfg.backend == "inference_endpoints":
        kwargs.update({"do_sample": False} if greedy else {"temperature": cfg.temperature, "do_sample": True})
    else:
        kwargs["temperature"] = cfg.temperature
    return kwargs


def build_llm(cfg: LLMConfig, line_grammar: dict | None = None) -> LLM:
    """A distilabel LLM for cfg, not yet loaded (a pipeline step loads it in its process).

    `line_grammar` (a serialised LineGrammar) constrains decoding where the backend runs the
    model itself (transformers, llamacpp); served models get the format from the prompt alone.
    """
    builders = {
        "transformers": _transformers,
        "openai": _openai,
        "vllm": _vllm,
        "llamacpp": _llamacpp,
        "inference_endpoints": _inference_endpoints,
    }
    if cfg.backend == "llamacpp":
        return _llamacpp(cfg, line_grammar)
    llm = builders[cfg.backend](cfg)
    if line_grammar is not None and cfg.backend == "transformers":
        llm.line_grammar = line_grammar
    return llm


def model_label(cfg: LLMConfig) -> str:
    """A stable human id such as 'transformers:smollm2-135m-instruct' or 'openai:gpt-4o-mini@host'.

    It holds no secret and no port (a local server's port changes from run to run).
    """
    name = _short_model_name(cfg.model)
    if cfg.backend in ("openai", "inference_endpoints"):
        host = (
            _host(cfg.base_url) if cfg.base_url else ("api.openai.com" if cfg.backend == "openai" else "hf-inference")
        )
        return f"{cfg.backend}:{name}@{host}"
    return f"{cfg.backend}:{name}"


def _short_model_name(model: str) -> str:
    if model.startswith(PREFIX):
        name = model[len(PREFIX) :]
        return _EMBEDDED_LABELS.get(name, name)
    # A local path says where it lives on one machine, not what it is: keep the folder name.
    if model.startswith(("/", "./", "../", "~")) or Path(model).exists():
        path = Path(model).expanduser()
        return path.stem if path.suffix == ".gguf" else path.name
    return model


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def _is_local(url: str | None) -> bool:
    if not url:
        return False
    host = _host(url)
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def _api_key(cfg: LLMConfig) -> str | None:
    if cfg.api_key_env:
        return env_secret(
            cfg.api_key_env,
            f"the {cfg.backend} model's api_key_env",
            f"export {cfg.api_key_env}=... before running; the key itself never goes in the config",
        )
    return None


def _transformers(cfg: LLMConfig) -> LLM:
    from docs2qa.generation.llm.batched_transformers import BatchedTransformersLLM

    return BatchedTransformersLLM(
        model=resolve_model(cfg.model),
        torch_threads=cfg.torch_threads,
        max_batch_size=cfg.batch_size,
        display_name=model_label(cfg),
        generation_kwargs=generation_kwargs(cfg),
    )


def _openai(cfg: LLMConfig) -> LLM:
    from docs2qa.generation.llm.served import ReportingOpenAILLM

    key = _api_key(cfg)
    if key is None:
        if not _is_local(cfg.base_url):
            where = cfg.base_url or "the OpenAI API"
            raise Docs2qaError(
                f"{where} needs an API key and api_key_env is not set",
                "set api_key_env to the name of the environment variable holding the key, e.g. OPENAI_API_KEY",
            )
        key = LOCAL_DUMMY_KEY
    # Retries are the openai client's (backoff, Retry-After); set here, not left to distilabel's
    # defaults, so that the config says how long a failing server is waited for.
    return ReportingOpenAILLM(
        model=cfg.model,
        base_url=cfg.base_url or "https://api.openai.com/v1",
        api_key=key,
        max_retries=cfg.max_retries,
        timeout=cfg.timeout_s,
        generation_kwargs=generation_kwargs(cfg),
    )


def _require_module(module: str, feature: str, install: str) -> None:
    # find_spec, not import: vllm and xllamacpp are heavy and only the step process needs them.
    if importlib.util.find_spec(module) is None:
        raise Docs2qaError(f"{feature} needs the Python package '{module}', which is not installed", install)


def _vllm(cfg: LLMConfig) -> LLM:
    _require_module("vllm", "backend 'vllm'", "pip install vllm (GPU machine)")
    from distilabel.models.llms import vLLM

    return vLLM(model=resolve_model(cfg.model), generation_kwargs=generation_kwargs(cfg))


def _llamacpp(cfg: LLMConfig, line_grammar: dict | None = None) -> LLM:
    _require_module("xllamacpp", "backend 'llamacpp'", f"pip install xllamacpp=={XLLAMACPP_VERSION}")
    from docs2qa.generation.llm.line_grammar import to_lark
    from docs2qa.generation.llm.llamacpp import LlamaCppServerLLM

    path = resolve_gguf(cfg.model)
    if not Path(path).is_file():
        raise Docs2qaError(
            f"backend 'llamacpp' needs a .gguf file, {path!r} is not one",
            "set model to a .gguf path or embedded:smollm2, or backend to transformers for a model folder or id",
        )
    kwargs = generation_kwargs(cfg)
    if line_grammar is not None:
        # The server decodes under the step's grammar, as the transformers backend does.
        kwargs["extra_body"] = {"grammar": to_lark(line_grammar)}
    return LlamaCppServerLLM(
        model=model_label(cfg),
        model_path=path,
        threads=cfg.torch_threads,
        parallel=LLAMACPP_SLOTS,
        context=LLAMACPP_CONTEXT,
        api_key=LOCAL_DUMMY_KEY,  # replaced by the server's own key at load
        max_retries=cfg.max_retries,
        # A step sends its whole batch at once and the server answers them in turn: a request's
        # wait includes the ones before it in its slot.
        timeout=cfg.timeout_s * math.ceil(cfg.batch_size / LLAMACPP_SLOTS),
        generation_kwargs=kwargs,
    )


def _inference_endpoints(cfg: LLMConfig) -> LLM:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        # distilabel 1.5.3 then returns None for every generation instead of failing.
        raise Docs2qaError(
            "backend 'inference_endpoints' cannot work with HF_HUB_OFFLINE set",
            "unset HF_HUB_OFFLINE, or serve the model behind an OpenAI-compatible server and use backend 'openai'",
        )
    from distilabel.models.llms import InferenceEndpointsLLM

    where: dict[str, Any] = (
        {"base_url": cfg.base_url, "model_display_name": cfg.model} if cfg.base_url else {"model_id": cfg.model}
    )
    key = _api_key(cfg)
    if key is not None:
        where["api_key"] = key
    return InferenceEndpointsLLM(**where, generation_kwargs=generation_kwargs(cfg))
