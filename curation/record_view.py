"""What a reviewer reads in a record's context field: the passage with the answer span marked,
its source, and the model-free checks the pair passed at generation.

A judge's word is no evidence when the run found the judge uninformative or had none; the checks
every kept pair passed are, so they are what the record shows. Support share is recomputed here
with the gate's own function (it reads only the answer and the passage); question-answer
similarity needs the embedding model, so the push stage measures it and passes it in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from docs2qa.records import Chunk, QAPair

# Argilla renders a markdown field with marked, then DOMPurify, whose default allow-list keeps <mark>.
MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"

STRATEGIES = {
    "answer_first": "the answer is a sentence picked from the passage; the model wrote only the question",
    "free": "the model wrote both the question and the answer from the passage",
}


@dataclass(frozen=True)
class RunChecks:
    """The run's settings for the checks a reviewer sees ("" / None where the run does not say),
    and the question-answer cosine of each answer_first pair, by pair_id."""

    strategy: str = ""
    support_min_share: float | None = None
    min_qa_similarity: float | None = None
    qa_similarity: Mapping[str, float] = field(default_factory=dict)


def answer_span(pair: QAPair, text: str) -> tuple[int, int] | None:
    """Where the passage says the answer: the answer shown, the generator's answer, then its
    evidence quote, each verbatim or with any whitespace between its words; None when none is there."""
    for candidate in (pair.shown_answer, pair.answer, pair.evidence):
        words = candidate.strip().split()
        if not words:
            continue
        found = re.search(r"\s+".join(re.escape(w) for w in words), text)
        if found:
            return found.span()
    return None


def checks_lines(pair: QAPair, passage: str, run: RunChecks, span_found: bool) -> list[str]:
    """One markdown list item per check this pair passed, with its number and the run's threshold."""
    lines = []
    if run.strategy:
        lines.append(f"- strategy **{run.strategy}**: {STRATEGIES.get(run.strategy, run.strategy)}")
    if pair.question_type == "unanswerable":
        lines.append("- support: not checked (an unanswerable question has a fixed answer)")
    else:
        from docs2qa.generation.qa.keep.gates import support_share

        share = support_share(pair.answer, passage)
        if share is not None:
            needed = f" (needed: {run.support_min_share:.0%})" if run.support_min_share is not None else ""
            lines.append(f"- support: {share:.0%} of the answer's content words are in the passage{needed}")
        if pair.evidence.strip():
            match = f" (match {pair.evidence_ratio:.0%})" if pair.evidence_ratio else ""  # 0: not recorded
            lines.append(f"- evidence: the generator's quote was found in the passage{match}")
    similarity = run.qa_similarity.get(pair.pair_id)
    if similarity is not None:
        needed = ""
        if run.min_qa_similarity is not None:
            # The gate lets a "What is X?" question of a sentence defining X through below its threshold.
            below = similarity < run.min_qa_similarity
            needed = (
                f" (under the {run.min_qa_similarity:.2f} the check asks for: let through as a sentence that "
                "defines what the question asks about)"
                if below
                else f" (needed: {run.min_qa_similarity:.2f})"
            )
        lines.append(f"- question-answer similarity: {similarity:.2f}{needed}")
    if not span_found and pair.question_type != "unanswerable":
        lines.append("- the answer is not in the passage word for word: nothing is marked")
    return lines


def context_markdown(pair: QAPair, chunk: Chunk, run: RunChecks) -> str:
    heading = " > ".join(chunk.heading_path)
    title = f"**{chunk.title}**" + (f" — {heading}" if heading else "")
    span = answer_span(pair, chunk.text) if pair.question_type != "unanswerable" else None
    passage = chunk.text
    if span:
        start, end = span
        passage = f"{passage[:start]}{MARK_OPEN}{passage[start:end]}{MARK_CLOSE}{passage[end:]}"
    checks = "\n".join(checks_lines(pair, chunk.text, run, span is not None))
    return (
        f"{title}\n\n{passage}\n\n---\nSource: <{pair.anchor_url}>\n\n"
        f"**Checks this pair passed** (model-free, at generation):\n\n{checks}"
    )
