"""`docs2qa export`: freeze a curation snapshot (or, skipping review, the generated pairs) into
a dataset version (docs2qa/datastore/versions.py), with the lineage of every input in its manifest.

Every pair that does not make it into the version is written to the stage's dropped table
with the reason: not accepted in review (by status), or removed as leakage across splits.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

from docs2qa.config import Config, ExportConfig
from docs2qa.curation.judge_state import DEMO_WITHOUT_JUDGE, generate_judge
from docs2qa.datastore.versions import CANONICAL_COLUMNS
from docs2qa.errors import AwaitingReview, Docs2qaError
from docs2qa.fsio import library_versions
from docs2qa.pipeline import record
from docs2qa.records import Chunk, Dropped, Page, QAPair
from docs2qa.store import RunStore, StageResult

NOT_CURATED = "none (not human-curated)"
_LIBRARIES = (
    "docs2qa",
    "distilabel",
    "argilla",
    "transformers",
    "sentence-transformers",
    "datasets",
    "pyarrow",
    "torch",
)


def canonical_row(
    pair: QAPair, chunk: Chunk | None, curation: str, question: str | None = None, answer: str | None = None
) -> dict:
    scores = (pair.score_grounded, pair.score_correct, pair.score_useful, pair.score_standalone)
    values = {
        "pair_id": pair.pair_id,
        "question": (question or pair.question).strip(),
        "answer": (answer if answer is not None else pair.shown_answer).strip(),  # uncurated: the judge's revision
        "context": chunk.text if chunk else "",
        "question_type": pair.question_type,
        "page_id": pair.page_id,
        "url": pair.url,
        "anchor_url": pair.anchor_url,
        "title": pair.title,
        "heading_path": list(pair.heading_path),
        "chunk_id": pair.chunk_id,
        "fact_id": pair.fact_id,
        "generator_model": pair.generator_model,
        "min_judge_score": min(scores),
        "curation": curation,
    }
    # The columns and their order are the store's (CANONICAL_COLUMNS); a value missing here fails loudly.
    return {column: values[column] for column in CANONICAL_COLUMNS}


def rows_from_generation(pairs: list[QAPair], chunks: dict[str, Chunk]) -> list[dict]:
    return [canonical_row(p, chunks.get(p.chunk_id), NOT_CURATED) for p in pairs]


def rows_from_snapshot(
    snapshot_rows: list[dict], pairs: dict[str, QAPair], chunks: dict[str, Chunk]
) -> tuple[list[dict], list[Dropped]]:
    """Accepted pairs with the people's final texts; everything else as dropped with its status."""
    rows, dropped = [], []
    for decision in snapshot_rows:
        pair = pairs.get(decision["pair_id"])
        ref = decision.get("page_url", "")
        if pair is None:
            dropped.append(
                Dropped(
                    decision["pair_id"],
                    ref,
                    "not_in_generation",
                    "the snapshot names a pair this run's generate stage no longer has",
                )
            )
        elif decision["status"] != "accepted":
            dropped.append(
                Dropped(
                    pair.pair_id,
                    pair.anchor_url,
                    f"curation_{decision['status']}".replace("-", "_"),
                    decision.get("reason", ""),
                )
            )
        else:
            rows.append(
                canonical_row(
                    pair, chunks.get(pair.chunk_id), decision["curation"], decision["question"], decision["answer"]
                )
            )
    return rows, dropped


def code_version() -> dict:
    """The package version, and the git commit when docs2qa runs from a checkout."""
    from docs2qa import __version__

    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "-C", str(here), "status", "--porcelain"], capture_output=True, text=True, timeout=5
            ).stdout.strip()
        )
    except (OSError, subprocess.TimeoutExpired):
        commit, dirty = "", False
    return {"docs2qa": __version__, "git_commit": commit, "git_dirty": dirty}


def curation_note(source: str, curation: dict) -> str:
    if source == "generation":
        return (
            "Exported straight from generation: no person reviewed these pairs; "
            "only the automatic filters below chose them."
        )
    by_policy = curation.get("counts", {}).get("accepted", 0) and curation.get("demo_policy_accepted", 0)
    if by_policy and not (curation.get("judge") or {}).get("enabled", True):
        return (
            f"{by_policy} pair(s) were accepted by the demo policy without a judge "
            f"({DEMO_WITHOUT_JUDGE}), not by a person."
        )
    if by_policy:
        return (
            f"{by_policy} pair(s) were accepted by the demo policy (curate.demo_accept_min_score="
            f"{curation.get('demo_accept_min_score')}, the judge's lowest score), not by a person."
        )
    return ""


def lineage(config: Config, store: RunStore, pairs: list[QAPair], source: str, curation: dict) -> dict:
    pages = store.stage("crawl").read("pages", Page)
    generate = store.stage("generate").manifest() or {}
    return {
        "source": source,
        "source_url": (config.crawl.seeds or config.crawl.sitemaps or [_local_source(config.crawl)])[0],
        "curation_note": curation_note(source, curation),
        "run": {
            "name": config.name,
            "folder": _published_path(store.root),
            "config_hash": config.hash(),
            "stage_outputs": {s: store.stage(s).output_hash() for s in ("crawl", "convert", "chunk", "generate")},
        },
        "crawl": {
            "pages": sorted(({"url": p.url, "body_sha256": p.body_sha256} for p in pages), key=lambda p: p["url"])
        },
        "generation": {
            "config_hash": generate.get("config_hash", ""),
            "generator_model": ", ".join(sorted({p.generator_model for p in pairs})),
            "judge_model": ", ".join(sorted({p.judge_model for p in pairs if p.judge_model})),
            "prompt_hashes": sorted(
                {p.generate_prompt_hash for p in pairs} | {p.judge_prompt_hash for p in pairs if p.judge_prompt_hash}
            ),
            # What filtered the pairs, for the card and report: drops by reason, whether a judge
            # ran at all, and its health.
            "dropped": (generate.get("counts") or {}).get("dropped", {}),
            "judge": generate_judge(generate, pairs),
            "judge_health": generate.get("judge_health"),
            "strategy": generate.get("strategy"),
        },
        "curation": curation,
        "code": code_version(),
        "libraries": library_versions(_LIBRARIES),
    }


def _published_path(path: Path) -> str:
    """A path as the manifest may publish it: relative to the working folder when inside it,
    else its last part only; an absolute path would publish a home or temp folder."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


def _local_source(crawl) -> str:
    return crawl.local_base_url or (f"the local folder {Path(crawl.local_dir).name}" if crawl.local_dir else "")


def _snapshot(config: Config, store: RunStore):
    from docs2qa.curation.snapshot import latest_snapshot, read_snapshot, snapshots_dir

    path = snapshots_dir(store.root) / config.export.snapshot if config.export.snapshot else latest_snapshot(store.root)
    if path is None:
        raise Docs2qaError(
            f"run {store.root} has no curation snapshot to export",
            "review the pairs, run `docs2qa curate pull`, then export again; or export unreviewed "
            "pairs with --set export.source=generation",
        )
    return read_snapshot(path)


def export(config: Config, store: RunStore) -> dict:
    """The export stage: write (or find) the version of this run's curated pairs."""
    from docs2qa.curation import leakage
    from docs2qa.curation import splits as splitting
    from docs2qa.datastore.versions import read_manifest, write_version

    cfg: ExportConfig = config.export

    def body(stage) -> StageResult:
        pairs = store.stage("generate").read("pairs", QAPair)
        chunks = {c.chunk_id: c for c in store.stage("chunk").read("chunks", Chunk)}
        if cfg.source == "curation":
            snapshot_rows, meta = _snapshot(config, store)
            rows, dropped = rows_from_snapshot(snapshot_rows, {p.pair_id: p for p in pairs}, chunks)
            curation = {
                "snapshot_id": meta["snapshot_id"],
                "pulled_at": meta.get("pulled_at"),
                "policy": meta.get("policy"),
                "annotators_per_record": meta.get("annotators_per_record"),
                "annotators": meta.get("annotators", {}),
                "agreement": meta.get("agreement", {}),
                "counts": meta.get("counts", {}),
                "demo_accept_min_score": meta.get("demo_accept_min_score"),
                "demo_policy_accepted": meta.get("demo_policy_accepted", 0),
                "judge_calibration": meta.get("judge_calibration"),
                # Only a snapshot of a run without a judge has one (pull.summarize).
                **({"judge": meta["judge"]} if meta.get("judge") else {}),
            }
            outcomes = meta.get("counts", {})
            count_in = len(snapshot_rows)
        else:
            rows, dropped, curation, outcomes, count_in = rows_from_generation(pairs, chunks), [], {}, {}, len(pairs)
        if not rows and cfg.source == "curation":
            raise AwaitingReview(
                f"no pair of run {store.root} is accepted yet ({count_in} in the snapshot: "
                + ", ".join(f"{s} {n}" for s, n in outcomes.items() if n)
                + ")",
                "review them in Argilla (`docs2qa curate serve` prints the address), then rerun; "
                "or export unreviewed pairs with --set export.source=generation",
            )
        if not rows:
            raise Docs2qaError(
                f"nothing to export from run {store.root}: the generate stage kept no pairs",
                "see why with `docs2qa status`",
            )
        # splits.assign takes dict[str, float]; a dict keyed by the config's split-name Literal is not one (invariant).
        ratios: dict[str, float] = dict(cfg.ratios.items())
        if cfg.protocol == "knowledge":
            assigned = splitting.assign_facts(rows, ratios, cfg.seed)
            _require_held_out_facts(assigned, rows)
        else:
            assigned = splitting.assign(rows, cfg.split_by, ratios, cfg.seed)
        # Under knowledge a held-out fact shares its chunk with training by design, and its other
        # phrasings are trained on: only a near-copy of the question itself leaks, by its words.
        knowledge = cfg.protocol == "knowledge"
        clean, leaked = leakage.remove_leakage(
            assigned,
            cfg.embedding_model,
            cfg.leakage_question_threshold,
            None if knowledge else cfg.leakage_context_threshold,
            cfg.leakage_wording_threshold if knowledge else None,
        )
        retrieval_counts: dict[str, int] = {}
        if cfg.protocol == "rag":
            from docs2qa.curation.retrieval import retrieved_contexts

            retrieved = retrieved_contexts(
                clean, list(chunks.values()), cfg.embedding_model, cfg.rag_chunks, cfg.rag_oracle_share, cfg.seed
            )
            retrieval_counts = dict(Counter(r.pop("retrieval") for split in retrieved.values() for r in split))
            clean = retrieved
        dropped += [
            Dropped(
                r["pair_id"],
                r["split"],
                f"leakage_{r['matched']}",
                f"similarity {r['similarity']} to training pair {r['nearest_pair_id']} ({r['nearest_question']!r})",
            )
            for r in leaked
        ]
        generate_drops = (store.stage("generate").manifest() or {}).get("counts", {}).get("dropped", {})
        rejections = Counter(generate_drops) + Counter(d.reason for d in dropped)
        settings = cfg.model_dump(mode="json")
        # rag's prompts carry the retrieved chunks: that is the protocol, whatever include_context says.
        settings["include_context"] = settings["include_context"] or cfg.protocol == "rag"
        export_settings = {
            k: settings[k]
            for k in (
                "protocol",
                "system_prompt",
                "include_context",
                "formats",
                "split_by",
                "ratios",
                "seed",
                "license",
                "license_name",
                "license_link",
                "language",
                "leakage_question_threshold",
                "leakage_context_threshold",
                "leakage_wording_threshold",
                *(("rag_chunks", "rag_oracle_share") if cfg.protocol == "rag" else ()),
            )
        }
        name = cfg.name or config.name
        before = _existing(Path(cfg.root) / name)
        path = write_version(
            cfg.root,
            name,
            clean,
            export_settings,
            {**lineage(config, store, pairs, cfg.source, curation), "leakage": leaked},
            {
                "curation_outcomes": outcomes,
                "demo_policy_accepted": curation.get("demo_policy_accepted", 0),
                "rejections": dict(rejections.most_common()),
                "leakage_removed": len(leaked),
                **({"retrieval": retrieval_counts} if retrieval_counts else {}),
                # coverage is measured against every page that has chunks, and every chunk
                "pages": {c.page_id: c.url for c in chunks.values()},
                "chunks": len(chunks),
            },
        )
        manifest = read_manifest(path)
        version = {
            "name": name,
            "version": path.name,
            "path": str(path),
            "content_id": manifest["content_id"],
            "created": path.name not in before,
            "counts": manifest["counts"],
        }
        return StageResult(
            tables={}, count_in=count_in, dropped=dropped, extra={"dataset": version}, identity=manifest["content_id"]
        )

    return record("export", config, store, body)


def _require_held_out_facts(assigned: dict[str, list[dict]], rows: list[dict]) -> None:
    """The knowledge protocol tests facts asked in two or more phrasings; without any, its test
    split would be empty and the eval would measure nothing."""
    if assigned["test"]:
        return
    facts = Counter(r["fact_id"] or r["pair_id"] for r in rows)
    raise Docs2qaError(
        f"export.protocol knowledge needs facts asked in two or more phrasings to hold one out for test; "
        f"these {len(rows)} pairs ask {len(facts)} facts, {sum(n > 1 for n in facts.values())} of them more than once",
        "the knowledge protocol needs pairs that share a fact_id (several phrasings of one answer span); "
        "export this run with --set export.protocol=generalization (unseen pages) or rag",
    )


def _existing(dataset_dir: Path) -> set[str]:
    return {p.name for p in dataset_dir.iterdir()} if dataset_dir.is_dir() else set()
