"""-v shows every warning once per place, a library's deprecations included, without overriding
a filter set on purpose: `-W error` (and pytest's filterwarnings = error) still makes a warning
an error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from docs2qa import logs

ROOT = Path(__file__).resolve().parents[1]

_SCRIPT = textwrap.dedent(
    """
    import sys, warnings
    from docs2qa import logs
    logs.configure(sys.argv[1] == "-v")
    # As a library warns: Python's default filters show deprecations of __main__ only.
    warnings.warn_explicit("NOISE-deprecated", DeprecationWarning, "lib.py", 1, module="somelib")
    warnings.warn("NOISE-user", UserWarning)
    """
)


def _python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_v_shows_a_librarys_deprecations():
    quiet, loud = _python("-c", _SCRIPT, "-"), _python("-c", _SCRIPT, "-v")
    assert quiet.returncode == 0 and loud.returncode == 0, quiet.stderr + loud.stderr
    assert "NOISE" not in quiet.stderr
    assert "NOISE-deprecated" in loud.stderr and "NOISE-user" in loud.stderr


def test_v_leaves_w_error_in_force():
    done = _python("-W", "error::UserWarning", "-c", _SCRIPT, "-v")
    assert done.returncode == 1 and "UserWarning: NOISE-user" in done.stderr, done.stderr
    assert "NOISE-deprecated" in done.stderr  # shown, as -v asks, before the error


def test_v_in_process_leaves_pytests_error_filter_in_force(monkeypatch):
    monkeypatch.setenv(logs.VERBOSE_ENV, "")  # configure() sets it; put back after the test
    logs.configure(True)
    with pytest.raises(UserWarning, match="still an error"):
        warnings.warn("still an error", UserWarning, stacklevel=1)
