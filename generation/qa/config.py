"""The `generate:` config section: the generator and judge models, the strategy, and the
thresholds of the filters that keep or drop a pair (generate.gates).

Only pydantic and docs2qa.config are imported here, so loading a config stays light.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from docs2qa.config import LLMConfig, Section

QuestionType = Literal["factual", "procedural", "conceptual", "yes_no", "unanswerable"]


# A default factory as a function: mypy infers a lambda's dict of strings as dict[str, ...], not the Literal keys.
def _questions_per_type() -> dict[QuestionType, int]:
    return {"factual": 1, "procedural": 1, "conceptual": 1}


class DedupConfig(Section):
    model: str = Field(
        "embedded:all-minilm-l6-v2", description="sentence-transformers model id/folder for question embeddings."
    )
    threshold: float = Field(0.9, gt=0, le=1, description="Cosine similarity at or above which pairs are duplicates.")


class JudgeConfig(LLMConfig):
    """The judge model (default: the generator itself), whether it runs, and the score a pair needs to be kept."""

    enabled: Literal["auto"] | bool = Field(
        "auto",
        description="Whether a judge scores the pairs. 'auto': off when the judging model is the embedded "
        "SmolLM2 or named under 1B parameters and the strategy is answer_first (measured: it scored every pair "
        "alike, for 60% of the run's tokens), on otherwise. Off: no judge step and no judge model, pairs keep "
        "score_* = 0, the manifest's `judge` says why.",
    )
    min_score: int = Field(
        3,
        ge=1,
        le=5,
        description="A pair is kept when its lowest judge score (grounded, correct, useful, standalone) "
        "is at least this; the judge's verdict word never overrides its scores.",
    )

    def is_own_model(self) -> bool:
        # Only min_score or enabled set: the generator judges (the default before the threshold existed).
        return bool(self.model_fields_set - _JUDGE_ONLY_KEYS)


# JudgeConfig's keys that are not the judging model's.
_JUDGE_ONLY_KEYS = {"min_score", "enabled"}


# Generator names that say the model is under 1B parameters ("SmolLM2-360M", "Qwen2.5-0.5B").
_SMALL_MODEL_RE = r"(?i)(?:^|[^0-9.])(?:[1-9][0-9]{0,2}m|0\.[0-9]+b)(?:[^a-z0-9]|$)"


def _small_model(model: str) -> bool:
    """The embedded SmolLM2, or a model whose name says it is under 1B parameters."""
    return model == "embedded:smollm2" or re.search(_SMALL_MODEL_RE, model.rsplit("/", 1)[-1]) is not None


# answer_first tries per answer span (generate.questions_per_answer): its default, measured (see
# answer_first.EXAMPLE_ORDERS), and its ceiling, the number of those orders (not imported: this
# module stays light; a test keeps the two equal).
QUESTIONS_PER_ANSWER = 2
MAX_QUESTIONS_PER_ANSWER = 3


class GateSettings(Section):
    """Thresholds of the filters a generated pair must pass (generation/qa/keep/)."""

    min_question_chars: int = Field(12, ge=1, description="Shorter questions are dropped.")
    max_question_chars: int = Field(300, ge=1, description="Longer questions are dropped.")
    min_answer_chars: int = Field(2, ge=1, description="Shorter answers are dropped.")
    max_answer_chars: int = Field(2000, ge=1, description="Longer answers are dropped.")
    evidence_min_ratio: float = Field(
        0.85, gt=0, le=1, description="Fuzzy match needed to find the evidence in the chunk."
    )
    evidence_min_words: int = Field(
        4,
        ge=1,
        description="Shorter evidence proves nothing and the pair is dropped (unsupported); "
        "a quote of code needs half as many.",
    )
    support_min_share: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Share of the answer's content words that must occur in the chunk (else unsupported); "
        "a paraphrase the embedder matches to a sentence of the chunk needs 0.4.",
    )
    min_qa_similarity: float = Field(
        0.4,
        ge=-1,
        le=1,
        description="answer_first: questions whose embedding cosine with their answer is lower "
        "are off target and dropped.",
    )


class GenerateConfig(Section):
    """Grounded Q&A generation with self-critique (a distilabel pipeline)."""

    generator: LLMConfig = Field(default_factory=LLMConfig)
    judge: JudgeConfig = Field(
        default_factory=JudgeConfig, description="Judge model; with no model key set here, the generator judges."
    )
    strategy: Literal["auto", "answer_first", "free"] = Field(
        "auto",
        description="'answer_first': pick informative sentences of the chunk as answers and have the model write only "
        "their questions (grounded by construction; for small models); 'free': the model writes whole pairs. "
        "'auto': answer_first for the embedded SmolLM2 and models named under 1B parameters (e.g. 360M, 0.5B), "
        "else free.",
    )
    questions_per_type: dict[QuestionType, int] = Field(
        default_factory=_questions_per_type,
        description="Pairs asked per chunk for each question type; "
        "'unanswerable' asks for questions the chunk cannot answer.",
    )
    questions_per_answer: int = Field(
        QUESTIONS_PER_ANSWER,
        ge=1,
        le=MAX_QUESTIONS_PER_ANSWER,
        description="answer_first: questions asked of each picked answer span, each try with the worked "
        "examples in another order (greedy decoding gives one question per prompt); every distinct one that "
        "passes the filters is kept, all with the span's fact_id. 1: one try per span.",
    )
    rephrase: bool = Field(
        True,
        description="answer_first: ask each span's first question again in other words, from another opening "
        "(answer_first.rephrase_opening); the rewrite passes the same filters and shares the span's fact_id. "
        "The knowledge protocol (export.protocol) trains on one phrasing of a fact and tests another.",
    )
    question_templates: bool = Field(
        True,
        description='answer_first: a span whose shape gives its question away ("To raise a quota, ..." asks '
        '"How do I raise a quota?") gets that question from a template instead of the model '
        "(generation/qa/templates.py) when the question rules pass it; it passes the same filters, and the model "
        "rephrases it when generate.rephrase is on.",
    )
    output_format: Literal["lines", "json"] = Field(
        "lines",
        description="'lines' (Q:/A:/EVIDENCE:, followed by small models) or 'json' (schema, for capable models).",
    )
    parse_retries: int = Field(2, ge=0, description="Re-asks after a malformed output before the chunk is dropped.")
    max_chunks: int | None = Field(
        None, ge=1, description="Use at most this many chunks, spread over the pages (for trial runs and demos)."
    )
    gates: GateSettings = Field(
        default_factory=GateSettings, description="Thresholds of the filters that keep or drop a pair."
    )
    language: str = Field("en", description="Expected language of questions and answers.")
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    max_tokens: int | None = Field(None, ge=1, description="Token budget for this stage; stops cleanly when reached.")
    prices: dict[str, dict[Literal["prompt", "completion"], float]] = Field(
        default_factory=dict, description="USD per million tokens by model, for cost in the manifest."
    )

    def judge_llm(self) -> LLMConfig:
        """The model that judges: the judge's own, or the generator."""
        if not self.judge.is_own_model():
            return self.generator
        return LLMConfig(**self.judge.model_dump(exclude=_JUDGE_ONLY_KEYS))

    def resolved_strategy(self) -> str:
        if self.strategy != "auto":
            return self.strategy
        return "answer_first" if _small_model(self.generator.model) else "free"

    def judge_decision(self) -> tuple[bool, str]:
        """(whether the judge runs, why): generate.judge.enabled, with 'auto' resolved."""
        enabled = self.judge.enabled
        if enabled != AUTO:
            return bool(enabled), f"generate.judge.enabled={str(enabled).lower()}"
        strategy = self.resolved_strategy()
        model = self.judge_llm().model
        role = "generator" if not self.judge.is_own_model() else "judge"
        if strategy == "answer_first" and _small_model(model):
            # SmolLM2-135M judging answer_first pairs scored every one 1/1/1/1 (judge_health: uninformative)
            # and took 60% of the run's tokens: the model-free filters decide alone, without paying for it.
            which = f"embedded {role}" if model.startswith("embedded:") else f"sub-1B {role} {model.rsplit('/', 1)[-1]}"
            return False, f"auto: {which} under answer_first; generate.judge.enabled=true judges"
        why = "the free strategy" if strategy == "free" else f"{role} {model.rsplit('/', 1)[-1]} is not under 1B"
        return True, f"auto: {why}; generate.judge.enabled=false skips it"

    def judge_enabled(self) -> bool:
        return self.judge_decision()[0]


AUTO = "auto"


SECTIONS = {"generate": GenerateConfig}
