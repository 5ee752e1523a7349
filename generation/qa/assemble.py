"""Journal records -> QAPair records and dropped rows: the PIPELINE of filters (model-free
checks and gates, off-target questions, the judge's scores against its threshold when the
judge ran), exact repeats (the better pair kept), then near-duplicate removal. Everything
rejected keeps its reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from docs2qa.generation.qa import answer_first
from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.generation.qa.keep import PIPELINE
from docs2qa.generation.qa.keep.filters import Candidate, Embed, FilterContext, PairFilter, apply
from docs2qa.records import Chunk, Dropped, QAPair, content_id, pair_id


@dataclass(frozen=True)
class Unit:
    """One (chunk, question type) request, the grain of journaling and resume.

    answer_first units carry the answers picked from the chunk and how many questions are
    asked of each (`tries`); the model writes only their questions."""

    key: str
    chunk: Chunk
    question_type: str
    n: int
    generate_prompt_hash: str
    strategy: str = "free"
    answers: tuple[str, ...] = ()
    tries: int = 1
    rephrase: bool = False  # the first question of each answer is also asked in other words
    # The question a template wrote for each answer ("" where the model is asked; () with
    # generate.question_templates off), decided once when the unit is planned.
    templated: tuple[str, ...] = ()


def unit_key(
    chunk_id: str,
    question_type: str,
    n: int,
    prompt_hash: str,
    generator: str,
    judge_prompt_hash: str,
    judge: str,
    *answers: str,
    tries: int = 1,
    rephrase: bool = False,
    templated: Sequence[str] = (),
) -> str:
    """The unit's identity: what it asks (chunk, type, prompt, answers, tries, the questions templates
    wrote) and who answers and
    judges it (an off judge is "" for both hash and label, so toggling the judge changes the key)."""
    # One try keeps the key it had before tries existed: journals of earlier runs stay valid.
    more: tuple[str, ...] = (f"tries={tries}", answer_first.tries_hash()) if tries != 1 else ()
    more += ("rephrase", answer_first.rephrase_hash()) if rephrase else ()
    # The questions templates wrote for its answers ("" where the model is asked): a changed
    # template asks again, and a unit no template reads keeps its key.
    more += ("templates", *templated) if any(templated) else ()
    return content_id(
        "unit", chunk_id, question_type, n, prompt_hash, generator, judge_prompt_hash, judge, *answers, *more
    )


# The generator_model of a question written by a template (templates.py), not by the model.
TEMPLATE = "template"

# The verdict of a pair no judge saw (generate.judge.enabled off): QAPair's scores stay 0.
UNJUDGED = {
    "scores": None,
    "verdict": "",
    "revised_answer": "",
    "rationale": "",
    "parse_error": None,
    "raw_output": None,
    "parse_attempts": 0,
    "tokens": {"prompt": 0, "completion": 0},
}


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
    judged = cfg.judge_enabled()
    candidates: list[Candidate] = []
    dropped: list[Dropped] = []
    for unit in units:
        if unit.key not in complete:
            continue
        record = complete[unit.key]
        chunk = unit.chunk
        if record["parse_error"]:  # no try of the unit parsed: one row for the unit
            tries = len(record.get("failed_tries") or [])
            also = f" (and all {tries} tries of the unit)" if tries > 1 else ""
            detail = f"{record['parse_error']}{also} | raw output: {record.get('raw_output') or ''}"
            dropped.append(Dropped(unit.key, chunk.anchor_url, "generation_parse_error", detail))
            continue
        for tried in record.get("failed_tries") or []:  # one try of several that never parsed
            detail = (
                f"{tried['parse_error']} | try {tried.get('try', 0) + 1} at {tried['answer']!r} "
                f"| raw output: {tried.get('raw_output') or ''}"
            )
            dropped.append(Dropped(unit.key, chunk.anchor_url, "generation_parse_error", detail))
        verdicts = record["judgements"] if judged else [dict(UNJUDGED) for _ in record["pairs"]]
        for pair, verdict in zip(record["pairs"], verdicts, strict=True):
            pid = pair_id(chunk.chunk_id, unit.generate_prompt_hash, labels["generator"], pair["question"])
            candidates.append(Candidate(unit, pid, pair, verdict))

    context = FilterContext(cfg, embed)
    kept, rejected = apply(filters, candidates, context)
    kept, repeats = _best_of_repeats(kept, context)
    pairs = [_qa_pair(c, complete[c.unit.key]["tokens"], labels, judge_prompt_hash) for c in kept]
    return pairs, dropped + rejected + repeats, context.health


def _best_of_repeats(kept: list[Candidate], context: FilterContext) -> tuple[list[Candidate], list[Dropped]]:
    """One pair per exact question of a chunk (its pair_id): the better one, not the first.

    With several tries per answer, and several answers per chunk, the model writes one question
    more than once; the same words can ask about one span or another. Of the repeats that passed
    every filter the one kept is the better by `_merit`: the judge's lowest score (when it was
    applied), the evidence found in the chunk, then the question's similarity to its own answer
    (the answer it fits)."""
    groups: dict[str, list[Candidate]] = {}
    for candidate in kept:
        groups.setdefault(candidate.pair_id, []).append(candidate)
    fits = _fit_to_answer([c for group in groups.values() if len(group) > 1 for c in group], context)
    best = {pid: max(group, key=lambda c: _merit(c, context, fits)) for pid, group in groups.items()}
    survivors, dropped = [], []
    for candidate in kept:
        winner = best[candidate.pair_id]
        if candidate is winner:
            survivors.append(candidate)
            continue
        detail = (
            f"{candidate.question!r} again, of {candidate.answer[:120]!r}; kept the pair of "
            f"{winner.answer[:120]!r} ({_merit_words(winner, context, fits)} against "
            f"{_merit_words(candidate, context, fits)})"
        )
        dropped.append(Dropped(candidate.pair_id, candidate.unit.chunk.anchor_url, "duplicate_exact", detail))
    return survivors, dropped


def _fit_to_answer(candidates: list[Candidate], context: FilterContext) -> dict[int, float]:
    """Cosine of each candidate's question with its answer (id(candidate) -> cosine); {} without
    an embedder or repeats."""
    if not candidates or context.embed is None:
        return {}
    vectors = context.embed([text for c in candidates for text in (c.question, c.answer)])
    return {id(c): float(vectors[2 * i] @ vectors[2 * i + 1]) for i, c in enumerate(candidates)}


def _merit(candidate: Candidate, context: FilterContext, fits: dict[int, float]) -> tuple[float, float, float]:
    scores = candidate.verdict.get("scores")
    judge = min(scores.values()) if scores and context.health.get("applied") else 0
    return (judge, round(candidate.evidence_ratio, 3), round(fits.get(id(candidate), 0.0), 3))


def _merit_words(candidate: Candidate, context: FilterContext, fits: dict[int, float]) -> str:
    judge, evidence, fit = _merit(candidate, context, fits)
    return f"judge {judge:g}, evidence {evidence:.2f}, fit to its answer {fit:.2f}"


def fact_id(chunk_id: str, span: str) -> str:
    """The fact a pair asks about: one span of one chunk (answer_first: its answer; free: its
    evidence quote), whitespace and case aside. "" without a span (unanswerable questions)."""
    span = " ".join(span.split()).lower()
    return content_id("fact", chunk_id, span) if span else ""


def _qa_pair(candidate: Candidate, tokens: dict, labels: dict[str, str], judge_prompt_hash: str) -> QAPair:
    unit, pair, verdict = candidate.unit, candidate.pair, candidate.verdict
    chunk = unit.chunk
    judged = verdict.get("scores") is not None
    scores = verdict["scores"] if judged else dict.fromkeys(("grounded", "correct", "useful", "standalone"), 0)
    span = pair["answer"] if unit.strategy == "answer_first" else (pair.get("evidence") or "")
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
        question_type=answer_first.question_type_of(pair["question"], unit.question_type),
        evidence=(pair.get("evidence") or "").strip(),
        # A templated question's writer is the template; the model wrote the others.
        generator_model=TEMPLATE if pair.get("template") else labels["generator"],
        generate_prompt_hash=unit.generate_prompt_hash,
        prompt_tokens=tokens["prompt"],
        completion_tokens=tokens["completion"],
        evidence_ratio=candidate.evidence_ratio,
        fact_id=fact_id(chunk.chunk_id, span) if unit.question_type != "unanswerable" else "",
        score_grounded=scores["grounded"],
        score_correct=scores["correct"],
        score_useful=scores["useful"],
        score_standalone=scores["standalone"],
        judge_verdict=verdict["verdict"],
        judge_rationale=verdict.get("rationale") or "",
        revised_answer=verdict.get("revised_answer") or "",
        judge_model=labels["judge"] if judged else "",
        judge_prompt_hash=judge_prompt_hash if judged else "",
        judge_prompt_tokens=verdict["tokens"]["prompt"],
        judge_completion_tokens=verdict["tokens"]["completion"],
    )


def judge_score(pair: QAPair) -> float:
    return pair.score_grounded + pair.score_correct + pair.score_useful + pair.score_standalone + pair.evidence_ratio


def remove_near_duplicates(pairs: list[QAPair], cfg: GenerateConfig) -> tuple[list[QAPair], list[Dropped]]:
    """Within and across chunks: keep the best-scored pair of each cluster, record the
    cluster on every pair (kept and dropped). Two questions of one fact (one answer span) are
    meant to ask it in other words, which the embeddings call duplicates (a reworded opening
    scores 0.92-0.98): they are duplicates only when their words nearly repeat each other."""
    from docs2qa.generation.qa.dedup import cluster_duplicates
    from docs2qa.models.embeddings import embed_questions
    from docs2qa.wording import NEAR_COPY, rouge_l

    if not pairs:
        return [], []

    def linked(left, right):
        return [
            not pairs[i].fact_id
            or pairs[i].fact_id != pairs[j].fact_id
            or rouge_l(pairs[i].question, pairs[j].question) >= NEAR_COPY
            for i, j in zip(left.tolist(), right.tolist())
        ]

    embeddings = embed_questions([p.question for p in pairs], cfg.dedup.model)
    scores = [judge_score(p) for p in pairs]
    keep, cluster_of, sizes = cluster_duplicates(embeddings, scores, cfg.dedup.threshold, linked)
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
