"""Model-free gates that catch bad pairs whatever model wrote them.

A small generator (and a judge of the same size) happily keeps answers such as "The answer
is:", "1. 1. 2. 3.", "[insert answer here]", the question repeated back, or an answer the
chunk never says. These gates read only the pair and its chunk, so they work the same for
every model. Each is a filter (pair_filters.py) that returns None or a (reason, detail)
failure; the reasons are `unsupported`, `echo` and `degenerate` (the dropped rows of the
generate stage).

Chunks not worth asking about (too few tokens, a list of links) are skipped before any
model call: `chunk_skip_reason`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from difflib import SequenceMatcher

from docs2qa.generation.qa.keep.checks import _EN_STOPWORDS, normalise, prose_of
from docs2qa.generation.qa.keep.filters import (
    Candidate,
    Embed,
    FilterContext,
    PairFilter,
    Rejection,
    apply,
    candidate_of,
)

_TOKEN_RE = re.compile(r"[a-z0-9][a-z0-9._/@+-]*[a-z0-9]|[a-z0-9]")
# Words that carry no content of their own in a question or an answer ("how do I ...").
_FILLER = frozenset(
    """
what which who whom whose why how when where does do did can could should would will may might
is are was were be been being get gets got need needs want wants one ones thing things way ways
answer question yes no true false please also just like
""".split()
) | {"s"}  # what is left of a possessive: "a command's options"
# ... and of a negation: "Why can't a lost token be recovered?" asked about "t" (templates.py).
_FILLER |= {"t", "don", "doesn", "didn", "isn", "aren", "wasn", "weren", "won", "shouldn", "mustn", "hasn", "haven"}


def _stem(word: str) -> str:
    # Crude suffix folding, so "limits"/"limited"/"limit" meet; enough for word overlap.
    if len(word) > 5 and word.endswith("ies"):
        return word[:-3] + "y"  # "retries"/"retry"
    for suffix in ("ings", "ing", "ed", "es", "s"):  # "settings" meets "setting" too
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    # A final e goes too, so "describes"/"describe" and "cycling"/"cycle" meet as well.
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def content_words(text: str) -> list[str]:
    """Stemmed words that carry content: not function words, not filler."""
    words = _TOKEN_RE.findall(normalise(text))
    return [_stem(w) for w in words if w not in _EN_STOPWORDS and w not in _FILLER]


def _words(text: str) -> list[str]:
    return _TOKEN_RE.findall(normalise(text))


# ---------------------------------------------------------------- support


# A paraphrase keeps the page's meaning in other words ("retained" for "kept", "finishes" for
# "ends"); the embedder says so when enough of its words are still the page's. Measured on the
# labelled sets (tests/data/gate_labels*.jsonl), answers with 40-60% of their words on the page:
# faithful paraphrases scored 0.69-0.84 against their closest sentence or their evidence, wrong
# answers 0.50-0.61 - or 0.87 for a negated one ("Tokens never expire"), hence the guard on
# negations and on numbers the page never gives.
PARAPHRASE_MIN_SHARE = 0.4
PARAPHRASE_MIN_COSINE = 0.65
_NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
_NEGATIONS = frozenset("no not never cannot without unless none".split())
_SENTENCE_END_RE = re.compile(r"(?<=[.!?:])\s+|\n+")


def paraphrase_supported(answer: str, evidence: str, chunk_text: str, embed: Embed) -> bool:
    """Whether `answer` says what a sentence of the chunk (or its evidence) says, in other words."""
    if not set(_NUMBER_RE.findall(answer)) <= set(_NUMBER_RE.findall(chunk_text)):
        return False
    sentences = [s for s in _SENTENCE_END_RE.split(chunk_text) if len(s.split()) >= 3]
    if evidence.strip():
        sentences.append(evidence)
    if not sentences:
        return False
    vectors = embed([answer, *sentences])
    cosines = vectors[1:] @ vectors[0]
    best = int(cosines.argmax())
    negations = set(_words(answer)) & _NEGATIONS
    return bool(cosines[best] >= PARAPHRASE_MIN_COSINE) and negations <= set(_words(sentences[best]))


_FENCED_RE = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)


def _quotes_code(evidence: str, chunk_text: str) -> bool:
    """The evidence is code: marked as such, or a line of one of the chunk's code blocks."""
    quote = evidence.strip().strip("`").strip()
    return prose_of(evidence).strip() != evidence.strip() or any(
        quote and quote in block for block in _FENCED_RE.findall(chunk_text)
    )


def support_share(answer: str, chunk_text: str) -> float | None:
    """The share of the answer's content words that occur in the chunk; None when it has none."""
    answer_words = content_words(answer)
    if not answer_words:
        return None
    chunk_words = set(content_words(chunk_text))
    return sum(w in chunk_words for w in answer_words) / len(answer_words)


def support_problem(
    answer: str,
    evidence: str,
    chunk_text: str,
    min_share: float,
    min_evidence_words: int,
    rephrased: Callable[[], bool] | None = None,
) -> tuple[str, str] | None:
    """The answer's content words must occur in the chunk (at least `min_share` of them, or
    PARAPHRASE_MIN_SHARE when `rephrased()` says the chunk says it in other words), and the
    evidence must be a real span (>= `min_evidence_words` words, half as many for a quote of
    code) sharing a content word with the answer: evidence that is one word ("Kaggle's") or
    unrelated proves nothing."""
    answer_words = content_words(answer)
    share = support_share(answer, chunk_text)
    # The embedder is asked only for an answer the page's own words do not carry.
    if share is not None and share < min_share and not (rephrased and share >= PARAPHRASE_MIN_SHARE and rephrased()):
        chunk_words = set(content_words(chunk_text))
        missing = sorted({w for w in answer_words if w not in chunk_words})[:8]
        return (
            "unsupported",
            f"{share:.0%} of the answer's content words are in the chunk (< {min_share:.0%}); missing {missing}",
        )
    evidence_words = _words(evidence)
    if _quotes_code(evidence, chunk_text):  # a line of code or config says much in few words
        min_evidence_words = max(2, min_evidence_words // 2)
    if len(evidence_words) < min_evidence_words:
        return "unsupported", f"evidence of {len(evidence_words)} word(s) (< {min_evidence_words}): {evidence[:60]!r}"
    if answer_words and not set(answer_words) & set(content_words(evidence)):
        return "unsupported", f"the evidence shares no content word with the answer: {evidence[:80]!r}"
    return None


# ---------------------------------------------------------------- echo

_POLARITY_RE = re.compile(r"^(?:yes|no|true|false)\b", re.IGNORECASE)
# Words that fill the place of an answer without giving one ("the driver does something",
# "they can run for a long time"): an answer whose only new words are these adds nothing.
_VAGUE = frozenset(content_words("something anything certain various specific particular long time while stuff etc"))


def echo_problem(question: str, answer: str) -> tuple[str, str] | None:
    """An answer that is a question, or that only restates the question (adds no content).
    Restating the question and then answering ("The default timeout is 2h.") is no echo."""
    stripped = answer.strip()
    if stripped.endswith("?"):
        return "echo", f"the answer is a question: {stripped[:80]!r}"
    if _POLARITY_RE.match(stripped):
        return None  # "No, X does not Y" restates the question on purpose: the yes/no is the answer
    question_words = set(content_words(question))
    answer_words = content_words(answer)
    if any(w not in question_words and w not in _VAGUE for w in answer_words):
        return None
    if answer_words:
        return "echo", "the answer adds no word the question does not already hold"
    q, a = normalise(question).rstrip("?. "), normalise(answer).rstrip("?. ")
    if q and a and SequenceMatcher(None, q, a, autojunk=False).ratio() >= 0.8:
        return "echo", "the answer repeats the question"
    return None


# ---------------------------------------------------------------- degenerate

# A slot a model left unfilled: "[insert answer here]", "<your answer>", "{answer}", "{{ answer }}".
# Its content is plain words (no quotes, colons, dots or slashes: those make it JSON, a path or
# a format string). Words that name what belongs there make it a slot wherever it stands...
_SLOT_BODY = r"\s*[A-Za-z][A-Za-z _-]*?\s*"
_ALWAYS_SLOT = r"insert|answer|question|placeholder|here"
_ALWAYS_SLOT_RE = re.compile(
    rf"\[(?={_SLOT_BODY}\])[^\]]*\b(?:{_ALWAYS_SLOT})\b[^\]]*\](?!\()|<(?={_SLOT_BODY}>)[^>]*\b(?:{_ALWAYS_SLOT})\b[^>]*>"
    rf"|\{{\{{?(?={_SLOT_BODY}\}})[^}}]*\b(?:{_ALWAYS_SLOT})\b[^}}]*\}}\}}?",
    re.IGNORECASE,
)
# ...others only in prose: in code, `<your-token>`, `[NAME]` and `{id}` are the docs' own notation.
_PROSE_SLOT_RE = re.compile(
    r"\[[^\]]*\b(?:your|text|todo|tbd|name|value|number)\b[^\]]*\](?!\()"
    r"|<[^>]*\b(?:your|todo|tbd)\b[^>]*>"
    rf"|\{{\{{?{_SLOT_BODY}\}}\}}?"
    r"|\b(?:lorem ipsum|todo|tbd|xxx+)\b|\.{3,}\s*$|…\s*$",
    re.IGNORECASE,
)
# A whole answer that is a form's blank: "N/A". Inside a sentence ("Type: n/a") it is a value.
_BLANK_ONLY_RE = re.compile(r"^\W*(?:n/?a|tbd|todo)\W*$", re.IGNORECASE)
_TEMPLATE_RE = re.compile(r"^\s*[\[<(][^\]>)]*[\]>)]\s*[.?!]?\s*$")
_LEAD_IN_RE = re.compile(
    r"^\s*(?:sure[,!.]?\s*|certainly[,!.]?\s*|here(?:'s| is| are)\b[^:]*:?\s*|"
    r"(?:the\s+)?(?:correct\s+|final\s+)?answer(?:\s+is)?\s*:?\s*|a(?:nswer)?\s*:\s*)+",
    re.IGNORECASE,
)
# "1. 2. 3." with spaces between: "2.4.1" is a version.
_NUMBERING_RE = re.compile(r"(?:\b\d{1,3}[.)](?:\s+|$)){3,}")


def _repeated_ngram(words: list[str]) -> str | None:
    """A phrase the text keeps repeating ("a fact, a fact, a fact", "the secret to the secret to")."""
    for n in (1, 2, 3, 4):
        counts: dict[tuple[str, ...], int] = {}
        for i in range(len(words) - n + 1):
            gram = tuple(words[i : i + n])
            if n == 1 and (gram[0] in _EN_STOPWORDS or len(gram[0]) < 3):
                continue
            counts[gram] = counts.get(gram, 0) + 1
        limit = 4 if n == 1 else 3
        for gram, count in counts.items():
            if count >= limit and count * n >= max(6, len(words) // 3):
                return " ".join(gram)
    return None


def degenerate_problem(text: str, field: str) -> tuple[str, str] | None:
    """Placeholders, template brackets, counting junk, repetition, or only a lead-in."""
    stripped = text.strip()
    prose = prose_of(stripped)
    match = _ALWAYS_SLOT_RE.search(stripped) or _PROSE_SLOT_RE.search(prose)
    if match:
        return "degenerate", f"{field} holds a placeholder: {match.group(0)[:60]!r}"
    if _TEMPLATE_RE.match(stripped) or _BLANK_ONLY_RE.match(stripped):
        return "degenerate", f"{field} is a template slot: {stripped[:60]!r}"
    if _NUMBERING_RE.search(prose):
        return "degenerate", f"{field} is counting/numbering: {stripped[:60]!r}"
    words = _words(stripped)
    prose_words = _words(prose)
    if prose_words and sum(w.isdigit() for w in prose_words) / len(prose_words) > 0.5 and len(prose_words) >= 3:
        return "degenerate", f"{field} is mostly numbers: {stripped[:60]!r}"
    phrase = _repeated_ngram(words)
    if phrase:
        return "degenerate", f"{field} repeats {phrase!r}"
    rest = _LEAD_IN_RE.sub("", stripped, count=1)
    if not content_words(rest) and not _POLARITY_RE.match(rest):
        return "degenerate", f"{field} says nothing: {stripped[:60]!r}"
    return None


class _Gate(PairFilter):
    family = "gate"  # one gate's failure says enough: the next gates of a pair are not run


class Degenerate(_Gate):
    """Unanswerable questions have a fixed answer: only their question is gated."""

    name = "degenerate"
    reasons = ("degenerate",)

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        problem = degenerate_problem(candidate.question, "question")
        if problem or candidate.unit.question_type == "unanswerable":
            return problem
        return degenerate_problem(candidate.answer, "answer")


class Echo(_Gate):
    name = "echo"
    reasons = ("echo",)

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        if candidate.unit.question_type == "unanswerable":
            return None
        return echo_problem(candidate.question, candidate.answer)


class Support(_Gate):
    name = "support"
    reasons = ("unsupported",)

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        if candidate.unit.question_type == "unanswerable":  # no evidence, a fixed answer
            return None
        cfg, embed = context.cfg, context.embed
        answer, evidence, chunk_text = candidate.answer, candidate.evidence, candidate.unit.chunk.text
        rephrased = None
        if embed is not None:  # without the embedder the page's own words alone count

            def rephrased() -> bool:
                return paraphrase_supported(answer, evidence, chunk_text, embed)

        return support_problem(
            answer, evidence, chunk_text, cfg.gates.support_min_share, cfg.gates.evidence_min_words, rephrased
        )


GATES: tuple[PairFilter, ...] = (Degenerate(), Echo(), Support())


def gate_pair(
    question: str, answer: str, evidence: str, chunk_text: str, question_type: str, cfg
) -> tuple[str, str] | None:
    """The first of the GATES a pair fails, or None. `cfg` is a GenerateConfig."""
    pair = candidate_of(question, answer, evidence, chunk_text, question_type=question_type)
    apply(GATES, [pair], FilterContext(cfg))
    return pair.failure


# ---------------------------------------------------------------- chunks

_LINK_RE = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|<https?://[^>]+>|https?://\S+")
_LINK_ITEM_RE = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+(?:\*\*)?\[[^\]]*\]\([^)]*\)")


def chunk_skip_reason(text: str, token_count: int, min_tokens: int) -> tuple[str, str] | None:
    """Why a chunk is not worth asking about, or None.

    Too small: the chunker merges small sections into neighbours, but a short page (or its
    closing remarks) stays below `chunk.min_tokens`. Navigation: mostly list items that
    start with a link ("- [Datasets](...) - create and version datasets"), a table of
    contents whose facts live on the linked pages."""
    if token_count < min_tokens:
        return "chunk_too_small", f"{token_count} tokens < chunk.min_tokens={min_tokens}"
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return "chunk_navigation", "only headings"
    navigation = sum(
        bool(_LINK_ITEM_RE.match(line)) or not re.sub(r"[\W_]+", "", _LINK_RE.sub("", line)) for line in lines
    )
    if navigation >= 3 and navigation / len(lines) >= 0.6:
        return "chunk_navigation", f"{navigation} of {len(lines)} lines are links or list items that start with one"
    return None
