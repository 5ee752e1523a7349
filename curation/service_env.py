"""The Argilla service's own virtual environment (argilla-server + osmem).

argilla-server 2.8 pins pydantic~=2.9, fastapi~=0.115, httpx~=0.27 and typer<0.10,
which clash with docs2qa's environment, so the server runs from a venv of its own, like
any other service. It is built once (~1-2 min, ~620 MB) and reused while the pinned
requirements are unchanged.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from docs2qa.errors import Docs2qaError

REQUIREMENTS = Path(__file__).with_name("service-requirements.txt")
STAMP = ".docs2qa-requirements.sha256"
SERVICE_PYTHON = "3.11"


def requirements_hash() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def venv_python(venv_dir: Path) -> Path:
    return venv_dir / "bin" / "python"


def is_ready(venv_dir: Path) -> bool:
    stamp = venv_dir / STAMP
    return venv_python(venv_dir).exists() and stamp.is_file() and stamp.read_text().strip() == requirements_hash()


def ensure_service_venv(venv_dir: Path, log_path: Path) -> Path:
    """Python of a venv holding exactly service-requirements.txt; builds it if missing or stale."""
    venv_dir = Path(venv_dir)
    if is_ready(venv_dir):
        return venv_python(venv_dir)
    venv_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # Two `serve` calls (or a test session and a CLI) must not build one venv at once.
    with open(venv_dir.parent / f".{venv_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_ready(venv_dir):
            return venv_python(venv_dir)
        _build(venv_dir, log_path)
    return venv_python(venv_dir)


def _base_python() -> str:
    if sys.version_info[:2] == tuple(int(p) for p in SERVICE_PYTHON.split(".")):
        return sys.executable
    found = shutil.which(f"python{SERVICE_PYTHON}")
    if not found:
        raise Docs2qaError(
            f"the local Argilla server needs Python {SERVICE_PYTHON} for its own environment, and none was found",
            f"install python{SERVICE_PYTHON} and python{SERVICE_PYTHON}-venv, "
            "or point curate.api_url at your own server",
        )
    return found


def _build(venv_dir: Path, log_path: Path) -> None:
    if venv_dir.is_symlink():
        venv_dir.unlink()
    elif venv_dir.exists():
        shutil.rmtree(venv_dir)  # stale or half-built: pins changed or a build was interrupted
    steps = [
        [_base_python(), "-m", "venv", str(venv_dir)],
        [str(venv_python(venv_dir)), "-m", "pip", "install", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
    ]
    with open(log_path, "ab") as log:
        for cmd in steps:
            log.write(f"$ {' '.join(cmd)}\n".encode())
            log.flush()
            result = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if result.returncode != 0:
                raise Docs2qaError(
                    f"building the Argilla service environment failed (exit {result.returncode}):\n{tail(log_path)}",
                    f"full log: {log_path}; the packages come from PyPI, so pip needs to reach it",
                )
    (venv_dir / STAMP).write_text(requirements_hash() + "\n")


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
