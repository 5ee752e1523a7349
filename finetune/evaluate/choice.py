"""A knowledge check that answer length cannot game: multiple choice scored by likelihood.

Each question of the evaluation set becomes an item: its gold answer plus distractors drawn
(seeded) from other questions' gold answers of the same question type, in shuffled order.
The model does not write anything: it picks the option whose tokens it finds most likely
after the question's prompt, per token (length-normalised), so neither short nor long
answers, nor echoing the question, change which option wins. InstructLab evaluates
knowledge tuning the same way, with generated multiple-choice questions.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from docs2qa.finetune.evaluate.data import Example
from docs2qa.finetune.evaluate.metrics import squad_normalize


@dataclass(frozen=True)
class Item:
    options: tuple[str, ...]
    gold: int  # index of the gold answer in options


def build_items(examples: Sequence[Example], options: int, seed: int = 0) -> list[Item | None]:
    """One item per example (None where its type has no other distinct answer to draw from).

    Each example draws from its own generator seeded by (seed, id): an item stays the same
    when other examples are added or removed, as long as its pool of answers is the same."""
    by_type: dict[str, list[str]] = {}
    for example in examples:
        by_type.setdefault(example.question_type, []).append(example.answer)
    items: list[Item | None] = []
    for example in examples:
        gold_key = squad_normalize(example.answer)
        pool, seen = [], {gold_key}
        for answer in by_type[example.question_type]:
            key = squad_normalize(answer)
            if key not in seen:  # an option twice, or equal to the gold answer, would be unanswerable
                seen.add(key)
                pool.append(answer)
        if not pool or options < 2:
            items.append(None)
            continue
        rng = random.Random(f"{seed}/{example.id}")
        chosen = [example.answer, *rng.sample(pool, min(options - 1, len(pool)))]
        order = list(range(len(chosen)))
        rng.shuffle(order)
        items.append(Item(tuple(chosen[i] for i in order), order.index(0)))
    return items


def option_scores(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[int]],
    options: Sequence[Sequence[str]],
    batch_size: int,
    description: str = "eval (choices)",
) -> list[list[float]]:
    """Mean log-probability per token of each option after its prompt's ids."""
    pieces = [
        (i, j, tokenizer(text, add_special_tokens=False)["input_ids"])
        for i, texts in enumerate(options)
        for j, text in enumerate(texts)
    ]
    flat = continuation_logprobs(
        model,
        [prompts[i] for i, _, _ in pieces],
        [ids for _, _, ids in pieces],
        tokenizer.pad_token_id,
        batch_size,
        description,
    )
    scores: list[list[float]] = [[0.0] * len(texts) for texts in options]
    for (i, j, _), value in zip(pieces, flat):
        scores[i][j] = value
    return scores


def continuation_logprobs(
    model: Any,
    prompts: Sequence[list[int]],
    continuations: Sequence[list[int]],
    pad: int,
    batch_size: int,
    description: str = "eval (choices)",
) -> list[float]:
    """Mean log-probability per token of each continuation given its prompt (-inf for an empty one)."""
    import torch

    from docs2qa.progress import track

    device = next(model.parameters()).device
    results = [float("-inf")] * len(prompts)
    order = sorted(
        (k for k in range(len(prompts)) if continuations[k]),
        key=lambda k: len(prompts[k]) + len(continuations[k]),
        reverse=True,
    )
    with track(description, len(order)) as progress, torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            sequences = [prompts[k] + continuations[k] for k in batch]
            width = max(len(s) for s in sequences)
            # Left padding puts every continuation at the right edge, so only the last
            # `keep` positions need logits (the whole vocabulary at every position of a long
            # prompt would cost ~1 GB per batch); explicit positions keep each token where it
            # is alone, so a score does not depend on what shares the batch.
            ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=device)
            mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], device=device)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            keep = max(len(continuations[k]) for k in batch) + 1
            # use_cache=False: packed-training models and our own forward passes must not reuse a cache.
            logits = model(
                input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False, logits_to_keep=keep
            ).logits
            for row, k in enumerate(batch):
                count = len(continuations[k])
                # The logits at a position predict the next token: the continuation's tokens are
                # predicted by the `count` positions before the last one.
                scores = torch.log_softmax(logits[row, keep - 1 - count : keep - 1].float(), -1)
                targets = ids[row, width - count :]
                results[k] = float(scores.gather(-1, targets[:, None]).mean())
            progress.advance(len(batch))
    return results


def picks(scores: Sequence[list[float]]) -> list[int]:
    # Ties go to the first option; the options are shuffled, so that favours no one.
    return [max(range(len(s)), key=lambda j: s[j]) for s in scores]
