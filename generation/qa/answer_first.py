"""Answer-first generation for small models: the answer is picked from the chunk, the model
writes only the question.

A 135M model asked for whole pairs writes fluent answers the chunk does not support. Here the
answers are informative sentences of the chunk itself (numbers, names, commands, settings,
steps), so they are grounded by construction, and the model's only job is the question, with
worked examples from an unrelated invented product (their words are not in any chunk, so a
copied example is detectable). Questions still pass the gates, then the OFF_TARGET rules:
the question must fit its answer, in words and by embedding similarity.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from docs2qa.generation.qa.prompts import _hash

if TYPE_CHECKING:
    pass

TYPES = ("factual", "procedural", "conceptual")
SELECTOR_VERSION = "5"  # bump when span picking changes: units are then generated anew

_LINK_RE = re.compile(r"!\[[^\]]*\]\([^)]*\)|\[([^\]]*)\]\([^)]*\)")
_EMPHASIS_RE = re.compile(r"\*\*|__|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])")
_LIST_RE = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*(\"])")
_DANGLING = re.compile(r"^(?:this|it|they|these|that|those|such|there|here|also|then)\b", re.I)
# Pointers into the rest of the page, anywhere in the span ("pick a topic below").
_POINTER = re.compile(r"\b(?:on|of|with|by) (?:it|them)\b|\b(?:below|above)\b", re.I)
# A type that finds no span of its own hands its slot to another type's next span, but only
# to one that scores at least this (a name, a number, a setting): a span no type values is
# worse than no pair.
FALLBACK_MIN_SCORE = 1.0
_IMPERATIVE = re.compile(
    r"^(?:select|click|run|open|add|set|use|install|create|invite|pick|choose|go|enter|"
    r"type|press|upload|download|attach|pin|call|send|pass|replace|start|stop|sign|generate|"
    # Found on the Lanternfish fixture pages: "Flush the chamber ...", "Check that the tool ...".
    r"flush|check|restart|recalibrate|remove|delete|edit|save|copy|move|update|upgrade|configure|enable|"
    r"disable|connect|export|import|follow)\b",
    re.I,
)
_TO_CLAUSE = re.compile(r"^to\s[^,]{3,80},\s*", re.IGNORECASE)
_COMMAND = re.compile(r"`[^`]*\s[^`]*`")  # `acme orgs list`, not a lone name like `acme`
_SETTING = re.compile(
    r"\b(?:default|limit|limited|maximum|minimum|at most|at least|up to|expire|expires|must|"
    r"only|never|always|required|per|every|after|before|within)\b",
    re.I,
)
_CONCEPT = re.compile(r"\b(?:because|so that|which means|means|is an?|are|lets you|allows?|instead of|unless)\b", re.I)
_NAME = re.compile(r"(?<=\s)[A-Z][a-zA-Z0-9]+")


def _clean(text: str) -> str:
    text = _LINK_RE.sub(lambda m: m.group(1) or "", text)
    text = _EMPHASIS_RE.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def _code_lines(block: str) -> list[str]:
    lines = block.strip("`\n").split("\n")[1:] if block.startswith("```") else []
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def candidates(text: str) -> list[str]:
    """Sentences and list items of the chunk, markup removed, in order. A sentence that
    introduces a one- or two-line command ("...: ```acme x```") takes the command along.
    Table rows are not answers: an answer is its own evidence, and evidence must be found
    verbatim in the chunk, which a row rewritten as a sentence is not (measured: both such
    pairs dropped as evidence_not_in_chunk)."""
    spans: list[str] = []
    pieces = re.split(r"(^```.*?^```[^\n]*$)", text, flags=re.DOTALL | re.MULTILINE)
    for index, piece in enumerate(pieces):
        if piece.startswith("```"):
            continue
        following = pieces[index + 1] if index + 1 < len(pieces) else ""
        for block in re.split(r"\n\s*\n", piece):
            lines = [line for line in block.splitlines() if line.strip()]
            if not lines or lines[0].lstrip().startswith(("#", "|", "![", ">")):
                continue
            if all(_LIST_RE.match(line) for line in lines):
                spans.extend(_clean(_LIST_RE.sub("", line)) for line in lines)
                continue
            for sentence in _SENTENCE_RE.split(_clean(" ".join(lines))):
                spans.append(sentence)
        if spans and spans[-1].endswith(":"):
            code = _code_lines(following.strip())
            if 1 <= len(code) <= 2:
                spans[-1] = f"{spans[-1]} `{' && '.join(code)}`"
    return [s for s in spans if s and not s.endswith(":")]


def score(span: str, question_type: str) -> float:
    """How much a span is worth asking about, for one question type (higher is better)."""
    words = span.split()
    if not 6 <= len(words) <= 45:
        return -1.0
    value = 0.0
    digits = bool(
        re.search(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand)\b", span, re.I)
    )
    code = "`" in span
    arrows = "→" in span
    if question_type == "factual":
        value += 2 * digits + 1.0 * code + 0.5 * len(_NAME.findall(span)[:2]) + len(_SETTING.findall(span)[:2])
    elif question_type == "procedural":
        # Steps only: a command, a menu path, an instruction. A sentence that merely names a
        # tool (`acme`) or says "a way to run ..." was picked before and got "How do I ...?"
        # questions it cannot answer (measured on the demo: 4 of 5 procedural spans).
        instruction = _IMPERATIVE.match(span) or _IMPERATIVE.match(_TO_CLAUSE.sub("", span))
        value += (
            2 * bool(_COMMAND.search(span)) + 2 * arrows + 2 * bool(instruction) + bool(re.search(r"\byou can\b", span))
        )
    else:
        value += 2 * bool(_CONCEPT.search(span) or _DEFINITION.match(span)) + 0.5 * bool(
            re.search(r"\b(?:when|why|how)\b", span, re.I)
        )
    if _DANGLING.match(span) or _POINTER.search(span):
        value -= 2  # "It stops when...", "pick a topic below": nothing a question could be about
    return value


def pick_answers(text: str, wanted: dict[str, int]) -> dict[str, list[str]]:
    """Up to `wanted[type]` distinct spans per question type; a span serves one type only.
    Types are served in turn, so one type cannot take every good span of a small chunk. A
    type left short (a page of limits has no steps) gives its slots to the other types'
    next spans of score >= FALLBACK_MIN_SCORE, so the chunk still yields as many pairs."""
    spans = list(dict.fromkeys(candidates(text)))
    taken: set[str] = set()
    picked: dict[str, list[str]] = {t: [] for t in wanted}
    ranked = {t: sorted((s for s in spans if score(s, t) > 0), key=lambda s: -score(s, t)) for t in wanted}
    for _ in range(max(wanted.values(), default=0)):
        for question_type, n in wanted.items():
            if len(picked[question_type]) >= n:
                continue
            choice = next((s for s in ranked[question_type] if s not in taken), None)
            if choice is not None:
                taken.add(choice)
                picked[question_type].append(choice)
    short = sum(wanted.values()) - sum(len(spans) for spans in picked.values())
    spare = sorted(
        ((score(s, t), t, s) for t in wanted for s in ranked[t] if s not in taken), key=lambda item: -item[0]
    )
    for value, question_type, span in spare:
        if short <= 0 or value < FALLBACK_MIN_SCORE:
            break
        if span not in taken:
            taken.add(span)
            picked[question_type].append(span)
            short -= 1
    return picked


# ---------------------------------------------------------------- prompt

SYSTEM = (
    "You write the question that a user of a software product would ask, whose answer is the given "
    "sentence from the product's documentation. Ask about the subject of the sentence, in the words "
    "of the sentence, so that the question makes sense on its own."
)

# Worked examples from an invented mail product that no documentation here is about. Their
# questions do not name the product: SmolLM2 copied a named product into every question.
# Each names the words its question starts with: left to itself SmolLM2 asked "How do I ...?"
# of nearly every sentence (measured: 17 of 26 demo spans), which fits steps and nothing else.
EXAMPLES = (
    (
        "Attachments",
        "Attachments larger than 25 MB are uploaded to the cloud drive and sent as a link.",
        "What happens",
        "What happens to an attachment larger than 25 MB?",
    ),
    (
        "Filters",
        "Open Settings → Filters, select New filter and choose the folder that matching messages move to.",
        "How do I",
        "How do I create a mail filter?",
    ),
    (
        "Trash",
        "Deleted messages stay in Trash for 30 days before they are removed for good.",
        "How long",
        "How long do deleted messages stay in Trash?",
    ),
    (
        "Shared mailboxes",
        "A shared mailbox is an address that several team members read and send from.",
        "What is",
        "What is a shared mailbox?",
    ),
    # Without an example of a plain "What" SmolLM2 turned every "What" into "What is ...?"
    # (measured on the Lanternfish fixture pages: 4 of 4).
    (
        "Spam",
        "Messages that fail the sender check are moved to the Spam folder.",
        "What",
        "What folder are messages that fail the sender check moved to?",
    ),
    (
        "Read receipts",
        "A grey tick next to a sent message means the recipient has not opened it yet.",
        "What does",
        "What does a grey tick next to a sent message mean?",
    ),
)

_USER = "Page: {page}\nAnswer: {answer}\nThe question starts with: {stem}"

_TIME = re.compile(r"\b\d+\s*(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?)\b", re.I)
# "X is a ...", "Xs are (adjective) nouns ...", "A X does ...": a sentence that says what X is
# (not "Uploads are resumable", not "GPUs are shared by everyone").
_DEFINITION = re.compile(
    r"^(?:(?:an?\s+|the\s+)?[\w` -]{2,60}?\s(?:is\s+(?:an?|the)\s|are\s+(?:[\w-]+\s+)?[\w-]+s\b)"
    r"|an?\s+[\w-]+(?:\s+[\w-]+)?\s+(?!is\b)[a-z]+s\s)",  # "A survey collects readings ..."
    re.I,
)


# A sentence that gives a reason ("so GPU use is measured ...", "is how you keep ..."): a "Why" question fits.
_REASON = re.compile(r"\b(?:because|since|so|therefore|thus|which means|in order to|is how|so that)\b", re.I)
# A sentence about what happens in some case: "What happens when/if ...?" fits.
_CONDITION = re.compile(r"\b(?:when|if|after|once|unless|until)\b", re.I)


def opening(answer: str, question_type: str) -> str:
    """The words the question for this answer starts with, from the answer's shape: a
    question must be able to have this answer ("How do I" wants steps, "What is" a
    definition, "Why" a reason, "How long" a duration). Measured on the 26 demo spans:
    asking a second question with another opening rescued none that a reader accepts."""
    # A fact with a command appended ("The CLI needs Python 3.9 ...: `pip install ...`") is not a
    # how-to: asked "How do I", SmolLM2 wrote "How do I install Python?" (measured on the demo).
    if question_type == "procedural" or "→" in answer or _IMPERATIVE.match(_TO_CLAUSE.sub("", answer.strip())):
        return "How do I"
    if _DEFINITION.match(answer):
        return "What is"
    if re.search(r"\bmeans?\b", answer):
        return "What does"
    if _REASON.search(answer):
        return "Why"
    if _TIME.search(answer):
        return "How long"
    if _CONDITION.search(answer):
        return "What happens"
    return "What"


def page_label(title: str, heading_path: list[str]) -> str:
    parts = [title or "(untitled)"] + [h for h in heading_path if h != title]
    return " > ".join(parts)


def messages(title: str, heading_path: list[str], answer: str, stem: str) -> list[dict]:
    turns = [{"role": "system", "content": SYSTEM}]
    for page, example_answer, example_stem, question in EXAMPLES:
        turns += [
            {"role": "user", "content": _USER.format(page=page, answer=example_answer, stem=example_stem)},
            {"role": "assistant", "content": f"Q: {question}"},
        ]
    user = _USER.format(page=page_label(title, heading_path), answer=answer, stem=stem)
    turns.append({"role": "user", "content": user})
    return turns


def prompt_hash() -> str:
    examples = "\x1e".join("\x1d".join(e) for e in EXAMPLES)
    return _hash("answer_first", SELECTOR_VERSION, SYSTEM, _USER, examples)


def question_grammar() -> dict:
    from docs2qa.generation.llm.line_grammar import Field, LineGrammar

    return LineGrammar((Field("Q:", max_tokens=40, end_with="?", no_start="[<", stop_at_end=True),)).to_dict()


def parse_question(text: str) -> str:
    """The question of a reply "Q: ...?"; a ParseError when there is none."""
    from docs2qa.generation.qa.parsing import ParseError

    if text is None or not text.strip():
        raise ParseError("empty reply")
    line = text.strip().splitlines()[0].strip()
    line = re.sub(r"^(?:\*\*)?Q(?:uestion)?\s*:\s*(?:\*\*)?", "", line, flags=re.I).strip()
    if not line.endswith("?"):
        raise ParseError(f"expected one line 'Q: <question>?', got {text.strip()[:80]!r}")
    return line
