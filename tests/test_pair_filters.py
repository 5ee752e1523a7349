"""The pair filters (generation/qa/keep/filters.py): one class per rule, one loop that applies them and
records the drop, each filter measurable alone.

One case per filter of the pipeline, written by hand on one chunk; the judge's verdicts
and the embedder are stand-ins, as the assembly tests use (this tests our rules, not a model).
"""

from __future__ import annotations

import numpy as np

from docs2qa.generation.qa.assemble import Unit, assemble
from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.generation.qa.keep import PIPELINE
from docs2qa.generation.qa.keep.checks import CHECKS
from docs2qa.generation.qa.keep.filters import (
    Candidate,
    FilterContext,
    PairFilter,
    Rejection,
    apply,
    candidate_of,
    measure,
)
from docs2qa.generation.qa.keep.gates import GATES
from docs2qa.generation.qa.keep.judge_health import JUDGE
from docs2qa.generation.qa.keep.off_target import OFF_TARGET
from docs2qa.records import Chunk

TEXT = (
    "# Datasets\n\nA private dataset is visible only to you and your collaborators. "
    "Uploads are limited to 20 GB per dataset. "
    "When a dataset exceeds its quota, new uploads are rejected. "
    "Uploads are not scanned for viruses, because every file is scanned when it is downloaded."
)
LIMIT = "Uploads are limited to 20 GB per dataset."
QUOTA = "When a dataset exceeds its quota, new uploads are rejected."
SCANS = "Uploads are not scanned for viruses, because every file is scanned when it is downloaded."
PRIVATE = "A private dataset is visible only to you and your collaborators."
GOOD_QUESTION = "How large can an Acme dataset upload be?"
GOOD_ANSWER = "Up to 20 GB per dataset."


def verdict(scores=(5, 5, 5, 5), parse_error=None):
    return {
        "scores": dict(zip(("grounded", "correct", "useful", "standalone"), scores)),
        "verdict": "keep",
        "revised_answer": "",
        "rationale": "fine",
        "parse_error": parse_error,
        "raw_output": "raw judge text",
        "parse_attempts": 1,
        "tokens": {"prompt": 10, "completion": 5},
    }


def case(question=GOOD_QUESTION, answer=GOOD_ANSWER, evidence=LIMIT, question_type="factual", **more):
    return {"question": question, "answer": answer, "evidence": evidence, "question_type": question_type, **more}


def asked(question, answer=LIMIT, **more):
    """An answer_first pair: the answer is a sentence of the chunk and its own evidence."""
    return case(question, answer, answer, strategy="answer_first", **more)


# filter name -> a pair that it, and no filter before it, rejects
CASES = {
    "evidence_for_unanswerable": case(
        "Can Acme datasets be exported to PDF?", "The documentation does not say.", question_type="unanswerable"
    ),
    "evidence_in_chunk": case(evidence="Made-up quote that is not in the chunk."),
    "question_length": case("Size?"),
    "answer_length": case(answer="5"),
    "standalone": case("What does the text say about the upload size of an Acme dataset?"),
    "language": case(
        "Quelle est la taille maximale d'un envoi de jeu de données ?",
        "Vingt gigaoctets par jeu de données, pas davantage pour chaque envoi.",
    ),
    "question_mark": case("Tell me how large an Acme dataset upload can be."),
    "degenerate": case(answer="[insert answer here]"),
    "echo": case(answer="How large can an Acme dataset upload be?"),
    "support": case(answer="They are limited to 50 TB by an email reminder."),
    "copied_example": asked("How do I create a mail filter for uploads?"),
    "foreign_words": asked("How large are Ubuntu uploads?"),
    "what_is_definition": asked("What is a collaborator?", PRIVATE),
    "why_reason": asked("Why are uploads limited?"),
    "why_denied": asked("Why are uploads scanned for viruses?", SCANS),
    "what_happens_case": asked("What happens to new uploads?", QUOTA),
    "what_happens_to": asked("What happens to a private dataset?", PRIVATE),
    "what_does_do": asked("What does a collaborator do?", PRIVATE),
    "what_does_mean": asked("What does a 20 GB dataset mean?"),
    "which_form": asked("Which is the upload limit per dataset?"),
    "how_to_steps": asked("How do I limit uploads?"),
    "page_subject_only": asked("What about a dataset?"),
    "near_answer": asked("How much can uploads hold?", embedded=[0.0, 1.0]),
    "closest_sentence": asked("How much can a dataset upload hold?", embedded=[0.6, 0.8]),
    "judge_parse_error": case(verdict=verdict(parse_error="no score found")),
    "judge_low_score": case(verdict=verdict(scores=(5, 1, 5, 5))),
}
REASONS = {  # what each case is dropped for
    "evidence_for_unanswerable": "evidence_for_unanswerable",
    "evidence_in_chunk": "evidence_not_in_chunk",
    "question_length": "question_too_short",
    "answer_length": "answer_too_short",
    "standalone": "not_standalone",
    "language": "wrong_language",
    "question_mark": "not_a_question",
    "degenerate": "degenerate",
    "echo": "echo",
    "support": "unsupported",
    **{f.name: "off_target" for f in OFF_TARGET},
    "judge_parse_error": "judge_parse_error",
    "judge_low_score": "judge_low_score",
}
GOOD = [case(), asked("How much can uploads to a dataset hold?")]


def embed(texts):
    # The answer on one axis, the chunk's other sentences on the other, the question where
    # its case puts it (on its answer unless said otherwise).
    where = {c["question"]: c["embedded"] for c in CASES.values() if "embedded" in c}
    question, _, *others = texts
    return np.array([where.get(question, [1.0, 0.0]), [1.0, 0.0], *([0.0, 1.0] for _ in others)])


def chunk(chunk_id):
    return Chunk(chunk_id, "p1", "u", "u#datasets", "Datasets", ["Datasets"], TEXT, 40, 0, len(TEXT), "sha", "t")


# The judge's filters are among those under test: it is on (auto turns it off for the default SmolLM2).
JUDGED = GenerateConfig(judge={"enabled": True})


def run(cases, filters=PIPELINE):
    """assemble() over one unit per case, so each pair is judged as in a run."""
    units, complete = [], {}
    for i, c in enumerate(cases):
        key = f"u{i}"
        units.append(Unit(key, chunk(key), c["question_type"], 1, "hash", c.get("strategy", "free")))
        pair = {k: c[k] for k in ("question", "answer", "evidence")}
        judged = [c.get("verdict", verdict())]
        complete[key] = {
            "parse_error": None,
            "pairs": [pair],
            "judgements": judged,
            "tokens": {"prompt": 1, "completion": 1},
        }
    return assemble(units, complete, JUDGED, {"generator": "g", "judge": "j"}, "jh", embed, filters)


def test_every_filter_of_the_pipeline_has_a_case_and_a_name_of_its_own():
    names = [f.name for f in PIPELINE]
    assert len(set(names)) == len(names)
    assert list(CASES) == names  # a new rule needs a case here: then it is measured too
    assert all(REASONS[f.name] in f.reasons for f in PIPELINE)


def test_the_loop_records_every_drop_with_its_filters_reason():
    # Alone, a few judged pairs are too few to tell whether the judge discriminates: its
    # threshold applies (judge_health.py), so judge_low_score can drop.
    for name, bad in CASES.items():
        pairs, dropped, health = run([bad, *GOOD])
        assert [p.question for p in pairs] == [g["question"] for g in GOOD], name
        assert [d.reason for d in dropped] == [REASONS[name]], (name, dropped)
        assert dropped[0].ref == "u#datasets" and dropped[0].detail
        assert health["applied"]


class Says(PairFilter):
    """A stand-in rule: rejects questions holding its word."""

    def __init__(self, word: str, after_failure: bool = True, family: str | None = None):
        self.name, self.reasons = word, (word,)
        self.after_failure, self.family = after_failure, family

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        return (self.name, f"says {self.name}") if self.name in candidate.question else None


def test_the_first_failure_wins_and_the_others_are_noted():
    filters = [Says("alpha"), Says("beta", family="gate"), Says("gamma", family="gate"), Says("delta", False)]
    every = candidate_of("alpha beta gamma delta?", "An answer.")
    late = candidate_of("gamma delta?", "An answer.")
    fine = candidate_of("epsilon?", "An answer.")
    kept, dropped = apply(filters, [every, late, fine], FilterContext(GenerateConfig()))
    assert kept == [fine]
    # beta noted; gamma is of beta's family; delta runs only on pairs nothing rejected.
    assert (dropped[0].reason, dropped[0].detail) == ("alpha", "says alpha (also beta: says beta)")
    assert (dropped[1].reason, dropped[1].detail) == ("gamma", "says gamma")


def test_a_filter_added_to_the_list_is_applied():
    class NoSuperlatives(PairFilter):
        name = "superlative"
        reasons = ("superlative",)

        def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
            return ("superlative", "sells, does not inform") if "best" in candidate.answer else None

    bragging = case(answer="The best uploads in the industry: 20 GB per dataset.")
    filters = (*CHECKS, *GATES, NoSuperlatives(), *OFF_TARGET, *JUDGE)
    pairs, dropped, _ = run([bragging, *GOOD, CASES["echo"]], filters)
    assert len(pairs) == len(GOOD)
    assert [(d.reason, d.detail) for d in dropped] == [
        ("superlative", "sells, does not inform"),
        ("echo", "the answer is a question: 'How large can an Acme dataset upload be?'"),
    ]
    pairs, dropped, _ = run([bragging, *GOOD])  # the pipeline without it keeps the pair
    assert len(pairs) == 3 and not dropped


def test_each_filter_is_measurable_alone():
    def candidate(c):
        return candidate_of(
            c["question"],
            c["answer"],
            c["evidence"],
            TEXT,
            question_type=c["question_type"],
            title="Datasets",
            heading_path=["Datasets"],
            strategy=c.get("strategy", "free"),
            verdict=c.get("verdict", verdict()),
        )

    labelled = [(candidate(c), REASONS[name]) for name, c in CASES.items()] + [(candidate(g), "good") for g in GOOD]
    context = FilterContext(JUDGED, embed)
    for pair_filter in PIPELINE:
        alone = measure([pair_filter], labelled, context)
        own = alone.results[list(CASES).index(pair_filter.name)]
        assert own.failure and own.failure.filter is pair_filter, pair_filter.name
        assert all(r.said in pair_filter.reasons for r in alone.results if r.failure)
        assert not [r for r in alone.results if r.label == "good" and r.failure], pair_filter.name
        precision, recall, _ = alone.figures(REASONS[pair_filter.name])
        assert precision > 0 and recall > 0
    # The whole pipeline, measured the same way: each case is rejected by its own filter first,
    # but one: among all these pairs the judge scores the rejected ones nearly as high as the
    # rest, so its threshold is not applied (judge_health.py).
    pipeline = measure(PIPELINE, labelled, context)
    first = {name: r.failure and r.failure.filter.name for name, r in zip(CASES, pipeline.results)}
    assert first == {**{name: name for name in CASES}, "judge_low_score": None}
    assert context.health["applied"] is False
