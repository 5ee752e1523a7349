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
from collections.abc import Sequence
from typing import TYPE_CHECKING

from docs2qa.generation.qa.prompts import _hash

if TYPE_CHECKING:
    pass

TYPES = ("factual", "procedural", "conceptual")
SELECTOR_VERSION = "11"  # bump when span picking changes: units are then generated anew

_LINK_RE = re.compile(r"!\[[^\]]*\]\([^)]*\)|\[([^\]]*)\]\([^)]*\)")
_EMPHASIS_RE = re.compile(r"\*\*|__|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])")
_LIST_RE = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z`*(\"])")
_DANGLING = re.compile(r"^(?:this|it|they|these|that|those|such|there|here|also|then)\b", re.I)
# ... or after a short opening phrase: "For MySQL, it reads the binary log ..." (held-out tidewell site).
_DANGLING_AFTER = re.compile(
    r"^(?:for|in|on|with|without|by|after|before)\s[^,]{1,40},\s+(?:it|they|this|these)\s", re.I
)
# "they", "them" or "their" in a span that names nothing they could be: no plural before them,
# no two things joined, no person ("The role decides what they can do there.", held-out tidewell
# site; "If they take about 30 seconds, ..."). A menu path names them: "Create them under
# Settings → Access tokens." asks how to create access tokens.
_THEY = re.compile(r"\b(?:they|them|their)\b", re.I)
_MANY = re.compile(
    r"\b(?!(?:has|was|does|this|its|thus|plus|yes|always|perhaps|whereas|unless)\b)[a-z][\w-]*[^s\W]s\b|\band\b"
    r"|\b(?:member|user|person|people|someone|anyone|everyone|owner|admin\w*|customer|signer|recipient|"
    r"developer|participant|who|each|every)\b",
    re.I,
)
# The verb after a singular subject ends in "s" too: "The role decides".
_SINGULAR_SUBJECT = re.compile(r"^(?:the|a|an)\s+[\w-]+\s+[a-z]+s\b", re.I)


def _points_outside(prose: str) -> bool:
    they = _THEY.search(prose)
    if they is None or "→" in prose:
        return False
    return not _MANY.search(_SINGULAR_SUBJECT.sub("", prose[: they.start()]))


# A purpose that points elsewhere: "To do either, create a new bucket ..." (held-out skerry site:
# asked "How do I create a new bucket?", which the steps for "either" do not answer).
_POINTED_PURPOSE = re.compile(r"^to\s+do\s+(?:either|both|this|that|so|it)\b", re.I)
# A sentence that only counts what the list after it names: "Most teams use Skerry for one of
# three things" (held-out skerry site: asked "Which of the three is Skerry?"); not "A token has
# one of two roles.", a fact.
_COUNTS_WHAT_FOLLOWS = re.compile(
    r"\b(?:one|some|any|each|all|either)\s+of\s+(?:the\s+)?(?:two|three|four|five|six|several|these|those)"
    r"(?:\s+(?:things|ways|reasons|purposes|uses|cases|tasks))?\s*[.:]?$",
    re.I,
)
# Pointers into the rest of the page, anywhere in the span ("pick a topic below").
# "Results appear below the editor" is a place on the screen, not a pointer.
_POINTER = re.compile(
    r"\b(?:on|of|with|by) (?:it|them)\b|\b(?:below|above)\b(?!\s+(?:the|a|an|your|its|each|every)\s)", re.I
)
# A type that finds no span of its own hands its slot to another type's next span, but only
# to one that scores at least this (a name, a number, a setting): a span no type values is
# worse than no pair.
FALLBACK_MIN_SCORE = 1.0
_IMPERATIVE = re.compile(
    r"^(?:select|click|run|open|add|set|use|install|create|invite|pick|choose|go|enter|"
    r"type|press|upload|download|attach|pin|call|send|pass|replace|start|stop|sign|generate|"
    # Found on the Lanternfish fixture pages: "Flush the chamber ...", "Check that the tool ...".
    r"flush|check|restart|recalibrate|remove|delete|edit|save|copy|move|update|upgrade|configure|enable|"
    r"disable|connect|export|import|follow|"
    # Found on the fixture sites written for labelling dropped units: "Wait for the reset ...",
    # "Ask for a higher quota ...", "Declare the schema ...".
    r"wait|ask|contact|declare|split|paste|rotate|scale|retry|resume|deploy|publish|request|revoke|rename|"
    r"grant|schedule|specify|make sure|try)\b"
    # A label, not an instruction: "Type: boolean." on an option's entry in a CLI reference.
    r"(?!:)"
    # Not a noun that starts a statement: "Export formats are ...", "Deploy tokens are ...".
    r"(?!\s+(?:[\w-]+\s+)?(?:is|are)\b)",
    re.I,
)
_TO_CLAUSE = re.compile(r"^to\s[^,]{3,80},\s*", re.IGNORECASE)
# `acme orgs list`, not a lone name like `acme`, nor the ", " between two names (`eu-west`, `us-east`):
# code spans are read in pairs from the start.
_COMMAND = re.compile(r"^(?:[^`]*`[^`]*`)*?[^`]*`[^`]*\s[^`]*`")
# "X is ...", "Xs are ...": a sentence saying what something is; a command in it is named, not run.
_COPULA_START = re.compile(r"^[^,;:]{2,60}?\s(?:is|are)\s", re.I)
_SETTING = re.compile(
    r"\b(?:default|limit|limited|maximum|minimum|at most|at least|up to|expire|expires|must|"
    r"only|never|always|required|per|every|after|before|within)\b",
    re.I,
)
_CONCEPT = re.compile(
    r"\b(?:because|so that|which means|means|is an?|are|lets?|allows?|instead of|unless|"
    # What a thing is for, and what it is called: "It is meant for prototypes ...", "a backup copy called surveys.bak".
    r"(?:meant|used|designed|intended) (?:for|to)|called|named)\b"
    r"|,\s+so\s"  # "..., so a Viewer who opens the editor sees no tables": a consequence
    # "A key is tied to one workspace: it cannot read ...": a statement and what it means.
    r"|\w[:;]\s+(?:it|they|this|that|these|an?|the|anyone|every|each|no)\s",
    re.I,
)
# A case a sentence is about ("when", "if"), not a time ("expire after 365 days").
_CASE = re.compile(r"\b(?:when|whenever|if|unless|once)\b", re.I)
# What the product does in some case ("Unknown settings stop the loader ..."): a fact to ask about.
_BEHAVIOUR = re.compile(
    r"\b(?:stops?|fails?|retries|retried|rejects?|refuses?|refused|returns?|raises?|reports?|restarts?|"
    r"restarted|redirects?|revokes?|revoked|queued?|skips?)\b",
    re.I,
)
# What a thing holds or names ("It names the gauge, its datum offset ..."): a fact to ask about.
_HOLDS = re.compile(r"\b(?:names|holds|contains|lists|includes|stores|records)\b", re.I)
# Where in the UI something is done ("... can be moved ... from its Settings tab"): with "can be
# ...ed" or "you can", a one-step how-to.
_UI_PLACE = re.compile(
    r"\b(?:from|in|under|on|via)\s+(?:the\s+|its\s+|your\s+|their\s+)?(?:[A-Z][\w-]*\s+){1,3}"
    r"(?:tab|page|menu|panel|screen|dialog|section|button)\b"
)
_CAN = re.compile(r"\b(?:can be \w+ed|you can)\b", re.I)
_NAME = re.compile(r"(?<=\s)[A-Z][a-zA-Z0-9]+")
# A labelled value ("Default: every station in the data folder."), as an option's entry in a CLI
# reference gives it: a fact about the option the page label names, not an explanation. (Not any
# "X: ...": a glossary's "Secrets: named values that ..." is a definition.)
_LABEL = re.compile(r"^(?P<label>default|type):\s", re.I)


def _clean(text: str) -> str:
    text = _LINK_RE.sub(lambda m: m.group(1) or "", text)
    text = _EMPHASIS_RE.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def _code_lines(block: str) -> list[str]:
    lines = block.strip("`\n").split("\n")[1:] if block.startswith("```") else []
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


# A sentence before a list that is a statement of its own: eight words or more, none that
# only announces the list ("the following", "these", "as follows", "include", "such as").
_STATEMENT_BEFORE_LIST = re.compile(
    r"^(?!.*\b(?:following|these|those|below|above|as follows|includes?|including|such as|like|e\.g|for example|"
    r"here|options?|steps?|ways?)\b)(?:\S+\s+){7,}\S+:$",
    re.I,
)


# A code block longer than this is a listing to read, not an answer to a question.
MAX_CODE_LINES = 12


def candidates(text: str) -> list[str]:
    """Sentences and list items of the chunk, markup removed, in order. A sentence that
    introduces a code block ("Install the CLI with Homebrew:" before ```brew install ...```)
    takes the block along, fenced as the docs show it: on a CLI or API page the command or
    snippet is the substance, and the sentence says what it is for. Table rows are not
    answers: an answer is its own evidence, and evidence must be found verbatim in the chunk,
    which a row rewritten as a sentence is not (measured: both such pairs dropped as
    evidence_not_in_chunk)."""
    spans: list[str] = []
    # A fence may be indented under a list item (a step's command): it is code all the same.
    pieces = re.split(r"(^[ \t]*```.*?^[ \t]*```[^\n]*$)", text, flags=re.DOTALL | re.MULTILINE)
    for index, piece in enumerate(pieces):
        if piece.lstrip(" \t").startswith("```"):
            continue
        following = pieces[index + 1] if index + 1 < len(pieces) else ""
        for block in re.split(r"\n\s*\n", piece):
            lines = [line for line in block.splitlines() if line.strip()]
            if not lines or lines[0].lstrip().startswith(("#", "|", "![", ">")):
                continue
            if all(_LIST_RE.match(line) for line in lines):
                if spans and spans[-1].endswith(":") and _STATEMENT_BEFORE_LIST.match(spans[-1]):
                    # "A key's scope limits what it can do, whatever the role ...:" says
                    # something itself; "The formats below are:" only points at its list.
                    spans[-1] = spans[-1][:-1]
                spans.extend(_item_span(line) for line in lines)
                continue
            if not _LINK_RE.sub("", " ".join(lines)).strip(" .,;:|·-"):
                # Links and nothing else, a hero's buttons ("Start the quickstart Read the CLI
                # reference", held-out belfry site): nothing is said.
                continue
            spans.extend(_mixed_block_spans(lines))
        block = following.strip()
        if not 1 <= len(_code_lines(block)) <= MAX_CODE_LINES:
            continue
        if spans and spans[-1].endswith(":"):
            spans[-1] = f"{spans[-1]}\n\n{block}"
        elif _under_heading(piece) and _USAGE.search(block):
            spans.append(block)
    return [s for s in spans if s and not s.endswith(":")]


# A list item that names a thing before saying something of it: "An email address you can read.
# In the sandbox, signing emails are delivered only to ...": a few words, no verb of their own.
_ITEM_LABEL = re.compile(
    r"^(?i:an?|the|your|one)\s(?![^.]*\s(?:is|are|was|has|have|must|will|should)\s)(?:\S+\s){0,6}\S+[.]\s+(?=[A-Z`])"
)


def _item_span(item: str) -> str:
    """A list item's text, its marker and markup removed, without its label sentence
    (_ITEM_LABEL): asked about whole, the label took the question ("What happens to an email
    address you can read?", held-out quillmark site)."""
    text = _clean(_LIST_RE.sub("", item))
    label = _ITEM_LABEL.match(text)
    return text[label.end() :] if label else text


def _mixed_block_spans(lines: list[str]) -> list[str]:
    """The spans of a block of prose lines with list items among them, as Markdown allows with
    no blank line between: "   To restore a point in time instead, replace ...`.\n3. Connect to
    the restored server ..." read as one paragraph gave the answer "... replace `--snapshot` with
    `--source orders-prod ...`. 3." (held-out tidewell site). An item runs on over the indented
    lines after it."""
    runs: list[list[str]] = []
    for line in lines:
        if _LIST_RE.match(line) or not runs or (runs[-1][0] == "item" and not line[:1].isspace()):
            runs.append(["item" if _LIST_RE.match(line) else "prose"])
        runs[-1].append(line)
    spans: list[str] = []
    for kind, *run in runs:
        text = " ".join(run)
        spans.extend([_item_span(text)] if kind == "item" else _SENTENCE_RE.split(_clean(text)))
    return spans


def _under_heading(piece: str) -> bool:
    """The text before a code block ends with a heading: the block is the section's substance
    ("## Synopsis" then the command's usage line, as CLI references write it), and the page
    label (title > heading) says what it is for. Only usage lines are taken (candidates): an
    example under a heading ("acme login" under "Signing in") took the demo's how-to slot from
    sentences whose questions the knowledge protocol had kept."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", piece) if block.strip()]
    return bool(blocks) and blocks[-1].startswith("#") and "\n" not in blocks[-1]


def sentence_of(span: str) -> str:
    """The span's sentence without the code block it introduces ("" for a block under a heading)."""
    return "" if span.startswith("```") else span.split("\n\n```", 1)[0]


def _subject_words(span: str) -> set[str]:
    """The content words a sentence starts with (its subject, roughly: "A key's scope ...")."""
    from docs2qa.generation.qa.keep.gates import content_words

    return set(content_words(" ".join(span.split()[:4])))


def headings_of(text: str) -> list[set[str]]:
    """The content words of each heading of a chunk (its title and sections)."""
    from docs2qa.generation.qa.keep.gates import content_words

    found = (set(content_words(line.lstrip("#"))) for line in text.splitlines() if line.startswith("#"))
    return [words for words in found if words]


def section_seconds(text: str) -> set[str]:
    """The second sentences of sections that start "It ..." or "They ...": they go on about
    what the section's first sentence introduced ("Every station is described by a short file
    named station.toml. It names the gauge, ..."), which the question can name from the page
    label. Measured on the sites written for labelling dropped units: 2 of 3 sentences a reader
    would ask about and no type took. Not after a first sentence that gives a value ("The current
    version is 3.1.0. It requires Node.js 18 or later"): "It" is then the page's product, which
    the question cannot name (on the held-out quillmark site SmolLM2 asked "What does Node.js
    do?" and "What does Python 3.9 require?", 4 of the 21 pairs a reader rejected)."""
    seconds = set()
    for section in re.split(r"^#{1,6}\s.*$", text, flags=re.M):
        first = next((block for block in re.split(r"\n\s*\n", section) if block.strip()), "")
        lines = [line for line in first.splitlines() if line.strip()]
        if not lines or lines[0].lstrip().startswith(("```", "|", "![", ">")) or _LIST_RE.match(lines[0]):
            continue
        sentences = _SENTENCE_RE.split(_clean(" ".join(lines)))
        goes_on = len(sentences) > 1 and re.match(r"(?:it|they)\b", sentences[1], re.I)
        if goes_on and not _GIVES_VALUE.match(sentences[0]):
            seconds.add(sentences[1])
    return seconds


# "The current version is 3.1.0.", "The limit is 100 requests per minute.": a value, not a thing
# a next sentence could go on about.
_GIVES_VALUE = re.compile(r"^[^,;:]{2,60}?\s(?:is|are)\s+(?:`|\$|v?\d)")
# A sentence that says something of its subject: "A workspace is ...", "Results can be shared ...".
_STATEMENT = re.compile(r"^[^,;:]{2,60}?\s(?:is|are|can|cannot|must|may|will|has|have)\s", re.I)


def page_lead(text: str) -> str:
    """The one-sentence summary a page opens with under its title, when it says nothing of its
    own: a list of what the page covers ("Plans, prices, envelope quotas, invoices and what
    happens when a payment fails."), or what the reader will do ("Send your first envelope in
    the sandbox in about ten minutes, ..."). Hugo Docsy renders a page's description there; the
    page's sentences say the same with the facts. On the held-out quillmark site every page
    opened so, and 7 of the 21 kept pairs a reader rejected asked about one ("How do I send a
    quickstart?"). A statement there ("A workspace is the unit of ownership ...") is content."""
    match = re.match(r"#\s[^\n]*\n\s*\n(?P<lead>(?:[^\n]+\n)+?)\s*\n\s*\S", text)
    if not match or match["lead"].lstrip().startswith(("#", "|", "![", ">", "```")) or _LIST_RE.match(match["lead"]):
        return ""
    sentences = _SENTENCE_RE.split(_clean(match["lead"]))
    if len(sentences) != 1 or _DEFINITION.match(sentences[0]) or _STATEMENT.match(sentences[0]):
        return ""
    return sentences[0]


def score(span: str, question_type: str, subjects: Sequence[set[str]] = (), second: bool = False) -> float:
    """How much a span is worth asking about, for one question type (higher is better).
    `subjects`: the content words of the chunk's headings (headings_of); `second`: the span is
    a section's second sentence, whose "It" is what the section is about (section_seconds)."""
    # A code block is read apart from the sentence that introduces it: its length is its own
    # (MAX_CODE_LINES), and an "if" or a digit inside it says nothing of the sentence's kind.
    prose = sentence_of(span)
    fenced = prose != span
    if not prose:
        # A usage line under a heading (candidates): how to run the page label's command, and a
        # fact's last resort.
        return {"procedural": 2.0, "factual": FALLBACK_MIN_SCORE}.get(question_type, -1.0)
    words = prose.split()
    instruction = _IMPERATIVE.match(prose) or _IMPERATIVE.match(_TO_CLAUSE.sub("", prose))
    # An instruction says enough in fewer words ("Press Ctrl+Enter to run it."); "Select Create." does not.
    shortest = 4 if question_type == "procedural" and instruction else 6
    if not shortest <= len(words) <= 45:
        return -1.0
    value = 0.0
    digits = bool(
        re.search(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand)\b", prose, re.I)
    )
    code = "`" in span
    arrows = "→" in prose
    if question_type == "factual":
        value += (
            2 * digits
            + 1.0 * code
            + 0.5 * len(_NAME.findall(prose)[:2])
            + len(_SETTING.findall(prose)[:2])
            + 0.5 * bool(_BEHAVIOUR.search(prose) or _HOLDS.search(prose))
        )
    elif question_type == "procedural":
        # Steps only: a command, a menu path, an instruction. A sentence that merely names a
        # tool (`acme`) or says "a way to run ..." was picked before and got "How do I ...?"
        # questions it cannot answer (measured on the demo: 4 of 5 procedural spans).
        runs = (fenced or bool(_COMMAND.search(prose))) and (bool(instruction) or not _COPULA_START.match(prose))
        ui_step = bool(_UI_PLACE.search(prose) and _CAN.search(prose))
        value += 2 * runs + 2 * arrows + 2 * bool(instruction) + bool(re.search(r"\byou can\b", prose)) + 2 * ui_step
    elif not fenced and not _LABEL.match(prose):  # an explanation is prose: a snippet answers how, not why
        # A case and what happens in it ("If a later row does not fit, the load stops ..."):
        # a "What happens ...?" question, which explains how the product behaves.
        value += (
            2 * bool(_CONCEPT.search(prose) or _DEFINITION.match(prose))
            + 1.5 * bool(_CASE.search(prose))
            + 0.5 * bool(re.search(r"\b(?:why|how)\b", prose, re.I))
        )
        # A sentence whose subject is what its section is about ("The inference API runs a
        # hosted model ..." under "Inference API"; "A key's scope limits ..." under "Scopes")
        # says what that thing is or does.
        starts = _subject_words(prose)
        value += 1.5 * any(words <= starts for words in subjects)
    if instruction and question_type != "procedural":
        # An instruction is asked "How do I ...?" whatever it was picked for (opening()): it
        # is a procedural answer, a fact's last resort and never an explanation.
        value = min(value, 0.5 if question_type == "factual" else 0.0)
    if _POINTED_PURPOSE.match(prose) or _COUNTS_WHAT_FOLLOWS.search(prose):
        return -1.0
    if (_DANGLING.match(prose) or _DANGLING_AFTER.match(prose) or _points_outside(prose)) and not second:
        # "It requires Python 3.9 or later.": a question cannot say what "It" is. Worth -2 before,
        # such a span still won a factual slot with its number, and SmolLM2 asked "What does
        # Python 3.9 require?" (the held-out quillmark site: 4 of 5 such pairs rejected).
        return -1.0
    if _POINTER.search(prose):
        value -= 2  # "pick a topic below": nothing a question could be about
    return value


def _order(question_type: str) -> int:
    return TYPES.index(question_type) if question_type in TYPES else len(TYPES)


def pick_answers(text: str, wanted: dict[str, int]) -> dict[str, list[str]]:
    """Up to `wanted[type]` distinct spans per question type; a span serves one type only.
    Types are served in turn, so one type cannot take every good span of a small chunk; in
    each turn the type with the fewest spans left chooses first (of two with as few, the one
    that values its best span more, then by TYPES): a span is worth most to the type that has
    no other. Served in a fixed order, factual took a chunk's one instruction (worth 0.5 to
    it) and procedural found none (measured on the sites written for labelling dropped units:
    5 of 17 false no_answer_span drops). A type left short (a page of limits has no steps)
    gives its slots to the other types' next spans of score >= FALLBACK_MIN_SCORE, so the
    chunk still yields as many pairs."""
    lead = page_lead(text)
    spans = [span for span in dict.fromkeys(candidates(text)) if span != lead]
    subjects = headings_of(text)
    seconds = section_seconds(text)
    taken: set[str] = set()
    picked: dict[str, list[str]] = {t: [] for t in wanted}
    worth = {(s, t): score(s, t, subjects, s in seconds) for s in spans for t in wanted}
    ranked = {t: sorted((s for s in spans if worth[s, t] > 0), key=lambda s: -worth[s, t]) for t in wanted}

    def need(question_type: str) -> tuple[int, float, int]:
        left = [s for s in ranked[question_type] if s not in taken]
        # A span a type values under FALLBACK_MIN_SCORE is its last resort, not a choice: a type
        # left with only those chooses after the others. Measured: factual took an instruction
        # with its SQL block (worth 0.5 to it, 4 to procedural) from the step it is for.
        solid = sum(worth[s, question_type] >= FALLBACK_MIN_SCORE for s in left)
        # Ties go by TYPES, not by the order of generate.questions_per_type's keys: served in that
        # order, a config written "conceptual, factual, procedural" lost a chunk's only step.
        return solid or len(spans) + 1, -worth[left[0], question_type] if left else 0.0, _order(question_type)

    for _ in range(max(wanted.values(), default=0)):
        for question_type in sorted(wanted, key=need):
            if len(picked[question_type]) >= wanted[question_type]:
                continue
            choice = next((s for s in ranked[question_type] if s not in taken), None)
            if choice is not None:
                taken.add(choice)
                picked[question_type].append(choice)
    short = sum(wanted.values()) - sum(len(spans) for spans in picked.values())
    spare = sorted(
        ((worth[s, t], t, s) for t in wanted for s in ranked[t] if s not in taken),
        key=lambda item: (-item[0], _order(item[1])),
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
# Verbs in "A X ...s" that say what a thing has or takes, not what it is for.
_NOT_WHAT_FOR = r"(?:is|has|was|does|uses|needs|requires|takes|gets)\b"
# "X is a ...", "Xs are (adjective) nouns ...", "A X does ...": a sentence that says what X is
# (not "Uploads are resumable", not "GPUs are shared by everyone").
_DEFINITION = re.compile(
    r"^(?:(?:an?\s+|the\s+)?[\w` -]{2,60}?\s(?:is\s+(?:an?|the)\s|are\s+(?:[\w-]+\s+)?[\w-]+s\b)"
    # "A survey collects readings ...", not "A backup that has never been restored is only a hope"
    # nor what a thing uses or needs ("A manual run uses the job's current definition ...").
    rf"|an?\s+[\w-]+(?:\s+(?!that\b|which\b|who\b)[\w-]+)?\s+(?!{_NOT_WHAT_FOR})[a-z]+s\s)",
    re.I,
)


SYNTAX = "What is the syntax of"
_LABEL_OPENINGS = {"default": "What is the default", "type": "What type of value"}
# What a usage line holds and an example does not: a placeholder or an optional part.
_USAGE = re.compile(r"<[\w .-]+>|\[-[^\]\n]+\]")

# A sentence that gives a reason ("so GPU use is measured ...", "is how you keep ..."): a "Why" question fits.
_REASON = re.compile(r"\b(?:because|since|so|therefore|thus|which means|in order to|is how|so that)\b", re.I)
# A sentence about what happens in some case: "What happens when/if ...?" fits.
_CONDITION = re.compile(r"\b(?:when|if|after|once|unless|until)\b", re.I)


# "Use an API key when your own backend calls ...": advice on when to do something, not how.
# Asked "How do I", SmolLM2 wrote "How do I use an API key?" and "How do I ask a lawyer?" (of "Ask
# your lawyer if you are unsure."), which the sentence does not answer (held-out quillmark site).
# The case must belong to the instruction itself, not to a clause after a comma ("Run every
# experiment for at least 7 days, even if results look clear earlier").
_WHEN_TO = re.compile(r"^[^,;:]+\s(?:when|if|unless|whenever)\s", re.I)


# "Quillmark supports two ways to authenticate API requests.": a count of things the sentence
# does not name (the sentences after it do). Asked "What", SmolLM2 wrote "Which way does a
# Quillmark API request authenticate?", which the sentence cannot answer; the count it can.
_COUNTED = re.compile(
    r"\b(?:two|three|four|five|six|seven|eight|nine|ten|\d+)\s+(?:[\w-]+\s+)?"
    r"(?P<things>ways|kinds|types|roles|levels|modes|methods|options|plans|environments|tiers|stages|states)\b"
    r"(?![^.]*[:;])[^,]*$",
    re.I,
)


def opening(answer: str, question_type: str) -> str:
    """The words the question for this answer starts with, from the answer's shape: a
    question must be able to have this answer ("How do I" wants steps, "What is" a
    definition, "Why" a reason, "How long" a duration). Measured on the 26 demo spans:
    asking a second question with another opening rescued none that a reader accepts."""
    # A fact with a command appended ("The CLI needs Python 3.9 ...: `pip install ...`") is not a
    # how-to: asked "How do I", SmolLM2 wrote "How do I install Python?" (measured on the demo).
    prose = sentence_of(answer).strip()
    if not prose and _USAGE.search(answer):
        # A usage line under a heading ("lantern fetch [--station <name> ...]"). Asked "How do I",
        # SmolLM2 wrote "How do I remove a lantern fetch?" for 4 of the 5 commands of the lantern
        # CLI reference; asked "What is the syntax of", "... of the lantern fetch command?" for 4.
        return SYNTAX
    label = _LABEL.match(prose)
    if label:
        # An option's "Default: lantern.toml in the data folder.": asked "What", SmolLM2 wrote
        # "What does the default lantern do?" (lantern CLI reference, 4 of 4).
        return _LABEL_OPENINGS[label["label"].lower()]
    instruction = _IMPERATIVE.match(_TO_CLAUSE.sub("", prose))
    if instruction and _WHEN_TO.match(prose) and not ("→" in prose or "`" in answer or _UI_PLACE.search(prose)):
        return "When should I"
    if question_type == "procedural" or "→" in prose or instruction:
        return "How do I"
    if prose != answer.strip():
        return "What does"  # a snippet shown: what it does, prints, or looks like
    counted = _COUNTED.search(prose)
    if counted:
        # With the noun: told "How many", SmolLM2 asked "How many times can a request be authenticated?"
        return f"How many {counted['things'].lower()}"
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


# The order of the worked examples for each try at one answer (generate.questions_per_answer):
# SmolLM2 decodes greedily, so one prompt gives one question, and it leans on the examples nearest
# its own turn. Measured on 29 spans of the Lanternfish and demo pages, as a second try: the
# examples reversed kept 9 new distinct questions (6 a reader accepts, 1 borderline, 2 not),
# the last example moved first kept 3 (2 accepted, 1 borderline), another opening
# ("How many", plain "What") kept 4 (1 accepted); sampling at temperature 0.5-1.0 kept fewer,
# and copied the examples' words (a grey tick) more. A third try with the third order added
# no new question there.
EXAMPLE_ORDERS: tuple[tuple[int, ...], ...] = (
    tuple(range(len(EXAMPLES))),
    tuple(reversed(range(len(EXAMPLES)))),
    (len(EXAMPLES) - 1, *range(len(EXAMPLES) - 1)),
)


def asks(answer: str, question_type: str, tries: int) -> list[tuple[str, int]]:
    """(opening, example order) of each try at one answer span, as QuestionUnits (steps.py) sends
    them: every try starts with the opening that fits the answer, in the next EXAMPLE_ORDERS."""
    stem = opening(answer, question_type)
    return [(stem, order) for order in range(tries)]


def messages(title: str, heading_path: list[str], answer: str, stem: str, order: int = 0) -> list[dict]:
    """The conversation that asks for the question of `answer`; `order`: which EXAMPLE_ORDERS
    the worked examples come in (0 for the first try at an answer)."""
    turns = [{"role": "system", "content": SYSTEM}]
    for index in EXAMPLE_ORDERS[order]:
        page, example_answer, example_stem, question = EXAMPLES[index]
        turns += [
            {"role": "user", "content": _USER.format(page=page, answer=example_answer, stem=example_stem)},
            {"role": "assistant", "content": f"Q: {question}"},
        ]
    user = _USER.format(page=page_label(title, heading_path), answer=answer, stem=stem)
    turns.append({"role": "user", "content": user})
    return turns


# Rephrasing (generate.rephrase): the knowledge protocol trains on one phrasing of a fact and
# asks another, so each span's first question is asked again in other words. The reordered
# examples alone gave a second distinct kept question for 3 of 29 facts on the held-out pennant
# site (greedy decoding mostly repeats itself); told to rewrite the question from another
# opening, SmolLM2 kept the meaning in 20 of 24 pennant questions read by hand. The rewrite
# inherits its original's flaws: it passes the same gates as any question.
REPHRASE_SYSTEM = (
    "You rewrite a user's question about a software product in other words, keeping its meaning: it "
    "must still be answered by the given answer. Start with the given words."
)
# (question, answer, opening, rewrite), about the invented mail product of EXAMPLES.
REPHRASE_EXAMPLES = (
    (
        "How do I create a mail filter?",
        "Open Settings → Filters, select New filter and choose the folder that matching messages move to.",
        "What are the steps to",
        "What are the steps to set up a new mail filter?",
    ),
    (
        "How long are deleted messages kept?",
        "Deleted messages stay in the trash for 30 days, then they are removed for good.",
        "For how many",
        "For how many days does the trash keep a deleted message?",
    ),
    (
        "What happens to an attachment larger than 25 MB?",
        "Attachments larger than 25 MB are uploaded to the cloud drive and sent as a link.",
        "Where does",
        "Where does an attachment over 25 MB go when I send it?",
    ),
    (
        "What is a label?",
        "A label is a tag you add to a message so that you can find it again in any folder.",
        "How would you describe",
        "How would you describe a message label?",
    ),
)
_REPHRASE_USER = "Question: {question}\nAnswer: {answer}\nThe new question starts with: {stem}"
# The rewrite's openings, by the original's: other forms that ask for the same answer. The
# second is asked only when the first rewrite of a question that fits fails the question rules
# or nearly repeats its original (QuestionUnits): on the demo, 17 of the 28 facts left with one
# phrasing had a first rewrite that failed ("What is the result of a new version?" of "What
# happens when a new version is uploaded?"). Measured there: facts kept in several phrasings
# 31 -> 33, the second rewrite kept for 6 of the 126 it was asked (then for every miss).
_REPHRASE_OPENINGS = (
    (
        re.compile(r"^how\s+(?:do|can|should)\s+(?:i|you|we)\b|^how\s+to\b", re.I),
        ("What are the steps to", "What should I do to"),
    ),
    (re.compile(r"^why\b", re.I), ("What is the reason", "For what reason")),
    # What to do in a case (a template's question, templates.py): not "Which".
    (re.compile(r"^what\s+should\s+i\s+do\s+(?:if|when|once|whenever)\b", re.I), ("How should I respond",)),
    # Not "What does": SmolLM2 rewrote "What is the syntax of the lantern prune command?" as
    # "What does the -dry-run option do?" of the usage line.
    (re.compile(r"^what\s+is\s+the\s+syntax\s+of\b", re.I), ("How do I run",)),
    # Not "What does": of a definition SmolLM2 wrote "What does a context do?", which the
    # definition does not answer (10 of 18 "What is X?" rewrites on the demo and larkspur sites
    # failed the question rules); "How would you describe X?" asks for the definition again
    # (18 of 18 kept X; 3 added words of their own: "a flag in a message").
    (re.compile(r"^what\s+(?:is|are)\s+(?:an?|the)\b", re.I), ("How would you describe", "What best describes")),
    # Not "What is the result" for "What happens to X?": "What is the result of a new dataset?"
    # asks something else (read in the demo's final pairs: most of the rewrites a reader would not
    # train on); "What becomes of X?" asks the same.
    (re.compile(r"^what\s+happens\s+to\b", re.I), ("What becomes of", "What is the result")),
    (re.compile(r"^what\s+happens\b", re.I), ("What is the result", "What occurs")),
    # Not "For how long": it rewrites nothing else, a near-copy (docs2qa.wording.NEAR_COPY).
    (re.compile(r"^how\s+long\b", re.I), ("When", "After how long")),
    (re.compile(r"^how\s+(?:many|much)\b", re.I), ("What is the number of",)),
    # Not "Which": of "What does the 5xx error code mean?" SmolLM2 wrote "Which codes are in the
    # 5xx error code?" (held-out quillmark site).
    (re.compile(r"^what\s+does\s.+\smean\?$", re.I), ("What is the meaning of",)),
    (re.compile(r"^what\s+does\b", re.I), ("What is", "Which")),
)


def rephrase_openings(question: str) -> tuple[str, ...]:
    """The words each rewrite of `question` may start with, in the order they are tried: other
    forms asking for the same answer."""
    return next((stems for form, stems in _REPHRASE_OPENINGS if form.match(question.strip())), ("Which",))


def rephrase_opening(question: str) -> str:
    """The words the first rewrite of `question` starts with."""
    return rephrase_openings(question)[0]


# A rewrite's opening back to the form the question rules (keep/off_target.py) read: "What are
# the steps to X?" asks what "How do I X?" asks, and must be answered the same way.
_CANONICAL_FORMS = (
    (re.compile(r"^what\s+are\s+the\s+steps\s+to\s+", re.I), "How do I "),
    (re.compile(r"^what\s+is\s+the\s+reason\s+(?:why\s+|for\s+)?", re.I), "Why "),
    (re.compile(r"^what\s+is\s+the\s+result\s+(?:of\s+|when\s+)?", re.I), "What happens when "),
    (re.compile(r"^for\s+how\s+long\s+", re.I), "How long "),
    (re.compile(r"^what\s+is\s+the\s+number\s+of\s+", re.I), "How many "),
    (re.compile(r"^how\s+would\s+you\s+describe\s+", re.I), "What is "),
    (re.compile(r"^what\s+should\s+i\s+do\s+to\s+", re.I), "How do I "),
    (re.compile(r"^how\s+should\s+i\s+respond\s+(?=(?:if|when|once|whenever)\b)", re.I), "What should I do "),
    (re.compile(r"^for\s+what\s+reason\s+", re.I), "Why "),
    (re.compile(r"^what\s+best\s+describes\s+", re.I), "What is "),
    (re.compile(r"^what\s+occurs\s+", re.I), "What happens "),
    (re.compile(r"^what\s+becomes\s+of\s+", re.I), "What happens to "),
    (re.compile(r"^what\s+is\s+the\s+meaning\s+of\s+", re.I), "What is "),
    (re.compile(r"^after\s+how\s+long\s+", re.I), "How long "),
)


def canonical_form(question: str) -> str:
    """`question` with a rewrite's opening (rephrase_opening) read as the form it stands for."""
    # "What's a Belfry account?" asks what "What is" asks (held-out belfry site).
    question = re.sub(r"^what['’]s\b", "What is", question, flags=re.I)
    for form, plain in _CANONICAL_FORMS:
        if form.match(question):
            return form.sub(plain, question, count=1)
    return question


def rephrase_messages(question: str, answer: str, stem: str) -> list[dict]:
    """The conversation that asks the generator to ask `question` in other words, its reply
    begun with `stem`."""
    turns = [{"role": "system", "content": REPHRASE_SYSTEM}]
    for example_question, example_answer, example_stem, rewrite in REPHRASE_EXAMPLES:
        user = _REPHRASE_USER.format(question=example_question, answer=example_answer, stem=example_stem)
        turns += [{"role": "user", "content": user}, {"role": "assistant", "content": f"Q: {rewrite}"}]
    turns.append({"role": "user", "content": _REPHRASE_USER.format(question=question, answer=answer, stem=stem)})
    # The reply is begun with the opening: told to start with it, SmolLM2 copied the question
    # unchanged 16 times in 22 (pennant); begun, it writes on from it. llama.cpp continues a
    # final assistant turn and returns it whole; a backend that cannot is asked as before.
    turns.append({"role": "assistant", "content": f"Q: {stem}"})
    return turns


def rephrase_hash() -> str:
    """What the rephrasing asks: units that rephrase carry it, so a changed prompt asks again."""
    examples = "\x1e".join("\x1d".join(e) for e in REPHRASE_EXAMPLES)
    openings = "\x1e".join(f"{form.pattern}\x1d{'|'.join(stems)}" for form, stems in _REPHRASE_OPENINGS)
    return _hash("rephrase", REPHRASE_SYSTEM, _REPHRASE_USER, examples, openings)


# The question's form, whatever type its span was picked for: "How do I ...?" asks for steps
# (the same words off_target's how-to rule reads), "Why ...?" / "What does X mean?" / "How does X
# work?" / "What is a X?" for an explanation, "How many/long ...?", "When/Where/Which ...?" for a fact.
_PROCEDURAL_FORM = re.compile(
    r"^(?:how\s+(?:(?:do|can|should|could|would)\s+(?:i|you|we|one)|to)|what\s+are\s+the\s+steps\s+to)\b", re.I
)
_CONCEPTUAL_FORM = re.compile(
    r"^(?:why\b|what\s+is\s+the\s+reason\b|what\s+does\s.+\smean\?$|how\s+does\s.+\swork\?$|what\s+(?:is|are)\s+an?\s)",
    re.I,
)
_FACTUAL_FORM = re.compile(
    r"^(?:how\s+(?:many|much|long|often|large|big|fast)|for\s+how\s+long|what\s+is\s+the\s+number|when|where|which|who)\b",
    re.I,
)


def question_type_of(question: str, picked: str) -> str:
    """The type of a question by its form, for the types answer_first asks (`picked`: the type
    its span was picked for). Measured: "How do I create a new notebook?" asked of a span picked
    as factual was typed factual. A question of no telling form keeps the picked type, except
    that one that is not a how-to is no procedural question."""
    if picked not in TYPES:
        return picked  # yes_no, unanswerable: what the model was asked for is the type
    text = canonical_form(question.strip())
    if _PROCEDURAL_FORM.match(text):
        return "procedural"
    if _CONCEPTUAL_FORM.match(text):
        return "conceptual"
    if _FACTUAL_FORM.match(text) or picked == "procedural":
        return "factual"
    return picked


def prompt_hash() -> str:
    examples = "\x1e".join("\x1d".join(e) for e in EXAMPLES)
    return _hash("answer_first", SELECTOR_VERSION, SYSTEM, _USER, examples)


def tries_hash() -> str:
    """What the tries after the first change in the prompt: units asked more than once carry it."""
    return _hash("tries", *(",".join(map(str, order)) for order in EXAMPLE_ORDERS))


def question_grammar() -> dict:
    from docs2qa.generation.llm.line_grammar import Field, LineGrammar

    return LineGrammar((Field("Q:", max_tokens=40, end_with="?", no_start="[<", stop_at_end=True),)).to_dict()


def begun_question_grammar() -> dict:
    """The rest of a question whose reply was begun with "Q: {opening}" (rephrase_messages): a
    space and words up to its "?". Under question_grammar llama.cpp had to write "Q:" again after
    the opening, and 38 of the demo's rewrites became "Q: What doesQ:P:M:A:…"."""
    from docs2qa.generation.llm.line_grammar import Field, LineGrammar

    return LineGrammar((Field(" ", max_tokens=36, end_with="?", no_start="[<Q ", stop_at_end=True),)).to_dict()


_ASKS = re.compile(r"^(?:what|how|why|which|when|where|who|whom|whose|is|are|can|could|does|do|should|will)\b", re.I)


def begun_reply(text: str, stem: str) -> str:
    """A reply to a turn begun with "Q: {stem}" (rephrase_messages), as one "Q: ...?" line.
    llama.cpp returns the begun turn whole; had it to write "Q:" again after the opening, its own
    part is after the last one: "Q: What are the steps toQ: Add a domain?". A backend that
    returns only its own words sends no "Q:" at all: " add a domain?". That part is the question
    when it opens as one ("What does a token do?"), else it goes on from the opening ("add a
    domain?" -> "What are the steps to add a domain?"). A whole reply ("Q: What are the steps
    to add a domain?", or one started afresh) is read as it is."""
    line = text.strip().splitlines()[0] if text and text.strip() else ""
    begun = f"Q: {stem}"
    if line.startswith(begun) and "Q:" in line[len(begun) :]:
        own = line[line.rindex("Q:") + 2 :].strip()
    elif line and "Q:" not in line:
        own = line
    else:
        return text
    if _ASKS.match(own):
        return f"Q: {own}"
    return f"Q: {stem} {own[:1].lower()}{own[1:]}"


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
