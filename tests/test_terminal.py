"""The terminal is ours: third-party warnings, log lines and progress bars go to the run log
(runs/<name>/logs/run.log) and reach the terminal only with -v; progress to a file is log lines
with counts, rate and ETA; `docs2qa run` ends with a recap. (The main job itself:
tests/test_terminal_main_job.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from docs2qa.config import load_config
from docs2qa.recap import recap
from docs2qa.store import RunStore, StageResult

ROOT = Path(__file__).resolve().parents[1]

# A process that logs the way the ML stack does: a Python warning, transformers' and the hub's own
# loggers (each with its own stderr handler by default), a transformers progress bar, our own line
# and our own error.
_NOISY = textwrap.dedent(
    """
    import logging, sys, warnings
    from pathlib import Path
    from docs2qa import logs
    logs.configure(sys.argv[1] == "-v")
    logs.to_file(Path(sys.argv[2]))
    warnings.warn("NOISE-python-warning", UserWarning)
    from transformers.utils import logging as tf_logging
    tf_logging.get_logger("transformers.modeling_utils").warning("NOISE-transformers-logger")
    for _ in tf_logging.tqdm(range(3), desc="NOISE-Loading weights"):
        pass
    from huggingface_hub.utils import logging as hub_logging
    hub_logging.get_logger("huggingface_hub.file_download").warning("NOISE-hub-logger")
    logging.getLogger("docs2qa.probe").info("OURS-info")
    logging.getLogger("docs2qa.probe").error("OURS-error")
    """
)
NOISE = ("NOISE-python-warning", "NOISE-transformers-logger", "NOISE-Loading weights", "NOISE-hub-logger")


def _noisy(tmp_path: Path, *flags: str) -> tuple[str, str]:
    run = tmp_path / ("loud" if flags else "quiet")
    done = subprocess.run(
        [sys.executable, "-c", _NOISY, flags[0] if flags else "-", str(run)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith(("HF_", "DOCS2QA_"))},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout + done.stderr, (run / "logs" / "run.log").read_text()


def test_third_party_noise_goes_to_the_run_log_and_to_the_terminal_only_with_v(tmp_path):
    terminal, log = _noisy(tmp_path)
    assert [n for n in NOISE if n in terminal] == []
    assert "OURS-info" in terminal and "OURS-error" in terminal  # our own lines and errors still show
    # The bar is off at its source (the hub's switch), so it is nowhere; the rest is in the log, with its module.
    assert "WARNING py.warnings:" in log and "NOISE-python-warning" in log
    assert "WARNING transformers.modeling_utils: NOISE-transformers-logger" in log
    assert "WARNING huggingface_hub.file_download: NOISE-hub-logger" in log
    assert "OURS-info" in log and "OURS-error" in log

    loud, loud_log = _noisy(tmp_path, "-v")
    assert [n for n in NOISE if n not in loud] == []
    assert "NOISE-transformers-logger" in loud_log


def test_progress_to_a_file_is_lines_with_counts_rate_and_eta(tmp_path):
    script = textwrap.dedent(
        """
        import time
        from docs2qa import logs, progress
        logs.configure(False)
        progress.LINE_INTERVAL_S = 0.05
        with progress.track("units", 6, completed=2) as bar:
            for _ in range(4):
                time.sleep(0.06)
                bar.advance()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) >= 3 and all(line.startswith("units: ") for line in lines), lines
    assert "\r" not in done.stderr and "\x1b" not in done.stderr  # no bar redraws in a file
    assert lines[0].startswith("units: 3/6, ") and "/s" in lines[0] and "eta " in lines[0]
    assert lines[-1].startswith("units: 6/6, ") and "eta" not in lines[-1]


def _fake_run(tmp_path: Path, *, argilla: bool) -> tuple[Path, RunStore]:
    config_path = tmp_path / "mine.yaml"
    state = tmp_path / "argilla"
    state.mkdir()
    (state / "credentials.json").write_text(
        json.dumps({"username": "owner-x", "password": "SECRET-pw", "api_key": "SECRET-key"})
    )
    config_path.write_text(
        yaml.safe_dump(
            {
                "name": "mine",
                "crawl": {
                    "demo_site": True,
                    "seeds": ["https://acme-cloud.example/docs/"],
                    "allow_private_addresses": True,
                },
                "curate": {"state_dir": str(state), "port": 6911},
                "export": {"root": str(tmp_path / "datasets"), **({} if argilla else {"source": "generation"})},
            }
        )
    )
    store = RunStore(tmp_path / "run")
    version = tmp_path / "datasets" / "mine" / "v1"
    version.mkdir(parents=True)
    (version / "README.md").write_text("card")
    (version / "report.html").write_text("report")
    model = store.root / "finetune" / "mine-v1-abc"
    model.mkdir(parents=True)
    (model / "README.md").write_text("model card")
    report = store.root / "eval" / "results" / "report.html"
    report.parent.mkdir(parents=True)
    report.write_text("eval report")
    extra = {
        "generate": {"wall_s_earlier_runs": 1140.0},
        "push": {"argilla": {"url": "http://127.0.0.1:6911/dataset/d1/annotation-mode", "records": 9}},
        "export": {
            "dataset": {"path": str(version), "name": "mine", "version": "v1", "created": True, "content_id": "c"}
        },
        "finetune": {"finetune": {"model_dir": str(model), "global_step": 20}},
        "eval": {"eval": {"report": str(report), "aggregates": {}}},
    }
    names = [
        "crawl",
        "convert",
        "chunk",
        "generate",
        *(["push", "pull"] if argilla else []),
        "export",
        "finetune",
        "eval",
    ]
    for name in names:
        store.run_stage(name, "h", [], lambda stage, n=name: StageResult({}, 12, extra=extra.get(n, {})))
    return config_path, store


def test_recap_says_what_each_stage_made_where_the_reports_are_and_how_to_review(tmp_path):
    config_path, store = _fake_run(tmp_path, argilla=True)
    overrides = ["generate.max_chunks=3", "curate.port=6911"]
    text = recap(load_config(config_path, overrides), store, config_path, overrides, None)
    lines = text.splitlines()
    made = {line.split()[0]: line for line in lines if line.startswith("  ") and len(line.split()) > 1}
    assert set(made) >= {"crawl", "generate", "push", "pull", "export", "finetune", "eval"}
    assert "12 in -> done" in made["crawl"] and "s with the earlier runs it resumed]" in made["generate"]
    version = tmp_path / "datasets" / "mine" / "v1"
    assert f"dataset card:    {version / 'README.md'}" in lines
    assert f"dataset report:  {version / 'report.html'}" in lines
    assert any(line.startswith("model card:") and line.endswith("mine-v1-abc/README.md") for line in lines)
    assert any(line.startswith("eval report:") and line.endswith("results/report.html") for line in lines)
    assert "next: review the pairs in Argilla at http://127.0.0.1:6911/dataset/d1/annotation-mode" in lines
    credentials = (tmp_path / "argilla" / "credentials.json").resolve()
    assert f"  sign in as 'owner-x'; the password is in {credentials} (mode 0600)" in lines
    stop = f"docs2qa curate stop -c {config_path} --set generate.max_chunks=3 --set curate.port=6911"
    assert f"  the Argilla server keeps running; stop it with: {stop}" in lines
    assert "SECRET" not in text  # the password and the key stay in their file


def test_recap_without_review_points_at_the_report_and_the_rerun(tmp_path):
    config_path, store = _fake_run(tmp_path, argilla=False)
    text = recap(load_config(config_path), store, config_path, [], store.root)
    assert "Argilla" not in text and "push" not in text
    assert f"rerun `docs2qa run -c {config_path} --run {store.root}` after any change" in text


def test_generate_wall_time_adds_up_across_resumes(tmp_path, monkeypatch):
    from docs2qa.generation.qa import generate

    now = [100.0]
    monkeypatch.setattr(generate.time, "monotonic", lambda: now[0])
    first = generate._Clock(tmp_path)
    now[0] += 700.0
    first.save()  # what the progress watcher does as it goes; then the run is killed
    resumed = generate._Clock(tmp_path)
    now[0] += 15.9
    assert round(resumed.total(), 3) == 715.9
    assert resumed.finish() == 700.0  # the manifest's wall_s has this run's 15.9 s
    assert not (tmp_path / generate.WALL_FILE).exists()  # complete: the next run starts from zero
    assert generate._Clock(tmp_path).before == 0.0


def test_a_failed_pipeline_batch_is_told_on_the_terminal_even_when_its_log_went_to_the_file():
    from docs2qa.generation.qa.generate import _FAILED_BATCH

    # distilabel's warning as rich wraps it to a narrow column in the run log.
    wrapped = (
        "[11/30/26 10:16:41] WARNING  ['distilabel.step.generate_qa'] step_wrapper.py:262\n"
        "                             Processing batch 0 with step                    \n"
        "                             'generate_qa' failed. Sending                   \n"
        "  WARNING ... Processing batch 3 with step 'critique_qa' failed. Sending empty batch\n"
    )
    assert _FAILED_BATCH.findall(wrapped) == ["generate_qa", "critique_qa"]


def test_the_cli_in_process_leaves_no_run_log_behind(tmp_path, monkeypatch):
    """A test (or any caller) running main() in-process must not keep writing, or send a later
    pipeline process's output, to that run's log."""
    import logging

    from docs2qa import cli, logs

    config_path, store = _fake_run(tmp_path, argilla=False)
    # A stage command logs to its run (status only looks: it writes no log).
    monkeypatch.setattr(sys, "argv", ["docs2qa", "convert", "-c", str(config_path), "--run", str(store.root)])
    cli.main()
    assert (store.root / "logs" / "run.log").read_text().startswith("---- docs2qa convert")
    assert logs.log_file() is None and logs.LOG_FILE_ENV not in os.environ
    handlers = logging.getLogger().handlers + logging.getLogger(logs.OURS).handlers
    assert not [h for h in handlers if str(getattr(h, "baseFilename", "")).startswith(str(tmp_path))]


def test_a_resumed_stage_summary_says_the_time_of_the_runs_it_resumed(capsys):
    from docs2qa.cli import _report
    from docs2qa.pipeline import stage_named

    manifest = {
        "stage": "generate",
        "counts": {"in": 12, "out": {"pairs": 10}, "dropped": {}},
        "wall_s": 15.9,
        "wall_s_earlier_runs": 1140.0,
        "tokens": {"generate": {"prompt": 1, "completion": 1}, "judge": {"prompt": 1, "completion": 1}},
    }
    _report(stage_named("generate"), manifest)
    assert "generate: 12 in -> 10 pairs; 0 dropped in 15.9s (+1140.0s in the earlier runs it resumed)" in (
        capsys.readouterr().err
    )


def test_a_stage_without_tables_says_what_it_made_not_done(capsys):
    """push, pull, export, finetune and eval write no tables: their line names the product the
    recap and `status` name, instead of `-> done`."""
    from docs2qa.cli import _report
    from docs2qa.pipeline import stage_named

    manifest = {
        "stage": "push",
        "counts": {"in": 6, "out": {}, "dropped": {}},
        "wall_s": 12.8,
        "argilla": {"records": 6, "url": "http://127.0.0.1:6900/dataset/d1/annotation-mode"},
    }
    _report(stage_named("push"), manifest)
    err = capsys.readouterr().err
    assert "push: 6 in -> 6 records in Argilla; 0 dropped in 12.8s" in err and "done" not in err


def test_push_says_how_to_pull_with_the_options_that_name_the_run(tmp_path, monkeypatch, capsys):
    """`docs2qa curate pull` alone fails without -c: the hint carries the command's -c/--set/--run."""
    from docs2qa import cli

    config_path, store = _fake_run(tmp_path, argilla=True)
    argv = ["status", "-c", str(config_path), "--set", "curate.port=6911", "--run", str(store.root)]
    monkeypatch.setattr(sys, "argv", ["docs2qa", *argv])
    cli.main()
    pull = f"docs2qa curate pull -c {config_path} --set curate.port=6911 --run {store.root}"
    assert f"review at http://127.0.0.1:6911/dataset/d1/annotation-mode, then `{pull}`" in capsys.readouterr().out


def test_the_crawl_says_links_skipped_not_pages_dropped_in_the_recap_and_status(tmp_path, monkeypatch, capsys):
    from docs2qa import cli
    from docs2qa.records import Dropped

    config_path, store = _fake_run(tmp_path, argilla=False)
    skipped = [Dropped(f"l{i}", f"https://x/{i}", "out_of_scope") for i in range(9)]
    summary = "9 links skipped (out_of_scope 9)"
    store.run_stage("crawl", "h", [], lambda stage: StageResult({}, 11, dropped=skipped, extra={"summary": summary}))
    lines = recap(load_config(config_path), store, config_path, [], None).splitlines()
    crawl = [line for line in lines if line.startswith("  crawl ")]
    assert crawl[0].startswith(f"  crawl     11 in -> done, {summary}  [")
    monkeypatch.setattr(sys, "argv", ["docs2qa", "status", "-c", str(config_path), "--run", str(store.root)])
    cli.main()
    status = capsys.readouterr().out
    assert f"11 in -> done; {summary}  " in status and "9 dropped" not in status and "dropped: " not in status


def test_progress_lines_give_rates_as_plain_numbers(monkeypatch, caplog):
    """`:.2g` printed 230 units a second as "2.3e+02/s"."""
    import logging

    from docs2qa import progress

    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    said = []
    for per_second in (230.0, 3.4, 0.07):
        line = progress.LineTracker("units", None, 0, interval_s=3600)
        now[0] += 100.0
        line.advance(round(per_second * 100))
        with caplog.at_level(logging.INFO, logger=progress.log.name):
            line.finish()
        said.append(caplog.records[-1].getMessage().split(", ")[1])
    assert said == ["230/s", "3.4/s", "4.2/min"]


def test_stage_lines_are_not_painted_in_pieces(monkeypatch, capsys):
    """On a colour terminal rich's highlighter painted '1.' and '6s' of '1.6s' apart."""
    from docs2qa.cli import _report
    from docs2qa.pipeline import stage_named

    monkeypatch.setenv("FORCE_COLOR", "1")
    manifest = {"stage": "convert", "counts": {"in": 10, "out": {"documents": 10}, "dropped": {}}, "wall_s": 1.6}
    _report(stage_named("convert"), manifest)
    err = capsys.readouterr().err
    assert "\x1b[" in err  # colour is on (the stage name is bold)
    assert ": 10 in -> 10 documents; 0 dropped in 1.6s" in err
