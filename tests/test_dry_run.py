"""`docs2qa generate --dry-run` and `docs2qa run --dry-run`: what a run would do, how many
tokens, how long on this machine and what it would cost, before any model loads, writing
nothing. Each command runs in a fresh interpreter, as a user's does, and reports which heavy
libraries it imported."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from docs2qa.config import load_config
from docs2qa.records import Chunk
from docs2qa.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DOCS = ROOT / "tests" / "fixture_site" / "docs"
HEAVY = ("torch", "transformers", "distilabel", "sentence_transformers")
SMOLLM2 = "llamacpp:smollm2-135m-instruct"  # backend auto: llama.cpp reads the GGUF

# main() as the console script runs it, then the heavy modules this interpreter loaded.
_CALL = """
import json, sys
from docs2qa.cli import main
sys.argv = ["docs2qa", *json.loads(sys.argv[1])]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
print("HEAVY=" + json.dumps(sorted(m for m in MODULES if m in sys.modules)), file=sys.stderr)
sys.exit(code)
""".replace("MODULES", repr(HEAVY))


def docs2qa(*args: str, timeout: float = 300) -> tuple[int, str, list[str]]:
    """(exit code, stdout + stderr, heavy modules imported) of one command in a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", _CALL, json.dumps(args)], capture_output=True, text=True, cwd=ROOT, timeout=timeout
    )
    heavy = [json.loads(line[6:]) for line in done.stderr.splitlines() if line.startswith("HEAVY=")]
    return done.returncode, done.stdout + done.stderr, heavy[0] if heavy else ["(no report: the command crashed)"]


def write_config(path: Path, **generate) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "name": "dry",
                "crawl": {"local_dir": str(FIXTURE_DOCS), "local_base_url": "https://docs.example/docs/"},
                "generate": generate,
            }
        )
    )
    return path


@pytest.fixture(scope="module")
def chunked(tmp_path_factory) -> tuple[Path, Path]:
    """crawl -> convert -> chunk of the fixture docs folder (13 chunks), no generate stage yet."""
    from docs2qa.generation.ingest import stages

    tmp = tmp_path_factory.mktemp("dry")
    config_path = write_config(tmp / "dry.yaml", max_chunks=6)
    store = RunStore(tmp / "run")
    config = load_config(config_path)
    for stage in (stages.crawl, stages.convert, stages.chunk):
        stage(config, store)
    return config_path, store.root


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under `root`: its content hash and modification time (a rewrite with the
    same bytes counts as a write)."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def row(out: str, step: str) -> list[int]:
    """The numbers of a row of the estimate's table (requests, prompt tokens, completion tokens)."""
    for line in out.splitlines():
        words = line.split()
        if words[:1] == [step] and len(words) == 4 and words[1].replace(",", "").isdigit():
            return [int(w.replace(",", "")) for w in words[1:]]
    raise AssertionError(f"no {step} row in:\n{out}")


def stale_words(config_path: Path, root: Path, name: str) -> str:
    """What `run --dry-run` says of a stage that is up to date or stale. The ingest stages are up
    to date unless code they run was edited since the fixture ran them (a working tree)."""
    from docs2qa.pipeline import stage_named

    reasons = stage_named(name).stale_reasons(load_config(config_path), RunStore(root))
    return f"would run ({', '.join(reasons)})" if reasons else "up to date: skipped"


def planned_units(config_path: Path, root: Path, **overrides) -> tuple[int, int, int]:
    """(units, answer spans, most questions asked of them) as the stage plans them, for the
    numbers the dry run prints."""
    from docs2qa.generation.llm import model_label
    from docs2qa.generation.qa.generate import plan_units, spread

    config = load_config(config_path, [f"{k}={v}" for k, v in overrides.items()])
    label = model_label(config.generate.generator)
    chunks = spread(RunStore(root).stage("chunk").read("chunks", Chunk), config.generate.max_chunks)
    units, _ = plan_units(chunks, config, {"generator": label, "judge": label}, "judge")
    return (
        len(units),
        sum(len(u.answers) for u in units),
        # Each try, and the rewrite of the first question when the unit rephrases.
        sum(len(u.answers) * (u.tries + u.rephrase) for u in units),
    )


def test_generate_dry_run_prints_the_plan_tokens_time_and_cost_and_loads_no_model(chunked, tmp_path):
    config_path, root = chunked
    run = tmp_path / "run"
    shutil.copytree(root, run)
    before = snapshot(run)
    code, out, heavy = docs2qa("generate", "--dry-run", "-c", str(config_path), "--run", str(run))
    assert code == 0, out
    assert heavy == [], f"a dry run imported {heavy}"
    units, answers, most = planned_units(config_path, run)
    assert "13 in the chunk table, 6 selected (generate.max_chunks=6)" in out
    assert f"units   {units} planned (answer_first), 0 already done" in out
    requests, prompt, completion = row(out, "generate")
    assert answers <= requests <= most and prompt > 400 * requests  # ~430 tokens a question
    assert completion == round(11 * requests)
    assert "counted with the generator's own tokenizer (embedded:smollm2)" in out
    assert "no finished units yet: 11 per question" in out  # the documented assumption
    assert row(out, "total") == [requests, prompt, completion] or row(out, "judge")[0] > 0
    assert "no rate known: run once" in out and "--calibrate" in out
    assert "no prices set" in out
    assert snapshot(run) == before
    # --calibrate alone would be ignored by a real run: it is refused instead, before any model loads.
    code, out, heavy = docs2qa("generate", "--calibrate", "-c", str(config_path), "--run", str(run))
    assert code == 1 and "add --dry-run" in out and heavy == [], out


def test_prices_give_a_cost_and_a_missing_price_is_said_before_any_model_runs(chunked):
    config_path, root = chunked
    prices = f"generate.prices={{{SMOLLM2}: {{prompt: 1000.0, completion: 2000.0}}}}"
    judged = "generate.judge.enabled=true"
    # Every question asked of the model: none written by a template (see the test below).
    model_only = "generate.question_templates=false"
    code, out, _ = docs2qa(
        "generate", "--dry-run", "-c", str(config_path), "--run", str(root), "--set", prices, "--set", judged,
        "--set", model_only,
    )  # fmt: skip
    assert code == 0, out
    # The judge's prompts and replies count: one judgement per question, 51 tokens each assumed.
    asked, judgements = row(out, "generate")[0], row(out, "judge")
    assert judgements[0] == asked and judgements[1] > 400 * asked and judgements[2] == 51 * asked
    assert "judge   on (generate.judge.enabled=true)" in out
    _, prompt, completion = row(out, "total")
    assert f"cost    ~${(prompt * 1000 + completion * 2000) / 1e6:,.4f} (from generate.prices)" in out
    other = "generate.prices={openai:gpt-4o-mini: {prompt: 0.15, completion: 0.6}}"
    code, out, _ = docs2qa("generate", "--dry-run", "-c", str(config_path), "--run", str(root), "--set", other)
    assert code == 0, out
    assert f"generate.prices has no entry for model '{SMOLLM2}'" in out


def test_a_templated_question_asks_the_model_nothing_but_is_judged(chunked):
    config_path, root = chunked
    plan = ("generate", "--dry-run", "-c", str(config_path), "--run", str(root), "--set", "generate.judge.enabled=true")
    estimates = {}
    for templates in ("true", "false"):
        code, out, _ = docs2qa(*plan, "--set", f"generate.question_templates={templates}")
        assert code == 0, out
        estimates[templates] = (row(out, "generate"), row(out, "judge"))
    (asked, judged), (asked_without, judged_without) = estimates["true"], estimates["false"]
    # The fixture docs hold spans of a telling shape ("To ..., ...", "When ..., ...").
    assert asked[0] < asked_without[0] and asked[1] < asked_without[1]
    # Every question is judged, the templates' too: one judgement per request, and one more per
    # templated question (it replaces the span's tries).
    assert judged_without[0] == asked_without[0] and judged[0] > asked[0]


def test_run_dry_run_says_what_each_stage_would_do_and_writes_nothing(chunked, tmp_path):
    config_path, root = chunked
    run = tmp_path / "run"
    shutil.copytree(root, run)
    before = snapshot(run)
    expected = {stage: stale_words(config_path, run, stage) for stage in ("crawl", "convert", "chunk")}
    code, out, heavy = docs2qa("run", "--dry-run", "-c", str(config_path), "--run", str(run))
    assert code == 0, out
    assert heavy == []
    lines = {line.split()[0]: line for line in out.splitlines() if line[:2] == "  " and line[2:3].strip()}
    for stage, words in expected.items():
        assert words in lines[stage], out
    assert "would run (not run)" in lines["generate"]
    assert "units   " in out and "total  " in out and "no rate known" in out  # generate's estimate
    assert snapshot(run) == before  # no config.yaml, log, lock or manifest
    # A stale chunk stage: generate's estimate is from the chunks on disk, and says so.
    code, out, _ = docs2qa(
        "run", "--dry-run", "-c", str(config_path), "--run", str(run), "--set", "chunk.max_tokens=300"
    )
    assert code == 0, out
    assert "chunk     would run (config)" in out
    assert "(from what chunk holds now: it runs first and may change it)" in out
    assert snapshot(run) == before
    # A folder no command has run in is not created.
    code, out, _ = docs2qa("run", "--dry-run", "-c", str(config_path), "--run", str(tmp_path / "new"))
    assert code == 0, out
    assert "crawl     would run (not run)" in out and "no chunk table yet" in out
    assert not (tmp_path / "new").exists()


# ---------------------------------------------------------------- after a real run (SmolLM2)

JUDGED = ("--set", "generate.judge.enabled=true")  # so that the judge's estimate is checked too


@pytest.fixture(scope="module")
def generated(chunked, tmp_path_factory) -> tuple[Path, Path]:
    """The chunked run after a real SmolLM2 generate, judge on, of its first 2 chunks."""
    config_path, root = chunked
    run = tmp_path_factory.mktemp("generated") / "run"
    shutil.copytree(root, run)
    command = ["generate", "-c", str(config_path), "--run", str(run), *JUDGED, "--set", "generate.max_chunks=2"]
    done = subprocess.run(
        [sys.executable, "-m", "docs2qa", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return config_path, run


def journal(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "generate" / "journal.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_previous_run_gives_the_rate_the_completion_averages_and_the_units_done(generated):
    config_path, run = generated
    manifest = json.loads((run / "generate" / "manifest.json").read_text())
    code, out, heavy = docs2qa("generate", "--dry-run", "-c", str(config_path), "--run", str(run), *JUDGED)
    assert code == 0, out
    assert heavy == []
    done = planned_units(config_path, run, **{"generate.max_chunks": 2, "generate.judge.enabled": "true"})[0]
    units = planned_units(config_path, run, **{"generate.judge.enabled": "true"})[0]
    assert f"{units} planned (answer_first), {done} already done (kept from the journal), {units - done} to" in out
    tokens = sum(sum(step.values()) for step in manifest["tokens"].values())
    rate = tokens / manifest["wall_s"]
    assert f"{rate:,.0f} tokens/s), from the last generate run" in out
    assert f"{tokens:,} tokens in {manifest['wall_s']:.0f}s" in out
    read = [r for r in journal(run) if r["pairs"] and r["parse_error"] is None]
    asked = sum(len(r["pairs"]) + len(r.get("failed_tries") or []) for r in read)
    per_question = sum(r["tokens"]["completion"] for r in read) / asked
    judgements = [j["tokens"]["completion"] for r in journal(run) for j in r["judgements"]]
    assert (
        f"this run's journal ({len(journal(run))} finished units): {per_question:.1f} per question, "
        f"{sum(judgements) / len(judgements):.1f} per judgement"
    ) in out
    # The time is the estimated tokens at that rate.
    minutes = sum(row(out, "total")[1:]) / rate / 60
    assert "time    ~" in out and (minutes < 1 or f"~{int(minutes)}m" in out)


@pytest.mark.slow
def test_estimated_prompt_tokens_are_what_the_model_was_given(generated):
    """The generator's prompts of the finished units, counted by the estimate, equal the counts
    the model reported (same tokenizer, same template), and within 5% when each first question is
    also rephrased (the rewrite's prompt holds a question not written yet); the judge's, whose
    question the estimate cannot know either, within 5%."""
    from docs2qa.generation.llm import model_label
    from docs2qa.generation.qa import estimate
    from docs2qa.generation.qa.generate import plan_units, spread
    from docs2qa.generation.qa.prompts import critique_prompt_hash

    config_path, run = generated
    config = load_config(config_path, ["generate.max_chunks=2", "generate.judge.enabled=true"])
    label = model_label(config.generate.generator)
    chunks = spread(RunStore(run).stage("chunk").read("chunks", Chunk), 2)
    units, _ = plan_units(chunks, config, {"generator": label, "judge": label}, critique_prompt_hash("lines"))
    records = {r["unit"]: r for r in journal(run)}
    # Units whose every question was asked once and read: a retry's prompt holds the bad reply
    # too, and a second rewrite (of a first that missed) is a request the plan cannot foresee.
    clean = [
        u
        for u in units
        if records[u.key]["parse_attempts"] == 1
        and not records[u.key].get("failed_tries")
        and records[u.key]["pairs"]
        and all(p["try"] <= u.tries for p in records[u.key]["pairs"])
        and all(j["parse_attempts"] == 1 for j in records[u.key]["judgements"])
    ]
    assert clean, "no unit of the real run was read at the first try"
    count, _ = estimate._token_counter(config)
    averages, _ = estimate._completion_averages(records, config)
    _, tokens = estimate._tokens(clean, config, averages, count)
    actual = [records[u.key] for u in clean]
    given = sum(r["tokens"]["prompt"] for r in actual)
    if config.generate.rephrase and any(p.get("rephrase_of") for r in actual for p in r["pairs"]):
        assert abs(tokens["generate"]["prompt"] - given) <= 0.05 * given
    else:
        assert tokens["generate"]["prompt"] == given
    # So units asked once need no correction for re-asks; the dry run scales by what others took.
    factor = estimate._reask_factors(clean, records, config, averages, count)["generate"]
    assert abs(factor - 1.0) <= (0.05 if config.generate.rephrase else 0.0)  # a rewrite's prompt: see above
    judged = sum(j["tokens"]["prompt"] for r in actual for j in r["judgements"])
    assert abs(tokens["judge"]["prompt"] - judged) <= 0.05 * judged


@pytest.mark.slow
def test_calibrate_times_the_real_generator_when_no_run_gives_a_rate(chunked):
    config_path, root = chunked
    code, out, heavy = docs2qa(
        "generate", "--dry-run", "--calibrate", "-c", str(config_path), "--run", str(root), timeout=600
    )
    assert code == 0, out
    assert "distilabel" in heavy  # --calibrate is the one dry run that loads the model, and says so in its help
    assert "s start-up + " in out and "tokens/s), from --calibrate: 2 real prompts" in out
    assert "no rate known" not in out
