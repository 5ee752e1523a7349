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
(tests/generator_sites: 4 pages, 7 chunks) instead. `--site pennant` uses a real-looking
Docusaurus site of an invented app-hosting platform (tests/fixture_sites/pennant: 13 pages,
24 chunks), read as `crawl.local_dir` and converted and chunked as a run does; its kept pairs
were read to write the why rule, so it is no longer held out. `--site shalebase` (an MkDocs
Material site, 13 pages, 29 chunks) is where the dropped units of tests/data/dropped_labels.jsonl
were labelled, so it is not a held-out site either. `--site lantern-cli` is a command reference
(tests/generator_sites/cli_reference.py rendered as Sphinx: 6 pages, 39 chunks) for pairs whose
answers are commands. `--site larkspur` is a Sphinx site in the Read the Docs theme of an
invented feature-flag and experimentation service (tests/fixture_sites/larkspur: 20 pages, 89
chunks); it was held out until its kept pairs were read to write the what-does, what-happens-to
and why-denied rules (tests/data/larkspur_kept_labels.jsonl). `--site quillmark` is a Hugo Docsy
site of an invented e-signature service (tests/fixture_sites/quillmark: 22 pages, 130 chunks),
written after those rules by someone who never read them; it was held out until its kept pairs
were read to change span picking. `--site tidewell`, written after that by someone who never
read the rules, is a VitePress site of an invented database backup-and-restore service
(tests/fixture_sites/tidewell: 22 pages, 148 chunks); it was held out for one measurement (at
30fd31d), then its kept pairs were read to write rules. `--site belfry` is an Astro Starlight
site of an invented scheduled-jobs and workflow service (tests/fixture_sites/belfry: 24 pages,
184 chunks), written after those rules by someone who never read them; it was held out for one
measurement (at 6b4e35b), then its kept pairs were read to write rules. `--site skerry` is a
Docusaurus 3.5 site of an invented object storage and CDN service (tests/fixture_sites/skerry:
22 pages, 129 chunks), written after those rules by someone who never read them; it was held out
for one measurement (at 98c757c), then its kept pairs were read to write rules. No site is held
out now: a held-out figure for the next rule change needs a site written after it.

    .venv/bin/python benchmarks/bench_generation_quality.py --chunks 12 --types factual
    .venv/bin/python benchmarks/bench_generation_quality.py --site lanternfish --strategies answer_first
    .venv/bin/python benchmarks/bench_generation_quality.py --site pennant --chunks 24 \
        --types factual,procedural,conceptual --strategies answer_first

`--compare-with REV` measures what a change to generation bought instead: the same chunks go
through `docs2qa generate` of the code at git revision REV and of this working tree, each with
its own defaults (so the settings are each code's own: REV's judge, tries and engine), one after
the other in one run. It reports kept pairs and distinct facts (answer spans) per chunk, the
stage's CPU seconds (every process it started) and kept pairs per CPU-second with their ratio,
and writes every kept pair beside its chunk to --pairs-out for a reader to grade.

    .venv/bin/python benchmarks/bench_generation_quality.py --site quillmark --chunks 30 \
        --types factual,procedural,conceptual --compare-with 70d409f --pairs-out quillmark-pairs.jsonl
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
# Fixture docs sites read from a folder (crawl.local_dir): the folder and the URL its pages are published under.
LOCAL_SITES = {
    "pennant": (ROOT / "tests" / "fixture_sites" / "pennant", "https://docs.pennant.example/"),
    "shalebase": (ROOT / "tests" / "fixture_sites" / "shalebase", "https://docs.shalebase.example/"),
    "larkspur": (ROOT / "tests" / "fixture_sites" / "larkspur", "https://docs.larkspur.example/en/latest/"),
    "quillmark": (ROOT / "tests" / "fixture_sites" / "quillmark", "https://docs.quillmark.example/"),
    "tidewell": (ROOT / "tests" / "fixture_sites" / "tidewell", "https://docs.tidewell.example/"),
    "belfry": (ROOT / "tests" / "fixture_sites" / "belfry", "https://docs.belfry.example/"),
    "skerry": (ROOT / "tests" / "fixture_sites" / "skerry", "https://docs.skerry.example/"),
    "marram": (ROOT / "tests" / "fixture_sites" / "marram", "https://docs.marram.example/"),
}


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


def code_at(rev: str, tmp: Path) -> Path:
    """The code of git revision `rev`, laid out as pyproject's package-dir installs it
    (generation/, curation/ and finetune/ inside docs2qa/), so `python -m docs2qa` run from
    it imports that code and not this working tree's."""
    root = tmp / f"code-{rev}"
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    for sub in ("generation", "curation", "finetune"):
        (root / "docs2qa" / sub).symlink_to(root / sub)
    return root


def run_code(label: str, code: Path, chunks, types: dict, folder: Path) -> dict:
    """`docs2qa generate` of the code in `code` with its defaults (the demo's question types and
    generator batch): kept pairs, distinct facts, and the CPU time of every process it ran."""
    import pyarrow.parquet as pq

    from generate_helpers import make_run

    folder.mkdir(parents=True)
    run, config = make_run(folder, chunks, {"questions_per_type": types, "generator": {"batch_size": 4}})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "docs2qa", "generate", "-c", str(config), "--run", str(run)],
        cwd=code,  # `-m` puts the working directory first on sys.path: its docs2qa is imported
        env={**os.environ, "PYTHONPATH": str(code), "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=7200,
    )
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{label}: docs2qa generate failed:\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    manifest = json.loads((run / "generate" / "manifest.json").read_text())
    kept = pq.read_table(run / "generate" / "pairs.parquet").to_pylist()
    dropped = pq.read_table(run / "generate" / "dropped.parquet").to_pylist()
    # Code from before fact_id names a fact by its chunk and answer span.
    facts = {p.get("fact_id") or (p["chunk_id"], p["answer"]) for p in kept}
    return {
        "code": label,
        "chunks": len(chunks),
        "kept": len(kept),
        "facts": len(facts),
        "kept_per_chunk": round(len(kept) / len(chunks), 2),
        "facts_per_chunk": round(len(facts) / len(chunks), 2),
        "wall_s": round(seconds),
        "cpu_s": round(cpu),
        "kept_per_cpu_s": round(len(kept) / cpu, 4),
        "tokens": {step: sum(t.values()) for step, t in manifest["tokens"].items()},
        "judge": manifest.get("judge") or {"enabled": True},
        "dropped": dict(Counter(d["reason"] for d in dropped).most_common()),
        "pairs": kept,
        "dropped_rows": dropped,
    }


def compare(rev: str, chunks, types: dict, tmp: Path, pairs_out: Path | None) -> None:
    by_chunk = {c.chunk_id: c for c in chunks}
    results = [
        run_code(rev, code_at(rev, tmp), chunks, types, tmp / "before"),
        run_code("working tree", ROOT, chunks, types, tmp / "after"),
    ]
    if pairs_out:
        with pairs_out.open("w") as out:
            for r in results:
                for p in r["pairs"]:
                    chunk = by_chunk[p["chunk_id"]]
                    row = {"code": r["code"], **{k: p.get(k) for k in ("chunk_id", "fact_id", "question_type")}}
                    row |= {"question": p["question"], "answer": p["answer"], "chunk": chunk.text}
                    out.write(json.dumps(row) + "\n")
        # Every drop beside them, with its reason: what a reader reads to judge the rules.
        with pairs_out.with_suffix(".dropped.jsonl").open("w") as out:
            for r in results:
                for d in r.pop("dropped_rows"):
                    out.write(
                        json.dumps({"code": r["code"], **{k: d[k] for k in ("item_id", "reason", "detail")}}) + "\n"
                    )
    print("\n| code | kept/chunk | facts/chunk | tokens | wall s | CPU s | kept per CPU-s |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        r.pop("pairs")
        r.pop("dropped_rows", None)
        print(
            f"| {r['code']} | {r['kept_per_chunk']} | {r['facts_per_chunk']} | {r['tokens']} | {r['wall_s']} "
            f"| {r['cpu_s']} | {r['kept_per_cpu_s']} |"
        )
    print(json.dumps(results, indent=1))
    ratio = results[1]["kept_per_cpu_s"] / max(1e-9, results[0]["kept_per_cpu_s"])
    print(f"\nkept pairs per CPU-second, working tree / {rev}: {ratio:.2f}x")


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


def local_site_chunks(site: str, tmp: Path) -> list:
    """A fixture site's chunks, through crawl (crawl.local_dir), convert and chunk as a run makes them."""
    from docs2qa.config import load_config
    from docs2qa.generation.ingest import stages
    from docs2qa.records import Chunk
    from docs2qa.store import RunStore

    folder, base_url = LOCAL_SITES[site]
    config = load_config(None, [f"name={site}", f"crawl.local_dir={folder}", f"crawl.local_base_url={base_url}"])
    store = RunStore(tmp)
    for stage in (stages.crawl, stages.convert, stages.chunk):
        stage(config, store)
    return store.stage("chunk").read("chunks", Chunk)


def cli_reference_chunks(tmp: Path) -> list:
    """The chunks of the invented `lantern` command reference (tests/generator_sites/cli_reference.py:
    a page per command, Synopsis blocks, option sections shared word for word), as Sphinx renders
    it, read like the fixture sites above."""
    from generator_sites.cli_reference import PAGES
    from generator_sites.sites import build

    folder = tmp / "lantern-cli"
    build("sphinx", folder, PAGES)
    LOCAL_SITES["lantern-cli"] = (folder, "https://lantern.example/")
    return local_site_chunks("lantern-cli", tmp / "ingest")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=12, help="chunks, spread over the site's pages")
    parser.add_argument("--types", default="factual", help="question types, comma-separated, one question each")
    parser.add_argument("--strategies", default="free,answer_first")
    parser.add_argument(
        "--site",
        choices=("demo", "lanternfish", "lantern-cli", *LOCAL_SITES),
        default="demo",
        help="whose chunks to ask about",
    )
    parser.add_argument("--compare-with", metavar="REV", help="compare this working tree with the code at git REV")
    parser.add_argument(
        "--pairs-out",
        type=Path,
        help="with --compare-with: every kept pair, as JSON lines (and every drop, in FILE.dropped.jsonl)",
    )
    parser.add_argument(
        "--show-chunks", action="store_true", help="print each chunk's text, to read kept pairs beside it"
    )
    args = parser.parse_args()

    from docs2qa.generation.qa.generate import spread
    from generate_helpers import demo_chunks

    types = {t: 1 for t in args.types.split(",")}
    with tempfile.TemporaryDirectory(prefix="bench-genq-") as tmp:
        if args.site == "lanternfish":
            every = lanternfish_chunks()
        elif args.site == "lantern-cli":
            every = cli_reference_chunks(Path(tmp))
        elif args.site in LOCAL_SITES:
            every = local_site_chunks(args.site, Path(tmp) / "ingest")
        else:
            every = demo_chunks(Path(tmp) / "ingest")
        chunks = spread(every, args.chunks)
        if args.compare_with:
            compare(args.compare_with, chunks, types, Path(tmp), args.pairs_out)
            return
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
