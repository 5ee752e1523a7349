"""What the stage lines, `status` and the recap say a stage made: who decided (people or the
demo policy), what a stage without tables made, how to go on. Fast: manifests written here."""

from __future__ import annotations

from docs2qa.pipeline import stage_named


def _pull(counts: dict[str, int], demo: int) -> str:
    statuses = ("accepted", "rejected", "needs-edit", "disputed", "pending", "discarded")
    snapshot = {"id": "1a11", "counts": {s: counts.get(s, 0) for s in statuses}, "demo_policy_accepted": demo}
    return stage_named("pull").describe({"snapshot": snapshot}).product


def test_pull_says_the_demo_policy_accepted_not_a_person():
    assert _pull({"accepted": 6}, demo=6) == "snapshot 1a11: 6 accepted by the demo policy (not a person), 0 pending"


def test_pull_counts_people_apart_from_the_demo_policy():
    said = _pull({"accepted": 3, "rejected": 1, "pending": 2}, demo=1)
    assert said == (
        "snapshot 1a11: 2 accepted by people, 1 accepted by the demo policy (not a person), 1 rejected, 2 pending"
    )
    assert _pull({"pending": 4}, demo=0) == "snapshot 1a11: 0 accepted by people, 4 pending"
