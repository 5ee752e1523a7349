"""Prompts and batched greedy generation with transformers.

Prompts are rendered once into token ids (the same ids go to either engine): the one
prompt definition, `docs2qa.datastore.formats.chat_prompt`, through the model's own chat
template. Generation is greedy, left-padded and batched over answers sorted by their token
limit. Each answer has its own limit (a multiple of its gold answer's length): a
batch runs to the largest limit in it and each answer is cut at its own, so an answer does
not depend on what shares its batch. The prompt runs once: the multiple-choice options and the
answer both continue from its cached keys and values (choice.Prefix).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from docs2qa.finetune.evaluate.data import Example
from docs2qa.models.decoding import eos_token_ids, generated_length


@dataclass(frozen=True)
class Generation:
    text: str
    output_tokens: int
    # The multiple-choice options' mean log-probabilities per token, scored from the same
    # pass over the prompt (None: the prompt had no options to score).
    choice_scores: tuple[float, ...] | None = None


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


# Tokens every answer may use beyond its multiple of the gold length: a one-token gold answer
# ("4") still leaves room for a sentence around it.
LIMIT_MARGIN = 16


def answer_limits(tokenizer: Any, answers: Sequence[str], max_new_tokens: int, factor: float | None) -> list[int]:
    """Per answer: at most `factor` times its gold answer's tokens plus LIMIT_MARGIN, and never
    above max_new_tokens. ROUGE-L at gold length reads only the first |gold| words, and an
    answer that runs on far past the gold's length is wrong in any case; without the cap a base
    model that never stops costs max_new_tokens on every question."""
    if factor is None:
        return [max_new_tokens] * len(answers)
    lengths = [len(ids) for ids in tokenizer(list(answers), add_special_tokens=False)["input_ids"]]
    return [min(max_new_tokens, int(factor * length) + LIMIT_MARGIN) for length in lengths]


def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[list[int]],
    *,
    batch_size: int,
    max_new_tokens: int,
    description: str,
    limits: Sequence[int] | None = None,
    options: Sequence[Sequence[list[int]]] | None = None,
) -> list[Generation]:
    """Greedy completions for token-id prompts, in the prompts' order, each at most its limit
    (default: max_new_tokens). `options`: per prompt, the token ids of the multiple-choice
    options to score from the same prompt pass (choice.Prefix) before the answer is generated."""
    import torch

    from docs2qa.finetune.evaluate.choice import Prefix
    from docs2qa.progress import LineTracker, track

    eos = sorted(eos_token_ids(model, tokenizer))
    pad = tokenizer.pad_token_id
    limit = [min(max_new_tokens, value) for value in limits] if limits is not None else [max_new_tokens] * len(prompts)
    results: list[Generation | None] = [None] * len(prompts)
    # Largest limit first, then longest prompt: a batch runs to the largest limit in it, and a
    # decode step costs about the same for few rows as for many (the weights are read once per
    # step), so answers of similar limits share a batch; the prompts' padding is the prefill's
    # concern (choice.Prefix). A batch that does not fit in memory fails at once, not at the end.
    order = sorted(range(len(prompts)), key=lambda i: (limit[i], len(prompts[i])), reverse=True)
    with track(description, len(prompts)) as progress, torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            prefix = Prefix.of(model, [prompts[i] for i in chunk], pad)
            scores = prefix.option_logprobs([options[i] for i in chunk]) if options is not None else None
            output = model.generate(
                input_ids=prefix.ids,
                attention_mask=prefix.mask,
                cache=prefix.cache,
                max_new_tokens=max(limit[i] for i in chunk),
                do_sample=False,
                use_cache=True,
                pad_token_id=pad,
                eos_token_id=eos,
                # Unset the sampling knobs a generation_config may carry: greedy ignores them and warns.
                temperature=None,
                top_p=None,
                top_k=None,
            )
            width = prefix.ids.shape[1]
            for row, (index, ids) in enumerate(zip(chunk, output[:, width:].tolist())):
                length = generated_length(ids[: limit[index]], set(eos), pad)
                text = tokenizer.decode(ids[:length], skip_special_tokens=True).strip()
                chosen = tuple(scores[row]) if scores is not None and options and options[index] else None
                results[index] = Generation(text, length, chosen)
            progress.advance(len(chunk))
            if start == 0 and isinstance(progress, LineTracker):
                # Redirected output hears of the first batch at once, with its rate and ETA,
                # not after the first heartbeat interval.
                progress.say()
    return results  # type: ignore[return-value]
