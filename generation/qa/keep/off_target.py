"""Does an answer_first question fit its answer? The OFF_TARGET rules: in words (a copied
worked example, words the answer does not use, the form of the question against the shape of
the answer) and by embedding similarity (near its answer, and closer to it than to any other
sentence of the chunk). They run on pairs the checks and gates passed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

# The span shapes answer_first picks by are the shapes these rules ask of a question's answer.
from docs2qa.generation.qa.answer_first import (
    _COMMAND,
    _CONDITION,
    _DEFINITION,
    _IMPERATIVE,
    _REASON,
    _TO_CLAUSE,
    candidates,
)
from docs2qa.generation.qa.keep.filters import (
    Candidate,
    Embed,
    FilterContext,
    PairFilter,
    Rejection,
    apply,
    candidate_of,
)
from docs2qa.generation.qa.keep.gates import content_words

if TYPE_CHECKING:
    import numpy as np


# Words of the worked examples: a question using them where its chunk does not copied an example.
_EXAMPLE_ONLY = {"mail", "mailbox", "attachment", "filter", "trash", "spam", "tick", "receipt"}
# Words a question may add to its answer's words ("How does X work?", "How many ...?",
# "Which version ...?", "What does X hold?"): they ask for the answer, they are not its subject.
_QUESTION_WORDS = set(
    content_words(
        "work happen mean do use make many much long often version kind type size number amount time step "
        "value default option find fix hold contain need"
    )
)
# A question's word the answer says differently: "How do I create X?" of "Select New → X" or "Start one ...".
_SAID_AS = {"creat": {"new", "add", "start"}, "delet": {"remov"}, "remov": {"delet"}}
_WHAT_IS_RE = re.compile(r"^what\s+(?:is|are)\s+(?:an?\s+|the\s+)?(?P<x>[^?]+)\?$", re.IGNORECASE)
_COPULA_RE = re.compile(r"\s(?:is|are)\s")
# "How do I/you ...?", "How can I ...?", "How to ...?": the asker wants steps.
_UI_VERB = re.compile(r"(?:select|click|press|tap|pick|choose)\b", re.IGNORECASE)
_HOW_TO_RE = re.compile(r"^how\s+(?:(?:do|can|should|could|would)\s+(?:i|you|we|one)|to)\b", re.IGNORECASE)


def gives_steps(answer: str) -> bool:
    """An instruction (at the start or after "To ..., "), a menu path or a command to run."""
    text = answer.strip()
    return bool(
        "→" in text or _COMMAND.search(text) or _IMPERATIVE.match(text) or _IMPERATIVE.match(_TO_CLAUSE.sub("", text))
    )


class _AnswerFirstRule(PairFilter):
    """Whether an answer_first question fits its answer sentence. These rules run only on
    pairs nothing else rejected, each after the ones before it passed."""

    reasons = ("off_target",)
    after_failure = False


class _QuestionRule(_AnswerFirstRule):
    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        if candidate.unit.strategy != "answer_first":
            return None
        return self.problem(context.once(candidate, "asked", lambda: _Asked.of(candidate)))

    def problem(self, asked: _Asked) -> Rejection | None:
        raise NotImplementedError


@dataclass(frozen=True)
class _Asked:
    question: str  # stripped
    answer: str
    words: set[str]  # the question's content words
    answer_words: set[str]
    page_words: set[str]  # of the page's title and headings

    @classmethod
    def of(cls, candidate: Candidate) -> _Asked:
        chunk = candidate.unit.chunk
        return cls(
            candidate.question.strip(),
            candidate.answer,
            set(content_words(candidate.question)),
            set(content_words(candidate.answer)),
            set(content_words(" ".join([chunk.title, *chunk.heading_path]))),
        )


class CopiedExample(_QuestionRule):
    name = "copied_example"

    def problem(self, asked: _Asked) -> Rejection | None:
        copied = sorted((_EXAMPLE_ONLY & asked.words) - asked.answer_words - asked.page_words)
        return ("off_target", f"the question copies the worked example ({', '.join(copied)})") if copied else None


class ForeignWords(_QuestionRule):
    """The question asks about words its answer (and page) never uses."""

    name = "foreign_words"

    def problem(self, asked: _Asked) -> Rejection | None:
        known = asked.answer_words | asked.page_words
        foreign = sorted(
            w for w in asked.words - known if w not in _QUESTION_WORDS and not _SAID_AS.get(w, set()) & known
        )
        if foreign:
            return "off_target", f"the question asks about {', '.join(foreign)}, which its answer never mentions"
        return None


class WhatIsDefinition(_QuestionRule):
    """A "What is X?" question wants a definition of X. Measured on the demo: "What is a
    persistent workspace?" of a sentence that only mentions one; "What is a dataset?" of a
    sentence about deleting old versions."""

    name = "what_is_definition"

    def problem(self, asked: _Asked) -> Rejection | None:
        match = _WHAT_IS_RE.match(asked.question)
        if not match:
            return None
        if not _DEFINITION.match(asked.answer):
            return "off_target", f"asks what {match['x']!r} is, but the answer is not a definition"
        subject = _COPULA_RE.split(asked.answer, maxsplit=1)[0]
        if set(content_words(match["x"])) - set(content_words(subject)):
            return "off_target", f"asks what {match['x']!r} is, but the answer is about {subject[:60]!r}"
        return None


class WhyReason(_QuestionRule):
    """A "Why ...?" question wants a reason for what the answer says of its subject (its
    first words), so it must name some of that. Measured on the Lanternfish pages: "Why does
    a large survey need to be recorded?" of "Large surveys are written in batches ... so
    that memory use stays flat."."""

    name = "why_reason"

    def problem(self, asked: _Asked) -> Rejection | None:
        if not re.match(r"why\b", asked.question, re.I):
            return None
        if not _REASON.search(asked.answer):
            return "off_target", "asks why, but the answer gives no reason"
        if not asked.words & asked.answer_words - asked.page_words - set(content_words(asked.answer)[:2]):
            return "off_target", "asks why of the answer's subject, not of what the answer says about it"
        return None


class WhatHappensCase(_QuestionRule):
    """A "What happens ...?" question must name the case the answer is about. Measured on
    the demo: "What happens to deleted datasets?" of "When a dataset exceeds the versions
    kept limit, the oldest versions ... are deleted first"."""

    name = "what_happens_case"

    def problem(self, asked: _Asked) -> Rejection | None:
        case = _CONDITION.search(asked.answer)
        if not (case and re.match(r"what\s+happens\b", asked.question, re.I)):
            return None
        clause = re.split(r"[,;:.]", asked.answer[case.start() :], maxsplit=1)[0]
        if not asked.words & set(content_words(clause)) - asked.page_words:
            return "off_target", f"asks what happens, but not in the case the answer is about ({clause[:60]!r})"
        return None


class HowToSteps(_QuestionRule):
    """A "How do I ...?" question wants steps, and asks for the task they are for. Measured
    on the demo: "How do I select a new organization?" of "Select New → Organization, ...":
    the question copies the click, not the task it is for."""

    name = "how_to_steps"

    def problem(self, asked: _Asked) -> Rejection | None:
        if not _HOW_TO_RE.match(asked.question):
            return None
        ui = _UI_VERB.match(_HOW_TO_RE.sub("", asked.question).strip())
        if ui:
            return "off_target", f"asks how to {ui.group(0).lower()} something, not what the steps are for"
        if gives_steps(asked.answer):
            return None  # how to do the page's task ("Starting a survey"), answered with its steps
        return "off_target", "asks how to do something, but the answer gives no step, menu path or command"


class PageSubjectOnly(_QuestionRule):
    """A question about only the page's subject ("How does the REST API work?" of one sentence
    of the REST API page) does not need this answer. "What is X?" and "How do I ...?" are
    left to their own rules: asked of the answer's subject, or answered with steps, they are
    specific whatever the page."""

    name = "page_subject_only"

    def problem(self, asked: _Asked) -> Rejection | None:
        if _WHAT_IS_RE.match(asked.question) or _HOW_TO_RE.match(asked.question):
            return None
        if not (asked.words & asked.answer_words) - asked.page_words:
            return "off_target", "the question names only the page's subject, nothing of its answer"
        return None


# In this order: the first that fails names the problem.
QUESTION_FORM: tuple[PairFilter, ...] = (
    CopiedExample(),
    ForeignWords(),
    WhatIsDefinition(),
    WhyReason(),
    WhatHappensCase(),
    HowToSteps(),
    PageSubjectOnly(),
)


def question_problem(question: str, answer: str, title: str, heading_path: list[str]) -> tuple[str, str] | None:
    """The first of the QUESTION_FORM rules the question fails for its answer, or None."""
    from docs2qa.generation.qa.config import GenerateConfig

    pair = candidate_of(question, answer, title=title, heading_path=heading_path, strategy="answer_first")
    apply(QUESTION_FORM, [pair], FilterContext(GenerateConfig()))
    return pair.failure


def _cosines(candidate: Candidate, embed: Embed) -> tuple[list[str], np.ndarray]:
    """The other sentences of the chunk, and the question's cosines with its answer and then
    with each of them."""
    others = [s for s in dict.fromkeys(candidates(candidate.unit.chunk.text)) if s != candidate.answer]
    vectors = embed([candidate.question, candidate.answer, *others])
    return others, vectors[1:] @ vectors[0]


class _EmbeddingRule(_AnswerFirstRule):
    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        embed = context.embed
        if candidate.unit.strategy != "answer_first" or embed is None:
            return None
        # One embedding call per pair, shared by the rules below.
        others, cosines = context.once(candidate, "answer_first_cosines", lambda: _cosines(candidate, embed))
        return self.fit(others, cosines, context)

    def fit(self, others: list[str], cosines: np.ndarray, context: FilterContext) -> Rejection | None:
        raise NotImplementedError


class NearAnswer(_EmbeddingRule):
    """The question's embedding cosine with its answer is at least `generate.gates.min_qa_similarity`."""

    name = "near_answer"

    def fit(self, others: list[str], cosines: np.ndarray, context: FilterContext) -> Rejection | None:
        threshold = context.cfg.gates.min_qa_similarity
        if cosines[0] < threshold:
            return (
                "off_target",
                f"question-answer cosine {cosines[0]:.2f} < generate.gates.min_qa_similarity={threshold}",
            )
        return None


class ClosestSentence(_EmbeddingRule):
    """The answer is the sentence of the chunk closest to the question."""

    name = "closest_sentence"

    def fit(self, others: list[str], cosines: np.ndarray, context: FilterContext) -> Rejection | None:
        if len(cosines) > 1 and cosines[1:].max() > cosines[0]:
            closer = others[int(cosines[1:].argmax())]
            return "off_target", f"another sentence of the chunk fits the question better: {closer[:80]!r}"
        return None


OFF_TARGET: tuple[PairFilter, ...] = (*QUESTION_FORM, NearAnswer(), ClosestSentence())
