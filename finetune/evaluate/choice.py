"""A knowledge check that answer length cannot game: multiple choice scored by likelihood.

Each evaluated question becomes an item: its gold answer plus distractors of the same form,
in shuffled order. A yes/no or true/false answer is asked as the two truth values (chance
0.5); a number gets other numbers, a command or code other commands or code, a sentence other
sentences of similar length. Distractors are the answers of other facts (another fact_id when
the rows carry one, else another question) of the same site, so an option that differs from
the gold answer in form only (the one True/False option among sentences) never gives the
answer away. The model does not write anything: it picks the option whose tokens it finds
most likely after the question's prompt, per token (length-normalised), so neither short nor
long answers, nor echoing the question, change which option wins. InstructLab evaluates
knowledge tuning the same way, with generated multiple-choice questions.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from docs2qa.finetune.evaluate.data import Example
from docs2qa.finetune.evaluate.metrics import polarity, squad_normalize, words

TRUTH, NUMBER, CODE, TEXT = "truth value", "number", "command or code", "sentence"
FORMS = (TRUTH, NUMBER, CODE, TEXT)
SKIPPED = "no answer of the same form from another fact of the same site"

# A number, alone or with a unit of up to two words: "20", "50,000", "15 minutes", "8 GB", "30%".
_NUMBER = re.compile(r"[~<>]?\s*[-+]?[$€£]?\d[\d,_]*(?:\.\d+)?\s*(?:%|[a-z]+(?:[ -][a-z]+)?)?", re.IGNORECASE)
_UNIT = re.compile(r"[a-z%]+(?:[ -][a-z]+)?$", re.IGNORECASE)
# A command in backticks (`acme orgs list`: it has a space, unlike a lone name) or a fence.
_COMMAND_SPAN = re.compile(r"`[^`\n]*\s[^`\n]*`|```")
# What prose rarely holds and commands and code often do: flags, variables, paths, assignments.
_CODE_MARK = re.compile(r"(?:^|\s)--?\w|\$\w|\w/\w|[=(){}\[\]|;]|\w\.\w+\(|\w_\w")
_CODE_SPANS = re.compile(r"```.*?```|`[^`\n]+`", re.DOTALL)
# Words that make a line prose rather than a command.
_PROSE = frozenset(
    "a an the is are was were be been of to in on for with and or but that this these it its you your "
    "by from as at when if can must will not no yes".split()
)


@dataclass(frozen=True)
class Item:
    options: tuple[str, ...]
    gold: int  # index of the gold answer in options
    form: str = TEXT


def answer_form(answer: str, context: str = "") -> str:
    """truth value | number | command or code | sentence: what a distractor must look like."""
    text = answer.strip()
    if polarity(text) is not None:
        return TRUTH
    bare = text.strip("`").rstrip(".!").strip()
    if _NUMBER.fullmatch(bare):
        return NUMBER
    if _COMMAND_SPAN.search(text) or (bare and any(bare in span for span in _CODE_SPANS.findall(context))):
        return CODE
    tokens = [t.strip(",.;:!?\"'").lower() for t in bare.split()]
    prose = any(t in _PROSE for t in tokens) or text.endswith(".")
    # No prose word: a command ("acme quota", "pip install x") when it starts lowercase or
    # carries a flag, a path or an assignment.
    if tokens and not prose and (_CODE_MARK.search(bare) or (len(tokens) > 1 and bare[0].islower())):
        return CODE
    return TEXT


def _truth_item(example: Example, rng: random.Random) -> Item:
    """The two truth values in the gold answer's own words ("Yes"/"No" or "True"/"False")."""
    first = re.sub(r"[^a-z]", "", example.answer.strip().split()[0].lower())
    pair = ("yes", "no") if first in ("yes", "no") else ("true", "false")
    gold = pair[0] if polarity(example.answer) == "yes" else pair[1]
    options = [word.capitalize() for word in pair]
    rng.shuffle(options)
    return Item(tuple(options), options.index(gold.capitalize()), TRUTH)


def _unit(answer: str) -> str:
    match = _UNIT.search(answer.strip().strip("`").rstrip(".!").strip())
    return match.group(0).lower().rstrip("s") if match else ""


def _near(form: str, gold: str, other: str) -> bool:
    """A distractor that looks like the gold answer: the same unit for numbers, within a
    factor 2 of its length in words for everything else."""
    if form == NUMBER:
        return _unit(other) == _unit(gold)
    return abs(math.log(max(words(other), 1) / max(words(gold), 1))) <= math.log(2)


def _distance(form: str, gold: str, other: str) -> float:
    if form == NUMBER:
        return float(_unit(other) != _unit(gold))
    return abs(math.log(max(words(other), 1) / max(words(gold), 1)))


def _same_fact(a: Example, b: Example) -> bool:
    # Without fact ids, each question is its own fact (two phrasings of one fact may then meet:
    # their answers differ in words, or the normalised-text check below removes them).
    return a.fact_id == b.fact_id if a.fact_id and b.fact_id else a.id == b.id


def build_items(
    examples: Sequence[Example], options: int, pool: Sequence[Example] | None = None, seed: int = 0
) -> list[Item | None]:
    """One item per example (None where no other fact of its site has an answer of its form).

    `pool` is where distractors come from (default: the examples themselves); a dataset
    version with fact ids offers all its splits, so a trained fact's answer can be a
    distractor of another fact's question. Each example draws from its own generator seeded
    by (seed, id): an item stays the same when other examples are added or removed, as long
    as its pool of answers is the same."""
    pool = examples if pool is None else pool
    forms = {id(p): answer_form(p.answer, p.context) for p in (*pool, *examples)}
    items: list[Item | None] = []
    for example in examples:
        form = forms[id(example)]
        rng = random.Random(f"{seed}/{example.id}")
        if options < 2:
            items.append(None)
            continue
        if form == TRUTH:
            items.append(_truth_item(example, rng))
            continue
        seen, candidates = {squad_normalize(example.answer)}, []
        for other in pool:
            key = squad_normalize(other.answer)
            # An option twice, or equal to the gold answer, would be unanswerable.
            if key in seen or other.site != example.site or forms[id(other)] != form or _same_fact(other, example):
                continue
            seen.add(key)
            candidates.append(other.answer)
        if not candidates:
            items.append(None)
            continue
        wanted = options - 1
        near = [c for c in candidates if _near(form, example.answer, c)]
        chosen = rng.sample(near, min(wanted, len(near)))
        # Too few look-alikes: the closest of the rest (stable order: pool order breaks ties).
        rest = sorted((c for c in candidates if c not in chosen), key=lambda c: _distance(form, example.answer, c))
        chosen += rest[: wanted - len(chosen)]
        every = [example.answer, *chosen]
        order = list(range(len(every)))
        rng.shuffle(order)
        items.append(Item(tuple(every[i] for i in order), order.index(0), form))
    return items


def chance(items: Sequence[Item | None]) -> dict[str, Any]:
    """The accuracy of picking at random, from the actual choice sets: overall and per form."""
    built = [item for item in items if item is not None]

    def level(chosen: list[Item]) -> float | None:
        return sum(1 / len(item.options) for item in chosen) / len(chosen) if chosen else None

    by_form = {
        form: {"items": len(chosen), "chance": level(chosen)}
        for form in FORMS
        if (chosen := [item for item in built if item.form == form])
    }
    return {"chance": level(built), "by_form": by_form}


def option_scores(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[int]],
    options: Sequence[Sequence[str]],
    batch_size: int,
    description: str = "eval (choices)",
) -> list[list[float]]:
    """Mean log-probability per token of each option after its prompt's ids."""
    pieces = [[tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts] for texts in options]
    return option_logprobs(model, prompts, pieces, tokenizer.pad_token_id, batch_size, description)


def option_logprobs(
    model: Any,
    prompts: Sequence[list[int]],
    options: Sequence[Sequence[list[int]]],
    pad: int,
    batch_size: int,
    description: str = "eval (choices)",
) -> list[list[float]]:
    """Mean log-probability per token of each option (token ids) after its prompt (-inf for an
    empty option). Eval scores the options inside generation (generate.generate), from the
    same prompt pass; this is the same scoring on its own."""
    import torch

    from docs2qa.progress import track

    scores: list[list[float]] = []
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    found: dict[int, list[float]] = {}
    with track(description, len(prompts)) as progress, torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            prefix = Prefix.of(model, [prompts[i] for i in chunk], pad)
            found.update(zip(chunk, prefix.option_logprobs([options[i] for i in chunk])))
            progress.advance(len(chunk))
    scores = [found[i] for i in range(len(prompts))]
    return scores


# Prompts per prefill pass: a few, so that each pass pads little; the model's weights are read
# once per pass, which costs little beside hundreds of prompt tokens per row.
PREFILL_ROWS = 4


@dataclass
class Prefix:
    """A batch of left-padded prompts run through the model up to their last token, whose
    cached keys and values every continuation (each option, then the generated answer)
    starts from: the prompt is most of the tokens (dozens closed book, hundreds with the
    context), and it runs once instead of once per option plus once for the answer."""

    model: Any
    ids: Any  # batch x width, left-padded
    mask: Any
    pad: int
    cache: Any  # the first width - 1 tokens; None for one-token prompts

    @classmethod
    def of(cls, model: Any, prompts: Sequence[list[int]], pad: int) -> Prefix:
        """Prompts of similar length run together, PREFILL_ROWS at a time, each group padded only
        to its own longest; their caches are then padded to the batch's width and joined. The
        batch is chosen for generation (answers of similar limits), where prompts of very
        different lengths meet: one pass over all of them cost up to twice the prompt tokens
        with the context in the prompt."""
        import torch

        device = next(model.parameters()).device
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        if width == 1:
            return cls(model, ids, mask, pad, None)
        # Explicit positions keep each token where it is alone, so a score does not depend
        # on what shares the batch.
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
        caches = []
        for start in range(0, len(order), PREFILL_ROWS):
            rows = order[start : start + PREFILL_ROWS]
            cut = width - max(len(prompts[i]) for i in rows)  # the columns that are padding in every row
            # Logits of one position: only the cache is wanted.
            found = model(
                input_ids=ids[rows, cut:-1],
                attention_mask=mask[rows, cut:-1],
                position_ids=positions[rows, cut:-1],
                use_cache=True,
                logits_to_keep=1,
            ).cache
            caches.append((cut, found))
        cache = _joined(caches, torch.tensor([order.index(i) for i in range(len(prompts))], device=device))
        return cls(model, ids, mask, pad, cache)

    def option_logprobs(self, options: Sequence[Sequence[list[int]]]) -> list[list[float]]:
        """Per prompt, the mean log-probability per token of each of its options: one pass per
        option slot (every prompt's first option, then every second one...), each continuing
        from the prompt's last token; the cache is cut back to the prompt after each."""
        import torch

        device = self.ids.device
        scores = [[float("-inf")] * len(opts) for opts in options]
        last = self.ids[:, -1:]
        starts = self.mask.sum(-1) - 1  # the last prompt token's position, alone
        for j in range(max((len(opts) for opts in options), default=0)):
            conts = [opts[j] if j < len(opts) else [] for opts in options]
            if not any(conts):
                continue
            length = max(len(c) for c in conts)
            # The prompt's last token, then the option, padded after its end: its own tokens never see the padding.
            cont_ids = torch.tensor([c + [self.pad] * (length - len(c)) for c in conts], device=device)
            cont_mask = torch.tensor([[1] * len(c) + [0] * (length - len(c)) for c in conts], device=device)
            ids = torch.cat([last, cont_ids], -1)
            mask = torch.cat([self.mask, cont_mask], -1)
            logits = self.model(
                input_ids=ids,
                attention_mask=mask if self.cache is not None else mask[:, -ids.shape[1] :],
                position_ids=starts[:, None] + torch.arange(length + 1, device=device)[None, :],
                cache=self.cache,
                use_cache=self.cache is not None,
            ).logits
            self.restore()
            for row, cont in enumerate(conts):
                if cont:
                    # Position k predicts token k + 1: the last prompt token predicts the option's first.
                    logprobs = torch.log_softmax(logits[row, : len(cont)].float(), -1)
                    scores[row][j] = float(logprobs.gather(-1, ids[row, 1 : len(cont) + 1, None]).mean())
        return scores

    def restore(self) -> None:
        """Cut the cache back to the prompt (a continuation appended its tokens to it)."""
        if self.cache is not None:
            self.cache.crop(-(self.cache.get_seq_length() - (self.ids.shape[1] - 1)))


def _joined(caches: list[tuple[int, Any]], order: Any) -> Any:
    """One cache of the whole batch from its groups' caches (each missing its first `cut`
    columns, all padding): keys and values zero-padded on the left to the batch's width (the
    attention mask hides those columns), stacked, and put back in the batch's row order."""
    import torch

    first = caches[0][1]
    if len(caches) > 1:
        for index, layer in enumerate(first.layers):
            for name in ("keys", "values"):
                parts = [getattr(cache.layers[index], name) for _, cache in caches]
                parts = [torch.nn.functional.pad(t, (0, 0, cut, 0)) for (cut, _), t in zip(caches, parts)]
                setattr(layer, name, torch.cat(parts, 0))
    first.batch_select_indices(order)
    return first


def picks(scores: Sequence[Sequence[float]]) -> list[int]:
    # Ties go to the first option; the options are shuffled, so that favours no one.
    return [max(range(len(s)), key=lambda j: s[j]) for s in scores]
