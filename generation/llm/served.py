"""distilabel's OpenAILLM, with each request's failure kept as that request's result.

distilabel 1.5.3 gathers a batch's requests at once: one request that still fails after the
client's retries raises out of the whole batch, distilabel logs it and sends the batch on with
empty outputs, and the units used to be journaled as done with no pairs. Here a failed request
becomes an output with no text and `error` saying what the server did, so its unit is recorded
as failed (and retried by the next run) while the batch's other requests keep their replies.

Retries and backoff are the openai client's own (`max_retries`, `timeout`, set by the factory
from the LLM config): exponential from 0.5 s up to 8 s with jitter, or the server's Retry-After
(up to 2 minutes) on HTTP 408, 409, 429 and 5xx, timeouts and dropped connections.

This module imports distilabel at import time; only the pipeline process imports it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from distilabel.models.llms import OpenAILLM
from distilabel.models.llms.utils import prepare_output
from distilabel.typing import FormattedInput, GenerateOutput

ERROR_KEY = "error"  # in a failed request's output: what the server did, for the user
_DETAIL_CHARS = 200


class ReportingOpenAILLM(OpenAILLM):
    async def _agenerate(
        self, inputs: list[FormattedInput], num_generations: int = 1, **kwargs: Any
    ) -> list[GenerateOutput]:
        import openai

        async def one(input: FormattedInput) -> GenerateOutput:
            try:
                return await self.agenerate(input=input, num_generations=num_generations, **kwargs)
            except openai.APIError as exc:
                output = prepare_output([None] * num_generations, [0] * num_generations, [0] * num_generations)
                output[ERROR_KEY] = describe(exc, self.max_retries, self.timeout)
                return output

        return list(await asyncio.gather(*(one(i) for i in inputs)))


def describe(exc: Exception, retries: int, timeout: float) -> str:
    """One line: what the server answered (or did not), after how many attempts."""
    import openai

    tries = f"{retries + 1} attempts" if retries else "1 attempt"
    if isinstance(exc, openai.APIStatusError):
        detail = _server_detail(exc.body)
        status = f"HTTP {exc.status_code} {exc.response.reason_phrase}"
        return f"{status}: {detail} ({tries})" if detail else f"{status} ({tries})"
    if isinstance(exc, openai.APITimeoutError):
        return f"no reply within timeout_s={timeout} ({tries})"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return f"connection failed: {' '.join(str(cause).split()) or type(cause).__name__} ({tries})"
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:_DETAIL_CHARS]}"


def _server_detail(body: object) -> str:
    # OpenAI-style servers answer {"error": {"message": ...}}; others a bare string or object.
    if isinstance(body, dict):
        body = body.get("error", body)
    if isinstance(body, dict):
        body = body.get("message", body)
    return " ".join(str(body).split())[:_DETAIL_CHARS] if body else ""
