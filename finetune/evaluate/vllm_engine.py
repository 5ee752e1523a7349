"""The GPU path: vLLM with the adapter as a LoRA request, base and tuned from one engine.

Not exercised by the CPU test suite (vLLM needs CUDA); it takes the same token-id prompts
as the transformers path, so prompts are identical across engines.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from docs2qa.errors import Docs2qaError
from docs2qa.finetune.evaluate.generate import Generation
from docs2qa.finetune.evaluate.models import TunedModel


def usable() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


class VllmEngine:
    def __init__(self, tuned: TunedModel, dtype: str, max_new_tokens: int):
        if not usable():
            raise Docs2qaError(
                "eval.engine 'vllm' needs the vllm package and a CUDA GPU",
                "pip install vllm on a GPU machine, or set eval.engine: transformers",
            )
        from vllm import LLM, SamplingParams
        from vllm.lora.request import LoRARequest

        rank = int(tuned.adapter_config.get("r") or 8)
        self._llm = LLM(
            model=tuned.base_path,
            tokenizer=tuned.tokenizer_dir,
            dtype=dtype,
            enable_lora=True,
            max_loras=1,
            # vLLM accepts only some ranks as the LoRA slot size; powers of two from 8 are among them.
            max_lora_rank=max(8, 1 << (rank - 1).bit_length()),
        )
        self._params = SamplingParams
        self._max_new_tokens = max_new_tokens
        self._lora = LoRARequest("tuned", 1, str(tuned.adapter_dir))

    def generate(self, prompts: list[list[int]], *, adapter: bool, limits: list[int] | None = None) -> list[Generation]:
        """Greedy answers, each at most its limit (generate.answer_limits) in tokens."""
        caps = limits if limits is not None else [self._max_new_tokens] * len(prompts)
        outputs: list[Any] = self._llm.generate(
            [{"prompt_token_ids": ids} for ids in prompts],
            # One SamplingParams per prompt: each answer stops at its own limit.
            [self._params(temperature=0.0, max_tokens=min(cap, self._max_new_tokens)) for cap in caps],
            lora_request=self._lora if adapter else None,
            use_tqdm=True,
        )
        return [Generation(out.outputs[0].text.strip(), len(out.outputs[0].token_ids)) for out in outputs]
