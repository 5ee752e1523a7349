"""Push generated Q&A pairs to Argilla for human review.

Every pair becomes one record whose id is its pair_id, so pushing again updates records in
place instead of duplicating them, and people's responses stay attached. Everything that
can fail without the server (missing chunks, vector sizes, empty input) is checked first;
then the connection and the dataset's layout; only then is anything written.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence

from docs2qa.curation import argilla_api, schema
from docs2qa.curation.judge_state import judge_ran
from docs2qa.curation.record_view import RunChecks, context_markdown
from docs2qa.errors import Docs2qaError, ServiceError
from docs2qa.recap import next_command
from docs2qa.records import Chunk, QAPair

BATCH = 500  # the server's limit per bulk upsert
RACE_ATTEMPTS = 8  # rounds of reading the server again after another push changed the dataset under this one


def dataset_name(cfg, run_name: str) -> str:
    return cfg.dataset or f"docs2qa-{run_name}"


def judge_scores(pair: QAPair) -> dict[str, int]:
    return {name: int(getattr(pair, f"score_{name}")) for name in schema.SCORE_NAMES}


def is_judged(pair: QAPair) -> bool:
    return any(judge_scores(pair).values())


def record_dict(
    pair: QAPair,
    chunk: Chunk,
    vector,
    judge_informative: bool = True,
    judge_ran: bool = True,
    checks: RunChecks | None = None,
) -> dict:
    """The record as plain data (fields, metadata, vector, suggestions), server-independent.
    Without `judge_informative` the judge suggests nothing and its rationale is not shown: a
    label, rating or "keep" pre-filled from a judge the run found uninformative would steer
    people toward its noise (its scores stay in the metadata, where nobody takes them for an
    answer). Without `judge_ran` (the judge was off) there is nothing of a judge at all: no
    suggestion, no rationale, and no verdict or score metadata, whose zeros would read as the
    lowest scores. The context shows the checks the pair passed instead (record_view.py)."""
    if not judge_ran:
        judge_informative = False
    scores = judge_scores(pair)
    judged = is_judged(pair)
    mean = sum(scores.values()) / len(scores) if judged else 0.0
    answer = pair.shown_answer
    context = context_markdown(pair, chunk, checks or RunChecks())
    fields = {"question": pair.question, "answer": answer, "context": context}
    if answer != pair.answer:
        fields["original_answer"] = pair.answer
    if judge_informative and pair.judge_rationale.strip():
        fields["judge_rationale"] = pair.judge_rationale
    judge_metadata = {
        "verdict": pair.judge_verdict or "unjudged",
        **{f"score_{name}": value for name, value in scores.items()},
        "min_judge_score": min(scores.values()),
        "mean_judge_score": round(mean, 3),
    }
    metadata = {
        "question_type": pair.question_type or "unknown",
        "page_url": pair.url,
        "page_title": pair.title or "(untitled)",
        "heading": " > ".join(pair.heading_path) or "(top of page)",
        **(judge_metadata if judge_ran else {}),
        "cluster_size": int(pair.cluster_size),
    }
    suggestions = {}  # question name -> suggestion, the shape rg.Record.from_dict takes
    label = schema.VERDICT_TO_LABEL.get(pair.judge_verdict) if judge_informative else None
    if label:
        # The label's score is the judge's mean score on 0-1: how sure the judge was that
        # the pair is good, which the UI shows next to the pre-selected label.
        suggestions[schema.Q_DECISION] = {
            "value": label,
            "score": round(mean / 5, 3),
            "agent": pair.judge_model or "judge",
            "type": "model",
        }
    if judged and judge_informative:
        rating = min(5, max(1, int(mean + 0.5)))  # half up, not banker's rounding
        suggestions[schema.Q_QUALITY] = {"value": rating, "agent": pair.judge_model or "judge", "type": "model"}
    return {
        "id": pair.pair_id,
        "fields": fields,
        "metadata": metadata,
        "vectors": {schema.VECTOR_NAME: [float(x) for x in vector]},
        "suggestions": suggestions,
    }


def _vectors(pairs: Sequence[QAPair], embeddings) -> list:
    if embeddings is None:
        from docs2qa.models.embeddings import embed_questions

        embeddings = embed_questions([p.question for p in pairs], schema.EMBED_MODEL)
    if isinstance(embeddings, Mapping):
        missing = [p.pair_id for p in pairs if p.pair_id not in embeddings]
        if missing:
            raise Docs2qaError(
                f"{len(missing)} pairs have no embedding, e.g. {missing[:3]}",
                "pass embeddings for every pair, or None to compute them",
            )
        vectors = [embeddings[p.pair_id] for p in pairs]
    else:
        vectors = list(embeddings)
        if len(vectors) != len(pairs):
            raise Docs2qaError(f"{len(vectors)} embeddings for {len(pairs)} pairs", "pass one row per pair, in order")
    bad = {len(v) for v in vectors} - {schema.VECTOR_DIMS}
    if bad:
        raise Docs2qaError(
            f"question embeddings must have {schema.VECTOR_DIMS} dimensions, got {sorted(bad)}",
            f"embed with {schema.EMBED_MODEL!r}",
        )
    return vectors


def build_records(
    pairs: Sequence[QAPair],
    chunks_by_id: Mapping[str, Chunk],
    embeddings=None,
    judge_informative: bool = True,
    judged: bool | None = None,
    checks: RunChecks | None = None,
) -> list[dict]:
    """Validate the input and turn it into record dicts; raises before anything is sent. Whether a
    judge ran is `judged` (the generate stage's word), else the pairs' to say
    (judge_state.judge_ran): with the judge off none names one."""
    if not pairs:
        raise Docs2qaError("there are no Q&A pairs to push", "run `docs2qa generate` first")
    dupes = sorted(i for i, n in Counter(p.pair_id for p in pairs).items() if n > 1)
    if dupes:
        raise Docs2qaError(f"{len(dupes)} duplicate pair ids in the input, e.g. {dupes[:5]}", "push each pair once")
    missing = sorted({p.chunk_id for p in pairs if p.chunk_id not in chunks_by_id})
    if missing:
        raise Docs2qaError(
            f"{len(missing)} chunks referenced by pairs are missing, e.g. {missing[:3]}",
            "pass the chunks of the same run the pairs were generated from",
        )
    vectors = _vectors(pairs, embeddings)
    ran = judge_ran(pairs) if judged is None else judged
    return [record_dict(p, chunks_by_id[p.chunk_id], v, judge_informative, ran, checks) for p, v in zip(pairs, vectors)]


def ensure_dataset(client, cfg, name: str, judge: bool = True, suggest: bool = True):
    """The review dataset, created with our layout if missing; Docs2qaError on schema drift.

    Creating a dataset is many requests (a draft, then each field, question, metadata
    property and vector, then publish); a push killed in between leaves a draft. A draft
    whose settings are a part of our layout is that unfinished creation, so it is finished
    here; anything else under the name is refused. Returns (dataset, created).

    Two pushes creating the same dataset at once each find something made by the other
    (the workspace, the dataset, a field: 409) or find it published under them (422); each
    such lost race is answered by reading the server again, which then holds the other's
    work to finish or take as it is. `judge` False (no judge ran) picks the guidelines without one,
    `suggest` False those that say nothing is pre-selected (schema.guidelines_text)."""
    attempt = 1
    while True:
        try:
            return _ensure_dataset(client, cfg, name, judge, suggest)
        except argilla_api.api_error() as exc:
            raced = argilla_api.is_conflict(exc) or argilla_api.status_of(exc) == 422
            if not raced or attempt == RACE_ATTEMPTS:
                raise _setup_refused(cfg, name, exc, raced) from exc
        time.sleep(0.2 * attempt)
        attempt += 1


def _setup_refused(cfg, name: str, exc: Exception, raced: bool) -> Docs2qaError:
    what = f"Argilla refused to set up workspace {cfg.workspace!r} / dataset {name!r}"
    if raced:
        return ServiceError(
            f"{what}: another push kept changing it at the same time ({_one_line(exc)})",
            f"rerun `{next_command('curate', 'push')}` once the other push has finished",
        )
    if argilla_api.status_of(exc) in (401, 403):
        return ServiceError(
            f"{what}: {_one_line(exc)}", "the API key must belong to an owner (or an admin of that workspace)"
        )
    return ServiceError(f"{what}: {_one_line(exc)}", "the Argilla server's log says why")


def _ensure_dataset(client, cfg, name: str, judge: bool, suggest: bool):
    import argilla as rg

    with warnings.catch_warnings():
        # "not found" is an expected answer here; any other warning still shows.
        warnings.filterwarnings("ignore", "(Workspace|Dataset) with name .* not found", UserWarning)
        workspace = client.workspaces(cfg.workspace)
        if workspace is None:
            workspace = rg.Workspace(name=cfg.workspace, client=client).create()
        expected = schema.build_settings(cfg.annotators_per_record, client, judge, suggest)
        existing = client.datasets(name=name, workspace=workspace)
    if existing is None:
        return _finish_creation(client, argilla_api.create_draft_dataset(client, name, workspace), expected), True
    if argilla_api.is_draft(existing):
        _refuse_clash(cfg, name, _draft_clash(expected, existing.settings), draft=True)
        return _finish_creation(client, existing, expected), True
    _refuse_clash(cfg, name, schema.diff_signatures(schema.signature(expected), schema.signature(existing.settings)))
    guidelines = schema.guidelines_text(judge, suggest, cfg.annotators_per_record)
    if (existing.settings.guidelines or "").strip() != guidelines:
        # Guidelines are presentation, not layout: reviewers should see the current text.
        argilla_api.set_guidelines(client, existing.id, guidelines)
    return existing, False


def _draft_clash(expected, found) -> list[str]:
    """What in a draft dataset contradicts our layout. Missing parts are not a clash (they
    are what a killed push did not get to), nor is the overlap setting, which a draft
    without records or responses can still take from the current config."""
    want, have = schema.signature(expected), schema.signature(found)
    clashing = {
        key: value for key, value in have.items() if key != "distribution:min_submitted" and want.get(key) != value
    }
    return schema.diff_signatures({key: want[key] for key in clashing if key in want}, clashing)


def _refuse_clash(cfg, name: str, differences: list[str], draft: bool = False) -> None:
    if differences:
        state = "an unpublished (draft) dataset" if draft else "a dataset"
        raise Docs2qaError(
            f"{state} {name!r} in workspace {cfg.workspace!r} exists with a different layout:\n    "
            + "\n    ".join(differences),
            f"push to a new dataset (set curate.dataset), or delete {name!r} in Argilla if its responses "
            "are no longer needed (pull a snapshot first)",
        )


def _finish_creation(client, dataset, expected):
    """Add the settings a draft lacks, set guidelines and overlap, publish; safe to redo."""
    present = {
        prop.name
        for group in (
            dataset.settings.fields,
            dataset.settings.questions,
            dataset.settings.metadata,
            dataset.settings.vectors,
        )
        for prop in group
    }
    for group in (expected.fields, expected.questions, expected.vectors, expected.metadata):
        for prop in group:
            if prop.name not in present:
                prop.dataset = dataset
                prop.create()
    argilla_api.configure_and_publish(client, dataset.id, expected)
    return dataset.get()


def push(
    pairs: Sequence[QAPair],
    chunks_by_id: Mapping[str, Chunk],
    embeddings,
    cfg,
    run_name: str,
    api_url: str,
    api_key: str,
    batch_size: int = BATCH,
    judge_informative: bool = True,
    judged: bool | None = None,
    checks: RunChecks | None = None,
) -> dict:
    """Create or update the review dataset with one record per pair. `judged`: whether the
    generate stage's judge ran (None: as the pairs say); `checks`: the run's settings for what
    each record shows it passed. Returns a summary dict: dataset, dataset_id, workspace, url,
    created_dataset, records, created, updated, judge_suggestions (False when the judge was
    uninformative or did not run), judge_ran, wall_s."""
    import httpx

    t0 = time.perf_counter()
    records = build_records(pairs, chunks_by_id, embeddings, judge_informative, judged, checks)
    ran = judge_ran(pairs) if judged is None else judged
    suggest = judge_informative and ran
    client = argilla_api.connect(api_url, api_key)
    name = dataset_name(cfg, run_name)
    sent = 0
    try:
        dataset, created_dataset = ensure_dataset(client, cfg, name, ran, suggest)
        before = argilla_api.record_total(client, dataset.id)
        for sent in range(0, len(records), batch_size):
            _upsert(client, dataset, records[sent : sent + batch_size])
        sent = len(records)
        if not suggest:  # records pushed while a judge still counted keep its suggestions
            argilla_api.drop_suggestions(client, dataset.id)
        # argilla-server 2.8 answers a bulk upsert without the ids it updated, so the split
        # between new and updated records comes from the dataset's size before and after.
        created = argilla_api.record_total(client, dataset.id) - before
    except argilla_api.api_error() as exc:
        raise ServiceError(
            f"pushing to {name!r} stopped after {sent} of {len(records)} records: {_one_line(exc)}",
            f"rerun `{next_command('curate', 'push')}` once the server is healthy: "
            "records are keyed by pair_id, so nothing is duplicated",
        ) from exc
    except httpx.TransportError as exc:  # the server died or the network broke, at any request
        raise ServiceError(
            f"the connection to Argilla at {api_url} broke during the push to {name!r}, "
            f"after {sent} of {len(records)} records: {_one_line(exc)}",
            f"nothing is lost: rerun `{next_command('curate', 'push')}` once the server is back, and it "
            "goes on from there (records are keyed by pair_id, so nothing is duplicated)",
        ) from exc
    return {
        "dataset": name,
        "dataset_id": str(dataset.id),
        "workspace": cfg.workspace,
        "url": review_url(api_url, str(dataset.id)),
        "created_dataset": created_dataset,
        "records": len(records),
        "created": created,
        "updated": len(records) - created,
        "judge_suggestions": suggest,
        "judge_ran": ran,
        "wall_s": round(time.perf_counter() - t0, 3),
    }


def _upsert(client, dataset, batch: list[dict]) -> None:
    """One bulk upsert; sent again when another push inserted some of the same records at the
    same moment (the server's unique constraint refuses the slower one; a second upsert of the
    same ids updates them)."""
    attempt = 1
    while True:
        try:
            argilla_api.bulk_upsert(client, dataset, batch)
            return
        except argilla_api.api_error() as exc:
            if not argilla_api.is_conflict(exc) or attempt == RACE_ATTEMPTS:
                raise
        time.sleep(0.2 * attempt)
        attempt += 1


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {text}"


def review_url(api_url: str, dataset_id: str) -> str:
    """Where people review a dataset in Argilla's UI."""
    return f"{api_url.rstrip('/')}/dataset/{dataset_id}/annotation-mode"
