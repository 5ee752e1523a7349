"""Journal records -> QAPair records and dropped rows: model-free checks, judge verdicts,
near-duplicate removal. Everything rejected keeps its reason."""

from __future__ import annotations

from dataclasses import dataclass, replace

from docs2qa.config import GenerateConfig
from docs2qa.records import Chunk, Dropped, QAPair, content_id, pair_id
from docs2qa.generation.qa.checks import check_pair


@dataclass(frozen=True)
class Unit:
    """One (chunk, question type) request, the grain of journaling and resume."""

    key: str
    chunk: Chunk
    question_type: str
    n: int
    generate_prompt_hash: str


def unit_key(chunk_id: str, question_type: str, n: int, prompt_hash: str, generator: str,
             judge_prompt_hash: str, judge: str) -> str:
    return content_id("unit", chunk_id, question_type, n, prompt_hash, generator, judge_prompt_hash, judge)


def assemble(units: list[Unit], complete: dict, cfg: GenerateConfig, labels: dict[str, str],
             judge_prompt_hash: str) -> tuple[list[QAPair], list[Dropped]]:
    """Checked, judged pairs of the finished units (before dedup), and what was rejected."""
    pairs: dict[str, QAPair] = {}
    dropped: list[Dropped] = []
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
            if pid in pairs:  # the model repeated a question verbatim within a chunk
                dropped.append(Dropped(pid, chunk.anchor_url, "duplicate_exact", pair["question"]))
                continue
            ratio, failures = check_pair(pair["question"], pair["answer"], pair.get("evidence") or "", chunk.text,
                                         unit.question_type, cfg)
            if failures:
                reason, detail = failures[0]
                more = "; ".join(f"{r}: {d}" for r, d in failures[1:])
                dropped.append(Dropped(pid, chunk.anchor_url, reason, detail + (f" (also {more})" if more else "")))
                continue
            if verdict["parse_error"]:
                detail = f"{verdict['parse_error']} | raw output: {verdict.get('raw_output') or ''}"
                dropped.append(Dropped(pid, chunk.anchor_url, "judge_parse_error", detail))
                continue
            if verdict["verdict"] == "drop":
                dropped.append(Dropped(pid, chunk.anchor_url, "judge_drop", verdict.get("rationale") or ""))
                continue
            scores = verdict["scores"]
            pairs[pid] = QAPair(
                pair_id=pid, chunk_id=chunk.chunk_id, page_id=chunk.page_id, url=chunk.url,
                anchor_url=chunk.anchor_url, title=chunk.title, heading_path=list(chunk.heading_path),
                question=pair["question"].strip(), answer=pair["answer"].strip(),
                question_type=unit.question_type, evidence=(pair.get("evidence") or "").strip(),
                generator_model=labels["generator"], generate_prompt_hash=unit.generate_prompt_hash,
                prompt_tokens=record["tokens"]["prompt"], completion_tokens=record["tokens"]["completion"],
                evidence_ratio=ratio, score_grounded=scores["grounded"], score_correct=scores["correct"],
                score_useful=scores["useful"], score_standalone=scores["standalone"],
                judge_verdict=verdict["verdict"], judge_rationale=verdict.get("rationale") or "",
                revised_answer=verdict.get("revised_answer") or "", judge_model=labels["judge"],
                judge_prompt_hash=judge_prompt_hash, judge_prompt_tokens=verdict["tokens"]["prompt"],
                judge_completion_tokens=verdict["tokens"]["completion"],
            )
    return list(pairs.values()), dropped


def judge_score(pair: QAPair) -> float:
    return pair.score_grounded + pair.score_correct + pair.score_useful + pair.score_standalone + pair.evidence_ratio


def remove_near_duplicates(pairs: list[QAPair], cfg: GenerateConfig) -> tuple[list[QAPair], list[Dropped]]:
    """Within and across chunks: keep the best-scored pair of each cluster, record the
    cluster on every pair (kept and dropped)."""
    from docs2qa.generation.qa.dedup import cluster_duplicates, embed_questions

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
