"""llama.cpp for a GGUF model (the embedded SmolLM2 included): its own server, inside the step.

xllamacpp is llama.cpp's C++ server (continuous batching, prompt cache, grammars) as a prebuilt
CPU wheel. `load()` starts one in the process that loads the LLM (a distilabel step process, or
the eval judge's), bound to 127.0.0.1 on a free port with a key made for this load only, and the
step talks to it through the OpenAI client, so failed requests fail their unit as with any served
model (served.py). The server is threads of that process, not a process of its own: it stops at
`unload()` and ends with the process however that ends (a kill included), so nothing it started
can outlive the pipeline. Each step loads its own, as each loads its own transformers model.

Decoding follows the step's LineGrammar, as under transformers: the factory puts
line_grammar.to_lark's llguidance version of it in every request (`extra_body.grammar`).
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import Field, PrivateAttr, SecretStr

from docs2qa.generation.llm.served import ReportingOpenAILLM

# llama.cpp's levels: 1 errors only. Its info lines (one per request) would flood the run log.
LOG_ERRORS_ONLY = 1


class LlamaCppServerLLM(ReportingOpenAILLM):
    """`ReportingOpenAILLM` against an xllamacpp server that `load()` starts in this process.

    Attributes (beyond `OpenAILLM`'s; `model` is only the name records show):
        model_path: the .gguf file.
        threads: CPU threads of this server (one step process's share of the machine).
        parallel: requests decoded together (slots); more wait their turn (factory.LLAMACPP_SLOTS).
        context: tokens of context per request (prompt and completion).
    """

    model_path: str
    threads: int = Field(default=1, ge=1)
    parallel: int = Field(default=1, ge=1)
    context: int = Field(default=4096, ge=256)
    _server: Any = PrivateAttr(default=None)

    def load(self) -> None:
        import xllamacpp  # type: ignore[import-untyped]  # ships no type hints

        params = xllamacpp.CommonParams()
        params.model.path = self.model_path
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # a free one, chosen by the OS: several steps and runs share the machine
        key = secrets.token_urlsafe(24)
        # Anyone on the machine can reach 127.0.0.1; only this process knows the key.
        params.api_keys = [key]
        params.n_parallel = self.parallel
        params.n_ctx = self.context * self.parallel  # llama.cpp splits it evenly between the slots
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        params.verbosity = LOG_ERRORS_ONLY
        self._server = xllamacpp.Server(params)
        self.base_url = f"{self._server.listening_address}/v1"
        self.api_key = SecretStr(key)
        super().load()

    def unload(self) -> None:
        loop = self._event_loop
        if self._aclient is not None and loop is not None and not loop.is_closed() and not loop.is_running():
            # Its connections close on the loop that opened them; left to the garbage collector
            # they would try that loop after it closed ("Event loop is closed").
            loop.run_until_complete(self._aclient.close())
        if self._client is not None:
            self._client.close()
        super().unload()
        # The server's destructor stops its loop and threads and closes the port.
        self._server = None

    @property
    def server_url(self) -> str | None:
        """The running server's base URL (None before load and after unload)."""
        return self.base_url if self._server is not None else None
