"""Curation as run stages: `push` sends the generated pairs to Argilla; `pull` freezes
people's decisions into an immutable snapshot (curation/snapshot.py); `export` freezes the
accepted pairs into a dataset version (curation/export.py). Their declarations are at the end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from docs2qa.pipeline import Description, Manifest, Option, Requirement, Stage, record
from docs2qa.records import Chunk, QAPair
from docs2qa.store import StageDir, StageResult

if TYPE_CHECKING:
    import numpy as np

    from docs2qa.config import Config
    from docs2qa.curation.config import CurateConfig
    from docs2qa.store import RunStore


def connect_or_serve(cfg: CurateConfig) -> tuple[str, str]:
    """The user's own Argilla when configured; else the local one, started if needed. A local
    server alive at another port than the config's (a typo'd curate.port) is left serving its
    reviewers: connection() says where it is, where serve() would stop it and start another."""
    from docs2qa.curation.server import configured_url, connection, recorded_elsewhere, serve

    if not configured_url(cfg) and not recorded_elsewhere(cfg):
        serve(cfg)
    return connection(cfg)


def push(config: Config, store: RunStore) -> Manifest:
    from docs2qa.curation.judge_state import generate_judge
    from docs2qa.curation.push import push as push_pairs
    from docs2qa.curation.record_view import RunChecks
    from docs2qa.models.embeddings import embed_questions

    def body(stage: StageDir) -> StageResult:
        generate = store.stage("generate")
        manifest = _generate_manifest(generate)
        health = manifest.get("judge_health") or {}
        pairs = generate.read("pairs", QAPair)
        chunks = {c.chunk_id: c for c in store.stage("chunk").read("chunks", Chunk)}
        api_url, api_key = connect_or_serve(config.curate)
        model = config.generate.dedup.model
        embeddings = embed_questions([p.question for p in pairs], model)
        strategy = str(manifest.get("strategy") or "")
        answer_first = strategy == "answer_first"
        gates = config.generate.gates
        checks = RunChecks(
            strategy=strategy,
            support_min_share=gates.support_min_share,
            min_qa_similarity=gates.min_qa_similarity if answer_first else None,
            qa_similarity=_qa_similarity(pairs, embeddings, model) if answer_first else {},
        )
        summary = push_pairs(
            pairs,
            chunks,
            embeddings,
            config.curate,
            config.name,
            api_url,
            api_key,
            judge_informative=health.get("informative") is not False,  # None: not assessed, still shown
            judged=generate_judge(manifest, pairs)["enabled"],
            checks=checks,
        )
        # The URL is where people review; the key is never written anywhere.
        return StageResult(tables={}, count_in=len(pairs), extra={"argilla": summary})

    return record("push", config, store, body)


def _qa_similarity(pairs: list[QAPair], question_vectors: np.ndarray, model: str) -> dict[str, float]:
    """pair_id -> the cosine of the question with its answer, as the answer_first gate measured
    it (generate.gates.min_qa_similarity): both embedded with the dedup model, L2-normalised."""
    from docs2qa.models.embeddings import embed_questions

    answers = embed_questions([p.answer for p in pairs], model)
    cosines = (answers * question_vectors).sum(axis=1)
    return {p.pair_id: float(c) for p, c in zip(pairs, cosines)}


def _generate_manifest(generate: StageDir) -> Manifest:
    """Generate's manifest, which says whether its judge was worth showing to people; a push that
    could not read it would pre-fill the suggestions of a judge the run had found uninformative."""
    from docs2qa.errors import IntegrityError
    from docs2qa.recap import next_command

    manifest = generate.manifest()
    if manifest is None:
        state = "unreadable" if generate.manifest_path.exists() else "missing"
        raise IntegrityError(
            f"generate's manifest {generate.manifest_path} is {state}",
            f"rerun `{next_command('generate')}` to write it again, then push",
        )
    return manifest


def pull(config: Config, store: RunStore) -> Manifest:
    """Snapshot people's decisions; the snapshot id is the stage's identity, so export reruns
    exactly when a decision changed."""
    from docs2qa.curation.pull import pull as pull_snapshot

    def body(stage: StageDir) -> StageResult:
        result = pull_snapshot(config.curate, config.name, store.root, *connect_or_serve(config.curate))
        summary = {k: v for k, v in result["summary"].items() if k != "pending_pair_ids"}
        snapshot = {"id": result["snapshot_id"], "path": str(result["path"]), "created": result["created"], **summary}
        return StageResult(
            tables={}, count_in=len(result["rows"]), extra={"snapshot": snapshot}, identity=result["snapshot_id"]
        )

    return record("pull", config, store, body)


def export(config: Config, store: RunStore, push_to_hub: str | None = None) -> Manifest:
    """The export stage (curation/export.py), then the upload `--push-to-hub` asks for."""
    from pathlib import Path

    from docs2qa.curation.export import export as export_version

    manifest = export_version(config, store)
    if push_to_hub:
        from docs2qa.datastore.hub import push_version
        from docs2qa.recap import next_command

        path = manifest["dataset"]["path"]
        # The version is kept whatever the Hub does: pushing it again needs no new export.
        again = next_command("datasets", "push", path, push_to_hub, run_folder=False)
        then = f"the version is kept: push it with `{again}`"
        pushed = push_version(Path(path), push_to_hub, config.export, then=then)
        print(f"pushed to https://huggingface.co/datasets/{pushed['repo']} at {pushed['commit']} (tag {pushed['tag']})")
    return manifest


def _reviewed(config: Config) -> bool:
    # Without human review there is nothing to push or pull.
    source: str = config.export.source
    return source != "generation"


def _describe_push(manifest: Manifest) -> Description:
    from docs2qa.recap import next_command

    argilla = manifest.get("argilla", {})
    notes = [f"review at {argilla.get('url')}, then `{next_command('curate', 'pull')}`"]
    # A judge that was off is said once, by the generate stage's line; nothing here repeats it.
    if argilla.get("judge_suggestions") is False and argilla.get("judge_ran") is not False:
        notes.append("no judge suggestions pre-filled: the generate stage found the judge uninformative")
    return Description(product=f"{argilla.get('records', '?')} records in Argilla", notes=tuple(notes))


def _describe_pull(manifest: Manifest) -> Description:
    """Who decided: the demo policy's acceptances are not a review, so they are never counted
    with people's, and pending is always said (0 pending after nobody looked reads the same
    as 0 pending after everyone did, unless the deciders are named)."""
    from docs2qa.curation.judge_state import DEMO_WITHOUT_JUDGE

    snapshot = manifest.get("snapshot", {})
    counts = snapshot.get("counts", {})
    demo = snapshot.get("demo_policy_accepted", 0)
    people = counts.get("accepted", 0) - demo
    parts = [f"{people} accepted by people"] if people or not demo else []
    if demo:
        # Without a judge the demo policy had no score to go by: it says what it accepted instead.
        judged = (snapshot.get("judge") or {}).get("enabled", True)
        how = "not a person" if judged else f"not a person; {DEMO_WITHOUT_JUDGE}"
        parts.append(f"{demo} accepted by the demo policy ({how})")
    parts += [
        f"{counts[status]} {status}"
        for status in ("rejected", "needs-edit", "disputed", "discarded")
        if counts.get(status)
    ]
    parts.append(f"{counts.get('pending', 0)} pending")
    return Description(product=f"snapshot {snapshot.get('id')}: " + ", ".join(parts))


def _describe_export(manifest: Manifest) -> Description:
    version = manifest.get("dataset")
    if not version:
        return Description()
    from docs2qa.finetune.evaluate.intervals import MIN_EXAMPLES

    state = "new version" if version["created"] else "unchanged, existing version"
    notes = [
        f"{state} {version['name']}/{version['version']} (content {version['content_id']}) at "
        f"{version['path']}; report: {version['path']}/report.html"
    ]
    test = version.get("counts", {}).get("test")
    if test is not None and test < MIN_EXAMPLES:
        # Said at export, before hours of tuning: eval's numbers on such a split are anecdotes.
        notes.append(
            f"only {test} test rows (under {MIN_EXAMPLES}): eval's intervals on them will be wide and its "
            "numbers anecdotal; export more pairs (more chunks, more phrasings per fact)"
        )
    return Description(product=f"{version['name']}/{version['version']}", notes=tuple(notes))


_STAGE = "docs2qa.curation.stage"

_ARGILLA = (Requirement("argilla", "curate"), Requirement("httpx", "crawl"))
# push embeds questions for Argilla's similarity search; export for the leakage check.
_EMBED = Requirement("sentence_transformers", "generate")
_EXPORT = (*(Requirement(m, "export") for m in ("datasets", "pyarrow", "huggingface_hub", "yaml")), _EMBED)

STAGES = (
    Stage(
        "push",
        f"{_STAGE}:push",
        ("generate", "chunk"),
        "send the pairs to Argilla for people to review (starts the local server if needed)",
        requires=(*_ARGILLA, _EMBED),
        section="curate",
        enabled=_reviewed,
        describe=_describe_push,
        command="curate push",
    ),
    Stage(
        "pull",
        f"{_STAGE}:pull",
        ("push",),
        "freeze people's decisions into an immutable curation snapshot",
        requires=_ARGILLA,
        section="curate",
        always_run=True,
        enabled=_reviewed,
        describe=_describe_pull,
        command="curate pull",
    ),
    # export reads the crawl (page lineage), every ingest stage's output hash (lineage) and the pairs;
    # the curation snapshot only when it exports reviewed pairs.
    Stage(
        "export",
        f"{_STAGE}:export",
        ("crawl", "convert", "chunk", "generate", "pull"),
        "freeze the accepted pairs into a versioned dataset with card, manifest and report",
        requires=_EXPORT,
        select_inputs=lambda config: (
            "crawl",
            "convert",
            "chunk",
            "generate",
            *(("pull",) if _reviewed(config) else ()),
        ),
        describe=_describe_export,
        options=(
            Option(
                "--push-to-hub", "push_to_hub", str, None, "Also upload the version to this Hugging Face dataset repo."
            ),
        ),
    ),
)
