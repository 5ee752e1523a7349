"""What batched greedy decoding with transformers needs in generation and in evaluation alike."""

from __future__ import annotations

from typing import Any


def eos_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """Every token that ends a turn: the generation config may list several (chat models do)."""
    ids: set[int] = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(value)
    return ids


def generated_length(ids: list[int], eos: set[int], pad: int | None) -> int:
    """Tokens the model actually produced: up to and including the first EOS.

    A row that finished before the others (EOS or a stop string) is filled with the pad
    token, which is EOS itself when the tokenizer has no pad token of its own.
    """
    for position, token in enumerate(ids):
        if token in eos:
            return position + 1
        if token == pad:
            return position
    return len(ids)
