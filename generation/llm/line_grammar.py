"""Constrained decoding of a labelled line format, for small local models.

A 135M-parameter model asked for "Q: / A: / EVIDENCE:" lines writes prose instead; the
format has to be enforced while decoding. A `LineGrammar` is a group of fields, each a
label followed by either free text up to a newline or one of a few fixed choices
("1".."5", "keep"/"revise"/"drop"). The logits processor forces every label, keeps free
text on one line and out of EOS, limits its length, restricts choices to their
tokenisations, and lets the model end only at a group boundary. The model still chooses
every word of content; only the frame is fixed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Field:
    label: str  # e.g. "Q:"; the model's text follows after a space
    choices: tuple[str, ...] = ()  # empty: free text up to a newline
    max_tokens: int = 96
    # Text must be copied verbatim from the prompt part between these two markers (a quote
    # of the source), e.g. ("<<<\n", "\n>>>"): evidence a small model cannot invent.
    copy_between: tuple[str, str] | None = None
    min_tokens: int = 1
    end_with: str = ""  # the line may end only after this text, e.g. "?" for a question
    # Free text may not start with these characters: small models copy format placeholders
    # such as "[The question]" or "<the answer>" instead of writing one.
    no_start: str = ""
    # End the line as soon as it reaches `end_with`: one question, not a question and its answer.
    stop_at_end: bool = False


@dataclass(frozen=True)
class LineGrammar:
    fields: tuple[Field, ...]
    max_groups: int = 1  # the group may repeat; the model may stop after any complete group

    def to_dict(self) -> dict:
        return {
            "max_groups": self.max_groups,
            "fields": [
                {
                    "label": f.label,
                    "choices": list(f.choices),
                    "max_tokens": f.max_tokens,
                    "copy_between": list(f.copy_between) if f.copy_between else None,
                    "min_tokens": f.min_tokens,
                    "end_with": f.end_with,
                    "no_start": f.no_start,
                    "stop_at_end": f.stop_at_end,
                }
                for f in self.fields
            ],
        }

    @classmethod
    def from_dict(cls, data: dict) -> LineGrammar:
        fields = tuple(
            Field(
                f["label"],
                tuple(f["choices"]),
                f["max_tokens"],
                tuple(f["copy_between"]) if f.get("copy_between") else None,
                f.get("min_tokens", 1),
                f.get("end_with", ""),
                f.get("no_start", ""),
                f.get("stop_at_end", False),
            )
            for f in data["fields"]
        )
        return cls(fields, data.get("max_groups", 1))


@dataclass
class _Row:
    field_index: int = 0
    groups: int = 0
    forced: list[int] = field(default_factory=list)  # tokens still to emit verbatim
    mode: str = "force"  # force | text | choice | boundary | done
    produced: list[int] = field(default_factory=list)  # tokens of the current field's content
    source: list[int] = field(default_factory=list)  # tokens a copy field may quote
    matches: list[int] = field(default_factory=list)  # source positions the quote so far ends at


class Vocabulary:
    """Token classes the grammar needs, computed once per tokenizer."""

    def __init__(self, tokenizer: Any, eos_ids: set[int]):
        self.tokenizer = tokenizer
        self.eos = sorted(eos_ids)
        texts = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        decoded = [tokenizer.convert_tokens_to_string([t]) if t is not None else "" for t in texts]
        self.size = len(decoded)
        self.texts = decoded
        # A field ends with a token whose text ends in a newline and holds no other newline,
        # so nothing spills from one line into the next field.
        self.line_end = [
            i for i, s in enumerate(decoded) if s.endswith("\n") and "\n" not in s.rstrip("\n") and s.count("\n") == 1
        ]
        self.has_newline = [i for i, s in enumerate(decoded) if "\n" in s]
        self.blank = {i for i, s in enumerate(decoded) if not s.strip()}
        self.special = set(tokenizer.all_special_ids)
        self.newline = tokenizer.encode("\n", add_special_tokens=False)[-1]
        self.line_end_set = set(self.line_end)
        self.newline_set = set(self.has_newline)
        import torch

        always = {*self.eos, *self.special}
        spilling = {t for t in self.has_newline if t not in self.line_end_set}
        # Tensors, so masking a row is one indexed assignment rather than a Python loop.
        self.banned_when_empty = torch.tensor(sorted(always | set(self.has_newline)), dtype=torch.long)
        self.banned_with_content = torch.tensor(sorted(always | spilling), dtype=torch.long)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)


class LineGrammarProcessor:
    """A transformers LogitsProcessor enforcing `grammar` on every row of a batch."""

    def __init__(
        self,
        grammar: LineGrammar,
        vocabulary: Vocabulary,
        prompt_width: int,
        rows: int,
        max_new_tokens: int,
        prompts: list[str] | None = None,
    ):
        self.grammar, self.vocab, self.prompt_width = grammar, vocabulary, prompt_width
        self.max_new_tokens = max_new_tokens
        self.labels = [vocabulary.encode(f.label) for f in grammar.fields]
        self.choices = [[vocabulary.encode(" " + c) for c in f.choices] for f in grammar.fields]
        self.rows = [_Row(forced=list(self.labels[0])) for _ in range(rows)]
        copy = next((f.copy_between for f in grammar.fields if f.copy_between), None)
        if copy and prompts:
            per_prompt = rows // len(prompts)
            for index, row in enumerate(self.rows):
                row.source = self._source_tokens(prompts[index // per_prompt], copy)
        # Tokens that fields after field i need at the least (label, one token or the longest
        # choice, newline) plus EOS: free text stops early enough for the group to finish
        # inside max_new_tokens instead of being cut off half-written.
        need = [
            len(label) + (max(map(len, choices)) if choices else 1) + 1
            for label, choices in zip(self.labels, self.choices)
        ]
        self.reserve_after = [sum(need[i + 1 :]) + 1 for i in range(len(need))]
        self.group_need = sum(need) + 1

    def __call__(self, input_ids, scores):
        import torch

        step = input_ids.shape[1] - self.prompt_width
        remaining = self.max_new_tokens - step
        mask = torch.full_like(scores, float("-inf"))
        for index, row in enumerate(self.rows):
            if step > 0:
                self._advance(row, int(input_ids[index, -1]))
            allowed = self._allowed(row, remaining)
            if allowed is None:
                mask[index] = 0
                mask[index, self._banned(row)] = float("-inf")
            else:
                mask[index, allowed] = 0
        return scores + mask

    def _source_tokens(self, prompt: str, markers: tuple[str, str]) -> list[int]:
        start, end = markers
        begin = prompt.find(start)
        stop = prompt.find(end, begin + len(start)) if begin >= 0 else -1
        if begin < 0 or stop < 0:
            return []
        # A leading space gives the word-initial tokens a quote after "LABEL:" starts with.
        return self.vocab.encode(" " + prompt[begin + len(start) : stop])

    # ---- state machine -------------------------------------------------------------

    def _field(self, row: _Row) -> Field:
        return self.grammar.fields[row.field_index]

    def _advance(self, row: _Row, token: int) -> None:
        if row.mode == "done":
            return
        if token in self.vocab.eos:
            row.mode = "done"
            return
        if row.mode == "force":
            row.forced.pop(0)
            if not row.forced:
                row.mode, row.produced = ("choice" if self._field(row).choices else "text"), []
            return
        if row.mode == "boundary":  # the model chose to start another group
            row.mode, row.forced = "force", list(self.labels[0][1:])
            if not row.forced:
                row.mode, row.produced = ("choice" if self._field(row).choices else "text"), []
            return
        if row.mode == "text" and self._field(row).copy_between and token != self.vocab.newline:
            following = [i + 1 for i in row.matches] if row.produced else range(len(row.source))
            row.matches = [i for i in following if i < len(row.source) and row.source[i] == token]
        row.produced.append(token)
        if (row.mode == "text" and token in self._line_end_set) or (
            row.mode == "choice" and token == self.vocab.newline
        ):
            self._next_field(row)

    def _next_field(self, row: _Row) -> None:
        if row.field_index + 1 < len(self.grammar.fields):
            row.field_index += 1
            row.mode, row.forced = "force", list(self.labels[row.field_index])
            return
        row.groups += 1
        row.field_index = 0
        row.mode = "boundary" if row.groups < self.grammar.max_groups else "end"

    def _allowed(self, row: _Row, remaining: int) -> list[int] | None:
        """Token ids allowed next, or None for 'anything except _banned(row)'."""
        if row.mode == "done":
            return self.vocab.eos[:1]
        if row.mode == "end":
            return self.vocab.eos
        if row.mode == "force":
            return [row.forced[0]]
        if row.mode == "boundary":
            # Another group only when it can be finished with some room for content.
            room = remaining >= 2 * self.group_need
            return [self.labels[0][0], *self.vocab.eos] if room else self.vocab.eos
        if row.mode == "choice":
            done = [c for c in self.choices[row.field_index] if c == row.produced]
            if done:
                return [self.vocab.newline]
            return sorted(
                {
                    c[len(row.produced)]
                    for c in self.choices[row.field_index]
                    if len(c) > len(row.produced) and c[: len(row.produced)] == row.produced
                }
            )
        # free text: past its length limit, or when only the room the rest of the group needs
        # is left, end the line now
        spec = self._field(row)
        has_text = bool(row.produced)
        if has_text and (len(row.produced) >= spec.max_tokens or remaining <= self.reserve_after[row.field_index] + 1):
            return [self.vocab.newline]
        if has_text and spec.stop_at_end and self.vocab.texts[row.produced[-1]].rstrip().endswith(spec.end_with):
            return [self.vocab.newline]
        if spec.copy_between and row.source:
            return self._quote_continuations(row, spec)
        return None

    def _quote_continuations(self, row: _Row, spec: Field) -> list[int]:
        """Tokens that extend the quote along the source, without crossing a line break."""
        if not row.produced:
            candidates = set(row.source)
        else:
            candidates = {row.source[i + 1] for i in row.matches if i + 1 < len(row.source)}
        allowed = candidates - self.vocab.newline_set - set(self.vocab.eos) - self.vocab.special
        if len(row.produced) >= spec.min_tokens or not allowed:
            allowed.add(self.vocab.newline)
        return sorted(allowed)

    def _banned(self, row: _Row):
        """Index tensor of tokens free text may not use: EOS and special tokens always; any
        newline while the field is still empty or lacks its required ending; after that,
        newlines that spill onto the next line; placeholder openers at the start."""
        import torch

        spec = self._field(row)
        content = [t for t in row.produced if t not in self.vocab.blank]
        if not content:
            if spec.no_start:
                return torch.cat([self.vocab.banned_when_empty, self._openers(spec.no_start)])
            return self.vocab.banned_when_empty
        if spec.end_with and not self.vocab.texts[row.produced[-1]].rstrip().endswith(spec.end_with):
            return self.vocab.banned_when_empty
        return self.vocab.banned_with_content

    def _openers(self, chars: str):
        import torch

        cache = self.__dict__.setdefault("_opener_cache", {})
        if chars not in cache:
            cache[chars] = torch.tensor(
                [i for i, text in enumerate(self.vocab.texts) if text.strip()[:1] in chars and text.strip()],
                dtype=torch.long,
            )
        return cache[chars]

    @property
    def _line_end_set(self) -> set[int]:
        return self.vocab.line_end_set


def to_lark(grammar: dict) -> str:
    """A serialised LineGrammar as an llguidance grammar (Lark syntax), for llama.cpp servers.

    llama.cpp decodes under it as LineGrammarProcessor does under transformers: every label
    forced, free text on one line, not starting with `no_start`, ending with `end_with` (and
    there at once with `stop_at_end`), at most `max_tokens` tokens (llguidance counts tokens
    per lexeme, as the processor does), choices as " <choice>", and up to `max_groups` groups.
    Not expressible: `copy_between` (a quote of the prompt; the evidence gate still checks it)
    and the room the processor keeps so a group ends inside max_new_tokens.
    """
    spec = LineGrammar.from_dict(grammar)
    rules = []
    names = []
    for index, field_ in enumerate(spec.fields):
        name = f"f{index}"
        names.append(name)
        label = _lark_string(field_.label)
        if field_.choices:
            choices = " | ".join(_lark_string(" " + c) for c in field_.choices)
            rules.append(f'{name}: {label} ({choices}) "\\n"')
            continue
        rules.append(f'{name}: {label} {name}_text "\\n"')
        rules.append(f"{name}_text[max_tokens={field_.max_tokens}]: /{_text_regex(field_)}/")
    group = " ".join(names)
    start = " ".join(["group"] + ["group?"] * (spec.max_groups - 1))
    return "\n".join(["%llguidance {}", f"start: {start}", f"group: {group}", *rules]) + "\n"


def _lark_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _regex_class(chars: str) -> str:
    return "".join("\\" + c if c in "\\]^-[/" else c for c in chars)


def _regex_text(text: str) -> str:
    import re

    return re.escape(text).replace("/", "\\/")


def _text_regex(field_: Field) -> str:
    """One line of free text: blanks, a first character that is neither blank nor in no_start,
    then anything but a newline; with end_with it ends with that text (at its first occurrence
    when stop_at_end and it is one character)."""
    first = f"[^\\s{_regex_class(field_.no_start)}]"
    if not field_.end_with:
        return f"[ \\t]*{first}[^\\n]*"
    end = _regex_text(field_.end_with)
    if field_.stop_at_end and len(field_.end_with) == 1:
        stop = _regex_class(field_.end_with)
        # The first character may itself be the end ("?" alone), else text up to the first end.
        return f"[ \\t]*(?:{end}|[^\\s{_regex_class(field_.no_start)}{stop}][^\\n{stop}]*{end})"
    return f"[ \\t]*{first}[^\\n]*{end}"
