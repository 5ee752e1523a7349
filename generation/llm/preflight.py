"""Ask each remote model server once before generating, so a wrong URL or key fails loudly.

Without this, an unreachable OpenAI-compatible server made every unit fail inside the pipeline
process: distilabel recorded empty generations, the gates dropped them as `no_answer_span`, and
`docs2qa generate` exited 0 with no pairs. One GET of `/models` (every OpenAI-compatible server
answers it: vLLM, llama.cpp, Ollama, TGI, OpenAI) tells a dead server and a refused key apart from
a working one in a second.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from docs2qa.config import LLMConfig
from docs2qa.errors import ServiceError
from docs2qa.generation.llm.factory import LOCAL_DUMMY_KEY, _api_key, _is_local, _openai
from docs2qa.generation.qa.config import GenerateConfig

TIMEOUT_S = 10.0


def check_endpoints(gen: GenerateConfig) -> None:
    """Raise ServiceError naming the role whose server is unreachable or refuses its key."""
    checked: set[tuple[str | None, str | None]] = set()
    # An off judge (generate.judge.enabled) is never asked: its server need not be up.
    judge = [("judge", gen.judge_llm())] if gen.judge_enabled() else []
    for role, cfg in (("generator", gen.generator), *judge):
        if cfg.backend != "openai" or (cfg.base_url, cfg.api_key_env) in checked:
            continue
        checked.add((cfg.base_url, cfg.api_key_env))
        _openai(cfg)  # the factory's own checks first: a remote server without api_key_env
        _check_openai(cfg, role)


def _check_openai(cfg: LLMConfig, role: str) -> None:
    base = (cfg.base_url or "https://api.openai.com/v1").rstrip("/")
    key = _api_key(cfg) or (LOCAL_DUMMY_KEY if _is_local(cfg.base_url) else "")
    request = urllib.request.Request(f"{base}/models", headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S):
            return
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise ServiceError(
                f"the {role} server at {base} rejected the API key (HTTP {exc.code})",
                f"check the key in ${cfg.api_key_env}" if cfg.api_key_env else f"set generate.{role}.api_key_env",
            ) from exc
        # Any other answer (a server without /models says 404) means it is up and speaking HTTP.
    except (urllib.error.URLError, OSError) as exc:
        raise ServiceError(
            f"cannot reach the {role} server at {base}: {getattr(exc, 'reason', exc)}",
            f"start the server, or fix generate.{role}.base_url",
        ) from exc
