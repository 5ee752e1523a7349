"""Shared fixtures. `site` is a running local docs site (tests/site_server.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so tests can `from site_server import SiteServer`

from site_server import SiteServer  # noqa: E402

# One real Argilla stack per test session, shared by every curation test.
pytest_plugins = ["argilla_fixtures"]


@pytest.fixture
def site_server():
    """The fixture docs site on 127.0.0.1 with a random port; tests may tune its behaviours."""
    server = SiteServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def site(site_server) -> str:
    """Base URL of the running fixture docs site, e.g. http://127.0.0.1:41234."""
    return site_server.base_url


from tiny_models import tiny_chat_model  # noqa: E402,F401  (session fixture shared by generation tests)
