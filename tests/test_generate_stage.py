"""The generate stage end to end: a real distilabel pipeline, real models, real processes.

The tiny random model proves the plumbing (its text is gibberish, but the line grammar
makes it well-formed, so every rejection path runs); SmolLM2 proves real text.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter

import pyarrow.parquet as pq
import pytest
import yaml

from docs2qa.generation.qa import journal
from generate_helpers import demo_chunks, docs2qa, docs2qa_process, make_run

# Every test runs the distilabel pipeline in a fresh interpreter: 60-80 s each here, Ray past 600 s.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chunks(tmp_path_factory):
    from docs2qa.generation.qa.keep.gates import chunk_skip_reason

    # Chunks the stage would skip (navigation, too small) would make unit counts below vary.
    return [
        c for c in demo_chunks(tmp_path_factory.mktemp("ingest")) if not chunk_skip_reason(c.text, c.token_count, 64)
    ]


def tiny_generate(model, **overrides) -> dict:
    settings = {
        "generator": {"model": str(model), "max_new_tokens": 48, "batch_size": 2},
        "questions_per_type": {"factual": 1, "procedural": 1},
        "parse_retries": 1,
    }
    settings.update(overrides)
    return settings


def read(run, name):
    return pq.read_table(run / "generate" / f"{name}.parquet").to_pylist()


def journal_records(run):
    return list(journal.read(run / "generate" / journal.UNITS))


def test_tiny_model_runs_the_whole_stage_and_every_rejection_has_a_reason(tmp_path, chunks, tiny_chat_model):
    run, config = make_run(tmp_path, chunks[:3], tiny_generate(tiny_chat_model))
    result = docs2qa("generate", "-c", str(config), "--run", str(run))
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((run / "generate" / "manifest.json").read_text())
    assert manifest["units"] == 6
    records = journal_records(run)
    assert sorted(r["unit"] for r in records) == sorted({r["unit"] for r in records}) and len(records) == 6
    pairs, dropped = read(run, "pairs"), read(run, "dropped")
    generated = sum(len(r["pairs"]) for r in records) + sum(1 for r in records if r["parse_error"])
    # Nothing lost: every generated pair (or unparsable unit) is either kept or dropped with a reason.
    assert len(pairs) + len(dropped) == generated
    assert all(d["reason"] and d["detail"] for d in dropped)
    assert manifest["tokens"]["generate"]["prompt"] > 0 and manifest["tokens"]["generate"]["completion"] > 0
    assert manifest["models"]["generator"] == f"transformers:{tiny_chat_model.name}"


def test_answer_first_runs_in_the_same_pipeline_and_journal(tmp_path, chunks, tiny_chat_model):
    from docs2qa.generation.qa.answer_first import pick_answers
    from docs2qa.generation.qa.templates import fitting_question

    settings = tiny_generate(
        tiny_chat_model, strategy="answer_first", questions_per_type={"factual": 1, "conceptual": 1}
    )
    run, config = make_run(tmp_path, chunks[:2], settings)
    result = docs2qa("generate", "-c", str(config), "--run", str(run))
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((run / "generate" / "manifest.json").read_text())
    assert manifest["strategy"] == "answer_first" and "judge_health" in manifest
    tries = manifest["questions_per_answer"]
    # Types in the order the run read them (its config file's): a type served first picks first.
    wanted = yaml.safe_load(config.read_text())["generate"]["questions_per_type"]
    records = journal_records(run)
    for record in records:
        chunk = next(c for c in chunks if c.chunk_id == record["chunk_id"])
        picked = pick_answers(chunk.text, wanted)[record["question_type"]]
        heading = list(chunk.heading_path)
        templated = {a for a in picked if fitting_question(a, record["question_type"], chunk.title, heading)}
        # The answers are the picked sentences, each asked `tries` times (a pair or, when the random
        # model never wrote a '?', a failed try with its raw text), or once by its template; the
        # model wrote only the questions, and the rewrites (rephrase_of) of those that parsed.
        tried = record["pairs"] + record["failed_tries"]
        firsts = [(t["answer"], t["try"]) for t in tried if not t.get("rephrase_of")]
        tries_of = {a: [0] if a in templated else range(tries) for a in picked}
        assert sorted(firsts) == sorted((a, order) for a in picked for order in tries_of[a])
        assert {p["answer"] for p in record["pairs"] if p.get("template")} == templated
        originals = {p["question"] for p in record["pairs"]}
        assert all(t["rephrase_of"] in originals for t in tried if t.get("rephrase_of"))
        assert all(p["evidence"] == p["answer"] and p["question"].endswith("?") for p in record["pairs"])
    assert manifest["tokens"]["generate"]["prompt"] > 0
    pairs, dropped = read(run, "pairs"), read(run, "dropped")
    assert all(d["reason"] and d["detail"] for d in dropped)
    # A type with no answer span in a chunk is dropped before any generation: not a generated pair.
    dropped = [d for d in dropped if d["reason"] != "no_answer_span"]
    # Nothing lost: a unit no try parsed is one row, else each pair and each failed try is kept or dropped.
    generated = sum(1 if r["parse_error"] else len(r["pairs"]) + len(r["failed_tries"]) for r in records)
    assert len(pairs) + len(dropped) == generated


def test_killed_run_resumes_without_loss_duplicates_or_regeneration(tmp_path, chunks, tiny_chat_model):
    run, config = make_run(tmp_path, chunks[:10], tiny_generate(tiny_chat_model))
    units_file = run / "generate" / journal.UNITS
    process = docs2qa_process("generate", "-c", str(config), "--run", str(run), start_new_session=True)
    deadline = time.monotonic() + 600
    while journal.count_lines(units_file) < 4:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # kill -9 the whole job (the CLI, the pipeline process and its step workers), mid-run.
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = {r["unit"]: r for r in journal_records(run)}
    assert 4 <= len(before) < 20, "the kill should land mid-run"
    assert not (run / "generate" / "_COMPLETE").exists()

    result = docs2qa("generate", "-c", str(config), "--run", str(run))
    assert result.returncode == 0, result.stderr[-3000:]
    records = journal_records(run)
    counts = Counter(r["unit"] for r in records)
    assert len(counts) == 20 and max(counts.values()) == 1  # every unit once: none regenerated or lost
    assert all(records[i] == before[records[i]["unit"]] for i in range(len(before)))
    pairs = read(run, "pairs")
    assert len({p["pair_id"] for p in pairs}) == len(pairs)


def test_a_pipeline_file_cut_by_a_kill_does_not_block_the_rerun(tmp_path, chunks, tiny_chat_model):
    """kill -9 while distilabel writes its cached pipeline.yaml left an empty file that crashed every
    rerun at load ("'NoneType' object is not subscriptable"), whatever use_cache said."""
    run, config = make_run(tmp_path, chunks[:2], tiny_generate(tiny_chat_model))
    assert docs2qa("generate", "-c", str(config), "--run", str(run)).returncode == 0
    cached = list((run / "generate" / "_distilabel").rglob("pipeline.yaml"))
    assert cached, "distilabel no longer writes pipeline.yaml: this test no longer reproduces the kill"
    for path in cached:
        path.write_text("")
    for path in (run / "generate").iterdir():  # the same pipeline again, from nothing but the cut cache
        if path.name != "_distilabel":
            path.unlink()
    result = docs2qa("generate", "-c", str(config), "--run", str(run))
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(journal_records(run)) == 4


def test_unchanged_units_are_not_regenerated_and_changed_ones_are(tmp_path, chunks, tiny_chat_model):
    run, config = make_run(tmp_path, chunks[:2], tiny_generate(tiny_chat_model))
    assert docs2qa("generate", "-c", str(config), "--run", str(run)).returncode == 0
    assert len(journal_records(run)) == 4
    assert docs2qa("generate", "-c", str(config), "--run", str(run)).returncode == 0
    assert len(journal_records(run)) == 4  # nothing new: all units were finished
    # A changed prompt setting (another question type) adds only the new units.
    config.write_text(config.read_text().replace("procedural: 1", "procedural: 1\n    conceptual: 1"))
    assert docs2qa("generate", "-c", str(config), "--run", str(run)).returncode == 0
    assert Counter(r["question_type"] for r in journal_records(run)) == {"factual": 2, "procedural": 2, "conceptual": 2}


def test_token_budget_stops_cleanly_and_resumes(tmp_path, chunks, tiny_chat_model):
    run, config = make_run(tmp_path, chunks[:20], tiny_generate(tiny_chat_model, questions_per_type={"factual": 1}))
    stopped = docs2qa("generate", "-c", str(config), "--run", str(run), "--max-tokens", "1")
    assert stopped.returncode == 1
    assert "token budget reached" in stopped.stderr and "--max-tokens" in stopped.stderr
    first = journal_records(run)
    assert 0 < len(first) < 40 and not (run / "generate" / "_COMPLETE").exists()
    assert docs2qa("generate", "-c", str(config), "--run", str(run)).returncode == 0
    assert Counter(r["unit"] for r in journal_records(run)).most_common(1)[0][1] == 1
    assert len(journal_records(run)) == 20


def test_openai_backend_against_a_real_local_server(tmp_path, chunks, tiny_chat_model):
    from tiny_models import transformers_server

    with transformers_server(tiny_chat_model) as base_url:
        settings = tiny_generate(tiny_chat_model, questions_per_type={"factual": 1})
        settings["generator"] = {
            "backend": "openai",
            "base_url": base_url,
            "model": str(tiny_chat_model),
            "max_new_tokens": 32,
            "batch_size": 2,
        }
        run, config = make_run(tmp_path, chunks[:2], settings)
        result = docs2qa("generate", "-c", str(config), "--run", str(run))
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((run / "generate" / "manifest.json").read_text())
    assert manifest["models"]["generator"] == f"openai:{tiny_chat_model.name}@127.0.0.1"
    assert manifest["tokens"]["generate"]["completion"] > 0  # usage came back from the server
    assert len(journal_records(run)) == 2


def test_ray_runs_the_same_pipeline_on_a_local_cluster(tmp_path, chunks, tiny_chat_model):
    pytest.importorskip("ray", reason="pip install 'docs2qa[ray]'")
    run, config = make_run(tmp_path, chunks[:2], tiny_generate(tiny_chat_model, questions_per_type={"factual": 1}))
    result = docs2qa("generate", "-c", str(config), "--run", str(run), "--ray")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(journal_records(run)) == 2
    assert (run / "generate" / "_COMPLETE").exists()


@pytest.mark.slow
def test_smollm2_writes_real_pairs_through_the_whole_stage(tmp_path, chunks):
    settings = {
        "generator": {"batch_size": 4, "max_new_tokens": 260},
        "questions_per_type": {"factual": 1, "procedural": 1},
    }
    # Two chunks with plain prose (no code or tables), which the 135M model handles best.
    prose = [c for c in chunks if "```" not in c.text and "|" not in c.text and c.token_count > 120][:2]
    run, config = make_run(tmp_path, prose, settings)
    result = docs2qa("generate", "-c", str(config), "--run", str(run), timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    records = journal_records(run)
    # answer_first (auto for SmolLM2) plans a unit per question type only where the chunk holds a
    # span of that shape (a procedural unit needs real steps): every chunk gets one, none twice.
    assert {r["chunk_id"] for r in records} == {c.chunk_id for c in prose}
    assert len({r["unit"] for r in records}) == len(records) <= 4
    generated = [p for r in records for p in r["pairs"]]
    assert generated, "SmolLM2 produced no parsable pair"
    # Real English from a real model (a random model writes byte soup), if not good English.
    assert any(sum(w.isalpha() for w in p["question"].split()) >= 3 for p in generated)
    # Several questions per span, one per try; no judge for SmolLM2 under answer_first.
    manifest = json.loads((run / "generate" / "manifest.json").read_text())
    assert manifest["judge"]["enabled"] is False and all(r["judgements"] == [] for r in records)
    assert manifest["tokens"]["judge"] == {"prompt": 0, "completion": 0}
    for record in records:
        tries = Counter((p["answer"], p["try"]) for p in record["pairs"])
        assert max(tries.values()) == 1 and len({p["answer"] for p in record["pairs"]}) <= len(tries)
    kept = read(run, "pairs")
    assert kept or read(run, "dropped")
    assert all(p["fact_id"] and p["score_grounded"] == 0 for p in kept)
