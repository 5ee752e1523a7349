"""Which generated pairs are kept: the first of the three layers that decide what reaches a
dataset (then people's review, curation/review_policy.py, and the leakage check across splits,
curation/leakage.py).

filters.py is the one loop (a PairFilter per rule, each drop recorded with its reason); the rules
live by topic: checks.py (form: lengths, language, standalone, evidence), gates.py (grounding:
degenerate, echo, support), off_target.py (an answer_first question fits its answer),
judge_health.py (the judge's scores, applied only when the judge discriminates). PIPELINE is
their order.
"""

from __future__ import annotations

from docs2qa.generation.qa.keep.checks import CHECKS
from docs2qa.generation.qa.keep.filters import PairFilter
from docs2qa.generation.qa.keep.gates import GATES
from docs2qa.generation.qa.keep.judge_health import JUDGE
from docs2qa.generation.qa.keep.off_target import OFF_TARGET

# The filters a generated pair must pass, in order. The model-free ones come first: the
# judge's health is measured against them, and the off-target rules and the judge only see
# the pairs they passed.
PIPELINE: tuple[PairFilter, ...] = (*CHECKS, *GATES, *OFF_TARGET, *JUDGE)
