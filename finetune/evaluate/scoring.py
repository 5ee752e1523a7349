"""Per-example metrics for every variant's predictions, their aggregates, the tuned - base
differences with their intervals, and the baselines a reader needs beside them."""

from __future__ import annotations

import time
from typing import Any

from docs2qa.finetune.evaluate import intervals, metrics
from docs2qa.finetune.evaluate.config import EvalConfig
from docs2qa.finetune.evaluate.data import Example
from docs2qa.finetune.evaluate.generate import Generation

PER_EXAMPLE = ("rouge_l", "rouge_l_gold_length", "token_f1", "exact_match")
# How the answers look rather than how good they are: shown beside the metrics, never as a score.
SHAPE = ("words", "echo")
CHOICE = "choice_accuracy"
# Above this share of gold answers that restate their question, the test split rewards echoing.
GOLD_ECHO_WARNING = 0.25


def score(
    cfg: EvalConfig,
    examples: list[Example],
    variants: list[str],
    generations: dict[str, list[Generation]],
    timings: dict,
    choices: dict | None = None,
) -> list[dict]:
    """One row per example: its predictions with their metrics, and tuned minus base.

    `choices` holds the knowledge check: {"items": [Item | None per example], "scores":
    {variant: [option scores | None per example]}}. Embeddings and the judge run once over
    every variant's answers (one model load each), and add their seconds to `timings`.
    """
    from docs2qa.finetune.evaluate.choice import picks

    rows = []
    for i, example in enumerate(examples):
        outputs = {}
        for name in variants:
            outputs[name] = {
                **measure(generations[name][i].text, example),
                "output_tokens": generations[name][i].output_tokens,
            }
        row = example_row(example, outputs)
        if choices and (item := choices["items"][i]) is not None:
            row["choice"] = {"options": list(item.options), "gold": item.gold, "form": item.form}
            for name in variants:
                option_scores = choices["scores"][name][i]
                pick = picks([option_scores])[0]
                outputs[name].update(
                    choice=pick,
                    choice_scores=[round(s, 4) for s in option_scores],
                    choice_accuracy=float(pick == item.gold),
                )
        rows.append(row)
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
        verdicts = judge_all(
            cfg.judge, [(row["question"], row["answer"], row["outputs"][name]["prediction"]) for row, name in slots]
        )
        for (row, name), verdict in zip(slots, verdicts):
            row["outputs"][name].update(judge_score=verdict.score, judge_raw=verdict.raw, judge_error=verdict.error)
        timings["judge_s"] = round(time.monotonic() - clock, 2)
    return rows


def measure(text: str, example: Example) -> dict:
    """The model-free metrics and answer-shape measures of one prediction."""
    return {
        "prediction": text,
        "rouge_l": metrics.rouge_l(text, example.answer),
        "rouge_l_gold_length": metrics.rouge_l_at_gold_length(text, example.answer),
        "token_f1": metrics.token_f1(text, example.answer),
        "exact_match": metrics.exact_match(text, example.answer, example.question_type),
        "words": metrics.words(text),
        "echo": float(metrics.echoes_question(text, example.question)),
    }


def example_row(example: Example, outputs: dict) -> dict:
    return {
        "id": example.id,
        "fact_id": example.fact_id,
        "question": example.question,
        "question_type": example.question_type,
        "answer": example.answer,
        "context": example.context,
        "answer_words": metrics.words(example.answer),
        "answer_echoes_question": metrics.echoes_question(example.answer, example.question),
        "outputs": outputs,
        "delta": {m: outputs["tuned"][m] - outputs["base"][m] for m in ("rouge_l", "token_f1")},
    }


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


def summarize(rows: list[dict], variants: list[str], metrics_on: list[str], protocol: str | None = None) -> dict:
    """The results' numbers: warnings, means, tuned - base with intervals, baselines, gold shape."""
    return {
        "warnings": warnings(rows, variants, protocol),
        "aggregates": aggregate(rows, variants, [*metrics_on, *SHAPE]),
        "comparisons": compare(rows, [*metrics_on, *SHAPE]),
        "baselines": {"exact_match_majority": majority_baseline(rows)},
        "gold_answers": {
            "mean_words": sum(r["answer_words"] for r in rows) / len(rows),
            "echo_share": sum(r["answer_echoes_question"] for r in rows) / len(rows),
        },
    }


def warnings(rows: list[dict], variants: list[str], protocol: str | None = None) -> list[str]:
    """What makes these numbers misleading, said on every surface (results, report, terminal)."""
    found = [w for w in (intervals.small_sample_warning(len(rows)),) if w]
    echo = sum(r["answer_echoes_question"] for r in rows)
    if echo and echo / len(rows) >= GOLD_ECHO_WARNING:
        found.append(
            f"{echo} of {len(rows)} gold answers restate their question: a model that learned to echo "
            "questions scores well here without knowing anything; look at the echo share and the "
            "knowledge check"
        )
    # Under the knowledge protocol the tuned model trained on these facts in other words: beating
    # the base model reading the source is what learning them looks like, not a sign of leakage
    # (export's leakage check removed near-copies of the questions themselves).
    if "ceiling" in variants and protocol != "knowledge":
        means = {v: sum(r["outputs"][v]["rouge_l"] for r in rows) / len(rows) for v in ("tuned", "ceiling")}
        if means["tuned"] > means["ceiling"]:
            found.append(
                f"tuned ROUGE-L {means['tuned']:.3f} exceeds the open-book reference {means['ceiling']:.3f}: "
                "closed-book answers rarely beat the model reading the source, so check the echo share, the "
                "answer lengths and whether these questions were in training"
            )
    return found


def compare(rows: list[dict], names: list[str]) -> dict:
    """Tuned - base for every metric and answer-shape measure, over the questions where
    both have a value, with its paired bootstrap interval and verdict."""
    return {
        name: intervals.paired_difference(
            [row["outputs"]["base"].get(name) for row in rows], [row["outputs"]["tuned"].get(name) for row in rows]
        )
        for name in names
    }


def majority_baseline(rows: list[dict]) -> dict | None:
    """Yes/no questions answered always with the gold answers' most common polarity, against
    the tuned model on the same questions: a model below this has learned nothing useful."""
    scored = [row for row in rows if row["outputs"]["tuned"]["exact_match"] is not None]
    if not scored:
        return None
    labels = [metrics.polarity(row["answer"]) or metrics.squad_normalize(row["answer"]) for row in scored]
    counts = {label: labels.count(label) for label in sorted(set(labels))}
    majority = max(counts, key=lambda label: counts[label])
    always = [float(label == majority) for label in labels]
    versus = intervals.paired_difference(always, [row["outputs"]["tuned"]["exact_match"] for row in scored])
    return {"answer": majority, "accuracy": sum(always) / len(always), "n": len(always), "tuned_minus_baseline": versus}


def _means(outputs: list[dict], names: list[str]) -> dict:
    means: dict[str, Any] = {"examples": len(outputs)}
    for metric in names:
        values = [out[metric] for out in outputs if out.get(metric) is not None]
        means[metric] = {"mean": sum(values) / len(values) if values else None, "n": len(values)}
    if "judge_score" in names:
        means["judge_failures"] = sum(1 for out in outputs if out.get("judge_error"))
    return means
