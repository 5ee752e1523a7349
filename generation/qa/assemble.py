"""Journal records -> QAPair records and dropped rows: model-free checks and gates, the
judge's scores against its threshold, near-duplicate removal. Everything rejected keeps
its reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from docs2qa.config import GenerateConfig
from docs2qa.generation.qa.answer_first import candidates as spans
from docs2qa.generation.qa.answer_first import question_problem
from docs2qa.generation.qa.checks import check_pair
from docs2qa.generation.qa.gates import gate_pair
from docs2qa.generation.qa.judge_health import judge_health, lowest_score
from docs2qa.records import Chunk, Dropped, QAPair, content_id, pair_id

if TYPE_CHECKING:
    import numpy as np


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


Embed = Callable[[list[str]], "np.ndarray"]  # texts -> L2-normalised rows


def assemble(
    units: list[Unit],
    complete: dict,
    cfg: GenerateConfig,
    labels: dict[str, str],
    judge_prompt_hash: str,
    embed: Embed | None = None,
) -> tuple[list[QAPair], list[Dropped], dict]:
    """Checked, judged pairs of the finished units (before dedup), what was rejected, and the
    judge's health (judge_health.py).

    `embed` (texts -> normalised vectors) lets answer_first questions be checked against
    their answer and the other sentences of their chunk (`_off_target`)."""
    candidates = []  # [unit, pid, pair, verdict, failure or None, evidence ratio]
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
            candidates.append([unit, pid, pair, verdict, *_first_failure(pair, unit, cfg)])

    _off_target(candidates, embed, cfg.min_qa_similarity)
    health = judge_health(
        [(c[3]["scores"], c[4] is None) for c in candidates if not c[3]["parse_error"]], cfg.judge.min_score
    )

    pairs: list[QAPair] = []
    for unit, pid, pair, verdict, failure, ratio in candidates:
        chunk = unit.chunk
        if failure:
            dropped.append(Dropped(pid, chunk.anchor_url, *failure))
            continue
        if verdict["parse_error"]:
            detail = f"{verdict['parse_error']} | raw output: {verdict.get('raw_output') or ''}"
            dropped.append(Dropped(pid, chunk.anchor_url, "judge_parse_error", detail))
            continue
        scores = verdict["scores"]
        if health["applied"] and lowest_score(scores) < cfg.judge.min_score:
            detail = (
                f"lowest score {lowest_score(scores)} < generate.judge.min_score={cfg.judge.min_score} "
                f"({scores}); verdict {verdict['verdict']!r}: {verdict.get('rationale') or ''}"
            )
            dropped.append(Dropped(pid, chunk.anchor_url, "judge_low_score", detail))
            continue
        pairs.append(
            QAPair(
                pair_id=pid,
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
                prompt_tokens=complete[unit.key]["tokens"]["prompt"],
                completion_tokens=complete[unit.key]["tokens"]["completion"],
                evidence_ratio=ratio,
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
        )
    return pairs, dropped, health


def _first_failure(pair: dict, unit: Unit, cfg: GenerateConfig) -> tuple[tuple[str, str] | None, float]:
    """The model-free checks and gates as one (reason, detail) noting the other failures, and
    the evidence's match ratio in the chunk."""
    question, answer, evidence = pair["question"], pair["answer"], pair.get("evidence") or ""
    ratio, failures = check_pair(question, answer, evidence, unit.chunk.text, unit.question_type, cfg)
    gate = gate_pair(question, answer, evidence, unit.chunk.text, unit.question_type, cfg)
    failures = failures + ([gate] if gate else [])
    if not failures:
        return None, ratio
    reason, detail = failures[0]
    more = "; ".join(f"{r}: {d}" for r, d in failures[1:])
    return (reason, detail + (f" (also {more})" if more else "")), ratio


def _off_target(candidates: list, embed: Embed | None, threshold: float) -> None:
    """answer_first questions must be about their answer: no copied worked example, no word
    the answer does not use, an embedding cosine with the answer of at least `threshold`, and
    the answer must be the sentence of the chunk closest to the question."""
    checked = []
    for candidate in candidates:
        unit, _, pair, _, failure, _ = candidate
        if unit.strategy != "answer_first" or failure is not None:
            continue
        chunk = unit.chunk
        candidate[4] = question_problem(pair["question"], pair["answer"], chunk.title, list(chunk.heading_path))
        if candidate[4] is None:
            checked.append(candidate)
    if embed is None:
        return
    for candidate in checked:
        question, answer = candidate[2]["question"], candidate[2]["answer"]
        others = [s for s in dict.fromkeys(spans(candidate[0].chunk.text)) if s != answer]
        vectors = embed([question, answer, *others])
        cosines = vectors[1:] @ vectors[0]
        if cosines[0] < threshold:
            candidate[4] = (
                "off_target",
                f"question-answer cosine {cosines[0]:.2f} < generate.min_qa_similarity={threshold}",
            )
        elif len(cosines) > 1 and cosines[1:].max() > cosines[0]:
            closer = others[int(cosines[1:].argmax())]
            candidate[4] = ("off_target", f"another sentence of the chunk fits the question better: {closer[:80]!r}")


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
