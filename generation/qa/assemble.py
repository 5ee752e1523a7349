"""Journal records -> QAPair records and dropped rows: the PIPELINE of filters (model-free
checks and gates, off-target questions, the judge's scores against its threshold), then
near-duplicate removal. Everything rejected keeps its reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.generation.qa.keep import PIPELINE
from docs2qa.generation.qa.keep.filters import Candidate, Embed, FilterContext, PairFilter, apply
from docs2qa.records import Chunk, Dropped, QAPair, content_id, pair_id


@dataclass(frozen=True)
class Unit:
    """One (chunk, question type) request, the grain of journaling and resume.

    answer_first units carry the answers picked from the chunk; the model writes only
    their questions."""

    key: str
    chunk: Chunk
    question_type: str
    n: int
    generate_prompt_hash: str
    strategy: str = "free"
    answers: tuple[str, ...] = ()


def unit_key(
    chunk_id: str,
    question_type: str,
    n: int,
    prompt_hash: str,
    generator: str,
    judge_prompt_hash: str,
    judge: str,
    *answers: str,
) -> str:
    return content_id("unit", chunk_id, question_type, n, prompt_hash, generator, judge_prompt_hash, judge, *answers)


def assemble(
    units: list[Unit],
    complete: dict,
    cfg: GenerateConfig,
    labels: dict[str, str],
    judge_prompt_hash: str,
    embed: Embed | None = None,
    filters: Sequence[PairFilter] = PIPELINE,
) -> tuple[list[QAPair], list[Dropped], dict]:
    """Filtered, judged pairs of the finished units (before dedup), what was rejected, and the
    judge's health (judge_health.py).

    `embed` (texts -> normalised vectors) lets answer_first questions be checked against
    their answer and the other sentences of their chunk (keep.off_target.OFF_TARGET)."""
    candidates: list[Candidate] = []
    dropped: list[Dropped] = []
    seen: set[str] = set()
    for unit in units:
        if unit.key not in complete:
            continue
        record = complete[unit.key]
        chunk = unit.chunk
        if record["parse_error"]:
            detail = f"{record['parse_error']} | raw output: {record.get('raw_output') or ''}"
            dropped.append(Dropped(unit.key, chunk.anchor_url, "generation_parse_error", detail))
            continue
        for pair, verdict in zip(record["pairs"], record["judgements"], strict=True):
            pid = pair_id(chunk.chunk_id, unit.generate_prompt_hash, labels["generator"], pair["question"])
            if pid in seen:  # the model repeated a question verbatim within a chunk
                dropped.append(Dropped(pid, chunk.anchor_url, "duplicate_exact", pair["question"]))
                continue
            seen.add(pid)
            candidates.append(Candidate(unit, pid, pair, verdict))

    context = FilterContext(cfg, embed)
    kept, rejected = apply(filters, candidates, context)
    pairs = [_qa_pair(c, complete[c.unit.key]["tokens"], labels, judge_prompt_hash) for c in kept]
    return pairs, dropped + rejected, context.health


def _qa_pair(candidate: Candidate, tokens: dict, labels: dict[str, str], judge_prompt_hash: str) -> QAPair:
    unit, pair, verdict = candidate.unit, candidate.pair, candidate.verdict
    chunk, scores = unit.chunk, verdict["scores"]
    return QAPair(
        pair_id=candidate.pair_id,
        chunk_id=chunk.chunk_id,
        page_id=chunk.page_id,
        url=chunk.url,
        anchor_url=chunk.anchor_url,
        title=chunk.title,
        heading_path=list(chunk.heading_path),
        question=pair["question"].strip(),
        answer=pair["answer"].strip(),
        question_type=unit.question_type,
        evidence=(pair.get("evidence") or "").strip(),
        generator_model=labels["generator"],
        generate_prompt_hash=unit.generate_prompt_hash,
        prompt_tokens=tokens["prompt"],
        completion_tokens=tokens["completion"],
        evidence_ratio=candidate.evidence_ratio,
        score_grounded=scores["grounded"],
        score_correct=scores["correct"],
        score_useful=scores["useful"],
        score_standalone=scores["standalone"],
        judge_verdict=verdict["verdict"],
        judge_rationale=verdict.get("rationale") or "",
        revised_answer=verdict.get("revised_answer") or "",
        judge_model=labels["judge"],
        judge_prompt_hash=judge_prompt_hash,
        judge_prompt_tokens=verdict["tokens"]["prompt"],
        judge_completion_tokens=verdict["tokens"]["completion"],
    )


def judge_score(pair: QAPair) -> float:
    return pair.score_grounded + pair.score_correct + pair.score_useful + pair.score_standalone + pair.evidence_ratio


def remove_near_duplicates(pairs: list[QAPair], cfg: GenerateConfig) -> tuple[list[QAPair], list[Dropped]]:
    """Within and across chunks: keep the best-scored pair of each cluster, record the
    cluster on every pair (kept and dropped)."""
    from docs2qa.generation.qa.dedup import cluster_duplicates
    from docs2qa.models.embeddings import embed_questions

    if not pairs:
        return [], []
    embeddings = embed_questions([p.question for p in pairs], cfg.dedup.model)
    keep, cluster_of, sizes = cluster_duplicates(embeddings, [judge_score(p) for p in pairs], cfg.dedup.threshold)
    kept, dropped = [], []
    for i, pair in enumerate(pairs):
        leader = pairs[cluster_of[i]]
        pair = replace(pair, cluster_id=leader.pair_id, cluster_size=int(sizes[i]))
        if keep[i]:
            kept.append(pair)
        else:
            detail = f"near-duplicate of {leader.pair_id} ({leader.question!r}), cluster of {sizes[i]}"
            dropped.append(Dropped(pair.pair_id, pair.anchor_url, "near_duplicate", detail))
    return kept, dropped
