"""Curation as run stages: `push` sends the generated pairs to Argilla; `pull` freezes
people's decisions into an immutable snapshot (curation/snapshot.py)."""

from __future__ import annotations

from docs2qa.config import Config, CurateConfig
from docs2qa.pipeline import record
from docs2qa.records import Chunk, QAPair
from docs2qa.store import RunStore, StageResult


def connect_or_serve(cfg: CurateConfig) -> tuple[str, str]:
    """The user's own Argilla when configured; else the local one, started if needed."""
    from docs2qa.curation.server import configured_url, connection, serve

    if not configured_url(cfg):
        serve(cfg)
    return connection(cfg)


def push(config: Config, store: RunStore) -> dict:
    from docs2qa.curation.push import push as push_pairs
    from docs2qa.generation.qa.dedup import embed_questions

    def body(stage) -> StageResult:
        pairs = store.stage("generate").read("pairs", QAPair)
        chunks = {c.chunk_id: c for c in store.stage("chunk").read("chunks", Chunk)}
        api_url, api_key = connect_or_serve(config.curate)
        embeddings = embed_questions([p.question for p in pairs], config.generate.dedup.model)
        summary = push_pairs(pairs, chunks, embeddings, config.curate, config.name, api_url, api_key)
        # The URL is where people review; the key is never written anywhere.
        return StageResult(tables={}, count_in=len(pairs), extra={"argilla": summary})

    return record("push", config, store, body)


def pull(config: Config, store: RunStore) -> dict:
    """Snapshot people's decisions; the snapshot id is the stage's identity, so export reruns
    exactly when a decision changed."""
    from docs2qa.curation.pull import pull as pull_snapshot

    def body(stage) -> StageResult:
        result = pull_snapshot(config.curate, config.name, store.root, *connect_or_serve(config.curate))
        summary = {k: v for k, v in result["summary"].items() if k != "pending_pair_ids"}
        snapshot = {"id": result["snapshot_id"], "path": str(result["path"]), "created": result["created"], **summary}
        return StageResult(tables={}, count_in=len(result["rows"]), extra={"snapshot": snapshot},
                           identity=result["snapshot_id"])

    return record("pull", config, store, body)
