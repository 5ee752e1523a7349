"""The point of the tool, shown by its main job: `docs2qa run -c configs/demo.yaml` as the README
gives it (the demo site, the embedded SmolLM2 generating, a real local Argilla, the knowledge
protocol, LoRA on the CPU) ends with a tuned model that answers trained facts asked in new words
better than its base, with the 95% interval above zero. A change that stops the model learning
(fewer phrasings, a broken split, a recipe that does not take) turns this red."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from argilla_fixtures import _shared_venv_dir
from test_terminal_main_job import _docs2qa, _free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # the whole main job at its own settings (~15 min on 2 cores)
@pytest.mark.timeout(2700)
def test_the_demo_main_job_tunes_a_model_that_knows_trained_facts_better_than_its_base(tmp_path, pytestconfig):
    from docs2qa.curation.config import CurateConfig
    from docs2qa.curation.server import stop
    from docs2qa.curation.service_env import ensure_service_venv

    if not shutil.which("redis-server"):
        pytest.skip("the local Argilla stack needs redis-server (apt-get install redis-server)")
    shared = _shared_venv_dir(pytestconfig)
    ensure_service_venv(shared / "venv", shared / "venv-install.log")
    state = tmp_path / "argilla"
    state.mkdir()
    (state / "venv").symlink_to(shared / "venv", target_is_directory=True)
    config = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    config["defaults"] = [str(ROOT / "configs" / d) for d in config.get("defaults", [])]
    config_path = tmp_path / "demo.yaml"
    config_path.write_text(yaml.safe_dump(config))
    port = _free_port()
    # Only where the run keeps its state: every setting that decides what is learned is the demo's.
    overrides = [f"curate.state_dir={state}", f"curate.port={port}", f"export.root={tmp_path / 'datasets'}"]
    try:
        done = _docs2qa("run", "-c", str(config_path), *(w for o in overrides for w in ("--set", o)), cwd=tmp_path)
    finally:
        stop(CurateConfig(state_dir=str(state), port=port))
    terminal = done.stdout + done.stderr
    assert done.returncode == 0, terminal[-4000:]
    results = json.loads((tmp_path / "runs" / "demo" / "eval" / "results" / "results.json").read_text())
    assert results["protocol"] == "knowledge" and results["n"] >= 30, results["measured"]
    # ROUGE-L at gold length carries the interval: its lower bound was +0.09 or more in every run.
    rouge = results["verdicts"]["rouge_l_gold_length"]
    assert rouge["low"] is not None and rouge["low"] > 0, rouge["line"]
    assert rouge["line"].startswith(f"tuned beats base on {rouge['n']} questions about trained facts")
    assert rouge["line"] in terminal  # the recap says it where the user looks
    # Multiple choice on ~30 questions moves in steps of 0.03 and runs differ: its lower bound
    # was -0.03, +0.00, +0.09 and +0.11 in four runs of nearly this code (the base model already
    # picks 0.71-0.79 right), so it must be better on average; ROUGE-L above carries the interval.
    choice = results["verdicts"]["choice_accuracy"]
    assert choice["difference"] is not None and choice["difference"] > 0, choice["line"]
    assert choice["line"] in terminal
