"""answer_first with the embedded SmolLM2: the judge and the tries per answer span, side by side.

The same chunks go through `docs2qa generate` once per variant, in one run:
  - before: the judge on and one question per span (what every run did before
    generate.judge.enabled and generate.questions_per_answer; its units have the keys they had);
  - after: the defaults (auto: no judge for SmolLM2 under answer_first; questions_per_answer tries);
  - after-kN (with --tries N): the defaults with N tries per span.
For each: kept pairs per chunk, distinct facts (fact_id) per chunk, kept questions per fact,
prompt+completion tokens of the generator and the judge, wall time and CPU time of the stage
(all its processes), and kept pairs per CPU-minute. Kept pairs are printed by fact, with the
try each came from, so a reader can grade them.

    .venv/bin/python benchmarks/bench_answer_tries.py --site lanternfish
    .venv/bin/python benchmarks/bench_answer_tries.py --chunks 8 --tries 3
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def run_variant(name: str, settings: dict, chunks, folder: Path) -> dict:
    import pyarrow.parquet as pq

    from docs2qa.generation.qa import journal
    from generate_helpers import docs2qa, make_run

    folder.mkdir(parents=True)
    run, config = make_run(folder, chunks, settings)
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = docs2qa("generate", "-c", str(config), "--run", str(run), timeout=7200)
    seconds = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{name}: docs2qa generate failed:\n{result.stderr[-3000:]}")
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    manifest = json.loads((run / "generate" / "manifest.json").read_text())
    kept = pq.read_table(run / "generate" / "pairs.parquet").to_pylist()
    dropped = pq.read_table(run / "generate" / "dropped.parquet").to_pylist()
    tries: dict[tuple[str, str], list[int]] = defaultdict(list)  # every try that wrote the question
    for record in journal.read(run / "generate" / journal.UNITS):
        for pair in record["pairs"]:
            tries[record["chunk_id"], pair["question"].strip()].append(pair.get("try", 0) + 1)
    facts: dict[str, list[dict]] = defaultdict(list)
    for pair in kept:
        facts[pair["fact_id"]].append(pair)
    asked = sum(
        len(r["pairs"]) + len(r.get("failed_tries") or []) for r in journal.read(run / "generate" / journal.UNITS)
    )
    reasons: dict[str, int] = defaultdict(int)
    for row in dropped:
        reasons[row["reason"]] += 1
    return {
        "variant": name,
        "chunks": len(chunks),
        "questions_asked": asked,
        "kept": len(kept),
        "kept_per_chunk": round(len(kept) / len(chunks), 2),
        "facts_per_chunk": round(len(facts) / len(chunks), 2),
        "questions_per_fact": round(len(kept) / max(1, len(facts)), 2),
        "tokens": manifest["tokens"],
        "judge": manifest.get("judge"),
        "wall_s": round(seconds),
        "cpu_s": round(cpu),
        "kept_per_cpu_minute": round(len(kept) / (cpu / 60), 2) if cpu else None,
        "dropped": dict(sorted(reasons.items(), key=lambda item: -item[1])),
        "facts": [
            [(p["question"], p["question_type"], tries[p["chunk_id"], p["question"].strip()]) for p in group]
            + [group[0]["answer"]]
            for group in facts.values()
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--site", choices=("demo", "lanternfish"), default="demo")
    parser.add_argument("--chunks", type=int, default=8, help="chunks, spread over the site's pages")
    parser.add_argument("--types", default="factual,procedural,conceptual")
    parser.add_argument("--tries", type=int, default=None, help="also run the defaults with this many tries per span")
    args = parser.parse_args()

    from bench_generation_quality import lanternfish_chunks

    from docs2qa.generation.qa.generate import spread
    from generate_helpers import demo_chunks

    base = {"questions_per_type": dict.fromkeys(args.types.split(","), 1), "generator": {"batch_size": 4}}
    variants = {
        "before": {**base, "judge": {"enabled": True}, "questions_per_answer": 1},
        "after": base,
    }
    if args.tries:
        variants[f"after-k{args.tries}"] = {**base, "questions_per_answer": args.tries}
    with tempfile.TemporaryDirectory(prefix="bench-tries-") as tmp:
        every = lanternfish_chunks() if args.site == "lanternfish" else demo_chunks(Path(tmp) / "ingest")
        chunks = spread(every, args.chunks)
        results = [run_variant(name, settings, chunks, Path(tmp) / name) for name, settings in variants.items()]
    for result in results:
        print(f"\n== {result['variant']}: {result['kept']} kept, {len(result['facts'])} facts")
        for *questions, answer in result.pop("facts"):
            print(f"  A: {answer[:160]}")
            for question, question_type, attempts in questions:
                print(f"     Q ({question_type}, tries {','.join(map(str, attempts))}): {question}")
        print(json.dumps(result, indent=1))
    print(
        "\n| variant | kept/chunk | facts/chunk | questions/fact | tokens generator (judge) | wall s | CPU s "
        "| kept per CPU-minute |\n|---|---|---|---|---|---|---|---|"
    )
    for r in results:
        gen, judge = (sum(r["tokens"][step].values()) for step in ("generate", "judge"))
        print(
            f"| {r['variant']} | {r['kept_per_chunk']} | {r['facts_per_chunk']} | {r['questions_per_fact']} "
            f"| {gen} ({judge}) | {r['wall_s']} | {r['cpu_s']} | {r['kept_per_cpu_minute']} |"
        )


if __name__ == "__main__":
    main()
