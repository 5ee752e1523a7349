"""Which generated pairs are kept: one small filter per rule, one loop that applies them.

A filter (`PairFilter`) has a `name`, the `reasons` it can give, and `check(candidate,
context)` that returns None (pass) or (reason, detail). The rules live beside what they
judge (checks.py, gates.py, off_target.py, judge_health.py); keep.PIPELINE is their
order. `apply` runs a list of filters over candidates and records each rejected one as a
`Dropped` row: the first failure wins, later ones are noted "(also ...)". Adding a rule is
one class in that list, and `measure` runs any filter alone on a labelled set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from docs2qa.records import Dropped

if TYPE_CHECKING:
    import numpy as np

    from docs2qa.generation.qa.assemble import Unit
    from docs2qa.generation.qa.config import GenerateConfig

Rejection = tuple[str, str]  # (reason, detail): the reason is a machine-readable code
Embed = Callable[[list[str]], "np.ndarray"]  # texts -> L2-normalised rows


class Failure(NamedTuple):
    filter: PairFilter
    reason: str
    detail: str


@dataclass(eq=False)  # identity: a context memoises per candidate
class Candidate:
    """One generated pair on its way through the filters."""

    unit: Unit
    pair_id: str
    pair: dict
    verdict: dict
    failures: list[Failure] = field(default_factory=list)

    @property
    def question(self) -> str:
        return self.pair["question"]

    @property
    def answer(self) -> str:
        return self.pair["answer"]

    @property
    def evidence(self) -> str:
        return self.pair.get("evidence") or ""

    @cached_property
    def evidence_ratio(self) -> float:
        """1.0 for a verbatim (normalised) quote of the chunk, 0.0 without evidence (as
        unanswerable questions must be)."""
        from docs2qa.generation.qa.keep.checks import evidence_ratio  # checks.py builds on this module

        evidence = self.evidence.strip()
        if self.unit.question_type == "unanswerable" or not evidence:
            return 0.0
        return evidence_ratio(evidence, self.unit.chunk.text)

    @property
    def failure(self) -> Rejection | None:
        """The first failure, noting the others; None while the pair passes."""
        if not self.failures:
            return None
        first, *others = self.failures
        more = "; ".join(f"{f.reason}: {f.detail}" for f in others)
        return first.reason, first.detail + (f" (also {more})" if more else "")


@dataclass
class FilterContext:
    cfg: GenerateConfig
    embed: Embed | None = None  # None: the rules that need embeddings pass every pair
    health: dict = field(default_factory=dict)  # the judge's health, filled by judge_health.JudgeLowScore
    _memo: dict = field(default_factory=dict, repr=False)

    def once(self, candidate: Candidate, key: str, compute: Callable[[], Any]) -> Any:
        """`compute()` once per candidate and key: a measurement several filters share (embeddings)."""
        if (candidate, key) not in self._memo:
            self._memo[candidate, key] = compute()
        return self._memo[candidate, key]


class PairFilter:
    """One rule. Subclasses set `name` and `reasons` and implement `check`."""

    name: str
    reasons: tuple[str, ...]
    # Whether the rule still runs on a pair an earlier filter rejected, its failure then noted
    # "(also ...)": so the model-free checks, which are cheap, tell everything wrong with a pair.
    # The others (off-target, the judge) run only on pairs nothing rejected.
    after_failure = True
    # Filters of one family stop at the first of them that fails (the gates: "degenerate"
    # says enough, "echo" of the same answer would add nothing).
    family: str | None = None

    def prepare(self, candidates: list[Candidate], context: FilterContext) -> None:
        """Called once before `check`, with every candidate: for rules that need the whole batch."""

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        raise NotImplementedError


def _runs_on(pair_filter: PairFilter, candidate: Candidate) -> bool:
    if not candidate.failures:
        return True
    family = pair_filter.family
    return pair_filter.after_failure and not (family and any(f.filter.family == family for f in candidate.failures))


def apply(
    filters: Sequence[PairFilter], candidates: list[Candidate], context: FilterContext
) -> tuple[list[Candidate], list[Dropped]]:
    """Runs `filters` in order over `candidates`; returns the ones that passed and a Dropped
    row (its first failure, noting the others) for each one rejected, in candidate order.
    Filter by filter, so a filter's `prepare` sees what the filters before it decided."""
    for pair_filter in filters:
        pair_filter.prepare(candidates, context)
        for candidate in candidates:
            if _runs_on(pair_filter, candidate):
                rejection = pair_filter.check(candidate, context)
                if rejection:
                    candidate.failures.append(Failure(pair_filter, *rejection))
    kept, dropped = [], []
    for candidate in candidates:
        if candidate.failure:
            dropped.append(Dropped(candidate.pair_id, candidate.unit.chunk.anchor_url, *candidate.failure))
        else:
            kept.append(candidate)
    return kept, dropped


def candidate_of(
    question: str,
    answer: str,
    evidence: str = "",
    chunk_text: str = "",
    *,
    question_type: str = "factual",
    title: str = "",
    heading_path: Sequence[str] = (),
    strategy: str = "free",
    verdict: dict | None = None,
) -> Candidate:
    """A candidate for a pair outside a run (a labelled set, a single check); `verdict` is
    the judge's (parsing.py), for the judge's filters."""
    from docs2qa.generation.qa.assemble import Unit  # assemble.py builds on this module
    from docs2qa.records import Chunk

    chunk = Chunk("", "", "", "", title, list(heading_path), chunk_text, 0, 0, len(chunk_text), "", "")
    unit = Unit("", chunk, question_type, 1, "", strategy, (answer,) if strategy == "answer_first" else ())
    return Candidate(unit, "", {"question": question, "answer": answer, "evidence": evidence}, verdict or {})


ANY_BAD = "any bad"


class Result(NamedTuple):
    candidate: Candidate
    label: str  # "good" or the reason it should be dropped for
    failure: Failure | None  # what the filters said

    @property
    def said(self) -> str:
        return self.failure.reason if self.failure else "good"


@dataclass
class Measurement:
    results: list[Result]

    def figures(self, reason: str = ANY_BAD) -> tuple[float, float, int]:
        """(precision, recall, pairs labelled so) of the filters for one reason or for any bad pair."""

        def matches(label: str) -> bool:
            return label != "good" if reason == ANY_BAD else label == reason

        predicted = [r for r in self.results if matches(r.said)]
        actual = [r for r in self.results if matches(r.label)]
        hits = [r for r in predicted if matches(r.label)]
        precision = len(hits) / len(predicted) if predicted else 1.0
        return precision, len(hits) / len(actual) if actual else 1.0, len(actual)

    def mistakes(self) -> list[Result]:
        return [r for r in self.results if r.said != r.label]


def measure(
    filters: Sequence[PairFilter], labelled: Sequence[tuple[Candidate, str]], context: FilterContext
) -> Measurement:
    """`filters` (one alone, or a chain as the pipeline runs it) on pairs labelled "good" or
    with the reason they should be dropped for."""
    fresh = [(replace(c, failures=[]), label) for c, label in labelled]
    apply(filters, [c for c, _ in fresh], context)
    return Measurement([Result(c, label, c.failures[0] if c.failures else None) for c, label in fresh])
