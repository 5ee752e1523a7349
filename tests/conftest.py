"""Shared fixtures. `site` is a running local docs site (tests/site_server.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so tests can `from site_server import SiteServer`

from site_server import SiteServer

# DOCS2QA_BNB_CPU_PACKED=1|0 runs the whole suite on bitsandbytes' packed AVX512-BF16 CPU path or
# its plain one, whatever this CPU has (tests/bnb_cpu/bnb_packed.py); unset, the CPU decides.
_BNB_CPU = Path(__file__).parent / "bnb_cpu"
sys.path.insert(0, str(_BNB_CPU))
import bnb_packed  # noqa: E402

if bnb_packed.requested() is not None:
    # Children (docs2qa finetune/eval as subprocesses) take the same branch via sitecustomize.py.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_BNB_CPU), os.environ.get("PYTHONPATH")]))


def pytest_configure(config):
    if bnb_packed.requested() is not None:
        bnb_packed.force(bnb_packed.requested())


def pytest_collection_modifyitems(config, items):
    # Starting the real Argilla stack (redis, the osmem search engine, argilla-server) takes ~15 s
    # and each push/pull round trip seconds more: those tests stay out of the `-m "not slow"` lane.
    for item in items:
        if "argilla_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


def pytest_report_header(config):
    forced = {None: "as this CPU decides", True: "packed AVX512-BF16 path (forced)", False: "plain path (forced)"}
    return f"bitsandbytes CPU 4-bit inference: {forced[bnb_packed.requested()]}"


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
