"""Paired bootstrap confidence intervals, and the verdict a reader may draw from one.

Base and tuned answer the same questions, so their difference is measured per question and
resampled by question (a paired bootstrap): the interval says how much the mean difference
could move with another draw of questions of the same kind. A difference is called a gain
or a loss only when its whole interval lies on one side of zero.
"""

from __future__ import annotations

from collections.abc import Sequence

SAMPLES = 2000
LEVEL = 0.95
SEED = 0
# Below this many questions an interval is wide and a mean is anecdote: every output says so.
MIN_EXAMPLES = 30
BETTER, WORSE, UNCLEAR, TOO_FEW = "tuned better", "tuned worse", "no clear difference", "too few examples"


def paired_difference(
    base: Sequence[float | None],
    tuned: Sequence[float | None],
    *,
    samples: int = SAMPLES,
    level: float = LEVEL,
    seed: int = SEED,
) -> dict:
    """Mean of tuned - base over the pairs where both have a value, with a percentile
    bootstrap interval (seeded: the same inputs give the same interval) and a verdict."""
    pairs = [(b, t) for b, t in zip(base, tuned, strict=True) if b is not None and t is not None]
    n = len(pairs)
    out = {"n": n, "base": None, "tuned": None, "difference": None, "low": None, "high": None, "level": level}
    if n == 0:
        return {**out, "verdict": TOO_FEW}
    out["base"] = sum(b for b, _ in pairs) / n
    out["tuned"] = sum(t for _, t in pairs) / n
    differences = [t - b for b, t in pairs]
    out["difference"] = sum(differences) / n
    if n < 2:
        # One question cannot show spread: no interval, and no verdict either way.
        return {**out, "verdict": TOO_FEW}
    out["low"], out["high"] = mean_interval(differences, samples=samples, level=level, seed=seed)
    return {**out, "verdict": verdict(out["low"], out["high"])}


def mean_interval(
    values: Sequence[float], *, samples: int = SAMPLES, level: float = LEVEL, seed: int = SEED
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values`."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(samples, len(data)))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def verdict(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return TOO_FEW
    if low > 0:
        return BETTER
    if high < 0:
        return WORSE
    return UNCLEAR


def small_sample_warning(n: int) -> str | None:
    if n >= MIN_EXAMPLES:
        return None
    return (
        f"only {n} example(s) evaluated: at this size differences are mostly noise and the intervals are wide; "
        f"treat every number as anecdotal and evaluate at least {MIN_EXAMPLES} questions "
        "(a larger test split or eval.gold_file) before drawing conclusions"
    )
