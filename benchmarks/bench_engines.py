"""The embedded SmolLM2 on CPU: transformers (batched, fp32 weights de-quantized from the GGUF)
against llama.cpp (xllamacpp serving the shipped Q4_1 GGUF), on the prompts the generate stage
sends, in one run.

Prompts: real chunks (the demo site, or `--site lanternfish`: the generator-imitation manual no
prompt was tuned on), their answer spans picked as the stage picks them, and
  - question: answer_first.messages (one question per answer, under the question grammar);
  - critique: the judge's prompt (critique_messages, under the critique grammar) for the pairs
    the first transformers run wrote, so every engine judges the same pairs.
Each engine runs each phase in a fresh process, in batches of `--batch-size` as a step sends
them (transformers: one padded batch; llama.cpp: one request per prompt, all in flight, one
slot each), with `--threads` threads: 1 is a step process's share in the pipeline (every step
runs in its own process), the core count is one engine alone on the machine. Engines alternate
within each round, so both see the same machine; only ratios measured side by side mean anything.

Reported per engine and phase: load seconds (not in the rates), wall seconds, completion
tokens/s, prompts/s. Then the questions compared: exact matches with the reference (the first
transformers run), each differing pair side by side, and what the stage's model-free filters and
off-target rules (CHECKS, GATES, OFF_TARGET with the embedded MiniLM) keep of each engine's.
`--stage` also runs `docs2qa generate` end to end once per backend on the same chunks.

    .venv/bin/python benchmarks/bench_engines.py --chunks 8 --threads 1,2
    .venv/bin/python benchmarks/bench_engines.py --site lanternfish --stage
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

ENGINES = ("transformers", "llamacpp")  # the backends `--stage` runs end to end
TYPES = {"factual": 1, "procedural": 1, "conceptual": 1}


# ---------------------------------------------------------------- prompts


def _chunks(site: str, count: int, tmp: Path) -> list:
    from docs2qa.generation.qa.generate import spread

    if site == "lanternfish":
        from bench_generation_quality import lanternfish_chunks

        every = lanternfish_chunks()
    else:
        from generate_helpers import demo_chunks

        every = demo_chunks(tmp / "ingest")
    return spread(every, count)


def question_items(chunks: list) -> list[dict]:
    """One item per answer span, as QuestionUnits builds them."""
    from docs2qa.generation.qa.answer_first import messages, opening, pick_answers

    items = []
    for chunk in chunks:
        for question_type, answers in pick_answers(chunk.text, TYPES).items():
            for answer in answers:
                stem = opening(answer, question_type)
                items.append(
                    {
                        "chunk_id": chunk.chunk_id,
                        "type": question_type,
                        "answer": answer,
                        "text": chunk.text,
                        "title": chunk.title,
                        "heading_path": list(chunk.heading_path),
                        "messages": messages(chunk.title, list(chunk.heading_path), answer, stem),
                    }
                )
    return items


def critique_prompts(items: list[dict], questions: list[str | None]) -> list[list[dict]]:
    from docs2qa.generation.qa.prompts import critique_messages

    return [
        critique_messages(
            "lines", question or "", item["answer"], item["answer"], item["text"], item["title"], item["heading_path"]
        )
        for item, question in zip(items, questions)
    ]


# ---------------------------------------------------------------- one engine, one phase (a child process)


def worker(spec: dict) -> dict:
    """Load the engine, generate every prompt in batches, return timings and texts."""
    from docs2qa.config import LLMConfig
    from docs2qa.generation.llm import build_llm
    from docs2qa.generation.qa.answer_first import question_grammar
    from docs2qa.generation.qa.prompts import critique_grammar

    grammar = question_grammar() if spec["phase"] == "question" else critique_grammar()
    cfg = LLMConfig(
        backend=spec["engine"],
        torch_threads=spec["threads"],
        batch_size=spec["batch_size"],
        max_new_tokens=spec["max_new_tokens"],
    )
    prompts = json.loads(Path(spec["prompts"]).read_text())
    llm = build_llm(cfg, grammar)
    if spec.get("slots"):
        llm.parallel = spec["slots"]
    started = time.perf_counter()
    llm.load()
    load_s = time.perf_counter() - started
    texts: list[str | None] = []
    prompt_tokens = completion_tokens = 0
    import resource

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    for start in range(0, len(prompts), cfg.batch_size):
        batch = prompts[start : start + cfg.batch_size]
        for output in llm.generate_outputs(inputs=batch, num_generations=1, **llm.get_generation_kwargs()):
            texts.append((output.get("generations") or [None])[0])
            stats = output.get("statistics") or {}
            prompt_tokens += sum(stats.get("input_tokens") or [0])
            completion_tokens += sum(stats.get("output_tokens") or [0])
    wall_s = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    llm.unload()
    return {
        "load_s": load_s,
        "wall_s": wall_s,
        # CPU seconds of every thread of the process (llama.cpp's server threads included): less
        # swayed than wall time by what else the machine runs, though spinning threads count too.
        "cpu_s": (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "texts": texts,
    }


def run_worker(spec: dict, folder: Path) -> dict:
    out = folder / f"{spec['phase']}-{spec['engine']}-{spec['slots']}-{spec['threads']}-{spec['round']}.json"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(spec["threads"]),
        "TRANSFORMERS_VERBOSITY": "error",
        "PYTHONWARNINGS": "ignore",
    }
    argv = [sys.executable, __file__, "--worker", json.dumps({**spec, "out": str(out)})]
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{spec}: worker failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


# ---------------------------------------------------------------- comparison


def parse_questions(texts: list[str | None]) -> list[str | None]:
    from docs2qa.generation.qa.answer_first import parse_question
    from docs2qa.generation.qa.parsing import ParseError

    questions: list[str | None] = []
    for text in texts:
        try:
            questions.append(parse_question(text or ""))
        except ParseError:
            questions.append(None)
    return questions


def kept_by_filters(items: list[dict], questions: list[str | None]) -> list[str | None]:
    """None for a question the stage's checks, gates and off-target rules keep, else the reason."""
    from docs2qa.generation.qa.config import GenerateConfig
    from docs2qa.generation.qa.keep.checks import CHECKS
    from docs2qa.generation.qa.keep.filters import FilterContext, apply, candidate_of
    from docs2qa.generation.qa.keep.gates import GATES
    from docs2qa.generation.qa.keep.off_target import OFF_TARGET
    from docs2qa.models.embeddings import load_embedder

    cfg = GenerateConfig()
    model = load_embedder(cfg.dedup.model)

    def embed(texts):
        return model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    reasons: list[str | None] = []
    for item, question in zip(items, questions):
        if question is None:
            reasons.append("unparsed")
            continue
        candidate = candidate_of(
            question,
            item["answer"],
            item["answer"],
            item["text"],
            question_type=item["type"],
            title=item["title"],
            heading_path=item["heading_path"],
            strategy="answer_first",
        )
        apply((*CHECKS, *GATES, *OFF_TARGET), [candidate], FilterContext(cfg, embed))
        reasons.append(candidate.failure[0] if candidate.failure else None)
    return reasons


def critique_parses(texts: list[str | None]) -> int:
    from docs2qa.generation.qa.parsing import ParseError, parse_critique

    count = 0
    for text in texts:
        try:
            parse_critique(text or "", "lines")
            count += 1
        except ParseError:
            pass
    return count


# ---------------------------------------------------------------- end to end


def stage_runs(chunks: list, folder: Path, batch_size: int) -> dict[str, dict]:
    """`docs2qa generate` once per backend on the same chunks: wall seconds and pairs kept."""
    import pyarrow.parquet as pq

    from generate_helpers import docs2qa, make_run

    results = {}
    for engine in ENGINES:
        settings = {
            "strategy": "answer_first",
            "questions_per_type": TYPES,
            "generator": {"backend": engine, "batch_size": batch_size, "max_new_tokens": 200},
        }
        where = folder / f"stage-{engine}"
        where.mkdir(parents=True)
        run, config = make_run(where, chunks, settings)
        started = time.monotonic()
        done = docs2qa("generate", "-c", str(config), "--run", str(run), timeout=3600)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"{engine}: docs2qa generate failed:\n{done.stderr[-3000:]}")
        kept = pq.read_table(run / "generate" / "pairs.parquet").to_pylist()
        results[engine] = {"wall_s": round(seconds, 1), "kept": len(kept), "questions": [p["question"] for p in kept]}
    return results


# ---------------------------------------------------------------- main


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _label(variant: tuple[str, int | None]) -> str:
    engine, slots = variant
    return engine if slots is None else f"{engine} slots={slots}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=8, help="chunks, spread over the site's pages")
    parser.add_argument("--site", choices=("demo", "lanternfish"), default="demo")
    parser.add_argument("--threads", default=f"1,{os.cpu_count()}", help="thread counts to measure, comma-separated")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per batch (generate.generator.batch_size)")
    parser.add_argument(
        "--slots", default="", help="llama.cpp slot counts to measure (comma-separated); default: the backend's own"
    )
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1, help="repeat every measurement; medians are reported")
    parser.add_argument("--phases", default="question,critique")
    parser.add_argument("--stage", action="store_true", help="also time `docs2qa generate` end to end per backend")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        Path(spec["out"]).write_text(json.dumps(worker(spec)))
        return

    threads = [int(t) for t in args.threads.split(",")]
    phases = args.phases.split(",")
    slots = [int(n) for n in args.slots.split(",")] if args.slots else [None]
    variants: list[tuple[str, int | None]] = [("transformers", None), *(("llamacpp", n) for n in slots)]
    reference = variants[0]
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        folder = Path(tmp)
        chunks = _chunks(args.site, args.chunks, folder)
        items = question_items(chunks)
        print(f"{len(chunks)} chunks ({args.site}), {len(items)} answer spans, batch {args.batch_size}, ", end="")
        print(f"threads {threads}, {args.rounds} round(s), {os.cpu_count()} CPUs", flush=True)
        results: dict[tuple[str, tuple[str, int | None], int], list[dict]] = {}
        prompt_files = {"question": folder / "question.json"}
        prompt_files["question"].write_text(json.dumps([i["messages"] for i in items]))
        for phase in phases:
            for round_ in range(args.rounds):
                for count in threads:
                    for variant in variants:
                        if phase == "critique" and "critique" not in prompt_files:
                            texts = results[("question", reference, threads[0])][0]["texts"]
                            prompt_files["critique"] = folder / "critique.json"
                            prompt_files["critique"].write_text(
                                json.dumps(critique_prompts(items, parse_questions(texts)))
                            )
                        spec = {
                            "phase": phase,
                            "engine": variant[0],
                            "slots": variant[1],
                            "threads": count,
                            "round": round_,
                            "batch_size": args.batch_size,
                            "max_new_tokens": args.max_new_tokens,
                            "prompts": str(prompt_files[phase]),
                        }
                        result = run_worker(spec, folder)
                        results.setdefault((phase, variant, count), []).append(result)
                        print(
                            f"  {phase:8} {_label(variant):22} threads={count} round {round_}: "
                            f"{result['wall_s']:.1f} s ({result['cpu_s']:.1f} CPU s), "
                            f"{result['prompt_tokens']}+{result['completion_tokens']} tokens",
                            flush=True,
                        )
        stage = stage_runs(chunks, folder, args.batch_size) if args.stage else None

    print(
        "\n| phase | threads | engine | load s | wall s | completion tok/s | prompts/s | speed-up (wall) "
        "| CPU s | speed-up (CPU) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for phase in phases:
        for count in threads:
            base = _median(results[(phase, reference, count)], "wall_s")
            base_cpu = _median(results[(phase, reference, count)], "cpu_s")
            for variant in variants:
                runs = results[(phase, variant, count)]
                wall, cpu = _median(runs, "wall_s"), _median(runs, "cpu_s")
                tokens = runs[0]["completion_tokens"]
                print(
                    f"| {phase} | {count} | {_label(variant)} | {_median(runs, 'load_s'):.1f} | {wall:.1f} "
                    f"| {tokens / wall:.1f} | {len(items) / wall:.2f} | {base / wall:.2f}x "
                    f"| {cpu:.1f} | {base_cpu / cpu:.2f}x |"
                )

    if "question" in phases:
        base_questions = parse_questions(results[("question", reference, threads[0])][0]["texts"])
        kept_reference = kept_by_filters(items, base_questions)
        print(f"\nQuestions compared with transformers threads={threads[0]} (round 0), {len(items)} spans:")
        print(f"  transformers threads={threads[0]}: filters keep {kept_reference.count(None)}/{len(items)}")
        for count in threads:
            for variant in variants:
                runs = results[("question", variant, count)]
                questions = parse_questions(runs[0]["texts"])
                if (variant, count) != (reference, threads[0]):
                    same = sum(a == b for a, b in zip(questions, base_questions))
                    kept = kept_by_filters(items, questions)
                    print(
                        f"  {_label(variant)} threads={count}: exact match {same}/{len(items)} "
                        f"({same / len(items):.0%}), parsed {sum(q is not None for q in questions)}, "
                        f"filters keep {kept.count(None)}"
                    )
                    if variant[0] == "llamacpp" and count == threads[0]:
                        print("    differing: the answer; T: transformers' question, L: llama.cpp's [filters' verdict]")
                        for item, a, b, ka, kb in zip(items, base_questions, questions, kept_reference, kept):
                            if a != b:
                                print(f"    - {item['answer'][:100]!r}\n      T: {a} [{ka or 'kept'}]")
                                print(f"      L: {b} [{kb or 'kept'}]")
                for other in runs[1:]:
                    stable = sum(a == b for a, b in zip(questions, parse_questions(other["texts"])))
                    print(f"    {_label(variant)} threads={count}, round 0 vs a later round: {stable} identical")
    if "critique" in phases:
        for count in threads:
            for variant in variants:
                texts = results[("critique", variant, count)][0]["texts"]
                print(f"  critique {_label(variant)} threads={count}: {critique_parses(texts)}/{len(texts)} parse")

    if stage:
        print("\n| end to end (docs2qa generate) | wall s | pairs kept |\n|---|---|---|")
        for engine, result in stage.items():
            print(f"| {engine} | {result['wall_s']} | {result['kept']} |")
        print(f"speed-up {stage['transformers']['wall_s'] / stage['llamacpp']['wall_s']:.2f}x")
        for engine, result in stage.items():
            print(f"  {engine} kept: " + " | ".join(result["questions"]))


if __name__ == "__main__":
    main()
