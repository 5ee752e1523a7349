"""A run whose generate stage holds pairs about the real demo chunks, for export tests.

The pairs are written here, not generated: these tests are about what export does with
pairs (splits, leakage, formats, versions), and the generate stage has its own tests.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from docs2qa.config import load_config
from docs2qa.records import Chunk, QAPair, pair_id
from docs2qa.store import RunStore, StageResult

ROOT = Path(__file__).resolve().parents[1]
TYPES = ("factual", "procedural", "conceptual", "yes_no")


def pair_for(chunk: Chunk, i: int, question: str | None = None, answer: str | None = None) -> QAPair:
    words = re.findall(r"[A-Za-z][A-Za-z-]+", chunk.text)[:12]
    question = question or f"In '{chunk.title}', what does the part starting '{' '.join(words[:6])}' say?"
    return QAPair(
        pair_id=pair_id(chunk.chunk_id, "prompt-g", "gen-model", question),
        chunk_id=chunk.chunk_id,
        page_id=chunk.page_id,
        url=chunk.url,
        anchor_url=chunk.anchor_url,
        title=chunk.title,
        heading_path=list(chunk.heading_path),
        question=question,
        answer=answer or "It says: " + " ".join(words[6:12]) + ".",
        question_type=TYPES[i % len(TYPES)],
        evidence=" ".join(words[:4]),
        generator_model="gen-model",
        generate_prompt_hash="prompt-g",
        score_grounded=5,
        score_correct=4 + i % 2,
        score_useful=3 + i % 3,
        score_standalone=5,
        judge_verdict="keep",
        judge_model="judge-model",
        judge_prompt_hash="prompt-j",
    )


def write_pairs(store: RunStore, pairs: list[QAPair]) -> None:
    store.run_stage("generate", "test", ["chunk"], lambda stage: StageResult({"pairs": (pairs, QAPair)}, len(pairs)))


def demo_run(tmp: Path, **export) -> tuple[Path, RunStore, list[Chunk]]:
    """crawl -> convert -> chunk of the demo site in tmp/run, pairs for every chunk, and a
    config file whose export section is `export` (root under tmp)."""
    from docs2qa.generation.ingest import stages

    config_path = tmp / "exp.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "name": "exp",
                "crawl": {
                    "demo_site": True,
                    "seeds": ["https://acme-cloud.example/docs/"],
                    "allow_private_addresses": True,
                },
                "export": {"root": str(tmp / "datasets"), "source": "generation", **export},
            }
        )
    )
    config = load_config(config_path)
    store = RunStore(tmp / "run")
    for stage in (stages.crawl, stages.convert, stages.chunk):
        stage(config, store)
    chunks = store.stage("chunk").read("chunks", Chunk)
    write_pairs(store, [pair_for(c, i) for i, c in enumerate(chunks)])
    return config_path, store, chunks
