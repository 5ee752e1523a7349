"""The main job (`docs2qa run`) on the demo site, every stage real: crawl, convert, chunk, generate
with the embedded SmolLM2 in its distilabel process, push to and pull from a real local Argilla
stack that the run starts itself, export, QLoRA fine-tune (a tiny Gemma base keeps it short) and
eval. Its terminal holds no third-party warning, progress bar or raw trainer dict; the run log
holds them; -v shows them; it ends with the recap, whose stop command stops the server."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from argilla_fixtures import _shared_venv_dir
from tiny_gemma import tiny_gemma  # noqa: F401  (session fixture)

ROOT = Path(__file__).resolve().parents[1]

# What third-party output looks like on a terminal, by kind.
THIRD_PARTY = {
    "python warning": re.compile(r"\w+(Warning|Deprecation\w*):|warnings\.warn\("),
    "library log line": re.compile(
        r"^\[(transformers|datasets)\]|^(WARNING|INFO):?\s*(argilla|distilabel|httpx)", re.M
    ),
    "bitsandbytes kernels notice": re.compile(r"gemm_4bit_forward|pip install kernels"),
    "tqdm bar": re.compile(r"\d+%\|[^|]*\||\d+it/s\]|it/s\]|s/it\]"),
    "raw trainer dict": re.compile(r"\{'(loss|eval_loss|train_runtime)'"),
    "distilabel log": re.compile(r"\['distilabel\.|distilabel\.pipeline"),
}


def _counts(text: str) -> dict[str, int]:
    return {kind: len(pattern.findall(text)) for kind, pattern in THIRD_PARTY.items()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _docs2qa(*args: str, cwd: Path, timeout: float = 1500) -> subprocess.CompletedProcess:
    # Pipes, not a terminal: what a user redirecting the output (or CI) gets.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("HF_HUB_DISABLE", "HF_DATASETS_DISABLE", "DOCS2QA_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "docs2qa", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def main_job(tmp_path_factory, tiny_gemma, pytestconfig):
    from docs2qa.curation.config import CurateConfig
    from docs2qa.curation.server import stop
    from docs2qa.curation.service_env import ensure_service_venv

    if not shutil.which("redis-server"):
        pytest.skip("the local Argilla stack needs redis-server (apt-get install redis-server)")
    tmp = tmp_path_factory.mktemp("main-job")
    shared = _shared_venv_dir(pytestconfig)
    ensure_service_venv(shared / "venv", shared / "venv-install.log")
    state = tmp / "argilla"
    state.mkdir()
    (state / "venv").symlink_to(shared / "venv", target_is_directory=True)
    config = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text())
    config["defaults"] = [str(ROOT / "configs" / d) for d in config.get("defaults", [])]
    config_path = tmp / "demo.yaml"
    config_path.write_text(yaml.safe_dump(config))
    port = _free_port()
    overrides = [
        "crawl.max_pages=12",
        "generate.max_chunks=3",
        "generate.questions_per_type.conceptual=0",
        "generate.generator.max_new_tokens=60",
        # Keep what SmolLM2 writes on three chunks (its judge and off-target gates would leave too
        # few pairs to split, train and evaluate on); the terminal is the subject here, not quality.
        "generate.judge.min_score=1",
        "generate.gates.min_qa_similarity=-1",
        # Three chunks ask too few facts twice for the demo's knowledge split: split by page.
        "export.protocol=generalization",
        "export.ratios={train: 0.6, validation: 0.2, test: 0.2}",
        f"curate.state_dir={state}",
        f"curate.port={port}",
        f"export.root={tmp / 'datasets'}",
        f"finetune.base_model={tiny_gemma}",
        "finetune.max_steps=2",
        "finetune.logging_steps=1",  # the demo's knowledge recipe logs every 5 steps
        "finetune.eval_steps=1",
        "finetune.batch_size=2",
        "finetune.max_length=256",
        "eval.max_new_tokens=8",
        "eval.max_examples=4",
    ]
    options = ["-c", str(config_path), *(w for o in overrides for w in ("--set", o))]
    try:
        done = _docs2qa("run", *options, cwd=tmp)
        (tmp / "terminal.txt").write_text(done.stdout + done.stderr)  # to read when a test below fails
        yield tmp, options, done
    finally:
        stop(CurateConfig(state_dir=str(state), port=port))


@pytest.mark.slow  # the whole main job, SmolLM2 generation included (2-10 min)
@pytest.mark.timeout(1800)
def test_main_job_terminal_is_ours_and_ends_with_the_recap(main_job):
    tmp, options, done = main_job
    terminal = done.stdout + done.stderr
    assert done.returncode == 0, terminal[-4000:]
    assert _counts(terminal) == {kind: 0 for kind in THIRD_PARTY}, terminal
    # Ours instead: a line per stage, progress with counts, losses in our own line, eval per batch.
    for stage in ("crawl", "convert", "chunk", "generate", "push", "pull", "export", "finetune", "eval"):
        assert re.search(rf"^{stage}: \d+ in -> ", terminal, re.M), stage
    assert re.search(r"^generate \(units\): \d+/\d+, ", terminal, re.M)
    assert re.search(r"^step 2/2: loss \d+\.\d+", terminal, re.M)
    tuned = json.loads((tmp / "runs" / "demo" / "finetune" / "manifest.json").read_text())["finetune"]
    assert ("eval loss " in terminal) == (tuned["examples"]["validation"] > 0)  # a validation split is evaluated
    assert re.search(r"^eval tuned: \d+/\d+, ", terminal, re.M)

    log = (tmp / "runs" / "demo" / "logs" / "run.log").read_text()
    in_log = _counts(log)
    assert in_log["python warning"] > 0, "the run's third-party warnings no longer reach the run log"
    manifest = json.loads((tmp / "runs" / "demo" / "generate" / "manifest.json").read_text())
    assert manifest["wall_s_earlier_runs"] == 0  # nothing was interrupted

    recap = terminal[terminal.index("\nrun runs/demo:") :]
    assert re.search(r"^  generate  3 in -> \d+ pairs", recap, re.M)
    for label in ("dataset card:", "dataset report:", "model card:", "eval report:", "log (warnings, -v shows them):"):
        assert re.search(rf"^{re.escape(label)}\s+\S+", recap, re.M), label
    assert re.search(r"^next: review the pairs in Argilla at http://127\.0\.0\.1:\d+/dataset/\S+$", recap, re.M)
    credentials = tmp / "argilla" / "credentials.json"
    assert f"  sign in as 'docs2qa'; the password is in {credentials} (mode 0600)" in recap
    assert json.loads(credentials.read_text())["password"] not in terminal
    stop_line = next(line for line in recap.splitlines() if "stop it with: " in line)
    stop_command = shlex.split(stop_line.split("stop it with: ", 1)[1])
    assert stop_command[:3] == ["docs2qa", "curate", "stop"] and stop_command[3:] == options
    stopped = _docs2qa(*stop_command[1:], cwd=tmp, timeout=120)
    assert stopped.returncode == 0 and stopped.stdout.strip() == "stopped", stopped.stderr


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_v_shows_the_third_party_output(main_job):
    tmp, options, _ = main_job
    # One stage that meets the ML stack's warnings (a new recipe: a fresh 2-step training).
    loud = _docs2qa("-v", "finetune", *options, "--set", "finetune.seed=1", cwd=tmp, timeout=900)
    terminal = loud.stdout + loud.stderr
    assert loud.returncode == 0, terminal[-4000:]
    assert _counts(terminal)["python warning"] > 0, terminal
    assert "WARNING py.warnings: " in terminal
