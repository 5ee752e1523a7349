"""generate.judge.enabled: auto turns the judge off where it was measured to tell nothing apart
(a sub-1B generator judging its own answer_first pairs), explicit settings win, and an off judge
costs nothing, scores nothing and is reported plainly."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from docs2qa.generation.qa.assemble import Unit, assemble
from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.generation.qa.stages import _describe_generate
from docs2qa.records import Chunk

TEXT = "# Organizations\n\nInvitations expire after 14 days. Single sign-on requires the Team plan.\n"
CHUNK = Chunk(
    "c1",
    "p1",
    "https://acme.example/docs/orgs",
    "https://acme.example/docs/orgs#organizations",
    "Organizations",
    ["Organizations"],
    TEXT,
    80,
    0,
    len(TEXT),
    "sha",
    "2026-01-01T00:00:00+00:00",
)


def decision(**settings) -> tuple[bool, str]:
    return GenerateConfig(**settings).judge_decision()


def test_auto_turns_the_judge_off_for_a_small_generator_under_answer_first():
    enabled, reason = decision()  # the embedded SmolLM2, answer_first by auto
    assert not enabled
    assert reason == "auto: embedded generator under answer_first; generate.judge.enabled=true judges"
    for small in ("HuggingFaceTB/SmolLM2-360M-Instruct", "Qwen/Qwen2.5-0.5B-Instruct"):
        enabled, reason = decision(generator={"model": small})
        assert not enabled and f"sub-1B generator {small.split('/')[1]} under answer_first" in reason
    # A small judge of its own is as uninformative as the generator judging itself.
    assert not decision(judge={"model": "HuggingFaceTB/SmolLM2-360M-Instruct"})[0]


def test_auto_keeps_the_judge_for_larger_models_and_the_free_strategy():
    for large in ("Qwen/Qwen2.5-7B-Instruct", "gpt-4o-mini", "meta-llama/Llama-3.1-8B-Instruct"):
        enabled, reason = decision(generator={"model": large})
        assert enabled and reason == "auto: the free strategy; generate.judge.enabled=false skips it"
    # The embedded model writing whole pairs is judged: free is not what the measurement was on.
    assert decision(strategy="free")[0]
    # A capable judge of its own judges the small generator's answer_first pairs.
    enabled, reason = decision(judge={"backend": "openai", "model": "Qwen/Qwen2.5-7B-Instruct"})
    assert enabled and "judge Qwen2.5-7B-Instruct is not under 1B" in reason


def test_an_explicit_setting_wins():
    assert decision(judge={"enabled": True}) == (True, "generate.judge.enabled=true")
    assert decision(generator={"model": "Qwen/Qwen2.5-7B-Instruct"}, judge={"enabled": False}) == (
        False,
        "generate.judge.enabled=false",
    )
    # Setting it (or min_score) does not make the judge a model of its own: the generator still judges.
    cfg = GenerateConfig(generator={"model": "a"}, judge={"enabled": True, "min_score": 4})
    assert cfg.judge_llm().model == "a" and not hasattr(cfg.judge_llm(), "enabled")


def test_an_off_judge_scores_nothing_drops_nothing_and_is_not_called_uninformative():
    answer = "Invitations expire after 14 days."
    unit = Unit("u1", CHUNK, "factual", 1, "hash", "answer_first", (answer,))
    record = {
        "parse_error": None,
        "pairs": [{"question": "When do invitations expire?", "answer": answer, "evidence": answer}],
        "tokens": {"prompt": 100, "completion": 10},
        "judgements": [],  # no judge step ran
    }
    pairs, dropped, health = assemble([unit], {"u1": record}, GenerateConfig(), {"generator": "g", "judge": ""}, "")
    (pair,) = pairs
    assert not dropped
    assert (pair.score_grounded, pair.score_correct, pair.score_useful, pair.score_standalone) == (0, 0, 0, 0)
    assert pair.judge_model == "" and pair.judge_prompt_hash == "" and pair.judge_prompt_tokens == 0
    assert health["applied"] is False and health["informative"] is None
    assert health["reason"].startswith("judge off (auto: embedded generator under answer_first")


def test_the_stage_summary_says_off_in_one_plain_line():
    manifest = {
        "tokens": {"generate": {"prompt": 900, "completion": 40}, "judge": {"prompt": 0, "completion": 0}},
        "judge": {
            "enabled": False,
            "reason": "auto: embedded generator under answer_first; generate.judge.enabled=true judges",
        },
        "judge_health": {"applied": False, "informative": None, "reason": "judge off (auto: ...)"},
    }
    notes = _describe_generate(manifest).notes
    assert notes == (
        "tokens (prompt+completion): generate 900+40",
        "judge: off (auto: embedded generator under answer_first; generate.judge.enabled=true judges)",
    )
    # A judge that ran and told nothing apart is still a warning.
    ran = {"judge": {"enabled": True, "reason": "generate.judge.enabled=true"}, "judge_health": {"informative": False}}
    assert "WARNING" in _describe_generate(ran).notes[0]


def test_toggling_the_judge_changes_the_units_and_toggling_back_reuses_them():
    from docs2qa.config import load_config
    from docs2qa.generation.llm import model_label
    from docs2qa.generation.qa.generate import plan_units
    from docs2qa.generation.qa.prompts import critique_prompt_hash

    chunk = Chunk(
        *[getattr(CHUNK, f) for f in ("chunk_id", "page_id", "url", "anchor_url", "title")],
        ["Organizations"],
        TEXT * 4,
        200,
        0,
        4 * len(TEXT),
        "sha",
        "2026-01-01T00:00:00+00:00",
    )

    def keys(enabled: str) -> list[str]:
        config = load_config(None, ["name=t", "crawl.demo_site=true", f"generate.judge.enabled={enabled}"])
        gen = config.generate
        on = gen.judge_enabled()
        labels = {"generator": model_label(gen.generator), "judge": model_label(gen.judge_llm()) if on else ""}
        units, _ = plan_units([chunk], config, labels, critique_prompt_hash(gen.output_format) if on else "")
        return [u.key for u in units]

    assert keys("auto") == keys("false") != keys("true")
    assert set(keys("auto")).isdisjoint(keys("true"))


@pytest.mark.slow  # the distilabel pipeline in a fresh interpreter
def test_auto_off_runs_the_pipeline_without_a_judge_step(tmp_path, tiny_chat_model):
    """A real run: the tiny random model under a sub-1B name, so auto picks answer_first and no judge."""
    from docs2qa.generation.qa import journal
    from generate_helpers import demo_chunks, docs2qa, make_run

    small = tmp_path / "tiny-chat-135M"
    small.symlink_to(tiny_chat_model, target_is_directory=True)
    chunks = demo_chunks(tmp_path / "ingest")[:3]
    settings = {
        "generator": {"model": str(small), "max_new_tokens": 48, "batch_size": 4},
        "questions_per_type": {"factual": 1, "procedural": 1},
        "questions_per_answer": 2,
        "parse_retries": 0,
        "question_templates": False,  # every span asked of the model, twice (tests/test_templates.py)
    }
    run, config = make_run(tmp_path, chunks, settings)
    result = docs2qa("generate", "-c", str(config), "--run", str(run))
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((run / "generate" / "manifest.json").read_text())
    assert manifest["strategy"] == "answer_first"
    assert manifest["judge"] == {
        "enabled": False,
        "reason": "auto: sub-1B generator tiny-chat-135M under answer_first; generate.judge.enabled=true judges",
    }
    assert (
        manifest["tokens"]["judge"] == {"prompt": 0, "completion": 0} and manifest["tokens"]["generate"]["prompt"] > 0
    )
    assert manifest["models"]["judge"] == "" and manifest["questions_per_answer"] == 2
    assert manifest["judge_health"]["applied"] is False and manifest["judge_health"]["informative"] is None
    assert "judge: off (auto: sub-1B generator" in result.stdout + result.stderr
    records = list(journal.read(run / "generate" / journal.UNITS))
    assert records and all(r["judgements"] == [] for r in records)
    for record in records:  # two tries per span, each a pair or a failed try
        tries = [(p["answer"], p["try"]) for p in record["pairs"]] + [
            (t["answer"], t["try"]) for t in record["failed_tries"]
        ]
        assert sorted(tries) == sorted((answer, order) for answer in {a for a, _ in tries} for order in (0, 1))
    pairs = pq.read_table(run / "generate" / "pairs.parquet").to_pylist()
    assert all(p["judge_model"] == "" and p["score_grounded"] == 0 and p["fact_id"] for p in pairs)
