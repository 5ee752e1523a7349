"""Bad command lines end in a usage line and exit 2; bad input to a command in a clear error and exit 1.

Never a traceback. A few cases go through a real `python -m docs2qa` process (what users run);
the rest call `main()` in-process, which is the same code without ~1 s of start-up each.
"""

from __future__ import annotations

import importlib.metadata
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from docs2qa.cli import main

ROOT = Path(__file__).resolve().parents[1]
DEMO = str(ROOT / "configs" / "demo.yaml")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "docs2qa", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def call(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """main() as the console script runs it: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["docs2qa", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def write_config(folder: Path) -> Path:
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump({"crawl": {"seeds": ["https://docs.example.org/docs/"]}}))
    return path


USAGE_ERRORS = [
    (["bogus"], "Usage: docs2qa [OPTIONS] COMMAND", "No such command 'bogus'"),
    (["run", "--bogus"], "Usage: docs2qa run [OPTIONS]", "No such option: --bogus"),
    (["run", "-c"], "Usage: docs2qa run [OPTIONS]", "Option '-c' requires an argument"),
    (["curate", "serve", "--set"], "Usage: docs2qa curate serve [OPTIONS]", "Option '--set' requires an argument"),
    (["curate", "bogus"], "Usage: docs2qa curate [OPTIONS] COMMAND", "No such command 'bogus'"),
    (
        ["generate", "-c", DEMO, "--max-tokens", "abc"],
        "Usage: docs2qa generate [OPTIONS]",
        "Invalid value for '--max-tokens'",
    ),
    (["generate", "--ray=yes"], "Usage: docs2qa generate [OPTIONS]", "Option '--ray' does not take a value"),
    (["--version=2"], "Usage: docs2qa [OPTIONS] COMMAND", "Option '--version' does not take a value"),
    (["datasets", "show"], "Usage: docs2qa datasets show [OPTIONS]", "Missing argument"),
]


@pytest.mark.parametrize(("args", "usage", "problem"), USAGE_ERRORS, ids=[" ".join(a[:3]) for a, _, _ in USAGE_ERRORS])
def test_a_usage_error_prints_the_usage_line_and_exits_2(monkeypatch, capsys, args, usage, problem):
    code, _, err = call(monkeypatch, capsys, *args)
    assert code == 2, err
    assert err.startswith(usage) and f"Error: {problem}" in err
    assert "-h' for help" in err


@pytest.mark.parametrize("args", [["bogus"], ["run", "-c"], ["generate", "-c", DEMO, "--max-tokens", "abc"]])
def test_usage_errors_in_a_real_process(args):
    done = cli(*args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(
        f"Usage: python -m docs2qa {args[0]}" if args != ["bogus"] else "Usage: python -m docs2qa"
    )
    assert "Traceback" not in done.stderr and "Error: " in done.stderr


def test_version_matches_the_installed_package():
    done = cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"docs2qa {importlib.metadata.version('docs2qa')}\n"


@pytest.mark.parametrize("args", [["-h"], ["run", "-h"], ["curate", "serve", "-h"], ["datasets", "list", "-h"]])
def test_h_is_help_everywhere(monkeypatch, capsys, args):
    code, out, err = call(monkeypatch, capsys, *args)
    assert code == 0, err
    assert "Usage: docs2qa" in out and "--help" in out


def test_config_takes_run_and_prints_what_that_run_used(monkeypatch, capsys, tmp_path):
    config, run = write_config(tmp_path), tmp_path / "run"
    # A stage records the config before it looks for its input (there is none: it stops there).
    code, _, err = call(
        monkeypatch, capsys, "convert", "-c", str(config), "--set", "crawl.max_pages=7", "--run", str(run)
    )
    assert code == 1 and "docs2qa crawl" in err, err
    code, out, err = call(monkeypatch, capsys, "config", "--run", str(run))
    assert code == 0, err
    recorded = yaml.safe_load(out)
    assert recorded["name"] == "site" and recorded["crawl"]["max_pages"] == 7

    code, _, err = call(monkeypatch, capsys, "config", "--run", str(tmp_path / "empty"))
    assert code == 1 and "holds no config.yaml" in err and "pass the config with -c" in err


def test_a_run_folder_that_is_a_file_is_a_clear_error(monkeypatch, capsys, tmp_path):
    config, occupied = write_config(tmp_path), tmp_path / "notes.txt"
    occupied.write_text("not a folder")
    code, _, err = call(monkeypatch, capsys, "status", "-c", str(config), "--run", str(occupied))
    assert code == 1 and f"the run folder {occupied} is a file" in err and "Traceback" not in err
    code, _, err = call(monkeypatch, capsys, "convert", "-c", str(config), "--run", str(occupied / "run"))
    assert code == 1 and f"cannot write the run folder {occupied / 'run'}" in err
    assert occupied.read_text() == "not a folder"


def test_bad_config_input_exits_1_with_the_fix(monkeypatch, capsys, tmp_path):
    config = write_config(tmp_path)
    code, _, err = call(monkeypatch, capsys, "config", "-c", str(config), "--set", "crawl.max_pages=[1")
    assert code == 1 and err.startswith("error: --set crawl.max_pages: the value is not valid YAML")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes(config.read_bytes() + "crawl_note: caf\xe9\n".encode("latin-1"))
    code, _, err = call(monkeypatch, capsys, "config", "-c", str(latin1))
    assert code == 1 and "is not UTF-8 text" in err


def test_ctrl_c_says_how_to_resume_and_exits_130():
    # A real SIGINT to a real process running main(); typer turns it into a return code, not an exception.
    script = textwrap.dedent("""
        import time
        import docs2qa.cli as cli

        @cli.app.command("wait")
        def wait():
            print("waiting", flush=True)
            time.sleep(60)

        cli.main()
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "wait"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline() == "waiting\n"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted: rerun the same command to resume" in err and "Traceback" not in err
