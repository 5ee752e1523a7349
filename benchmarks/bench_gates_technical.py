"""Benchmark: the model-free checks and gates on pairs about technical pages, written the way
capable models write them (tests/data/gate_labels_technical.jsonl: commands, code blocks,
JSON/TOML/YAML, placeholders such as `<your-token>` or `[NAME]`, numbers as answers,
answers that restate the question, paraphrases), and on bad pairs of each kind a rule exists for.

Prints, per drop reason, how many pairs each rule dropped first (as the pipeline runs them),
its precision and recall, and the share of good pairs dropped.

    python benchmarks/bench_gates_technical.py [--embed]   # --embed: with the MiniLM embedder
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.generation.qa.keep.checks import CHECKS
from docs2qa.generation.qa.keep.filters import FilterContext, candidate_of, measure
from docs2qa.generation.qa.keep.gates import GATES

LABELS = Path(__file__).parents[1] / "tests" / "data" / "gate_labels_technical.jsonl"


def labelled() -> list:
    rows = [json.loads(line) for line in LABELS.read_text().splitlines()]
    return [
        (
            candidate_of(r["question"], r["answer"], r["evidence"], r["chunk"], question_type=r["question_type"]),
            r["reason"] if r["label"] == "bad" else "good",
        )
        for r in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embed", action="store_true", help="give the rules the MiniLM embedder, as a run does")
    args = parser.parse_args()
    embed = None
    if args.embed:
        from docs2qa.models.embeddings import load_embedder

        model = load_embedder(GenerateConfig().dedup.model)

        def embed(texts):
            return model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    pairs = labelled()
    result = measure((*CHECKS, *GATES), pairs, FilterContext(GenerateConfig(), embed))
    good = [r for r in result.results if r.label == "good"]
    reasons = sorted(
        {r.label for r in result.results if r.label != "good"} | {r.said for r in result.results} - {"good"}
    )
    print(f"{len(pairs)} pairs: {len(good)} good, {len(pairs) - len(good)} bad")
    print(f"{'reason':24s} {'bad':>4s} {'dropped':>8s} {'false':>6s} {'precision':>10s} {'recall':>7s}")
    for reason in reasons:
        precision, recall, n = result.figures(reason)
        dropped = sum(r.said == reason for r in result.results)
        false = sum(r.said == reason and r.label == "good" for r in result.results)
        print(f"{reason:24s} {n:4d} {dropped:8d} {false:6d} {precision:10.2f} {recall:7.2f}")
    false_drops = [r for r in good if r.said != "good"]
    print(f"false drops: {len(false_drops)} of {len(good)} good pairs ({len(false_drops) / len(good):.1%})")
    for r in result.mistakes():
        detail = r.failure.detail[:90] if r.failure else ""
        print(f"  labelled {r.label}, said {r.said}: {r.candidate.question!r} -> {detail}")


if __name__ == "__main__":
    main()
