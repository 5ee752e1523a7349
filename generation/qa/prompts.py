"""Prompt templates for Q&A generation and for the judge, plus their stable hashes.

The hash of a template goes into every pair id (`records.pair_id`): editing a prompt must
make reruns generate anew instead of reusing pairs asked with the old wording. So the hash
covers the template text only, never the chunk that gets filled in.
"""

from __future__ import annotations

import hashlib
import json

QUESTION_TYPES: dict[str, str] = {
    "factual": (
        "FACTUAL questions: ask for a concrete fact stated in the documentation "
        "(a default value, a limit, a name, a supported option)."
    ),
    "procedural": (
        "PROCEDURAL (how-to) questions: ask how to accomplish a task; the answer gives the steps, "
        "command or setting the documentation describes."
    ),
    "conceptual": (
        "CONCEPTUAL (why) questions: ask why something works the way it does, or what a concept "
        "means and when to use it; the answer explains it using the documentation."
    ),
    "yes_no": (
        "YES/NO questions: ask something the documentation settles with yes or no (or true/false); "
        "the answer starts with 'Yes' or 'No' and then gives the reason in one sentence."
    ),
    "unanswerable": (
        "UNANSWERABLE questions: ask a plausible question a user of this product might have that "
        "the documentation excerpt does NOT answer. The answer must be exactly "
        '"The documentation does not say." and the evidence must be empty.'
    ),
}

UNANSWERABLE_ANSWER = "The documentation does not say."

FORMATS = ("lines", "json")

GENERATE_SYSTEM = (
    "You write question/answer pairs for a dataset that teaches an assistant about a software "
    "product's documentation. Every answer must be supported by the documentation excerpt you are "
    "given; never invent facts. Every question must make sense on its own, to someone who has not "
    'seen the excerpt: name the product or feature it is about, and never refer to "the text", '
    '"the passage", "the context", "this section" or "the document".'
)

PAIRS_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "pairs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "question": {"type": "string"},
                    "answer": {"type": "string"},
                    "evidence": {"type": "string"},
                },
                "required": ["question", "answer", "evidence"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["pairs"],
    "additionalProperties": False,
}

_LINES_INSTRUCTIONS = """Write exactly {n} question/answer pair(s) of this type:
{type_help}

Use exactly this format for each pair, one field per line, and nothing else:
Q: <the question>
A: <the answer>
EVIDENCE: <a sentence or phrase copied word for word from the documentation excerpt>


Do not add explanations, headings or any other text."""

_UNANSWERABLE_LINES_NOTE = "For these questions write the EVIDENCE line with nothing after the colon."

_JSON_INSTRUCTIONS = """Write exactly {n} question/answer pair(s) of this type:
{type_help}

Reply with one JSON object and nothing else. It must follow this JSON schema:
{schema}

"evidence" is a sentence or phrase copied word for word from the documentation excerpt."""

_UNANSWERABLE_JSON_NOTE = 'For these questions "evidence" is the empty string "".'

_GENERATE_USER = """Product documentation page: {title}
Section: {heading_path}

Documentation excerpt:
<<<
{text}
>>>

{instructions}"""


def _generate_instructions(fmt: str, question_type: str, n: int | str) -> str:
    _check(fmt, question_type)
    type_help = QUESTION_TYPES[question_type]
    if fmt == "lines":
        if question_type == "unanswerable":
            type_help = f"{type_help}\n{_UNANSWERABLE_LINES_NOTE}"
        # No worked example: small models copy it verbatim instead of reading the excerpt.
        return _LINES_INSTRUCTIONS.format(n=n, type_help=type_help)
    if question_type == "unanswerable":
        type_help = f"{type_help}\n{_UNANSWERABLE_JSON_NOTE}"
    return _JSON_INSTRUCTIONS.format(n=n, type_help=type_help, schema=json.dumps(PAIRS_SCHEMA))


def generate_messages(
    fmt: str, question_type: str, n: int, title: str, heading_path: list[str], text: str
) -> list[dict]:
    """Chat messages (system + user) asking for `n` pairs of one question type about one chunk."""
    user = _GENERATE_USER.format(
        title=title or "(untitled)",
        heading_path=" > ".join(heading_path or []) or "(top of page)",
        text=text.strip(),
        instructions=_generate_instructions(fmt, question_type, n),
    )
    return [{"role": "system", "content": GENERATE_SYSTEM}, {"role": "user", "content": user}]


# ---------------------------------------------------------------- judge

CRITIQUE_SYSTEM = (
    "You are a strict reviewer of question/answer pairs generated from software documentation. "
    "You check each pair against the documentation excerpt it was written from."
)

SCORE_NAMES = ("grounded", "correct", "useful", "standalone")
VERDICTS = ("keep", "revise", "drop")

CRITIQUE_SCHEMA: dict = {
    "type": "object",
    "properties": {
        **{name: {"type": "integer", "minimum": 1, "maximum": 5} for name in SCORE_NAMES},
        "verdict": {"type": "string", "enum": list(VERDICTS)},
        "revised_answer": {"type": "string"},
        "rationale": {"type": "string"},
    },
    "required": [*SCORE_NAMES, "verdict", "revised_answer", "rationale"],
    "additionalProperties": False,
}

_CRITERIA = """Score each criterion from 1 (bad) to 5 (excellent):
- GROUNDED: every claim in the answer is supported by the documentation excerpt.
- CORRECT: the answer is correct and complete for the question.
- USEFUL: a real user of this documentation would plausibly ask this question.
- STANDALONE: the question makes sense without seeing the excerpt (it names the product or \
feature, and does not say "the text" or "this section").
Then give a verdict: keep (good as is), revise (the question is good but the answer needs \
fixing; write the fixed answer) or drop (not worth fixing)."""

_CRITIQUE_LINES = """{criteria}

Reply in exactly this format and nothing else:
GROUNDED: <1-5>
CORRECT: <1-5>
USEFUL: <1-5>
STANDALONE: <1-5>
VERDICT: <keep, revise or drop>
REVISED: <the fixed answer if the verdict is revise, otherwise ->
RATIONALE: <one line explaining the scores>"""

_CRITIQUE_JSON = """{criteria}

Reply with one JSON object and nothing else. It must follow this JSON schema:
{schema}

"revised_answer" is the fixed answer when the verdict is revise, otherwise ""."""

_CRITIQUE_USER = """Product documentation page: {title}
Section: {heading_path}

Documentation excerpt:
<<<
{text}
>>>

Question: {question}
Answer: {answer}
Evidence quoted by the writer: {evidence}

{instructions}"""


def _critique_instructions(fmt: str) -> str:
    _check(fmt, None)
    if fmt == "lines":
        return _CRITIQUE_LINES.format(criteria=_CRITERIA)
    return _CRITIQUE_JSON.format(criteria=_CRITERIA, schema=json.dumps(CRITIQUE_SCHEMA))


def critique_messages(
    fmt: str, question: str, answer: str, evidence: str, text: str, title: str, heading_path: list[str]
) -> list[dict]:
    user = _CRITIQUE_USER.format(
        title=title or "(untitled)",
        heading_path=" > ".join(heading_path or []) or "(top of page)",
        text=text.strip(),
        question=question.strip(),
        answer=answer.strip(),
        evidence=evidence.strip() or "(none)",
        instructions=_critique_instructions(fmt),
    )
    return [{"role": "system", "content": CRITIQUE_SYSTEM}, {"role": "user", "content": user}]


# ---------------------------------------------------------------- retries

_FIX_LINES = (
    "Your reply could not be read: {error}. Reply again with only the requested lines, "
    "in exactly the format shown, and nothing else."
)
_FIX_JSON = (
    "Your reply could not be read: {error}. Reply again with only one JSON object that "
    "follows the schema, and nothing else."
)


def fix_request(fmt: str, error: str) -> dict:
    """The user turn appended after a malformed reply when the task re-asks."""
    template = _FIX_LINES if fmt == "lines" else _FIX_JSON
    return {"role": "user", "content": template.format(error=error)}


# ---------------------------------------------------------------- hashes


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


def prompt_hash(fmt: str, question_type: str) -> str:
    """Stable short hash of the generation prompt for one format and question type."""
    instructions = _generate_instructions(fmt, question_type, "{n}")
    template = _fix_template(fmt)
    return _hash("generate", fmt, question_type, GENERATE_SYSTEM, _GENERATE_USER, instructions, template)


def critique_prompt_hash(fmt: str) -> str:
    """Stable short hash of the judge prompt for one format."""
    return _hash("critique", fmt, CRITIQUE_SYSTEM, _CRITIQUE_USER, _critique_instructions(fmt), _fix_template(fmt))


def _fix_template(fmt: str) -> str:
    return _FIX_LINES if fmt == "lines" else _FIX_JSON


def _check(fmt: str, question_type: str | None) -> None:
    from docs2qa.errors import Docs2qaError

    if fmt not in FORMATS:
        raise Docs2qaError(f"unknown output format {fmt!r}", "use 'lines' or 'json' (generate.output_format)")
    if question_type is not None and question_type not in QUESTION_TYPES:
        raise Docs2qaError(
            f"unknown question type {question_type!r}",
            f"use one of {', '.join(QUESTION_TYPES)} (generate.questions_per_type)",
        )


# ---------------------------------------------------------------- decoding grammars


def pairs_grammar(max_pairs: int) -> dict:
    """The lines format as a decoding grammar, for backends that run the model themselves."""
    from docs2qa.generation.llm.line_grammar import Field, LineGrammar

    # The evidence is copied token by token from the excerpt, which the prompt puts between
    # these markers: the model chooses what to quote, never invents it.
    evidence = Field("EVIDENCE:", max_tokens=60, copy_between=("<<<\n", "\n>>>"), min_tokens=4)
    question = Field("Q:", max_tokens=60, end_with="?", no_start="[<")
    fields = (question, Field("A:", max_tokens=120, no_start="[<"), evidence)
    return LineGrammar(fields, max_groups=max_pairs).to_dict()


def critique_grammar() -> dict:
    from docs2qa.generation.llm.line_grammar import Field, LineGrammar

    scores = tuple(Field(f"{name.upper()}:", choices=("1", "2", "3", "4", "5")) for name in SCORE_NAMES)
    fields = (
        *scores,
        Field("VERDICT:", choices=VERDICTS),
        Field("REVISED:", max_tokens=120),
        Field("RATIONALE:", max_tokens=60),
    )
    return LineGrammar(fields).to_dict()
