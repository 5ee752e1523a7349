"""The stage contract: a stage's code version is part of its identity, a stage reads only what it
declares, status says why a stage is stale, and a broken manifest never crashes status or run."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from docs2qa import pipeline
from docs2qa.config import load_config
from docs2qa.pipeline import Stage, StageView, UndeclaredInput, stage_named
from docs2qa.records import Dropped, Page, page_id
from docs2qa.store import RunStore, StageResult

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path, **sections):
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump({"crawl": {"seeds": ["https://docs.example/guide/"]}, **sections}))
    return path


def _fake_run(tmp_path, config, names):
    """Every named stage recorded complete under this config and code, each from its inputs."""
    store = RunStore(tmp_path / "run")
    for name in names:
        stage = stage_named(name)
        row = Page(page_id(f"https://docs.example/{name}"), "u", "u", name, "html", "text/html", "0" * 64, 1, "t")
        pipeline.record(name, config, store, lambda folder, row=row: StageResult({"pages": ([row], Page)}, 1))
        assert stage.is_fresh(config, store), name
    return store


def test_a_changed_stage_version_makes_exactly_it_and_its_dependents_stale(tmp_path, monkeypatch):
    config = load_config(_config(tmp_path, export={"source": "generation"}))
    names = ["crawl", "convert", "chunk", "generate", "export"]
    store = _fake_run(tmp_path, config, names)
    # A fix to chunk's code: its version changes, nothing else does.
    before = stage_named("chunk").version
    real = pipeline.code_version
    monkeypatch.setattr(pipeline, "code_version", lambda m, f="": real(m, f) + ("-fixed" if f == "chunk" else ""))
    assert stage_named("chunk").version != before
    reasons = {s.name: s.stale_reasons(config, store) for s in pipeline.stages_for(config) if s.name in names}
    assert reasons == {"crawl": [], "convert": [], "chunk": ["code version"], "generate": [], "export": []}
    # Rerunning chunk with the new code (same output) keeps the stages after it up to date...
    row = Page(page_id("https://docs.example/chunk"), "u", "u", "chunk", "html", "text/html", "0" * 64, 1, "t")
    pipeline.record("chunk", config, store, lambda folder: StageResult({"pages": ([row], Page)}, 1))
    assert all(stage_named(n).is_fresh(config, store) for n in names)
    # ... and a new output makes exactly its readers stale: generate (reads chunk) and export
    # (reads chunk for its lineage), never crawl or convert.
    other = dataclasses.replace(row, title="changed")
    pipeline.record("chunk", config, store, lambda folder: StageResult({"pages": ([other], Page)}, 1))
    stale = {n: stage_named(n).stale_reasons(config, store) for n in names}
    assert stale == {
        "crawl": [],
        "convert": [],
        "chunk": [],
        "generate": ["inputs (chunk)"],
        "export": ["inputs (chunk)"],
    }


def test_an_export_that_makes_the_same_dataset_leaves_finetune_and_eval_up_to_date(tmp_path):
    """A chunk fix reran export, which found the same dataset (same content id) but wrote its drop
    table anew (every Dropped row carries the time it was written): finetune and eval must not rerun."""
    config = load_config(_config(tmp_path, export={"source": "generation"}))
    store = _fake_run(tmp_path, config, ["crawl", "convert", "chunk", "generate"])

    def export(content_id, at, detail="similarity 0.97 to training pair p1"):
        leaked = Dropped("p2", "test", "leakage_question", detail, at=at)
        pipeline.record("export", config, store, lambda folder: StageResult({}, 2, [leaked], identity=content_id))

    export("content-a", at="2026-11-30T10:00:00Z")
    for name in ("finetune", "eval"):
        pipeline.record(name, config, store, lambda folder, name=name: StageResult({}, 1, identity=f"{name}-1"))
    first = store.stage("export").manifest()
    export("content-a", at="2026-11-30T11:00:00Z", detail="similarity 0.97 to training pair p1 (reworded)")
    second = store.stage("export").manifest()
    # Its own manifest still records the new drop table; what dependents compare did not change.
    assert second["tables_hash"] != first["tables_hash"]
    assert second["output_hash"] == first["output_hash"]
    assert {n: stage_named(n).stale_reasons(config, store) for n in ("finetune", "eval")} == {
        "finetune": [],
        "eval": [],
    }
    export("content-b", at="2026-11-30T12:00:00Z")  # a changed dataset
    assert {n: stage_named(n).stale_reasons(config, store) for n in ("finetune", "eval")} == {
        "finetune": ["inputs (export)"],
        "eval": ["inputs (export)"],
    }


def test_the_time_a_drop_was_written_makes_no_stage_stale(tmp_path):
    """Each Dropped row records when it was written; a rerun that drops the same items for the same
    reasons made the same output, so the stages reading it stay up to date. A new reason does not."""
    config = load_config(_config(tmp_path))
    store = _fake_run(tmp_path, config, ["crawl", "convert"])
    row = Page(page_id("https://docs.example/chunk"), "u", "u", "chunk", "html", "text/html", "0" * 64, 1, "t")

    def chunk(at, reason="too_short"):
        drop = Dropped("c9", "https://docs.example/x#y", reason, "12 tokens", at=at)
        pipeline.record("chunk", config, store, lambda folder: StageResult({"pages": ([row], Page)}, 2, [drop]))

    chunk(at="2026-11-30T10:00:00Z")
    pipeline.record("generate", config, store, lambda folder: StageResult({"pages": ([row], Page)}, 1))
    chunk(at="2026-11-30T11:00:00Z")
    assert stage_named("generate").stale_reasons(config, store) == []
    chunk(at="2026-11-30T12:00:00Z", reason="boilerplate")
    assert stage_named("generate").stale_reasons(config, store) == ["inputs (chunk)"]


def test_manifest_records_the_version_and_status_says_what_changed(tmp_path):
    config_path = _config(tmp_path)
    config = load_config(config_path)
    store = _fake_run(tmp_path, config, ["crawl", "convert"])
    assert store.stage("crawl").manifest()["version"] == stage_named("crawl").version
    manifest = store.stage("convert").manifest_path
    import json

    data = json.loads(manifest.read_text())
    data["version"] = "an-older-code"
    manifest.write_text(json.dumps(data))
    out = _status(config_path, store.root, "--set", "convert.drop_selectors=[nav]")
    assert "convert   stale" in out and "stale: config, code version changed" in out
    assert "crawl     up to date" in out


def _status(config_path, run, *extra):
    done = subprocess.run(
        [sys.executable, "-m", "docs2qa", "status", "-c", str(config_path), "--run", str(run), *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return done.stdout


@pytest.mark.parametrize("content", [b"", b"{not json", b"\xff\xfe", b"[1, 2]"])
def test_a_broken_manifest_reads_as_not_run_never_a_traceback(tmp_path, content):
    config_path = _config(tmp_path)
    config = load_config(config_path)
    store = _fake_run(tmp_path, config, ["crawl", "convert"])
    store.stage("crawl").manifest_path.write_bytes(content)
    out = _status(config_path, store.root)
    assert "crawl     manifest unreadable: rerun `docs2qa crawl`" in out
    assert "convert   stale" in out  # its input's identity is gone
    assert not stage_named("crawl").is_fresh(config, store)
    assert stage_named("crawl").stale_reasons(config, store) == ["manifest unreadable"]


def test_a_stage_reads_only_its_declared_inputs(tmp_path):
    config = load_config(_config(tmp_path, export={"source": "generation"}))
    store = _fake_run(tmp_path, config, ["crawl", "convert", "chunk"])
    view = StageView(store, "generate", stage_named("generate").inputs_for(config))
    assert view.stage("chunk").is_complete() and view.stage("generate").name == "generate"
    with pytest.raises(UndeclaredInput, match="stage generate read stage 'crawl', which it does not declare"):
        view.stage("crawl")


def test_a_stage_body_that_reads_an_undeclared_stage_fails_clearly(tmp_path, monkeypatch):
    config = load_config(_config(tmp_path))
    store = _fake_run(tmp_path, config, ["crawl", "convert"])
    sneaky = Stage("chunk", "tests_stage_contract_target:sneaky", ("convert",), "reads crawl behind its back")
    (tmp_path / "tests_stage_contract_target.py").write_text(
        "from docs2qa.records import Page\n\n"
        "def sneaky(config, store):\n"
        '    return store.stage("crawl").read("pages", Page)\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "tests_stage_contract_target", raising=False)
    with pytest.raises(UndeclaredInput, match="add 'crawl' to the inputs of the chunk stage"):
        sneaky.run(config, store)


def test_inputs_follow_the_config_as_the_stage_declares():
    export, finetune, evaluate = stage_named("export"), stage_named("finetune"), stage_named("eval")
    config = load_config(ROOT / "configs" / "demo.yaml")
    assert set(export.inputs_for(config)) >= {"crawl", "chunk", "generate"}  # what export reads
    assert "chunk" in stage_named("push").inputs_for(config)
    unreviewed = config.model_copy(update={"export": config.export.model_copy(update={"source": "generation"})})
    reviewed = config.model_copy(update={"export": config.export.model_copy(update={"source": "curation"})})
    assert "pull" not in export.inputs_for(unreviewed) and "pull" in export.inputs_for(reviewed)
    named = config.model_copy(update={"finetune": config.finetune.model_copy(update={"dataset": "d/v1"})})
    assert finetune.inputs_for(named) == () and evaluate.inputs_for(named) == ("finetune",)
    assert finetune.inputs_for(reviewed) == ("export",)


def test_generate_describe_shows_an_uninformative_judge_loudly():
    describe = stage_named("generate").describe
    bad = describe({"judge_health": {"informative": False, "reason": "the judge gave all 9 pairs the same scores"}})
    assert any("WARNING: the judge is uninformative" in n and "same scores" in n for n in bad.notes)
    good = describe({"judge_health": {"informative": True, "reason": "agrees with the gates on 0.9"}})
    assert any(n.startswith("judge: informative") for n in good.notes)
    assert not any("WARNING" in n for n in good.notes)


BETWEEN_STAGES = """
import sys, time
import docs2qa.cli as cli

report = cli._report

def pause_after_crawl(stage, manifest):
    report(stage, manifest)
    if stage.name == "crawl":
        print("between stages", flush=True)
        time.sleep(300)

cli._report = pause_after_crawl
sys.argv = ["docs2qa", "run", "-c", sys.argv[1], "--run", sys.argv[2]]
cli.main()
"""


def test_run_holds_the_run_folder_between_stages(tmp_path):
    """Two real processes: while `docs2qa run` is between crawl and convert, a second writer is
    refused (the lock used to be taken per stage, leaving the folder free in between)."""
    config = _config(
        tmp_path,
        crawl={
            "local_dir": str(ROOT / "tests" / "fixture_site" / "docs"),
            "local_base_url": "https://docs.example/docs/",
        },
        export={"source": "generation"},
    )
    run = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-c", BETWEEN_STAGES, str(config), str(run)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert first.stdout.readline() == "between stages\n", first.stderr.read() if first.poll() else ""
        assert (run / "crawl" / "_COMPLETE").exists() and not (run / "convert" / "_COMPLETE").exists()
        second = subprocess.run(
            [sys.executable, "-m", "docs2qa", "crawl", "-c", str(config), "--run", str(run)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 1, second.stderr[-2000:]
        assert f"in use by pid {first.pid}" in second.stderr and "stage run" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.kill()
        first.communicate(timeout=10)  # reaps it and closes its pipes


def test_curate_status_writes_no_run_folder(tmp_path):
    """It reads Argilla only; it used to record runs/<name>/config.yaml like a stage."""
    config = _config(tmp_path, curate={"api_url": "http://127.0.0.1:9"})  # nothing listens on port 9
    done = subprocess.run(
        [sys.executable, "-m", "docs2qa", "curate", "status", "-c", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ARGILLA_API_KEY": "k"},
    )
    assert done.returncode == 1 and "cannot reach the Argilla server" in done.stderr, done.stderr[-2000:]
    assert list(tmp_path.iterdir()) == [config]


def test_verbose_shows_our_debug_lines_and_quiet_is_the_default(tmp_path):
    config_path = _config(tmp_path)
    store = _fake_run(tmp_path, load_config(config_path), ["crawl", "convert"])
    store.stage("crawl").manifest_path.write_text("{")
    args = ["status", "-c", str(config_path), "--run", str(store.root)]
    quiet = subprocess.run(
        [sys.executable, "-m", "docs2qa", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    loud = subprocess.run(
        [sys.executable, "-m", "docs2qa", "-v", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert quiet.returncode == loud.returncode == 0 and quiet.stdout == loud.stdout
    assert "DEBUG" not in quiet.stderr
    assert "DEBUG docs2qa.store: " in loud.stderr and "manifest.json is unreadable" in loud.stderr
    assert "DEBUG docs2qa.pipeline: stage convert is not up to date: inputs (crawl)" in loud.stderr


def test_cli_options_reach_the_stage_function_as_before():
    generate = stage_named("generate")
    # --max-tokens is a config override (recorded in the run's config.yaml), not an argument.
    assert [o.override for o in generate.options if o.flag == "--max-tokens"] == ["generate.max_tokens"]
    assert generate.cli_arguments({"max_tokens": 5, "ray": False, "ray_address": None}) == {"ray": None}
    assert generate.cli_arguments({"max_tokens": None, "ray": True, "ray_address": None}) == {"ray": ""}
    assert generate.cli_arguments({"max_tokens": None, "ray": True, "ray_address": "10.0.0.1:6379"}) == {
        "ray": "10.0.0.1:6379"
    }
    assert stage_named("finetune").cli_arguments({"resume": True, "merge": False}) == {"resume": True, "merge": False}
    assert stage_named("export").cli_arguments({"push_to_hub": "me/ds"}) == {"push_to_hub": "me/ds"}
