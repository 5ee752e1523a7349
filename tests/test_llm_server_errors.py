"""An LLM server that errs loses nothing: a failed request is retried, then its unit is failed.

Before: with `/models` answering 200 and every completion HTTP 500, `docs2qa generate` journaled
every unit as done with no pairs and exited 0, and a rerun against a working server asked nothing
(distilabel turns a batch whose request raised into empty outputs). Now the openai client retries
(backoff, Retry-After), a request still failing marks its unit failed, never done, and generate
exits 1 naming the role and the server's error; the next run asks exactly the failed units.

The server below is a real HTTP server on 127.0.0.1 speaking the OpenAI chat API.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from docs2qa.config import LLMConfig
from docs2qa.generation.qa import journal

GENERATOR, JUDGE = "gen-model", "judge-model"
JUDGEMENT = "GROUNDED: 5\nCORRECT: 5\nUSEFUL: 5\nSTANDALONE: 5\nVERDICT: keep\nREVISED: -\nRATIONALE: fine."

# What a request gets: "ok", an HTTP status ("500", "429"), "reset" (connection dropped unanswered)
# or "hang" (no answer before the client's timeout). Decided from the model, the prompt and how many
# times that same prompt was asked before.
Script = Callable[[str, str, int], str]


def healthy(model: str, prompt: str, asked: int) -> str:
    return "ok"


class FakeOpenAI:
    """GET /models 200; POST /chat/completions as `script` says. Counts requests per prompt."""

    def __init__(self, script: Script = healthy, hang_s: float = 3.0):
        self.script = script
        self.hang_s = hang_s
        self.asked: Counter = Counter()
        self.log: list[tuple[str, str, str, float]] = []  # (model, prompt, action, time)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                self._send(200, {"object": "list", "data": [{"id": GENERATOR}, {"id": JUDGE}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                with server._lock:
                    asked = server.asked[(body["model"], prompt)]
                    server.asked[(body["model"], prompt)] += 1
                    action = server.script(body["model"], prompt, asked)
                    server.log.append((body["model"], prompt, action, time.monotonic()))
                if action == "reset":
                    # RST instead of an answer: what a crashed or restarted server leaves a client with.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                if action == "hang":
                    time.sleep(server.hang_s)
                    self.close_connection = True
                    return
                if action == "429":
                    self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"})
                elif action != "ok":
                    self._send(int(action), {"error": {"message": f"boom {action}"}})
                else:
                    text = JUDGEMENT if body["model"] == JUDGE else reply_for(prompt)
                    self._send(200, completion(body["model"], text))

            def _send(self, code: int, payload: dict, headers: dict | None = None):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    self.close_connection = True  # the client gave up on this request

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def requests(self, model: str) -> list[tuple[str, str, float]]:
        return [(prompt, action, at) for m, prompt, action, at in self.log if m == model]


def completion(model: str, text: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
    }


def reply_for(prompt: str) -> str:
    """One well-formed pair whose answer and evidence are a sentence of the excerpt."""
    match = re.search(r"<<<\n(.*?)\n>>>", prompt, re.DOTALL)
    excerpt = match[1] if match else prompt
    sentence = next((s for s in re.split(r"(?<=[.!?])\s+", excerpt) if len(s.split()) >= 5), excerpt[:200])
    sentence = " ".join(sentence.split())
    question = f"What does the Acme Cloud documentation say about {' '.join(sentence.split()[:4])}?"
    return f"Q: {question}\nA: {sentence}\nEVIDENCE: {sentence}"


def openai_llm(url: str, model: str = GENERATOR, **extra) -> dict:
    return {"backend": "openai", "model": model, "base_url": url, "max_new_tokens": 64, "batch_size": 4, **extra}


# --- the LLM itself: each request of a batch succeeds or fails on its own ---------------------------


def _generate(url: str, prompts: list[str], **extra) -> list[dict]:
    from docs2qa.generation.llm import build_llm

    llm = build_llm(LLMConfig(**openai_llm(url, **extra)))
    llm.load()
    try:
        return llm.generate_outputs(inputs=[[{"role": "user", "content": p}] for p in prompts], max_new_tokens=8)
    finally:
        # distilabel's unload() drops its clients unclosed; closed here, on the LLM's own event loop,
        # or their sockets are reported unclosed in whichever test runs next.
        llm._client.close()
        llm.event_loop.run_until_complete(llm._aclient.close())
        llm.unload()


def by_prompt(actions: dict[str, list[str]]) -> Script:
    """Each prompt's actions in turn ("ok" once they run out)."""

    def script(model: str, prompt: str, asked: int) -> str:
        steps = actions.get(prompt, [])
        return steps[asked] if asked < len(steps) else "ok"

    return script


def test_a_failed_request_is_its_own_result_and_names_the_server_error():
    script = by_prompt({"always 500": ["500"] * 9, "500 once": ["500"]})
    with FakeOpenAI(script) as server:
        outputs = _generate(server.url, ["always 500", "500 once", "fine"], max_retries=1)
    failed, retried, fine = outputs
    assert failed["generations"] == [None]
    assert failed["error"] == "HTTP 500 Internal Server Error: boom 500 (2 attempts)"
    assert retried["generations"][0] and "error" not in retried  # the client's retry got through
    assert fine["generations"][0] and "error" not in fine  # the others of the batch keep their replies
    assert server.asked[(GENERATOR, "always 500")] == 2


def test_a_429_waits_for_retry_after_then_succeeds_and_a_lasting_one_fails():
    script = by_prompt({"429 once": ["429"], "429 always": ["429"] * 9})
    with FakeOpenAI(script) as server:
        once, always = _generate(server.url, ["429 once", "429 always"], max_retries=1)
    assert once["generations"][0] and "error" not in once
    first, second = [at for prompt, _, at in server.requests(GENERATOR) if prompt == "429 once"]
    assert second - first >= 0.95  # Retry-After: 1, not the client's own 0.5 s backoff
    assert always["error"] == "HTTP 429 Too Many Requests: slow down (2 attempts)"


def test_a_dropped_connection_is_retried_and_one_that_keeps_dropping_fails():
    script = by_prompt({"reset once": ["reset"], "reset always": ["reset"] * 9})
    with FakeOpenAI(script) as server:
        once, always = _generate(server.url, ["reset once", "reset always"], max_retries=2)
    assert once["generations"][0] and "error" not in once
    assert always["generations"] == [None]
    assert always["error"].startswith("connection failed: ") and always["error"].endswith("(3 attempts)")
    assert server.asked[(GENERATOR, "reset always")] == 3


def test_a_server_that_does_not_answer_in_time_is_retried_then_fails():
    script = by_prompt({"slow once": ["hang"], "slow always": ["hang"] * 9})
    started = time.monotonic()
    with FakeOpenAI(script, hang_s=3) as server:
        once, always = _generate(server.url, ["slow once", "slow always"], max_retries=1, timeout_s=1)
    assert time.monotonic() - started < 3 * 2  # each try given up after timeout_s, not the server's 3 s
    assert once["generations"][0] and "error" not in once
    assert always["error"] == "no reply within timeout_s=1 (2 attempts)"


# --- the generate stage: failed units are not done, the run says so, the rerun asks them ------------


@pytest.fixture(scope="module")
def chunks(tmp_path_factory):
    from docs2qa.generation.qa.keep.gates import chunk_skip_reason
    from generate_helpers import demo_chunks

    usable = [
        c for c in demo_chunks(tmp_path_factory.mktemp("ingest")) if not chunk_skip_reason(c.text, c.token_count, 64)
    ]
    return usable[:4]


def _settings(url: str, judge_url: str | None = None) -> dict:
    return {
        "generator": openai_llm(url, max_retries=1, timeout_s=1),
        "judge": openai_llm(judge_url or url, JUDGE, max_retries=1, timeout_s=1),
        "strategy": "free",
        "questions_per_type": {"factual": 1},
    }


def _journal(run) -> dict[str, dict]:
    return journal.finished_units(run / "generate")


def _failed(run) -> dict[str, dict]:
    return journal.failed_units(run / "generate")


@pytest.mark.slow
def test_every_completion_500_fails_generate_and_the_rerun_retries_every_unit(tmp_path, chunks):
    from generate_helpers import docs2qa, make_run

    units = chunks[:2]
    with FakeOpenAI(lambda model, prompt, asked: "500") as server:
        run, config = make_run(tmp_path, units, _settings(server.url))
        result = docs2qa("generate", "-c", str(config), "--run", str(run))
        assert result.returncode == 1, result.stdout + result.stderr
        assert "2 of 2 units got no answer after retries" in result.stderr
        assert "the generator (" + server.url + ") failed 2 unit(s): HTTP 500 Internal Server Error" in result.stderr
        assert "to retry the 2 failed units; finished units are kept" in result.stderr
        assert "Traceback" not in result.stderr
        assert _journal(run) == {}  # nothing recorded as done
        assert {f["role"] for f in _failed(run).values()} == {"generator"} and len(_failed(run)) == 2
        assert not (run / "generate" / "_COMPLETE").exists()

        server.script = healthy
        asked_before = len(server.log)
        result = docs2qa("generate", "-c", str(config), "--run", str(run))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(server.requests(GENERATOR)) - 2 * 2 == 2  # the rerun asked both units again
    assert len(server.log) > asked_before
    done = _journal(run)
    assert len(done) == 2 and all(r["pairs"] and r["judgements"] for r in done.values())
    assert not (run / "generate" / journal.FAILED).exists()


@pytest.mark.slow
def test_retried_429_reset_and_timeout_succeed_while_a_lasting_error_fails_only_its_unit(tmp_path, chunks):
    from generate_helpers import docs2qa, make_run

    # Chunk i's generator requests: 429 then ok, reset then ok, hang then ok, 500 forever.
    plans = [["429"], ["reset"], ["hang"], ["500"] * 9]

    def script(model: str, prompt: str, asked: int) -> str:
        if model != GENERATOR:
            return "ok"
        plan = next(p for c, p in zip(chunks, plans) if c.text.strip() in prompt)
        return plan[asked] if asked < len(plan) else "ok"

    with FakeOpenAI(script, hang_s=3) as server:
        run, config = make_run(tmp_path, chunks, _settings(server.url))
        result = docs2qa("generate", "-c", str(config), "--run", str(run))
        assert result.returncode == 1, result.stdout + result.stderr
        assert "1 of 4 units got no answer after retries" in result.stderr
        assert "failed 1 unit(s): HTTP 500 Internal Server Error: boom 500 (2 attempts)" in result.stderr
        done = _journal(run)
        assert sorted(r["chunk_id"] for r in done.values()) == sorted(c.chunk_id for c in chunks[:3])
        assert all(r["pairs"] and r["judgements"] for r in done.values())
        assert [f["chunk_id"] for f in _failed(run).values()] == [chunks[3].chunk_id]

        server.script = healthy
        asked_before = Counter(prompt for prompt, _, _ in server.requests(GENERATOR))
        result = docs2qa("generate", "-c", str(config), "--run", str(run))
    assert result.returncode == 0, result.stdout + result.stderr
    asked_again = Counter(prompt for prompt, _, _ in server.requests(GENERATOR)) - asked_before
    assert len(asked_again) == 1 and chunks[3].text.strip() in next(iter(asked_again))  # only the failed unit
    assert len(_journal(run)) == 4


@pytest.mark.slow
def test_a_failing_judge_fails_its_units_and_is_named_as_the_judge(tmp_path, chunks):
    from generate_helpers import docs2qa, make_run

    units = chunks[:2]
    with FakeOpenAI() as generator, FakeOpenAI(lambda model, prompt, asked: "503") as judge:
        run, config = make_run(tmp_path, units, _settings(generator.url, judge.url))
        result = docs2qa("generate", "-c", str(config), "--run", str(run))
        assert result.returncode == 1, result.stdout + result.stderr
        assert f"the judge ({judge.url}) failed 2 unit(s): HTTP 503 Service Unavailable" in result.stderr
        assert _journal(run) == {}  # a unit whose pairs were never judged is not done
        assert {f["role"] for f in _failed(run).values()} == {"judge"}

        judge.script = healthy
        result = docs2qa("generate", "-c", str(config), "--run", str(run))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(_journal(run)) == 2 and all(r["judgements"] for r in _journal(run).values())
