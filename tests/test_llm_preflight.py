"""A remote model server that is down or refuses its key stops generate at once, loudly.

Before the preflight, an unreachable OpenAI-compatible server failed every unit inside the
pipeline process and `docs2qa generate` exited 0 with no pairs (each loss recorded as
`no_answer_span`).
"""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from docs2qa.errors import ServiceError
from docs2qa.generation.llm.preflight import check_endpoints
from docs2qa.generation.qa.config import GenerateConfig


class _Models(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.headers.get("Authorization") == "Bearer right-key"
        self.send_response(200 if ok else 401)
        self.end_headers()
        self.wfile.write(b'{"data": []}' if ok else b'{"error": "bad key"}')

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there once the socket is closed


def openai(base_url: str, **extra) -> dict:
    return {"backend": "openai", "model": "m", "base_url": base_url, **extra}


def test_a_server_that_answers_passes(server, monkeypatch):
    monkeypatch.setenv("DOCS2QA_TEST_KEY", "right-key")
    check_endpoints(GenerateConfig(generator=openai(server, api_key_env="DOCS2QA_TEST_KEY")))


def test_a_refused_key_is_a_service_error_that_never_shows_the_key(server, monkeypatch):
    monkeypatch.setenv("DOCS2QA_TEST_KEY", "wrong-key-123")
    with pytest.raises(ServiceError, match=r"generator server at .* rejected the API key \(HTTP 401\)") as err:
        check_endpoints(GenerateConfig(generator=openai(server, api_key_env="DOCS2QA_TEST_KEY")))
    assert "wrong-key-123" not in str(err.value)
    assert "$DOCS2QA_TEST_KEY" in str(err.value)


def test_an_unreachable_judge_is_named_as_the_judge(server, monkeypatch):
    monkeypatch.setenv("DOCS2QA_TEST_KEY", "right-key")
    gen = GenerateConfig(
        generator=openai(server, api_key_env="DOCS2QA_TEST_KEY"),
        judge=openai(dead_url()),
    )
    started = time.monotonic()
    with pytest.raises(ServiceError, match=r"cannot reach the judge server .*\n  -> .*generate\.judge\.base_url"):
        check_endpoints(gen)
    assert time.monotonic() - started < 5  # refused at once, not after a long timeout


def test_embedded_and_local_backends_are_not_asked():
    check_endpoints(GenerateConfig())  # the embedded SmolLM2 runs in-process: nothing to reach


@pytest.mark.slow
def test_generate_with_a_dead_server_exits_1_before_any_unit(tmp_path):
    from generate_helpers import demo_chunks, docs2qa, make_run

    chunks = demo_chunks(tmp_path / "ingest")[:2]
    run, config = make_run(tmp_path, chunks, {"generator": openai(dead_url()), "questions_per_type": {"factual": 1}})
    result = docs2qa("generate", "-c", str(config), "--run", str(run))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot reach the generator server" in result.stderr
    assert not (run / "generate" / "_COMPLETE").exists()
