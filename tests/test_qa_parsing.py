"""Parsers for generator and judge replies (scripted replies: these test parsing logic),
prompt hashes, and the two distilabel Tasks run for real on a tiny random model."""

from __future__ import annotations

import json

import pytest

from docs2qa.generation.qa import prompts
from docs2qa.generation.qa.parsing import (
    ParseError,
    parse_critique_json,
    parse_critique_lines,
    parse_pairs_json,
    parse_pairs_lines,
)
from tiny_models import tiny_chat_model  # noqa: F401  (session fixture)

GOOD_LINES = """Q: How do I enable dark mode in Acme Notes?
A: Open Settings > Appearance and choose Dark.
EVIDENCE: Open **Settings > Appearance** and choose *Dark*.
Q: What is the maximum attachment size in Acme Notes?
A: 25 MB per attachment.
EVIDENCE: Attachments can be up to 25 MB each."""


def test_lines_good():
    pairs = parse_pairs_lines(GOOD_LINES)
    assert pairs == [
        {
            "question": "How do I enable dark mode in Acme Notes?",
            "answer": "Open Settings > Appearance and choose Dark.",
            "evidence": "Open **Settings > Appearance** and choose *Dark*.",
        },
        {
            "question": "What is the maximum attachment size in Acme Notes?",
            "answer": "25 MB per attachment.",
            "evidence": "Attachments can be up to 25 MB each.",
        },
    ]


@pytest.mark.parametrize(
    "decorated",
    [
        "1. Q: How do I sync?\n   A: Press Sync.\n   EVIDENCE: Press Sync.",
        "**Q:** How do I sync?\n**A:** Press Sync.\n**EVIDENCE:** Press Sync.",
        "**Q**: How do I sync?\n**A**: Press Sync.\n**EVIDENCE**: Press Sync.",
        "- Q1: How do I sync?\n- A1: Press Sync.\n- EVIDENCE1: Press Sync.",
        "### Q: How do I sync?\nA:Press Sync.\nevidence:   Press Sync.  ",
        "Here are the pairs you asked for:\n\n"
        "Q: How do I sync?\nA: Press Sync.\nEVIDENCE: Press Sync.\n\nI hope this helps!",
    ],
)
def test_lines_tolerates_decoration_and_chatter(decorated):
    assert parse_pairs_lines(decorated) == [
        {"question": "How do I sync?", "answer": "Press Sync.", "evidence": "Press Sync."}
    ]


def test_lines_multiline_value_and_empty_evidence():
    text = "Q: Does Acme Notes run on a toaster?\nA: The documentation does not say.\nEVIDENCE:\n"
    assert parse_pairs_lines(text)[0]["evidence"] == ""
    assert parse_pairs_lines(text.replace("EVIDENCE:", "EVIDENCE: -"))[0]["evidence"] == ""
    code = "Q: How do I install acme?\nA: Run the installer.\nEVIDENCE: pip install acme\nacme --init\n\nThanks!"
    assert parse_pairs_lines(code)[0]["evidence"] == "pip install acme\nacme --init"


@pytest.mark.parametrize(
    "bad, message",
    [
        ("", "empty"),
        ("I cannot help with that.", "no 'Q:'"),
        ("Q: How do I sync?\nA: Press Sync.", "lacks EVIDENCE:"),
        ("Q: How do I sync?\nEVIDENCE: Press Sync.", "before 'A:'"),
        ("Q: How do I sync?\nA: Press Sync.\nEVIDENCE: x\nQ: Second?\nA: y", "pair 2 lacks EVIDENCE:"),
        ("Q:\nA: Press Sync.\nEVIDENCE: Press Sync.", "empty 'Q:'"),
        ("Q: How do I sync?\nA: \nEVIDENCE: Press Sync.", "empty 'A:'"),
        ("A: Press Sync.\nQ: How?\nA: x\nEVIDENCE: y", "before any 'Q:'"),
        ("Q: How?\nA: x\nA: y\nEVIDENCE: z", "two 'A:'"),
    ],
)
def test_lines_rejects(bad, message):
    with pytest.raises(ParseError, match=message):
        parse_pairs_lines(bad)


def test_json_good_and_fenced():
    body = {"pairs": [{"question": "How do I sync Acme?", "answer": "Press Sync.", "evidence": "Press Sync."}]}
    assert parse_pairs_json(json.dumps(body)) == body["pairs"]
    fenced = f"Sure! Here it is:\n```json\n{json.dumps(body, indent=2)}\n```\n"
    assert parse_pairs_json(fenced) == body["pairs"]


@pytest.mark.parametrize(
    "bad, message",
    [
        ('{"pairs": [{"question": "Q?", "answer": "A"', "invalid JSON"),
        ('[{"question": "Q?", "answer": "A", "evidence": ""}]', "neither a JSON object"),
        ('{"items": []}', "exactly the key 'pairs'"),
        ('{"pairs": []}', "non-empty list"),
        ('{"pairs": [{"question": "Q?", "answer": "A"}]}', "exactly question, answer, evidence"),
        ('{"pairs": [{"question": "Q?", "answer": 3, "evidence": ""}]}', "must be strings"),
        ('{"pairs": [{"question": " ", "answer": "A", "evidence": ""}]}', "empty question"),
        ("```json\n{}\n```\n```json\n{}\n```", "2 ```json blocks"),
    ],
)
def test_json_rejects(bad, message):
    with pytest.raises(ParseError, match=message):
        parse_pairs_json(bad)


GOOD_CRITIQUE = """GROUNDED: 4
CORRECT: 3
USEFUL: 4/5
STANDALONE: 5
VERDICT: Revise.
REVISED: Open Settings > Appearance and choose Dark; it applies at once.
RATIONALE: The answer misses that the change is immediate."""


def test_critique_lines_good():
    assert parse_critique_lines(GOOD_CRITIQUE) == {
        "scores": {"grounded": 4, "correct": 3, "useful": 4, "standalone": 5},
        "verdict": "revise",
        "revised_answer": "Open Settings > Appearance and choose Dark; it applies at once.",
        "rationale": "The answer misses that the change is immediate.",
    }
    keep = GOOD_CRITIQUE.replace("Revise.", "keep").replace(
        "REVISED: Open Settings > Appearance and choose Dark; it applies at once.", "REVISED: -"
    )
    assert parse_critique_lines(keep)["revised_answer"] == ""
    bold = "\n".join(f"**{line.replace(':', ':**', 1)}" for line in GOOD_CRITIQUE.splitlines())
    assert parse_critique_lines(bold)["verdict"] == "revise"


@pytest.mark.parametrize(
    "edit, message",
    [
        (("CORRECT: 3", "CORRECT: 7"), "correct must be an integer 1-5"),
        (("CORRECT: 3", "CORRECT: 0"), "correct must be an integer 1-5"),
        (("CORRECT: 3", "CORRECT: 3.5"), "correct must be an integer 1-5"),
        (("CORRECT: 3", "CORRECT: good"), "correct must be an integer 1-5"),
        (("VERDICT: Revise.", "VERDICT: maybe"), "verdict must be keep, revise or drop"),
        (
            ("REVISED: Open Settings > Appearance and choose Dark; it applies at once.", "REVISED: -"),
            "no revised answer",
        ),
        (("USEFUL: 4/5\n", ""), "missing USEFUL:"),
        (("RATIONALE: The answer misses that the change is immediate.", "RATIONALE:"), "rationale is missing"),
        (("GROUNDED: 4", "GROUNDED: 4\nGROUNDED: 5"), "appears twice"),
    ],
)
def test_critique_lines_rejects(edit, message):
    with pytest.raises(ParseError, match=message):
        parse_critique_lines(GOOD_CRITIQUE.replace(*edit))


def test_critique_json():
    body = {
        "grounded": 5,
        "correct": 5,
        "useful": 3,
        "standalone": 4,
        "verdict": "keep",
        "revised_answer": "",
        "rationale": "Fine.",
    }
    parsed = parse_critique_json(json.dumps(body))
    assert parsed["scores"] == {"grounded": 5, "correct": 5, "useful": 3, "standalone": 4}
    assert parsed["verdict"] == "keep" and parsed["revised_answer"] == ""
    with pytest.raises(ParseError, match="integer 1-5"):
        parse_critique_json(json.dumps({**body, "useful": 6}))
    with pytest.raises(ParseError, match="integer 1-5"):
        parse_critique_json(json.dumps({**body, "useful": True}))
    with pytest.raises(ParseError, match="no revised answer"):
        parse_critique_json(json.dumps({**body, "verdict": "revise"}))
    with pytest.raises(ParseError, match="unknown"):
        parse_critique_json(json.dumps({**body, "mood": "ok"}))


def test_prompt_hash_is_stable_and_tracks_the_template(monkeypatch):
    hashes = {(f, t): prompts.prompt_hash(f, t) for f in prompts.FORMATS for t in prompts.QUESTION_TYPES}
    assert len(set(hashes.values())) == len(hashes)
    assert prompts.prompt_hash("lines", "factual") == hashes[("lines", "factual")]
    monkeypatch.setitem(prompts.QUESTION_TYPES, "factual", prompts.QUESTION_TYPES["factual"] + " Be brief.")
    assert prompts.prompt_hash("lines", "factual") != hashes[("lines", "factual")]
    assert prompts.critique_prompt_hash("lines") != prompts.critique_prompt_hash("json")


def test_prompts_carry_the_chunk_and_the_rules():
    messages = prompts.generate_messages(
        "lines", "unanswerable", 2, "Acme Notes", ["Sync", "Conflicts"], "Conflicts are kept as copies."
    )
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert "Acme Notes" in user and "Sync > Conflicts" in user and "Conflicts are kept as copies." in user
    assert "exactly 2" in user and "The documentation does not say." in user and "EVIDENCE:" in user
    assert "the passage" in messages[0]["content"]  # told never to say it
    as_json = prompts.generate_messages("json", "factual", 1, "T", [], "x")[1]["content"]
    assert json.dumps(prompts.PAIRS_SCHEMA) in as_json
    judge = prompts.critique_messages("lines", "Q?", "A", "", "text", "T", [])[1]["content"]
    assert "VERDICT:" in judge and "(none)" in judge


# ---------------------------------------------------------------- the Tasks, for real


def _llm(model_path):
    from distilabel.models.llms import TransformersLLM

    return TransformersLLM(
        model=str(model_path),
        device="cpu",
        generation_kwargs={"max_new_tokens": 24, "do_sample": False, "temperature": 1.0},
    )


def test_format_output_keeps_raw_text_on_failure():
    from docs2qa.generation.qa.tasks import CritiqueQA, GenerateQA

    unloaded = "never-loaded-model"  # format_output needs a Task, not a model
    task = GenerateQA(llm=_llm(unloaded), output_format="lines")
    assert task.format_output(GOOD_LINES)["pairs"][1]["answer"] == "25 MB per attachment."
    bad = task.format_output("Q: only a question?")
    assert bad == {"pairs": None, "parse_error": "pair 1 lacks A:, EVIDENCE:", "raw_output": "Q: only a question?"}
    assert task.format_output(None)["parse_error"] == "the model returned no text"
    judge = CritiqueQA(llm=_llm(unloaded), output_format="lines")
    assert judge.format_output(GOOD_CRITIQUE)["verdict"] == "revise"
    assert judge.format_output("VERDICT: keep") | {"parse_error": None} == {
        "scores": None,
        "verdict": None,
        "revised_answer": None,
        "rationale": None,
        "parse_error": None,
        "raw_output": "VERDICT: keep",
    }
    assert GenerateQA(llm=_llm(unloaded), output_format="json").get_structured_output() == prompts.PAIRS_SCHEMA
    assert task.get_structured_output() is None


def _run_pipeline(model_path: str, cache_dir: str, out_path: str) -> None:
    """Runs in a fresh interpreter (see the test): distilabel forks its step processes,
    and a fork of a process whose torch thread pool is already running (any earlier test
    that used torch) can deadlock."""
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts

    from docs2qa.generation.qa.tasks import CritiqueQA, GenerateQA

    chunk = {
        "title": "Acme Notes",
        "heading_path": ["Sync"],
        "text": "Acme Notes syncs every 5 minutes.",
        "question": "How often does Acme Notes sync?",
        "answer": "Every 5 minutes.",
        "evidence": "syncs every 5 minutes",
    }
    rows = [
        {**chunk, "chunk_id": f"c{i}", "question_type": qt, "n": 1}
        for i, qt in enumerate(["factual", "procedural", "unanswerable"])
    ]
    with Pipeline(name="qa-tasks-test", cache_dir=cache_dir) as pipeline:
        load = LoadDataFromDicts(data=rows, batch_size=3)
        generate = GenerateQA(
            name="generate_qa", llm=_llm(model_path), output_format="lines", parse_retries=1, input_batch_size=3
        )
        critique = CritiqueQA(name="critique_qa", llm=_llm(model_path), output_format="json", input_batch_size=3)
        load >> [generate, critique]
    distiset = pipeline.run(use_cache=False)
    result = {name: distiset[name]["train"].to_list() for name in ("generate_qa", "critique_qa")}
    with open(out_path, "w") as out:
        json.dump(result, out, default=str)


@pytest.mark.slow
def test_tasks_run_in_a_real_pipeline(tiny_chat_model, tmp_path):
    """A tiny random model writes gibberish: every row must come back, parsed or with its
    parse error and raw text, after the configured re-asks."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "rows.json"
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        f"from test_qa_parsing import _run_pipeline; "
        f"_run_pipeline({str(tiny_chat_model)!r}, {str(tmp_path / 'cache')!r}, {str(out)!r})"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DISTILABEL_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(out.read_text())

    generated, judged = result["generate_qa"], result["critique_qa"]
    assert sorted(r["chunk_id"] for r in generated) == ["c0", "c1", "c2"]
    assert len(judged) == 3
    for row in generated:
        meta = row["distilabel_metadata"]
        assert (row["pairs"] is None) == (row["parse_error"] is not None)
        if row["pairs"] is None:
            assert row["raw_output"] == meta["raw_output_generate_qa"]
            assert row["parse_attempts"] == 2  # one re-ask with the error shown to the model
            assert isinstance(meta["raw_input_generate_qa"], list) and len(meta["raw_input_generate_qa"]) == 4
        stats = meta["statistics_generate_qa"]
        assert stats["input_tokens"] > 0 and stats["output_tokens"] > 0
        assert row["model_name"] == str(tiny_chat_model)
    for row in judged:
        assert (row["verdict"] is None) == (row["parse_error"] is not None)
        if row["verdict"] is None:
            assert row["raw_output"] == row["distilabel_metadata"]["raw_output_critique_qa"]
            assert row["parse_attempts"] == 1
