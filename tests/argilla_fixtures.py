"""A real local Argilla stack for the whole test session (redis + osmem + argilla-server).

Use it from conftest.py with `pytest_plugins = ["argilla_fixtures"]` (or import the
fixtures there): `argilla_server` yields the ServerInfo of a stack started once per
session on a free port in a temporary state dir, and stops it at the end;
`argilla_config` is the CurateConfig that addresses it (for stop/serve/connection).

The service venv (~620 MB, 1-2 min to build) is not rebuilt per session: it lives in
pytest's cache folder and each session's state dir links to it. serve() rebuilds it by
itself whenever service-requirements.txt changes.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from docs2qa.curation.config import CurateConfig
from docs2qa.curation.server import ServerInfo, serve, stop
from docs2qa.curation.service_env import ensure_service_venv


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _shared_venv_dir(pytestconfig) -> Path:
    cache = getattr(pytestconfig, "cache", None)  # absent under -p no:cacheprovider
    base = (
        Path(cache.mkdir("argilla-service")) if cache else Path.home() / ".cache" / "docs2qa-tests" / "argilla-service"
    )
    base.mkdir(parents=True, exist_ok=True)
    return base


@pytest.fixture(scope="session")
def argilla_config(tmp_path_factory, pytestconfig) -> CurateConfig:
    if not shutil.which("redis-server"):
        reason = "the local Argilla stack needs redis-server (apt-get install redis-server)"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI must install it: a skip there would hide the missing step
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("argilla-state")
    shared = _shared_venv_dir(pytestconfig)
    ensure_service_venv(shared / "venv", shared / "venv-install.log")
    (state / "venv").symlink_to(shared / "venv", target_is_directory=True)
    return CurateConfig(state_dir=str(state), port=_free_port())


@pytest.fixture(scope="session")
def argilla_server(argilla_config) -> Iterator[ServerInfo]:
    info = serve(argilla_config)
    try:
        yield info
    finally:
        stop(argilla_config)
