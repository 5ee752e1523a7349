"""LLM-as-judge: correctness 1-5 of a candidate answer against the gold answer.

Any configured backend works (docs2qa.generation.llm.factory.build_llm). A reply with no
readable score keeps its raw text and an error, and counts as a failure in the
aggregates; it is never dropped or guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from docs2qa.config import LLMConfig

SYSTEM = "You grade answers to questions about software documentation. You are strict and brief."
RUBRIC = (
    "How correct is the candidate answer, compared with the reference answer?\n"
    "5 = correct and complete; 4 = correct, a minor detail missing; 3 = partly correct; "
    "2 = mostly wrong; 1 = wrong, off-topic or empty.\n"
    "Judge the meaning, not the wording or the length.\n"
    "Reply with exactly one line: SCORE: <1-5>"
)
# Most specific first: "SCORE: 4", then "4/5" or "4 out of 5", then a reply that is just a digit.
_PATTERNS = (
    re.compile(r"score\W{0,6}(?:(?:is|of)\s+)?([1-5])\b", re.IGNORECASE),
    re.compile(r"\b([1-5])\s*(?:/|out of)\s*5\b", re.IGNORECASE),
    re.compile(r"^\W*([1-5])\W*$"),
)


@dataclass(frozen=True)
class Verdict:
    score: int | None
    raw: str | None
    error: str | None


def prompt(question: str, reference: str, candidate: str) -> list[dict]:
    user = (
        f"Question:\n{question}\n\nReference answer:\n{reference}\n\n"
        f"Candidate answer:\n{candidate or '(empty)'}\n\n{RUBRIC}"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse(text: str | None) -> Verdict:
    if not text or not text.strip():
        return Verdict(None, text, "the judge returned no text")
    for pattern in _PATTERNS:
        match = pattern.search(text.strip())
        if match:
            return Verdict(int(match.group(1)), text, None)
    return Verdict(None, text, "no score 1-5 found in the judge's reply")


def judge_all(cfg: LLMConfig, items: list[tuple[str, str, str]]) -> list[Verdict]:
    """(question, reference, candidate) -> one Verdict each, in order."""
    from docs2qa.generation.llm.factory import build_llm
    from docs2qa.progress import track

    llm = build_llm(cfg)
    llm.load()
    verdicts: list[Verdict] = []
    try:
        with track("judge", len(items)) as progress:
            for start in range(0, len(items), cfg.batch_size):
                chunk = [prompt(*item) for item in items[start : start + cfg.batch_size]]
                outputs = llm.generate_outputs(inputs=chunk, num_generations=1, **llm.get_generation_kwargs())
                verdicts += [parse((output.get("generations") or [None])[0]) for output in outputs]
                progress.advance(len(chunk))
    finally:
        llm.unload()
    return verdicts
