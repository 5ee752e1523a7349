"""Does an answer_first question fit its answer? The OFF_TARGET rules: in words (a copied
worked example, words the answer does not use, the form of the question against the shape of
the answer) and by embedding similarity (near its answer, and closer to it than to any other
sentence of the chunk that could answer it). They run on pairs the checks and gates passed.
tests/test_dropped_labels.py measures each against a reader on the units they really dropped."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

# The span shapes answer_first picks by are the shapes these rules ask of a question's answer.
from docs2qa.generation.qa.answer_first import (
    _BEHAVIOUR,
    _COMMAND,
    _CONDITION,
    _IMPERATIVE,
    _NOT_WHAT_FOR,
    _REASON,
    _TO_CLAUSE,
    candidates,
    canonical_form,
    sentence_of,
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


def _fold(words: Iterable[str]) -> set[str]:
    """Stemmed words with a plural "s" the shared stemmer leaves on short words folded too:
    "keys" and "key", "runs" and "run" meet (measured: "How do I create a new access key?" of
    "Keys can also be created ..." was dropped as asking about "key")."""
    return {w[:-1] if len(w) > 2 and w.endswith("s") and not w.endswith("ss") else w for w in words}


# Words of the worked examples: a question using them where its chunk does not copied an example.
_EXAMPLE_ONLY = {"mail", "mailbox", "attachment", "filter", "trash", "spam", "tick", "receipt"}
# Words a question may add to its answer's words ("How does X work?", "How many ...?",
# "Which version ...?", "What does X hold?"): they ask for the answer, they are not its subject.
_QUESTION_WORDS = _fold(
    content_words(
        "work happen mean do use make many much long often version kind type size number amount time step "
        "value default option find fix hold contain need "
        # Found on the sites written for labelling dropped pairs: "create a new X", "two different
        # regions", "does not allow you to": words that qualify the ask, not its subject.
        "new different other another same specific particular certain existing allow able "
        # "What is the syntax of the lantern fetch command?": what kind of answer is wanted.
        "syntax usage command"
    )
)
# A question's word the answer says differently: "How do I create X?" of "Select New → X" or "Start one ...".
_SAID_AS = {
    "creat": {"new", "add", "start"},
    "delet": {"remov"},
    "remov": {"delet"},
    # Found on the sites written for labelling dropped pairs: "What does storage cost?" of "...
    # is billed at $0.10 per GB"; "can a user own" of "Free accounts can own".
    "cost": {"bill", "pric", "fee", "charg", "pay"},
    "pric": {"cost", "bill", "fee", "charg", "pay"},
    "user": {"account", "member", "peopl", "person"},
}
_HEADING_RE = re.compile(r"^#{1,6}\s+(.+)$", re.M)
_WHAT_IS_RE = re.compile(r"^what\s+(?:is|are)\s+(?:an?\s+|the\s+)?(?P<x>[^?]+)\?$", re.IGNORECASE)
_SYNTAX_RE = re.compile(r"^(?:the\s+)?(?:syntax|usage)\s+of\b", re.IGNORECASE)
_COPULA_RE = re.compile(r"\s(?:is|are)\s")
# "How do I/you ...?", "How can I ...?", "How to ...?": the asker wants steps.
_UI_VERB = re.compile(r"(?:select|click|press|tap|pick|choose)\b", re.IGNORECASE)
_HOW_TO_RE = re.compile(r"^how\s+(?:(?:do|can|should|could|would)\s+(?:i|you|we|one)|to)\b", re.IGNORECASE)


def gives_steps(answer: str) -> bool:
    """An instruction (at the start or after "To ..., "), a menu path, a command to run or a
    code block to write."""
    text = answer.strip()
    return bool(
        "→" in text
        or sentence_of(text) != text
        or _COMMAND.search(text)
        or _IMPERATIVE.match(text)
        or _IMPERATIVE.match(_TO_CLAUSE.sub("", text))
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
    subject_words: set[str]  # of the page's title and first heading: what the whole page is about

    @classmethod
    def of(cls, candidate: Candidate) -> _Asked:
        chunk = candidate.unit.chunk
        # A rephrased question is held to the rules of the form its opening stands for.
        question = canonical_form(candidate.question.strip())
        return cls(
            question,
            candidate.answer,
            _fold(content_words(question)),
            _fold(content_words(candidate.answer)),
            # The chunk's own headings too: a chunk that starts at its page's top holds the
            # sections after it ("How many megabytes does Lanternfish require?" under "Requirements").
            _fold(content_words(" ".join([chunk.title, *chunk.heading_path, *_HEADING_RE.findall(chunk.text)]))),
            _fold(content_words(" ".join([chunk.title, *chunk.heading_path[:1]]))),
        )


class CopiedExample(_QuestionRule):
    name = "copied_example"

    def problem(self, asked: _Asked) -> Rejection | None:
        copied = sorted((_EXAMPLE_ONLY & asked.words) - asked.answer_words - asked.page_words)
        return ("off_target", f"the question copies the worked example ({', '.join(copied)})") if copied else None


def _kin(word: str, known: set[str]) -> bool:
    """A known word of the same stem, longer or shorter: "requir" and "requirement", "creat"
    and "creation" (five letters at least, so that "use" does not meet "user")."""
    return len(word) >= 5 and any(len(k) >= 5 and (k.startswith(word) or word.startswith(k)) for k in known)


class ForeignWords(_QuestionRule):
    """The question asks about words its answer (and page) never uses."""

    name = "foreign_words"

    def problem(self, asked: _Asked) -> Rejection | None:
        known = asked.answer_words | asked.page_words
        foreign = sorted(
            w
            for w in asked.words - known
            if w not in _QUESTION_WORDS and not _SAID_AS.get(w, set()) & known and not _kin(w, known)
        )
        if foreign:
            return "off_target", f"the question asks about {', '.join(foreign)}, which its answer never mentions"
        return None


# The shapes of a sentence that says what something is, each naming that something (`subject`):
# "kagglehub: This is a Python library ...", a glossary's "Workspace: the container for ...";
# A glossary entry's term holds no verb: "Limits are enforced as token buckets: a token's bucket
# refills ..." defines no token bucket (held-out tidewell site).
_GLOSSARY = re.compile(
    r"^(?P<subject>(?:(?!\s(?:is|are|was|were|has|have)\s)[\w`.' -]){2,60}?):"
    r"\s+(?:(?:this|it)\s+is\s+)?(?:an?|the|one)\s",
    re.I,
)
# "X is a/the/one ...", "Xs are (adjective) nouns", "Kaggle Packages are new functionality that ...";
_IS_A = re.compile(
    r"^(?P<subject>(?:an?\s+|the\s+)?[\w`.' -]{2,60}?)\s(?:is|are)\s+(?:also\s+|simply\s+|just\s+)?"
    r"(?P<kind>(?:an?|the|one|new)\s.*|[\w-]+(?:ity|ion|ment|ness|ure|ance|ence)\b.*"
    r"|(?<=are\s)(?:[\w-]+\s+)?[\w-]+s\b.*)$",
    re.I,
)
# "A survey collects readings ...", "Quotas keep one workspace from ...", "The inference API runs a
# hosted model ...": what a thing does, said of the thing in general (with "the", a verb that
# says what it is for, not "expires" or "fails", nor what it answers: "The ... endpoint returns
# errors as XML", held-out skerry site).
_FOR = (
    r"(?:let|allow|keep|provide|give|protect|prevent|help|store|hold|run|contain|describe|decide|limit|"
    r"control|manage|measure|record|collect|group|connect|turn|make|wrap|package|build|serve|host|track|"
    r"define|represent|identify|list|show|link|share|bundle|isolate|send|bill|meter|include)"
)
# ... followed by what it acts on, not where or when ("Sandboxes run on CPU by default" says no more).
_OBJECT = r"(?!(?:on|in|at|for|from|to|with|by|under|after|before|when|if|only|once)\b)"
_DOES = re.compile(
    # Not "A backup that has never been restored is only a hope": no verb of its own, and a
    # subject narrowed by "that" (held-out tidewell site); nor what a thing uses or needs.
    rf"^(?:(?P<one>an?\s+[\w-]+(?:\s+(?!that\b|which\b|who\b)[\w-]+)?)\s+(?!are\b|{_NOT_WHAT_FOR})[a-z]+s\s+{_OBJECT}"
    rf"|(?P<many>(?:the\s+)?[\w-]+(?:\s+[\w-]+)?s)\s+{_FOR}\s+{_OBJECT}"
    rf"|(?P<the>the\s+[\w-]+(?:\s+[\w-]+){{0,2}})\s+{_FOR}s\s+{_OBJECT})",
    re.I,
)
# Where the kind a definition names ends: "the command line tool | for Shalebase".
_KIND_END = re.compile(r"\s(?:for|of|that|which|who|with|where|in|to|on|from|by|and|or)\s|[,;:.]")


def definition(answer: str) -> tuple[str, str] | None:
    """What `answer` says what it is, as written: its subject, and the kind it names ("`shale` is
    the command line tool for ..." defines shale as "the command line tool"; "" when it names
    none); None when the answer is no definition."""
    text = answer.strip()
    glossary = _GLOSSARY.match(text)
    if glossary:
        return glossary["subject"], ""
    is_a = _IS_A.match(text)
    if is_a:
        return is_a["subject"], _KIND_END.split(" " + is_a["kind"], maxsplit=1)[0]
    does = _DOES.match(text)
    if does:
        return does["one"] or does["many"] or does["the"], ""
    return None


def defines(asked: str, answer: str) -> tuple[bool, str]:
    """Whether `answer` says what `asked` ("What is X?"'s X) is, and if not, why. Its subject
    must be X, not more ("Organisation members are ..." does not define an organisation); the
    kind it names counts beside its subject ("`shale` is the command line tool" defines the
    shale command line tool; "The tool is a single binary" does not say what a single binary is)."""
    said = definition(answer)
    if said is None:
        return False, "the answer is not a definition"
    subject_as_written, kind_as_written = said
    subject, kind = _fold(content_words(subject_as_written)), _fold(content_words(kind_as_written))
    x = _fold(content_words(asked))
    # The question may leave out a word that only qualifies the subject, not the noun that ends
    # it: "What is the Quillmark API?" of "The Quillmark REST API lets you ..." (held-out
    # quillmark site), but not "What is an organisation?" of "Organisation members are ...".
    head = _fold(content_words(" ".join(subject_as_written.split()[-1:])))
    if x - subject - kind or not x & subject or (subject - x and not (head and head <= x and len(x) > 1)):
        return False, f"the answer is about {_COPULA_RE.split(answer, maxsplit=1)[0][:60]!r}"
    return True, ""


class WhatIsDefinition(_QuestionRule):
    """A "What is X?" question wants a definition of X. Measured on the demo: "What is a
    persistent workspace?" of a sentence that only mentions one; "What is a dataset?" of a
    sentence about deleting old versions. On the sites written for labelling dropped pairs
    (tests/data/dropped_labels.jsonl) 8 of its 52 drops were definitions of shapes it did not
    know: "What is a load job?" of "A load job is one run of ...", "What is a workspace?" of a
    glossary's "Workspace: the container for ...", "What is the shale command line tool?" of
    "`shale` is the command line tool for Shalebase." (and, on Kaggle's pages, "kagglehub: This
    is a Python library ..." and "Kaggle Packages are new functionality that ...")."""

    name = "what_is_definition"

    def problem(self, asked: _Asked) -> Rejection | None:
        match = _WHAT_IS_RE.match(asked.question)
        if not match:
            return None
        if _SYNTAX_RE.match(match["x"]):
            # "What is the syntax of the lantern fetch command?" wants its usage line.
            if sentence_of(asked.answer) == asked.answer:
                return "off_target", "asks for a syntax, but the answer shows no command"
            return None
        fits, why = defines(match["x"], asked.answer)
        return None if fits else ("off_target", f"asks what {match['x']!r} is, but {why}")


class WhyReason(_QuestionRule):
    """A "Why ...?" question wants a reason for what the answer says of its subject (its
    first words), so it must name some of that, and more of what the reason explains than of
    the reason. Measured on the Lanternfish pages: "Why does a large survey need to be
    recorded?" of "Large surveys are written in batches ... so that memory use stays flat."."""

    name = "why_reason"

    def problem(self, asked: _Asked) -> Rejection | None:
        if not re.match(r"why\b", asked.question, re.I):
            return None
        if not _REASON.search(sentence_of(asked.answer)):
            return "off_target", "asks why, but the answer gives no reason"
        if not asked.words & asked.answer_words - asked.page_words - set(content_words(asked.answer)[:2]):
            return "off_target", "asks why of the answer's subject, not of what the answer says about it"
        explained = _explained_side(sentence_of(asked.answer))
        if explained is not None:
            what, why = explained
            if len(asked.words & what - why) <= len(asked.words & why - what):
                return "off_target", "asks why of the answer's reason, not of what the reason explains"
        return None


# "A because B", "A so that B": the answer explains A by B. "A, so B", "A, which means B": it
# explains B by A. Measured on the pennant pages (tests/data/gate_labels_off_target.jsonl):
# "Why does a CI job not open a browser?" of "In CI, set PENNANT_TOKEN ..., because a CI job
# cannot open a browser" and "Why does the certificate expire?" of "Certificates are renewed
# 30 days before they expire, so no action is needed ...": the question asks why of the reason.
_REASON_AFTER = re.compile(r"\b(?:because|since|so that|in order to)\b", re.I)
_CONSEQUENCE_AFTER = re.compile(r"(?:,\s*|\s)(?:so|therefore|thus|which means)\b(?!\s+that)", re.I)


def _explained_side(answer: str) -> tuple[set[str], set[str]] | None:
    """The words of what `answer` explains and of its reason, or None when it links no two."""
    reason_after = _REASON_AFTER.search(answer)
    marker = reason_after or _CONSEQUENCE_AFTER.search(answer)
    if marker is None:
        return None
    before = _fold(content_words(answer[: marker.start()]))
    after = _fold(content_words(answer[marker.end() :]))
    return (before, after) if reason_after else (after, before)


# The case a behaviour happens in: a condition, or what the user does ("You upload a document,
# ..., and Quillmark collects the signatures").
_CASE_MARKER = re.compile(rf"^(?=you\s)|{_CONDITION.pattern}", re.I)
# When a behaviour happens, which a question need not name: "IP addresses ... are truncated to
# their first three octets ... before they are written anywhere" answers "What happens to IP
# addresses of SDK requests?" (a pair a reader keeps on the larkspur site).
_TIMING = re.compile(r"\b(?:before|during|while|as\s+soon\s+as)\b", re.I)
# A subject narrowed to some of its kind, its own case: "Requests without one are rejected ...",
# "Attachments larger than 25 MB ...".
_NARROWED = re.compile(
    r"^(?:(?!(?:is|are|was|were|can|will|must|may)\b)\S+\s+){0,4}?"
    r"(?P<case>without|with\s+no|larger|smaller|bigger|longer|shorter|older|newer|more|less|fewer|over|under|above|"
    r"below|beyond|exceed\w*|that|which|who|whose"
    # "An envelope sent in the sandbox can never become ...": a participle and where.
    r"|(?:\w+ed|\w+en|sent|made|kept|built|held|set|left|lost|run)\s+(?:in|on|at|by|to|from|with|through|for)\b)\b",
    re.I,
)
# Where a narrowing ends and the sentence goes on to say what befalls its subject: "Requests
# without one | are rejected ...".
_NARROWING_END = re.compile(r"\s(?:is|are|can|will|must|may)\s")


class WhatHappensCase(_QuestionRule):
    """A "What happens ...?" question asks how the product behaves in some case: the answer
    must tell of one, and the question must name it. Measured on the demo: "What happens to
    deleted datasets?" of "When a dataset exceeds the versions kept limit, the oldest versions
    ... are deleted first". Of an answer with no case, SmolLM2 copied its worked example's
    opening: "What happens to access in tidewell?" of "Access in Tidewell is granted per
    project.", "What is the result of the Tidewell REST API?" of "... is served at `https://...`"
    (held-out tidewell site: with WhatHappensTo, 5 of the 20 pairs a reader rejects there)."""

    name = "what_happens_case"

    def problem(self, asked: _Asked) -> Rejection | None:
        if not re.match(r"what\s+happens\b", asked.question, re.I):
            return None
        sentence = sentence_of(asked.answer).strip()
        narrowed = _NARROWED.match(sentence)
        if (
            narrowed
            and _names_narrowing(sentence[narrowed.start("case") :], asked.words)
            and _done_to_narrowed(sentence)
        ):
            return None
        case = _CASE_MARKER.search(sentence)
        if case is None:
            # What befalls a named thing is WhatHappensTo's to judge.
            if _HAPPENS_TO.match(asked.question) or _tells_what_happens(sentence, asked):
                return None
            return "off_target", "asks what happens, but the answer names no case it happens in"
        clause = re.split(r"[,;:.]", sentence[case.end() :], maxsplit=1)[0]
        # Less the page's subject (its title and top heading), which names no case; a section's
        # heading can ("two different regions" of "... only work when both workspaces are in
        # the same region", under "Supported regions"). Less the case's first word, what it
        # befalls: "What happens to an HTTP request?" of "When a request fails, the API returns
        # ..." does not ask about a failure (held-out tidewell site).
        words = content_words(clause)
        # "when you leave the team": the case befalls "you", and its first content word is the event.
        pronoun = re.match(r"\s*(?:you|i|we|they|it|someone|anyone)\b", clause, re.I)
        event = words if pronoun else words[1:] or words
        if not asked.words & _fold(event) - asked.subject_words:
            return "off_target", f"asks what happens, but not in the case the answer is about ({clause.strip()[:60]!r})"
        return None


def _names_narrowing(narrowing: str, asked_words: set[str]) -> bool:
    """Whether a question names the case its answer's subject is narrowed to ("Datasets reported
    for infringement are made private ..."): the narrowing's first word says how ("reported",
    "larger"; "start" of "Commands that start a long-running job ...", which "What happens to a
    long-running job?" does not ask)."""
    clause = re.split(r"[,;:.(]", _NARROWING_END.split(narrowing, maxsplit=1)[0])[0]
    how = _fold(content_words(clause)[:1])
    return not how or bool(how & asked_words) or any(_kin(word, asked_words) for word in how)


def _done_to_narrowed(sentence: str) -> bool:
    """Whether a subject narrowed to some of its kind has something happen to it: "Requests
    without one are rejected", not "A backup that has never been restored is only a hope"
    (held-out tidewell site; the deed in the narrowing does not count)."""
    narrowed = _NARROWED.match(sentence)
    if narrowed is None:
        return False
    rest = sentence[narrowed.start("case") :]
    verb = _NARROWING_END.search(rest)
    said = rest[verb.start() :] if verb else sentence
    return bool(_happening(said) or _CASE_MARKER.search(said) or _TIMING.search(said))


def _tells_what_happens(sentence: str, asked: _Asked) -> bool:
    """Whether an answer tells what happens: in a case, to a subject narrowed to some of its
    kind, at some time ("..., before they are written anywhere"), or a deed done to its subject
    or by it ("Old logs are deleted every night.", "The CLI reports ...") that the question does
    not already name ("What happens to an ID returned in the header?" of "The same ID is
    returned in the header ...": a circle)."""
    if _CASE_MARKER.search(sentence) or _done_to_narrowed(sentence) or _TIMING.search(sentence):
        return True
    happening = _happening(sentence)
    return bool(happening) and not happening & asked.words


_LEADING_CASE = re.compile(r"^(?:when|whenever|if|after|once|unless|until|while|before)\b[^,]{0,120},\s*", re.I)


def _opening_words(answer: str, count: int) -> set[str]:
    """The content words of the answer sentence's first `count` words, past a leading case
    ("When all GPUs of a type are busy, new sessions wait ..."): its subject, roughly."""
    sentence = _LEADING_CASE.sub("", sentence_of(answer).strip())
    return _fold(content_words(" ".join(sentence.split()[:count])))


# Where a subject ends: its verb, or an adverb before it ("The `/fail` ping now accepts ...").
_SUBJECT_END = re.compile(
    r"\s(?:is|are|was|were|can|cannot|will|must|may|might|should|has|have|had|does|do|did|now|only|never|always)\s",
    re.I,
)


def _subject_words(answer: str) -> set[str]:
    """The content words of the answer sentence's subject, past a leading case, where its verb
    is found within the first ten words; else those of its first eight words (_opening_words)."""
    sentence = _LEADING_CASE.sub("", sentence_of(answer).strip())
    end = _SUBJECT_END.search(sentence)
    if end is None or len(sentence[: end.start()].split()) > 10:
        return _opening_words(answer, 8)
    return _fold(content_words(sentence[: end.start()]))


def _asked_about(form: re.Pattern[str], question: str) -> tuple[str, set[str]] | None:
    """What a question of `form` asks about: its X as written, and X's words less those that
    only ask ("What does X do?"); None when the question is not of that form or names nothing."""
    match = form.match(question)
    if not match:
        return None
    words = _fold(content_words(match["x"])) - _QUESTION_WORDS
    return (match["x"], words) if words else None


# A participle of something done ("truncated", "billed", "thrown"); not "used", which says what
# a thing is for ("is used to sign").
_DONE = r"(?!used\b)\w+(?:ed|en|wn)\b"
_WHAT_DOES_DO = re.compile(r"^what\s+does\s+(?P<x>.+?)\s+do\?$", re.I)
# "X is a/the ..." says what X is; "X is/are ...ed" what is done to X ("are billed by ...").
_IS_NOT_DOES = re.compile(rf"^\s*(?:is|are|was|were)\s+(?:(?:an?|the)\s|(?:\w+ly\s+|also\s+|only\s+)?{_DONE})", re.I)


class WhatDoesDo(_QuestionRule):
    """A "What does X do?" question wants what X does: X must be the answer's subject, and the
    answer must say what X does, not what it is or what is done to it. Measured on the
    larkspur site's kept pairs (tests/data/larkspur_kept_labels.jsonl): "What does a Larkspur
    plan do?" of "Larkspur is sold in three plans.", "What does a boolean flag do?" of a command
    that sets a boolean flag's rule, "What does a context do?" of "A context is the thing a flag
    is evaluated for ..."; 10 of the 23 pairs a reader rejects there."""

    name = "what_does_do"

    def problem(self, asked: _Asked) -> Rejection | None:
        about = _asked_about(_WHAT_DOES_DO, asked.question)
        if about is None:
            return None
        written, x = about
        if re.search(r"\b(?:command|option)\b", written, re.I) and "`" in asked.answer:
            # "What does the sign in command do?" of "Run `shale login` to open a browser window
            # and sign in.": a command named by what it does, and the answer runs it.
            return None
        words = sentence_of(asked.answer).split()
        if not x <= _opening_words(asked.answer, 5):
            return "off_target", f"asks what {written!r} does, but the answer is about {' '.join(words[:6])!r}"
        last = max(i for i, word in enumerate(words[:6]) if _fold(content_words(word)) & x)
        between = [w for word in words[: last + 1] for w in _fold(content_words(word)) if w not in x]
        if between:
            # X's words are split by another: "What does a Tidewell snapshot do?" of "Tidewell
            # takes snapshots on a schedule ..." asks about the object (held-out tidewell site).
            return "off_target", f"asks what {written!r} does, but the answer is about {' '.join(words[:3])!r}"
        if _IS_NOT_DOES.match(" ".join(words[last + 1 :])):
            return "off_target", f"asks what {written!r} does, but the answer says what it is or what is done to it"
        return None


_WHAT_DOES_MEAN = re.compile(r"^what\s+does\s+(?P<x>.+?)\s+mean\?$", re.I)
# What a sign, a code or a term stands for: "`5xx` codes mean something went wrong", "a grey tick
# ... means the recipient has not opened it".
_MEANING = re.compile(r"\b(?:means?|meant|stands?\s+for|indicates?|signals?|shows?\s+that|tells?\s+you)\b", re.I)


class WhatDoesMean(_QuestionRule):
    """A "What does X mean?" question wants what X stands for: the answer must say what
    something means, or what X is. Measured on the held-out quillmark site: "What does annual
    billing mean?" of "Annual billing is 20% cheaper than monthly billing on ...", a price."""

    name = "what_does_mean"

    def problem(self, asked: _Asked) -> Rejection | None:
        match = _WHAT_DOES_MEAN.match(asked.question)
        if not match or _MEANING.search(asked.answer) or defines(match["x"], asked.answer)[0]:
            return None
        return "off_target", f"asks what {match['x']!r} means, but the answer says no meaning"


_WHICH = re.compile(r"^which\s+(?P<rest>.+?)\?$", re.I)
# What a question names as written in the product: `snapshot create`, project.workspace, --gpu.
_CODE_TOKENS = re.compile(r"`[^`]*`|\S+\.\S+|(?<!\S)-\S+")


class WhichForm(_QuestionRule):
    """A "Which ...?" question picks one of a kind of thing: it must name the kind, not ask
    "Which is X?", and not name the kind again as what it asks about ("Which browser do you
    need to sign in a browser?"), nor end in "what". Measured on the held-out quillmark and
    tidewell sites' kept pairs: 5 questions, all rejected by a reader ("Which is the Tidewell
    agent?", "Which command does the `snapshot create` command use to create a snapshot?",
    "Which codes are in the 5xx error code?")."""

    name = "which_form"

    def problem(self, asked: _Asked) -> Rejection | None:
        match = _WHICH.match(asked.question)
        if match is None:
            return None
        rest = match["rest"]
        if re.match(r"(?:is|are)\b", rest, re.I) and not re.search(r"\bor\b", rest, re.I):
            return "off_target", "asks which, but names no kind of thing to pick from"
        if re.search(r"\bwhat$", rest, re.I):
            return "off_target", "asks which and what at once"
        # The kind is in the first two content words ("Which Python version ..."); past them, a
        # product's own names do not count ("Which workspace ... when project.workspace is not set?").
        words = [next(iter(_fold([word]))) for word in content_words(_CODE_TOKENS.sub(" ", rest))]
        again = {word for i, word in enumerate(words[:2]) if word in words[i + 1 :]}
        if again:
            return "off_target", f"names the kind it picks from ({', '.join(sorted(again))}) as what it asks about"
        return None


_HAPPENS_TO = re.compile(
    # A case after X starts with a word of its own: not the "on" of "an on-call engineer".
    r"^what\s+(?:happens|happened)\s+to\s+(?P<x>.+?)(?:\s+(?:when|if|after|once|before|during|while|in|on|with)\s.*)?\?$",
    re.I,
)
# Something done to the subject ("are truncated", "is never sent"), or a change it goes through.
_UNDERGOES = re.compile(
    rf"\b(?:is|are|was|were|be|been|gets?)\s+(?:\w+ly\s+|never\s+|not\s+|only\s+|also\s+)?{_DONE}"
    r"|\b(?:becomes?|waits?|moves?|expires?|resets?|turns?\s+into)\b",
    re.I,
)
# Done to a thing, but saying how it is set up rather than what befalls it: "Access in Tidewell
# is granted per project.", "The ... API is served at `https://...`", "the CLI is preinstalled".
_STANDING = re.compile(
    r"\b(?:granted|served|hosted|located|billed|priced|charged|included|listed|shown|named|called|based|"
    r"mounted|preinstalled|installed|authenticated|limited|required|supported|allowed|enabled|disabled|"
    r"defined|measured|metered|tied|scoped|returned|given|used|known|designed|meant|written)\b",
    re.I,
)


def _happening(sentence: str) -> set[str]:
    """The stems of what `sentence` says is done to its subject or befalls it, less how a thing
    merely stands ("is granted per project")."""
    deeds = (m.group(0) for m in _UNDERGOES.finditer(sentence) if not _STANDING.search(m.group(0)))
    behaviour = (m.group(0) for m in _BEHAVIOUR.finditer(sentence))
    return _fold(content_words(" ".join([*deeds, *behaviour])))


class WhatHappensTo(_QuestionRule):
    """A "What happens to X?" question wants what befalls X: X must be the answer's subject,
    and the answer must tell of something done to it, a change, or a case, not how it merely
    stands ("What happens to access in tidewell?" of "Access in Tidewell is granted per
    project.", held-out tidewell site). Measured on the larkspur site's kept pairs: "What
    happens to a webhook?" of "A webhook sends an HTTP POST request ...", "What happens to a
    machine that uses Larkspur?" of "Larkspur uses two kinds of credential for machines."; 4 of
    the 23 pairs a reader rejects there."""

    name = "what_happens_to"

    def problem(self, asked: _Asked) -> Rejection | None:
        about = _asked_about(_HAPPENS_TO, asked.question)
        if about is None:
            return None
        written, x = about
        sentence = sentence_of(asked.answer)
        # Not a word after the subject: "What happens to an on-call engineer during an incident?"
        # of "The Operator role is designed for on-call engineers ..." (held-out belfry site).
        # The case's words count: "What happens to a notebook that someone else copies?" of
        # "Secret values ... are not available when someone else copies your notebook."
        case = _CASE_MARKER.search(sentence)
        case_words = _fold(content_words(sentence[case.end() :])) if case else set()
        if not x & (_subject_words(asked.answer) | case_words):
            return "off_target", f"asks what happens to {written!r}, but the answer is about something else"
        if not _tells_what_happens(sentence.strip(), asked):
            return "off_target", f"asks what happens to {written!r}, but the answer tells of nothing happening"
        if _tells_the_case_itself(written, sentence):
            return "off_target", f"asks what happens to {written!r}, but the answer tells of the case, not what follows"
        return None


def _tells_the_case_itself(written: str, sentence: str) -> bool:
    """Whether the answer's own verb is the case the question takes for granted: "What happens to
    a job that fails?" of "Jobs fail for reasons that have nothing to do with your code: ..."
    (held-out belfry site), not "Attachments that exceed 25 MB are uploaded ..."."""
    relative = re.search(r"\b(?:that|which|who)\s+(\w+)", written, re.I)
    if relative is None:
        return False
    verb = _fold(content_words(relative[1]))
    for word in re.finditer(r"\S+", sentence):
        said = _fold(content_words(word.group(0)))
        if said and said <= verb:
            # Inside a clause of its own ("Attachments that exceed ...", "When a job fails, ...").
            return not _IN_CLAUSE.search(sentence[: word.start()])
    return False


_IN_CLAUSE = re.compile(r"\b(?:that|which|who|when|if|once|after|unless|until)\b[^,;:.]*$", re.I)


# What the answer denies: "nothing here requires a payment method", "fails at start-up
# instead of being ignored". Not "no" or "without": they deny a thing, not what the question
# says of it ("Why does the first build take minutes?" of "..., because no build cache exists").
_DENIED = re.compile(r"\b(?:not|nothing|never|instead\s+of|cannot|\w+n't)\s+((?:\w+\s+){0,2}\w+)", re.I)


class WhyDenied(_QuestionRule):
    """A "Why ...?" question takes for granted what it asks about; the answer must not deny it.
    Measured on the larkspur site's kept pairs: "Why is a misspelled option ignored?" of "...,
    so a misspelled option fails at start-up instead of being ignored", "Why does the Growth
    plan require a payment method?" of "..., so nothing here requires a payment method"; 3 of
    the 23 pairs a reader rejects there."""

    name = "why_denied"

    def problem(self, asked: _Asked) -> Rejection | None:
        if not re.match(r"why\b", asked.question, re.I) or re.search(
            r"\b(?:not|never|no)\b|n't\b", asked.question, re.I
        ):
            return None
        for denied in _DENIED.finditer(sentence_of(asked.answer)):
            words = _fold(content_words(denied.group(1)))
            if words & asked.words or any(_kin(word, asked.words) for word in words):
                return "off_target", f"asks why, but the answer says {denied.group(0)!r}"
        return None


class HowToSteps(_QuestionRule):
    """A "How do I ...?" question wants steps, and asks for the task they are for. Measured
    on the demo: "How do I select a new organization?" of "Select New → Organization, ...":
    the question copies the click, not the task it is for."""

    name = "how_to_steps"

    def problem(self, asked: _Asked) -> Rejection | None:
        if not _HOW_TO_RE.match(asked.question):
            return None
        asked_to = _HOW_TO_RE.sub("", asked.question).strip()
        ui = _UI_VERB.match(asked_to)
        if ui:
            return "off_target", f"asks how to {ui.group(0).lower()} something, not what the steps are for"
        if not gives_steps(asked.answer):
            return "off_target", "asks how to do something, but the answer gives no step, menu path or command"
        # "How do I run the command `tidewell <command>`?" of "Run `tidewell <command> --help` for
        # the complete list.": the question repeats the step and drops what it is for (held-out
        # tidewell site).
        answer = asked.answer.strip()
        # What the step is for: "... for the complete list", "...: it prints the canonical request".
        purpose = re.search(r"\s(?:to|for|so\s+that)\s|:\s+(?:it|this|that)\s", answer)
        task = _CODE_TOKENS.sub(" ", asked_to).strip()
        # The step's words, its command's too: "How do I run the belfry command?" of "Run
        # `belfry help <command>` for the same information offline." (held-out belfry site).
        if (
            _IMPERATIVE.match(answer)
            and purpose
            and re.match(r"(?:run|use|execute|call|type)\b", task, re.I)
            and not _fold(content_words(task)) - _fold(content_words(answer[: purpose.start()])) - {"command"}
        ):
            return "off_target", "asks how to take the step the answer gives, not what it is for"
        return None  # how to do the page's task ("Starting a survey"), answered with its steps


class PageSubjectOnly(_QuestionRule):
    """A question about only the page's subject ("How does the REST API work?" of one sentence
    of the REST API page) does not need this answer. "What is X?" and "How do I ...?" are
    left to their own rules: asked of the answer's subject, or answered with steps, they are
    specific whatever the page."""

    name = "page_subject_only"

    def problem(self, asked: _Asked) -> Rejection | None:
        if _WHAT_IS_RE.match(asked.question) or _HOW_TO_RE.match(asked.question):
            return None
        # The page's subject is its title and top heading: a section's own heading ("Signing in")
        # is as specific as the answer under it ("What does the sign in command do?" of "Run
        # `shale login` to open a browser window and sign in." was dropped).
        if not (asked.words & asked.answer_words) - asked.subject_words:
            return "off_target", "the question names only the page's subject, nothing of its answer"
        return None


# In this order: the first that fails names the problem.
QUESTION_FORM: tuple[PairFilter, ...] = (
    CopiedExample(),
    ForeignWords(),
    WhatIsDefinition(),
    WhyReason(),
    WhyDenied(),
    WhatHappensCase(),
    WhatHappensTo(),
    WhatDoesDo(),
    WhatDoesMean(),
    WhichForm(),
    HowToSteps(),
    PageSubjectOnly(),
)


def question_problem(question: str, answer: str, title: str, heading_path: list[str]) -> tuple[str, str] | None:
    """The first of the QUESTION_FORM rules the question fails for its answer, or None."""
    from docs2qa.generation.qa.config import GenerateConfig

    pair = candidate_of(question, answer, title=title, heading_path=heading_path, strategy="answer_first")
    apply(QUESTION_FORM, [pair], FilterContext(GenerateConfig()))
    return pair.failure


def could_answer(question: str, sentence: str) -> bool:
    """Whether a sentence has the form the question asks for: steps for "How do I ...?", a
    definition for "What is X?", a reason for "Why ...?"; any sentence for other questions."""
    if _HOW_TO_RE.match(question):
        return gives_steps(sentence)
    what_is = _WHAT_IS_RE.match(question)
    if what_is:
        return defines(what_is["x"], sentence)[0]
    if re.match(r"why\b", question, re.I):
        return bool(_REASON.search(sentence))
    return True


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

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        # "What is X?" of a definition of X is on target by its words (WhatIsDefinition): a short
        # question and a long definition embed apart. Measured: "What is a package?" of
        # "Packages are Python libraries published on Corvid Hub." had cosine 0.37.
        what_is = _WHAT_IS_RE.match(canonical_form(candidate.question.strip()))
        if what_is and defines(what_is["x"], candidate.answer)[0]:
            return None
        return super().check(candidate, context)

    def fit(self, others: list[str], cosines: np.ndarray, context: FilterContext) -> Rejection | None:
        threshold = context.cfg.gates.min_qa_similarity
        if cosines[0] < threshold:
            return (
                "off_target",
                f"question-answer cosine {cosines[0]:.2f} < generate.gates.min_qa_similarity={threshold}",
            )
        return None


class ClosestSentence(_AnswerFirstRule):
    """The answer is the sentence of the chunk closest to the question (by embedding cosine)
    among those that could answer it. Measured on the sites written for labelling dropped
    pairs: 4 of its 11 drops were pairs a reader keeps."""

    name = "closest_sentence"

    def prepare(self, candidates: list[Candidate], context: FilterContext) -> None:
        # The spans each question of a chunk was asked of, among pairs still in the running.
        asked: dict[tuple[str, str], set[str]] = {}
        for candidate in candidates:
            if candidate.unit.strategy == "answer_first" and not candidate.failures:
                key = (candidate.unit.chunk.chunk_id, candidate.question.strip())
                asked.setdefault(key, set()).add(candidate.answer)
        context._memo[self, "asked"] = asked

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        embed = context.embed
        if candidate.unit.strategy != "answer_first" or embed is None:
            return None
        others, cosines = context.once(candidate, "answer_first_cosines", lambda: _cosines(candidate, embed))
        # Only a sentence that could answer the question competes: measured on the sites written
        # for labelling dropped pairs, "How do I check that the shale command line tool works?"
        # of "Run `shale version` to check that it works." was dropped for the closer
        # "`shale` is the command line tool for Shalebase.", which gives no step.
        question = canonical_form(candidate.question.strip())
        # A sentence the same question was also asked of is no rival: that is a repeat, and the
        # repeats' best is kept by assemble (duplicate_exact). Measured: "How do I create a new
        # access key?" of the command line way was dropped for the menu path it was also asked of.
        repeats = context._memo.get((self, "asked"), {}).get(
            (candidate.unit.chunk.chunk_id, candidate.question.strip()), set()
        )
        rivals = [i for i, other in enumerate(others) if could_answer(question, other) and other not in repeats]
        if rivals:
            best = max(rivals, key=lambda i: cosines[i + 1])
            if cosines[best + 1] > cosines[0]:
                return "off_target", f"another sentence of the chunk fits the question better: {others[best][:80]!r}"
        return None


OFF_TARGET: tuple[PairFilter, ...] = (*QUESTION_FORM, NearAnswer(), ClosestSentence())
