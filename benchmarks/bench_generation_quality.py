"""Generation quality and cost, `free` vs `answer_first`, on the same chunks in one run.

The demo site's chunks (spread over its pages like the demo's `generate.max_chunks`) go
through `docs2qa generate` twice with the embedded SmolLM2, once per strategy. For each:
  - pairs kept per chunk;
  - of every pair the model produced, the share the support gate accepts, and how many the
    echo and degenerate gates flag (what the model writes, before any filtering);
  - echo and degenerate pairs among the kept (must be 0);
  - prompt+completion tokens (generator and judge) per kept pair, and wall time;
  - the judge's health (judge_health in the manifest).
Kept pairs are printed beside their answers so a reader can grade them.
`--site lanternfish` uses the Lanternfish manual of the generator-imitation fixtures
(tests/generator_sites: 4 pages, 7 chunks) instead: pages no prompt or check was tuned on.

    .venv/bin/python benchmarks/bench_generation_quality.py --chunks 12 --types factual
    .venv/bin/python benchmarks/bench_generation_quality.py --site lanternfish --strategies answer_first
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def run_strategy(strategy: str, chunks, types: dict, folder: Path) -> dict:
    import pyarrow.parquet as pq

    from docs2qa.generation.qa import journal
    from docs2qa.generation.qa.config import GenerateConfig
    from docs2qa.generation.qa.keep.gates import gate_pair
    from generate_helpers import docs2qa, make_run

    settings = {
        "strategy": strategy,
        "questions_per_type": types,
        "generator": {"batch_size": 4, "max_new_tokens": 200},
    }
    folder.mkdir(parents=True)
    run, config = make_run(folder, chunks, settings)
    started = time.monotonic()
    result = docs2qa("generate", "-c", str(config), "--run", str(run), timeout=3600)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{strategy}: docs2qa generate failed:\n{result.stderr[-3000:]}")
    manifest = json.loads((run / "generate" / "manifest.json").read_text())
    kept = pq.read_table(run / "generate" / "pairs.parquet").to_pylist()
    dropped = pq.read_table(run / "generate" / "dropped.parquet").to_pylist()
    by_chunk = {c.chunk_id: c for c in chunks}
    cfg = GenerateConfig()
    produced = []  # (reason the gates give or None) for every pair the model wrote
    for record in journal.read(run / "generate" / journal.UNITS):
        for pair in record["pairs"]:
            failure = gate_pair(
                pair["question"],
                pair["answer"],
                pair.get("evidence") or "",
                by_chunk[record["chunk_id"]].text,
                record["question_type"],
                cfg,
            )
            produced.append(failure[0] if failure else None)
    kept_reasons = [
        gate_pair(p["question"], p["answer"], p["evidence"], by_chunk[p["chunk_id"]].text, p["question_type"], cfg)
        for p in kept
    ]
    tokens = sum(sum(step.values()) for step in manifest["tokens"].values())
    return {
        "strategy": strategy,
        "seconds": round(seconds),
        "chunks": len(chunks),
        "produced": len(produced),
        "kept": len(kept),
        "kept_per_chunk": round(len(kept) / len(chunks), 2),
        "supported_share": round(sum(r != "unsupported" for r in produced) / max(1, len(produced)), 2),
        "echo_produced": produced.count("echo"),
        "degenerate_produced": produced.count("degenerate"),
        "echo_kept": sum(1 for r in kept_reasons if r and r[0] == "echo"),
        "degenerate_kept": sum(1 for r in kept_reasons if r and r[0] == "degenerate"),
        "tokens": manifest["tokens"],
        "tokens_per_kept_pair": round(tokens / len(kept)) if kept else None,
        "generator_tokens_per_kept_pair": round(sum(manifest["tokens"]["generate"].values()) / len(kept))
        if kept
        else None,
        "judge_health": manifest["judge_health"],
        "skipped_chunks": manifest.get("skipped_chunks"),
        "dropped": dict(Counter(d["reason"] for d in dropped).most_common()),
        "dropped_rows": [(d["item_id"], d["reason"], d["detail"]) for d in dropped],
        "pairs": [(p["chunk_id"], p["question"], p["answer"]) for p in kept],
    }


def lanternfish_chunks() -> list:
    """The Lanternfish fixture manual, each page as its Markdown rendering, chunked as the chunk stage does."""
    import hashlib

    from docs2qa.generation.ingest.chunk import chunk_document
    from docs2qa.generation.ingest.config import ChunkConfig
    from docs2qa.generation.ingest.tokenizer import load_token_counter
    from docs2qa.records import Document
    from generator_sites.content import PAGES
    from generator_sites.sites import _markdown

    cfg = ChunkConfig()
    counter = load_token_counter(cfg.tokenizer)
    chunks = []
    for page in PAGES:
        markdown = _markdown(page)
        sha = hashlib.sha256(markdown.encode()).hexdigest()
        url = f"https://lanternfish.example/{page[0]}/"
        chunks += chunk_document(
            Document(page[0], url, page[1], markdown, sha, "2026-11-30T00:00:00+00:00"), counter, cfg
        )
    return chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=12, help="chunks, spread over the demo site's pages")
    parser.add_argument("--types", default="factual", help="question types, comma-separated, one question each")
    parser.add_argument("--strategies", default="free,answer_first")
    parser.add_argument("--site", choices=("demo", "lanternfish"), default="demo", help="whose chunks to ask about")
    parser.add_argument(
        "--show-chunks", action="store_true", help="print each chunk's text, to read kept pairs beside it"
    )
    args = parser.parse_args()

    from docs2qa.generation.qa.generate import spread
    from generate_helpers import demo_chunks

    types = {t: 1 for t in args.types.split(",")}
    with tempfile.TemporaryDirectory(prefix="bench-genq-") as tmp:
        every = lanternfish_chunks() if args.site == "lanternfish" else demo_chunks(Path(tmp) / "ingest")
        chunks = spread(every, args.chunks)
        results = [run_strategy(s, chunks, types, Path(tmp) / s) for s in args.strategies.split(",")]
    if args.show_chunks:
        for chunk in chunks:
            print(f"\n-- chunk {chunk.chunk_id} {' > '.join(chunk.heading_path)}\n{chunk.text}")
    for result in results:
        print(
            f"\n== {result['strategy']}: {result['kept']} kept of {result['produced']} produced, "
            f"{result['chunks']} chunks, {result['seconds']} s"
        )
        for chunk_id, question, answer in result.pop("pairs"):
            print(f"  [{chunk_id}] Q: {question}\n     A: {answer[:200]}")
        for item_id, reason, detail in result.pop("dropped_rows"):
            print(f"  dropped {item_id} {reason}: {detail[:200]}")
        print(json.dumps(result, indent=1))
    print(
        "\n| strategy | kept/chunk | supported share | echo produced/kept | degenerate produced/kept "
        "| tokens per kept pair (generator) | wall s |\n|---|---|---|---|---|---|---|"
    )
    for r in results:
        print(
            f"| {r['strategy']} | {r['kept_per_chunk']} | {r['supported_share']} "
            f"| {r['echo_produced']}/{r['echo_kept']} "
            f"| {r['degenerate_produced']}/{r['degenerate_kept']} | {r['tokens_per_kept_pair']} "
            f"({r['generator_tokens_per_kept_pair']}) | {r['seconds']} |"
        )
    if len(results) == 2 and all(r["tokens_per_kept_pair"] for r in results):
        print(
            f"\ntokens per kept pair, {results[0]['strategy']} / {results[1]['strategy']}: "
            f"{results[0]['tokens_per_kept_pair'] / results[1]['tokens_per_kept_pair']:.1f}x; "
            f"wall time ratio {results[0]['seconds'] / max(1, results[1]['seconds']):.2f}"
        )


if __name__ == "__main__":
    main()
