"""What the stage lines, `status` and the recap say a stage made: who decided (people or the
demo policy), what a stage without tables made, how to go on. Fast: manifests written here."""

from __future__ import annotations

from pathlib import Path

from docs2qa.pipeline import stage_named

ROOT = Path(__file__).resolve().parents[1]


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


def test_an_uninformative_judge_is_warned_about_once(tmp_path, monkeypatch, capsys):
    """The generate body printed the warning and the stage summary said it again."""
    from docs2qa.cli import _report
    from docs2qa.config import load_config
    from docs2qa.generation.qa import generate
    from docs2qa.records import Chunk
    from docs2qa.store import RunStore, StageResult

    config = load_config(ROOT / "configs" / "demo.yaml", ["generate.judge.enabled=true"])  # auto: off for SmolLM2
    store = RunStore(tmp_path / "run")
    store.run_stage("chunk", "h", [], lambda stage: StageResult({"chunks": ([], Chunk)}, 0))
    health = {"informative": False, "reason": "it scored every pair below min_score"}
    monkeypatch.setattr(generate, "assemble", lambda *args, **kwargs: ([], [], health))
    monkeypatch.setattr(generate, "remove_near_duplicates", lambda pairs, gen: (pairs, []))
    manifest = generate.generate(config, store)
    _report(stage_named("generate"), manifest)
    assert capsys.readouterr().err.count("the judge is uninformative") == 1


def test_a_pipeline_that_finishes_no_unit_points_at_the_run_log(tmp_path, monkeypatch):
    """Its output goes to runs/<name>/logs/run.log (not the terminal) unless -v."""
    import pytest

    from docs2qa import logs
    from docs2qa.config import load_config
    from docs2qa.errors import Docs2qaError
    from docs2qa.generation.qa import generate
    from docs2qa.records import Chunk
    from docs2qa.store import RunStore, StageResult

    config = load_config(ROOT / "configs" / "demo.yaml", [])
    store = RunStore(tmp_path / "run")
    store.run_stage("chunk", "h", [], lambda stage: StageResult({"chunks": ([], Chunk)}, 0))
    unit = type("U", (), {"key": "u1"})()
    monkeypatch.setattr(generate, "plan_units", lambda *args: ([unit], []))
    monkeypatch.setattr(generate, "_run_pipeline", lambda *args: None)  # a pipeline that journals nothing
    run_log = logs.to_file(store.root)
    try:
        with pytest.raises(Docs2qaError) as raised:
            generate.generate(config, store)
    finally:
        logs.close_file()
    assert f"see the pipeline's log in {run_log}" in str(raised.value) and "above" not in str(raised.value)


def test_push_says_when_the_judge_suggested_nothing():
    argilla = {"records": 6, "url": "http://127.0.0.1:6900/dataset/d1/annotation-mode", "judge_suggestions": False}
    notes = stage_named("push").describe({"argilla": argilla}).notes
    assert notes[1] == "no judge suggestions pre-filled: the generate stage found the judge uninformative"
    assert len(stage_named("push").describe({"argilla": {**argilla, "judge_suggestions": True}}).notes) == 1
