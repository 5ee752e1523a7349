"""Model-free checks on a generated pair: evidence in the chunk, lengths, standalone
wording, language, question form. Each is a filter (pair_filters.py) whose failure is
(reason, detail), recorded as a `Dropped` row with a machine-readable reason.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher

from docs2qa.generation.qa.keep.filters import Candidate, FilterContext, PairFilter, Rejection, apply, candidate_of

_TRANSLATE = str.maketrans(
    {
        # All quote marks fold to one: models swap single, double and curly quotes freely.
        "\u2018": '"',
        "\u2019": '"',
        "\u201a": '"',
        "\u201b": '"',
        "\u2032": '"',
        "'": '"',
        "`": " ",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u2026": "...",
    }
)
# Markdown emphasis/heading/quote markers and table pipes carry no words; models drop or add them.
_MARKUP_RE = re.compile(r"\*\*|__|[*#>|]|(?<!\w)_|_(?!\w)|\[|\]\([^)]*\)|\]")
_SPACE_RE = re.compile(r"\s+")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE).lower()
    text = _MARKUP_RE.sub(" ", text)
    return _SPACE_RE.sub(" ", text).strip()


def _strip_quote(evidence: str) -> str:
    # Models wrap the quote in quotes or end it with an ellipsis; neither is part of the source.
    evidence = evidence.strip().strip("\"'").strip()
    return re.sub(r"^(?:\.\.\.\s*)|(?:\s*\.\.\.)$", "", evidence).strip()


def evidence_ratio(evidence: str, chunk_text: str) -> float:
    """How well `evidence` matches its best window of `chunk_text`, 0-1 (1 = found verbatim
    after normalisation). Like a partial ratio: SequenceMatcher.ratio of the evidence
    against chunk windows of its own length, searched coarse-to-fine."""
    needle, hay = _strip_quote(normalise(evidence)), normalise(chunk_text)
    if not needle or not hay:
        return 0.0
    if needle in hay:
        return 1.0
    m = len(needle)
    if m >= len(hay):
        return SequenceMatcher(None, hay, needle, autojunk=False).ratio()

    matcher = SequenceMatcher(autojunk=False)
    matcher.set_seq2(needle)  # seq2 is the one SequenceMatcher indexes; reuse it across windows
    cache: dict[int, float] = {}

    def score(start: int) -> float:
        start = min(max(start, 0), len(hay) - m)
        if start not in cache:
            matcher.set_seq1(hay[start : start + m])
            cache[start] = matcher.ratio()
        return cache[start]

    # Seeds: alignments suggested by long common blocks, plus a regular grid so a quote
    # whose words were shuffled or paraphrased still gets a fair window.
    seeds = set(range(0, len(hay) - m + 1, max(1, m // 4)))
    blocks = SequenceMatcher(None, hay, needle, autojunk=False).get_matching_blocks()
    seeds.update(block.a - block.b for block in blocks if block.size >= 4)
    best_start = max(seeds, key=score)
    step = max(1, m // 8)
    while True:  # hill-climb with a shrinking step around the best window
        candidates = [best_start - step, best_start + step]
        better = max(candidates, key=score)
        if score(better) > score(best_start):
            best_start = min(max(better, 0), len(hay) - m)
        elif step == 1:
            break
        else:
            step = max(1, step // 2)
    return round(score(best_start), 4)


# Phrases that only make sense to someone holding the excerpt.
_SOURCE_NOUNS = (
    r"(?:text|passage|context|section|document|documentation excerpt|excerpt|snippet|paragraph|chunk|article"
    r"|source|above)"
)
_NOT_STANDALONE = [
    re.compile(
        r"\b(?:according to|based on|from|in|per|as (?:stated|described|mentioned|shown) in)"
        rf"\s+(?:the|this|that|these)\s+(?:given\s+|provided\s+|above\s+)?{_SOURCE_NOUNS}\b(?!\s+of\b)",
        re.I,
    ),
    re.compile(r"\bthis\s+(?:text|passage|section|document|excerpt|snippet|paragraph|chunk|article)\b", re.I),
    re.compile(r"\bthe\s+(?:passage|excerpt|snippet|chunk|given text|provided text|above)\b", re.I),
    re.compile(r"\b(?:mentioned|described|stated|shown|listed|discussed)\s+(?:above|below|here)\b", re.I),
    re.compile(r"\baccording to the (?:above|author)\b", re.I),
    re.compile(r"\b(?:table|list|example|code|snippet|figure)\s+(?:above|below)\b", re.I),
    # "the text/document/section/context" as the thing that speaks: "What does the text say?"
    re.compile(
        r"\b(?:the|this)\s+(?:text|document|section|context|article)\s+(?:say|says|state|states|mention|mentions|describe|describes|discuss|discusses|explain|explains|suggest|suggests|cover|covers|refer|refers)\b",
        re.I,
    ),
    re.compile(r"\b(?:the|this)\s+(?:text|document|section|context)\s*[?.,]?\s*$", re.I),
    # An unnamed "it" the question ends on: "How many kinds of limits does it have?" (held-out
    # belfry site) needs the page to say what "it" is; "How much does it cost to ...?" does not.
    re.compile(r"\b(?:does|do|did|can|will)\s+(?:it|they)\s+(?!cost|take|mean|matter)\w+\s*\?\s*$", re.I),
]


def standalone_problem(question: str) -> str | None:
    for pattern in _NOT_STANDALONE:
        match = pattern.search(question)
        if match:
            return match.group(0)
    return None


_EN_STOPWORDS = frozenset(
    """
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers him his how i if in into is it its itself just me more most my no nor not now
of off on once only or other our out over own same she should so some such than that the their them
then there these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yes also must may might shall use used using
""".split()
)
_WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)
# Code, where brackets and braces are syntax and words are not English: fenced blocks, inline
# code, command lines (a line with an option flag, a shell prompt or an HTTP method), any
# bracket or brace glued to code punctuation ("/v1/runs/{id}", f"{name}", "${{ secrets.X }}",
# "<owner>/<dataset>"), and JSON objects.
_CODE_RES = (
    re.compile(r"```.*?(?:```|\Z)", re.DOTALL),
    re.compile(r"`[^`\n]*`"),
    re.compile(r"^.*(?:(?:^|\s)--?[A-Za-z][\w-]*\b|^\s*\$\s|\b(?:GET|POST|PUT|PATCH|DELETE)\s+/).*$", re.MULTILINE),
    re.compile(r"[/=:@$\"'][\[<{]+[^\]>}\s]*[\]>}]+|[\[<{]+[^\]>}\s]*[\]>}]+(?=[/\"'])"),
    re.compile(r'\{\s*"[^"]*"\s*:.*\}', re.DOTALL),  # a JSON object: {"status": "ok"}
)


def prose_of(text: str) -> str:
    """`text` with its code blanked out (see _CODE_RES)."""
    for code_re in _CODE_RES:
        text = code_re.sub(" ", text)
    return text


def english_problem(text: str, min_words: int = 8) -> str | None:
    """A light English detector: share of ASCII letters and of common English function words.
    Code is ignored (commands, JSON and identifiers are not prose), and so are table rows: a
    header and its cells ("| Plan | Weekly GPU-hours | Price |") are labels, not sentences
    (measured: 9 answers holding a row of the demo's limits were dropped as 0-7% English). Too
    little prose to judge -> None."""
    prose = "\n".join(line for line in prose_of(text).splitlines() if not line.lstrip().startswith("|"))
    letters = [ch for ch in prose if ch.isalpha()]
    if len(letters) < 12:
        return None
    ascii_share = sum(ch.isascii() for ch in letters) / len(letters)
    if ascii_share < 0.85:
        return f"only {ascii_share:.0%} of the letters are ASCII"
    words = [w.lower() for w in _WORD_RE.findall(prose)]
    if len(words) < min_words:
        return None
    stop_share = sum(w in _EN_STOPWORDS for w in words) / len(words)
    if stop_share < 0.1:
        return f"only {stop_share:.0%} of the words are common English words"
    return None


def language_problem(text: str, language: str, min_words: int = 8) -> str | None:
    if language.lower().startswith("en"):
        return english_problem(text, min_words)
    # Other languages need a real detector; it is used only when `langdetect` happens to be
    # installed (it is not a dependency), otherwise the check is skipped.
    try:
        from langdetect import DetectorFactory, detect
    except ImportError:
        return None
    if len(_WORD_RE.findall(prose_of(text))) < min_words:
        return None
    DetectorFactory.seed = 0  # langdetect is random unless seeded
    found = detect(text)
    return None if found.split("-")[0] == language.lower().split("-")[0] else f"detected {found!r}"


class EvidenceForUnanswerable(PairFilter):
    name = "evidence_for_unanswerable"
    reasons = ("evidence_for_unanswerable",)

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        evidence = candidate.evidence.strip()
        if candidate.unit.question_type == "unanswerable" and evidence:
            return "evidence_for_unanswerable", f"unanswerable questions take no evidence, got {evidence[:80]!r}"
        return None


class EvidenceInChunk(PairFilter):
    """The quoted evidence is found in the chunk (fuzzily: `generate.gates.evidence_min_ratio`)."""

    name = "evidence_in_chunk"
    reasons = ("evidence_not_in_chunk",)

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        evidence = candidate.evidence.strip()
        if candidate.unit.question_type == "unanswerable":
            return None
        if not evidence:
            return "evidence_not_in_chunk", "no evidence quoted"
        ratio, least = candidate.evidence_ratio, context.cfg.gates.evidence_min_ratio
        if ratio < least:
            return "evidence_not_in_chunk", f"best match {ratio:.2f} < {least:.2f}: {evidence[:80]!r}"
        return None


# A factual question that asks for a count or a code ("How many cores …?", "Which exit code …?")
# is answered in full by a bare number; "How long …?" is not ("3" what?).
_COUNT_QUESTION_RE = re.compile(r"\bhow many\b|\b(?:number|count|code|port)\b", re.IGNORECASE)
_NUMBER_RE = re.compile(r"^\d+(?:[.,]\d+)?\.?$")
_TERM_RE = re.compile(r"^`?[^\W\d_][\w./+-]+`?\.?$")  # "TOML", "`oom_killed`", "a100", "null"


def _complete_short_answer(candidate: Candidate) -> bool:
    """A number or a single term is a whole answer to a factual question that asks for one."""
    answer = candidate.answer.strip()
    if candidate.unit.question_type != "factual":
        return False
    if _NUMBER_RE.match(answer):
        return bool(_COUNT_QUESTION_RE.search(candidate.question))
    return bool(_TERM_RE.match(answer)) and answer.strip("`.").lower() not in _EN_STOPWORDS


class Length(PairFilter):
    """The question's or the answer's length within `generate.gates.min_/max_<field>_chars`; a
    shorter answer passes when it is a number or a term a factual question asks for."""

    def __init__(self, field: str):
        self.field = field
        self.name = f"{field}_length"
        self.reasons = (f"{field}_too_short", f"{field}_too_long")

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        text = candidate.pair[self.field].strip()
        low, high = (
            getattr(context.cfg.gates, f"min_{self.field}_chars"),
            getattr(context.cfg.gates, f"max_{self.field}_chars"),
        )
        if len(text) < low and not (self.field == "answer" and _complete_short_answer(candidate)):
            return f"{self.field}_too_short", f"{len(text)} < {low} characters"
        if len(text) > high:
            return f"{self.field}_too_long", f"{len(text)} > {high} characters"
        return None


class Standalone(PairFilter):
    name = "standalone"
    reasons = ("not_standalone",)

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        phrase = standalone_problem(candidate.question.strip())
        return ("not_standalone", f"refers to the source: {phrase!r}") if phrase else None


class Language(PairFilter):
    name = "language"
    reasons = ("wrong_language",)

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        language = context.cfg.language
        # A long answer alone too: an English question would hide an answer in another language.
        # Terse English answers hold few function words ("Extra storage costs $0.02 per GiB."), so
        # only answers of 12 words or more are judged on their own.
        answer = candidate.answer.strip()
        problem = language_problem(answer, language, min_words=12) or language_problem(
            f"{candidate.question.strip()}\n{answer}", language
        )
        return ("wrong_language", f"expected {language}: {problem}") if problem else None


class QuestionMark(PairFilter):
    """A question ends with "?" (a yes/no statement to confirm may end with ".")."""

    name = "question_mark"
    reasons = ("not_a_question",)

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        question = candidate.question.strip()
        if question.endswith("?") or (candidate.unit.question_type == "yes_no" and question.endswith(".")):
            return None
        return "not_a_question", f"does not end with '?': {question[-40:]!r}"


CHECKS: tuple[PairFilter, ...] = (
    EvidenceForUnanswerable(),
    EvidenceInChunk(),
    Length("question"),
    Length("answer"),
    Standalone(),
    Language(),
    QuestionMark(),
)


def check_pair(
    question: str, answer: str, evidence: str, chunk_text: str, question_type: str, cfg
) -> tuple[float, list[tuple[str, str]]]:
    """Returns (evidence_ratio, failures) of the CHECKS. `cfg` is a GenerateConfig.

    evidence_ratio is 1.0 for a verbatim (normalised) quote and 0.0 when there is no evidence
    (as required for unanswerable questions)."""
    pair = candidate_of(question, answer, evidence, chunk_text, question_type=question_type)
    apply(CHECKS, [pair], FilterContext(cfg))
    return pair.evidence_ratio, [(f.reason, f.detail) for f in pair.failures]
