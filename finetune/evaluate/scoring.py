"""Per-example metrics for every variant's predictions, and their aggregates."""

from __future__ import annotations

import time
from typing import Any

from docs2qa.finetune.evaluate import metrics
from docs2qa.finetune.evaluate.config import EvalConfig
from docs2qa.finetune.evaluate.data import Example
from docs2qa.finetune.evaluate.generate import Generation

PER_EXAMPLE = ("rouge_l", "token_f1", "exact_match")


def score(cfg: EvalConfig, examples: list[Example], variants: list[str], generations: dict[str, list[Generation]],
          timings: dict) -> list[dict]:
    """One row per example: its predictions with their metrics, and tuned minus base.

    Embeddings and the judge run once over every variant's answers (one model load each),
    and add their seconds to `timings`.
    """
    rows = []
    for i, example in enumerate(examples):
        outputs = {}
        for name in variants:
            text = generations[name][i].text
            outputs[name] = {
                "prediction": text,
                "output_tokens": generations[name][i].output_tokens,
                "rouge_l": metrics.rouge_l(text, example.answer),
                "token_f1": metrics.token_f1(text, example.answer),
                "exact_match": metrics.exact_match(text, example.answer, example.question_type),
            }
        rows.append({"id": example.id, "question": example.question, "question_type": example.question_type,
                     "answer": example.answer, "context": example.context, "outputs": outputs,
                     "delta": {m: outputs["tuned"][m] - outputs["base"][m] for m in ("rouge_l", "token_f1")}})
    if cfg.embedding_model:
        clock = time.monotonic()
        scorer = metrics.EmbeddingScorer(cfg.embedding_model)
        references = [row["answer"] for row in rows]
        for name in variants:
            cosines = scorer.cosine([row["outputs"][name]["prediction"] for row in rows], references)
            for row, value in zip(rows, cosines):
                row["outputs"][name]["embedding_cosine"] = value
        del scorer
        timings["embedding_s"] = round(time.monotonic() - clock, 2)
    if cfg.judge:
        from docs2qa.finetune.evaluate.judge import judge_all

        clock = time.monotonic()
        slots = [(row, name) for name in variants for row in rows]
        verdicts = judge_all(cfg.judge, [(row["question"], row["answer"], row["outputs"][name]["prediction"])
                                         for row, name in slots])
        for (row, name), verdict in zip(slots, verdicts):
            row["outputs"][name].update(judge_score=verdict.score, judge_raw=verdict.raw, judge_error=verdict.error)
        timings["judge_s"] = round(time.monotonic() - clock, 2)
    return rows


def aggregate(rows: list[dict], variants: list[str], names: list[str]) -> dict:
    """Per variant: mean and count of each metric, overall and per question type.

    A metric that does not apply (exact match on an open question) or failed (an
    unparsable judge reply) is left out of its mean, and `n` says how many rows count.
    """
    types = sorted({row["question_type"] for row in rows})
    result = {}
    for name in variants:
        result[name] = {
            "overall": _means([row["outputs"][name] for row in rows], names),
            "by_question_type": {
                qtype: _means([row["outputs"][name] for row in rows if row["question_type"] == qtype], names)
                for qtype in types
            },
        }
    return result


def _means(outputs: list[dict], names: list[str]) -> dict:
    means: dict[str, Any] = {"examples": len(outputs)}
    for metric in names:
        values = [out[metric] for out in outputs if out.get(metric) is not None]
        means[metric] = {"mean": sum(values) / len(values) if values else None, "n": len(values)}
    if "judge_score" in names:
        means["judge_failures"] = sum(1 for out in outputs if out.get("judge_error"))
    return means
