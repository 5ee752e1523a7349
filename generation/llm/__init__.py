"""LLM backends of the generate stage: one `LLMConfig` -> one distilabel LLM.

Heavy imports (torch, transformers, distilabel) happen inside the functions, so importing
this package stays cheap.
"""

from docs2qa.generation.llm.factory import build_llm, generation_kwargs, model_label
from docs2qa.models.embedded import resolve_gguf, resolve_model

__all__ = ["build_llm", "generation_kwargs", "model_label", "resolve_gguf", "resolve_model"]
