"""Is the judge telling pairs apart? A judge that scores everything alike, or that scores the
pairs the model-free gates reject as high as the ones they pass, carries no information:
its threshold would keep or drop pairs at random. Such a judge is reported loudly in the
generate manifest (`judge_health`) and its scores are not used to drop pairs.

The judge's decisions are the last filters of the pipeline (filters.py): JUDGE. A judge that
is off (generate.judge.enabled) judged nothing: its health says so, neither informative nor
not, and its filters pass every pair.
"""

from __future__ import annotations

from docs2qa.generation.qa.keep.filters import Candidate, FilterContext, PairFilter, Rejection

MIN_PAIRS = 6  # fewer judged pairs than this cannot show whether the judge discriminates
MIN_PER_SIDE = 3  # gate-passed and gate-failed pairs needed to compare the judge with the gates
# Score points (1-5 scale) by which the judge must rank gate-passed pairs above gate-failed ones:
# SmolLM2 scored both 1.17 against 1.16, which is no ranking at all.
MIN_MARGIN = 0.5


def lowest_score(scores: dict) -> int:
    return min(scores.values())


def judge_off(reason: str) -> dict:
    """The health of a judge that did not run: nothing was judged, so nothing is uninformative."""
    return {"informative": None, "applied": False, "judged": 0, "reason": f"judge off ({reason})"}


def judge_health(judged: list[tuple[dict, bool]], min_score: int) -> dict:
    """`judged`: (scores, passed_gates) for every pair the judge scored.

    Returns {"informative": True | False | None, "reason": str, "applied": bool, ...figures}.
    `applied` says whether the judge's scores decide what is kept."""
    n = len(judged)
    figures: dict = {"judged": n, "min_score": min_score}
    if n < MIN_PAIRS:
        return {
            "informative": None,
            "applied": True,
            **figures,
            "reason": f"only {n} judged pair(s): too few to tell whether the judge discriminates",
        }
    distinct = {tuple(sorted(scores.items())) for scores, _ in judged}
    figures["distinct_score_sets"] = len(distinct)
    passed = [lowest_score(s) for s, ok in judged if ok]
    failed = [lowest_score(s) for s, ok in judged if not ok]
    if passed and failed:
        agree = sum((lowest_score(s) >= min_score) == ok for s, ok in judged)
        figures["agreement_with_gates"] = round(agree / n, 3)
        figures["mean_lowest_score_gates_passed"] = round(sum(passed) / len(passed), 2)
        figures["mean_lowest_score_gates_failed"] = round(sum(failed) / len(failed), 2)
    use = "Use a stronger judge model (generate.judge.model)."
    if len(distinct) == 1:
        scores = "/".join(str(v) for _, v in next(iter(distinct)))
        return {
            "informative": False,
            "applied": False,
            **figures,
            "reason": f"the judge gave all {n} pairs the same scores ({scores}); its scores were not used, "
            "only the model-free gates filtered. Use a stronger judge model (generate.judge.model).",
        }
    if len(passed) >= MIN_PER_SIDE and not any(score >= min_score for score in passed):
        return {
            "informative": False,
            "applied": False,
            **figures,
            "reason": f"it scored every one of the {len(passed)} pairs the model-free gates passed below "
            f"generate.judge.min_score={min_score}; its scores were not used. {use}",
        }
    if len(passed) >= MIN_PER_SIDE and len(failed) >= MIN_PER_SIDE:
        margin = figures["mean_lowest_score_gates_passed"] - figures["mean_lowest_score_gates_failed"]
        if margin < MIN_MARGIN:
            return {
                "informative": False,
                "applied": False,
                **figures,
                "reason": "no agreement with the model-free gates: pairs they rejected scored about as high as "
                f"pairs they passed (mean lowest score {figures['mean_lowest_score_gates_failed']} vs "
                f"{figures['mean_lowest_score_gates_passed']}); its scores were not used. {use}",
            }
        return {
            "informative": True,
            "applied": True,
            **figures,
            "reason": "scores vary and rank the pairs the gates passed above those they rejected",
        }
    if len(failed) >= MIN_PER_SIDE:
        kept = sum(score >= min_score for score in failed)
        if kept * 2 >= len(failed):
            return {
                "informative": False,
                "applied": False,
                **figures,
                "reason": f"no agreement with the model-free gates: it would keep {kept} of the {len(failed)} "
                f"pairs they rejected; its scores were not used. {use}",
            }
        return {
            "informative": True,
            "applied": True,
            **figures,
            "reason": f"scores vary and reject {len(failed) - kept} of the {len(failed)} pairs the gates rejected",
        }
    return {
        "informative": None,
        "applied": True,
        **figures,
        "reason": "scores vary, but too few pairs failed the gates to check the judge against them",
    }


class JudgeParseError(PairFilter):
    name = "judge_parse_error"
    reasons = ("judge_parse_error",)
    after_failure = False  # a pair the model-free filters rejected is dropped for that

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        verdict = candidate.verdict
        if verdict.get("parse_error"):
            return "judge_parse_error", f"{verdict['parse_error']} | raw output: {verdict.get('raw_output') or ''}"
        return None


class JudgeLowScore(PairFilter):
    """The judge's lowest score reaches `generate.judge.min_score`, when the judge is healthy
    (`judge_health`, measured against what the filters before this one decided)."""

    name = "judge_low_score"
    reasons = ("judge_low_score",)
    after_failure = False

    def prepare(self, candidates: list[Candidate], context: FilterContext) -> None:
        enabled, reason = context.cfg.judge_decision()
        if not enabled:
            context.health = judge_off(reason)
            return
        judged = [(c.verdict["scores"], not c.failures) for c in candidates if c.verdict.get("scores")]
        context.health = judge_health(judged, context.cfg.judge.min_score)

    def check(self, candidate: Candidate, context: FilterContext) -> Rejection | None:
        verdict, least = candidate.verdict, context.cfg.judge.min_score
        scores = verdict.get("scores")
        if not context.health["applied"] or not scores or lowest_score(scores) >= least:
            return None
        return "judge_low_score", (
            f"lowest score {lowest_score(scores)} < generate.judge.min_score={least} "
            f"({scores}); verdict {verdict['verdict']!r}: {verdict.get('rationale') or ''}"
        )


JUDGE: tuple[PairFilter, ...] = (JudgeParseError(), JudgeLowScore())
