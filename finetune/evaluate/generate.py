"""Prompts and batched greedy generation with transformers.

Prompts are rendered once into token ids (the same ids go to either engine): the one
prompt definition, `docs2qa.datastore.formats.chat_prompt`, through the model's own chat
template. Generation is greedy, left-padded and batched over prompts sorted by length.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from docs2qa.finetune.evaluate.data import Example
from docs2qa.models.decoding import eos_token_ids, generated_length


@dataclass(frozen=True)
class Generation:
    text: str
    output_tokens: int


def render_prompts(
    tokenizer: Any, examples: Iterable[Example], system_prompt: str | None, include_context: bool
) -> list[list[int]]:
    from docs2qa.datastore.formats import chat_prompt
    from docs2qa.finetune.data import model_messages

    # model_messages folds the system prompt into the user turn for templates without a
    # system role (Gemma), by the same rule training used.
    texts = [
        tokenizer.apply_chat_template(
            model_messages(tokenizer, chat_prompt(example.question, example.context, system_prompt, include_context)),
            tokenize=False,
            add_generation_prompt=True,
        )
        for example in examples
    ]
    # The template writes its own BOS; the tokenizer adding one too would double it.
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def generate(
    model: Any, tokenizer: Any, prompts: list[list[int]], *, batch_size: int, max_new_tokens: int, description: str
) -> list[Generation]:
    """Greedy completions for token-id prompts, in the prompts' order."""
    import torch

    from docs2qa.progress import track

    eos = sorted(eos_token_ids(model, tokenizer))
    pad = tokenizer.pad_token_id
    device = next(model.parameters()).device
    results: list[Generation | None] = [None] * len(prompts)
    # Longest first: batches of similar length waste little on padding, and a batch that
    # does not fit in memory fails at once rather than at the end.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    with track(description, len(prompts)) as progress, torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(prompts[i]) for i in chunk)
            input_ids = torch.tensor([[pad] * (width - len(prompts[i])) + prompts[i] for i in chunk], device=device)
            mask = torch.tensor([[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in chunk], device=device)
            output = model.generate(
                input_ids=input_ids,
                attention_mask=mask,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                use_cache=True,
                pad_token_id=pad,
                eos_token_id=eos,
                # Unset the sampling knobs a generation_config may carry: greedy ignores them and warns.
                temperature=None,
                top_p=None,
                top_k=None,
            )
            for index, ids in zip(chunk, output[:, width:].tolist()):
                length = generated_length(ids, set(eos), pad)
                text = tokenizer.decode(ids[:length], skip_special_tokens=True).strip()
                results[index] = Generation(text, length)
            progress.advance(len(chunk))
    return results  # type: ignore[return-value]
