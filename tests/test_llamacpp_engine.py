"""The llamacpp backend: llama.cpp (xllamacpp) serving the embedded SmolLM2 GGUF inside the step
that loads it, decoding under the step's line grammar, and gone when the step is."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from docs2qa.config import LLMConfig
from docs2qa.errors import Docs2qaError
from docs2qa.generation.llm import build_llm, generation_kwargs
from docs2qa.generation.qa.answer_first import messages, parse_question, question_grammar
from docs2qa.generation.qa.parsing import parse_critique
from docs2qa.generation.qa.prompts import critique_grammar, critique_messages
from generate_helpers import demo_chunks, docs2qa_process, make_run
from process_helpers import kill_all, leftovers

ANSWERS = [
    ("Datasets", ["Datasets", "Limits"], "Uploads are limited to 20 GB per dataset.", "What"),
    ("Datasets", ["Datasets"], "A private dataset is visible only to you.", "What is"),
    ("Tokens", ["REST API", "Authentication"], "Tokens expire after 90 days unless they are renewed.", "How long"),
]
CHUNK = "Uploads are limited to 20 GB per dataset. A private dataset is visible only to you."


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except OSError:
        return True


@pytest.fixture
def loaded():
    """build_llm + load for llamacpp; every server started here is unloaded after the test."""
    started = []

    def build(grammar: dict | None, **settings):
        llm = build_llm(LLMConfig(backend="llamacpp", **settings), grammar)
        llm.load()
        started.append(llm)
        return llm

    yield build
    for llm in started:
        llm.unload()


def test_llamacpp_writes_questions_under_the_question_grammar_and_stops_with_unload(loaded):
    llm = loaded(question_grammar(), batch_size=4, max_new_tokens=60)
    url = llm.server_url
    assert url is not None and url.startswith("http://127.0.0.1:")
    prompts = [messages(*item) for item in ANSWERS]
    outputs = llm.generate_outputs(inputs=prompts, num_generations=1, **llm.get_generation_kwargs())
    for output in outputs:
        text = output["generations"][0]
        question = parse_question(text)  # raises unless "Q: ...?"
        assert text.startswith("Q:") and len(question) > 8
        assert output["statistics"]["input_tokens"][0] > 300  # the few-shot prompt reached the model
        # The grammar ends the line at its question mark: "Q:", the words, "?" and the newline.
        assert 3 <= output["statistics"]["output_tokens"][0] <= 2 + 40 + 1
    assert llm.model_name == "llamacpp:smollm2-135m-instruct"

    port = int(url.rsplit(":", 1)[1].split("/")[0])
    llm.unload()
    assert llm.server_url is None
    assert _refused(port), "the server still listens after unload()"


def test_llamacpp_critique_parses_and_fields_keep_their_token_limits(loaded):
    from docs2qa.generation.llm.line_grammar import Field, LineGrammar

    llm = loaded(critique_grammar(), batch_size=2, max_new_tokens=200)
    prompts = [
        critique_messages("lines", q, "Uploads are limited to 20 GB.", "Uploads are limited", CHUNK, "Datasets", [])
        for q in ("How large can an upload be?", "Who can see a private dataset?")
    ]
    for output in llm.generate_outputs(inputs=prompts, num_generations=1, **llm.get_generation_kwargs()):
        critique = parse_critique(output["generations"][0], "lines")  # raises on any malformed reply
        assert set(critique["scores"].values()) <= {1, 2, 3, 4, 5}
        assert critique["verdict"] in ("keep", "revise", "drop")

    note = loaded(LineGrammar((Field("NOTE:", max_tokens=5),)).to_dict(), batch_size=1, max_new_tokens=60)
    (output,) = note.generate_outputs(
        inputs=[[{"role": "user", "content": "Write a long story about the sea."}]],
        num_generations=1,
        **note.get_generation_kwargs(),
    )
    assert output["generations"][0].startswith("NOTE:")
    # "NOTE:" (2 tokens) + at most 5 of text + the newline that ends the field + EOS
    assert output["statistics"]["output_tokens"][0] <= 2 + 5 + 2, output


def test_llamacpp_server_answers_only_its_own_key(loaded):
    llm = loaded(None, batch_size=1, max_new_tokens=4)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}).encode()
    request = urllib.request.Request(
        f"{llm.server_url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=30)
    assert info.value.code == 401
    # The key is this load's own, never the placeholder the factory puts in the config.
    assert llm.api_key.get_secret_value() != "not-needed"


def test_llamacpp_generation_kwargs_fit_its_signature():
    cfg = LLMConfig(backend="llamacpp", max_new_tokens=50)
    for grammar in (None, question_grammar()):
        llm = build_llm(cfg, grammar)
        accepted = {p.name for p in llm.generate_parameters}
        assert set(llm.generation_kwargs) <= accepted
        assert {k: v for k, v in llm.generation_kwargs.items() if k != "extra_body"} == generation_kwargs(cfg)
        assert ("extra_body" in llm.generation_kwargs) == (grammar is not None)
    assert llm.generation_kwargs["extra_body"]["grammar"].startswith("%llguidance")
    assert llm.threads == cfg.torch_threads
    # One slot answers the step's batch in turn: the last request waits for the batch before it.
    assert llm.timeout == cfg.timeout_s * cfg.batch_size // llm.parallel


def test_llamacpp_refuses_a_model_that_is_not_a_gguf_file(tmp_path):
    with pytest.raises(Docs2qaError, match=r"needs a \.gguf file"):
        build_llm(LLMConfig(backend="llamacpp", model=str(tmp_path)))
    with pytest.raises(Docs2qaError, match="has no GGUF file"):
        build_llm(LLMConfig(backend="llamacpp", model="embedded:all-minilm-l6-v2"))


def test_llamacpp_missing_says_how_to_install(monkeypatch):
    from docs2qa.generation.llm import factory

    real = factory.importlib.util.find_spec
    monkeypatch.setattr(
        factory.importlib.util, "find_spec", lambda name, *args: None if name == "xllamacpp" else real(name, *args)
    )
    with pytest.raises(Docs2qaError, match=r"pip install xllamacpp==\d"):
        build_llm(LLMConfig(backend="llamacpp"))


# ---------------------------------------------------------------- the generate stage


def _llama_servers(pids: list[int]) -> dict[int, set[int]]:
    """{pid: ports it listens on} of those processes that run an xllamacpp server, from /proc."""
    listening: dict[str, int] = {}  # socket inode -> port
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    listening[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    found: dict[int, set[int]] = {}
    for pid in pids:
        try:
            if "xllamacpp" not in Path(f"/proc/{pid}/maps").read_text():
                continue
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue  # gone meanwhile
        ports = {listening[link[8:-1]] for link in links if link.startswith("socket:[") and link[8:-1] in listening}
        if ports:
            found[pid] = ports
    return found


def _session(sid: int) -> list[int]:
    from process_helpers import in_session

    return in_session(sid)


def _generate(tmp_path: Path, monkeypatch) -> tuple[subprocess.Popen, str, Path]:
    chunks = demo_chunks(tmp_path)[:3]
    settings = {
        "generator": {"backend": "llamacpp", "batch_size": 2, "max_new_tokens": 60},
        "questions_per_type": {"factual": 1, "procedural": 1},
        "parse_retries": 1,
    }
    run, config = make_run(tmp_path, chunks, settings)
    marker = uuid.uuid4().hex
    monkeypatch.setenv("DOCS2QA_TEST_PROCESS", marker)
    # stderr to a file: a pipe nobody reads while the test polls /proc could fill and stall the CLI.
    with (tmp_path / "stderr.txt").open("w") as stderr:
        process = docs2qa_process(
            "generate", "-c", str(config), "--run", str(run), start_new_session=True, stderr=stderr
        )
    return process, marker, run


def _wait_for_servers(process: subprocess.Popen, timeout_s: float) -> dict[int, set[int]]:
    deadline = time.monotonic() + timeout_s
    seen: dict[int, set[int]] = {}
    while time.monotonic() < deadline and process.poll() is None:
        seen.update(_llama_servers(_session(process.pid)))
        if seen:
            return seen
        time.sleep(0.1)
    return seen


@pytest.mark.slow  # a real generate stage on the embedded model
def test_generate_stage_on_llamacpp_writes_questions_and_leaves_no_server(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    from docs2qa.generation.qa import journal
    from docs2qa.generation.qa.assemble import TEMPLATE

    process, marker, run = _generate(tmp_path, monkeypatch)
    try:
        servers = _wait_for_servers(process, 600)
        process.wait(timeout=1200)
    finally:
        left = leftovers(process.pid, marker)
        kill_all(left)
    assert process.returncode == 0, (tmp_path / "stderr.txt").read_text()[-3000:]
    assert servers, "no xllamacpp server was seen listening during the run"
    assert left == []
    assert all(_refused(port) for ports in servers.values() for port in ports)
    records = list(journal.read(run / "generate" / journal.UNITS))
    questions = [p["question"] for r in records for p in r["pairs"]]
    assert questions and all(q.endswith("?") for q in questions)
    pairs = pq.read_table(run / "generate" / "pairs.parquet").to_pylist()
    # The model wrote the questions no template reads (generation/qa/templates.py) and the
    # rewrites; the filters may keep only templated ones of so few chunks.
    assert any(not p.get("template") for r in records for p in r["pairs"])
    assert {p["generator_model"] for p in pairs} <= {"llamacpp:smollm2-135m-instruct", TEMPLATE}


@pytest.mark.slow  # waits for the stage's step to start its server, then kills the CLI
def test_killed_generate_leaves_no_llamacpp_server(tmp_path, monkeypatch):
    process, marker, _run = _generate(tmp_path, monkeypatch)
    try:
        servers = _wait_for_servers(process, 600)
        assert servers, "no xllamacpp server was seen listening before the run ended"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        left = leftovers(process.pid, marker)
        kill_all(left)
    assert left == [], f"processes outlived the killed CLI: {left}"
    assert all(_refused(port) for ports in servers.values() for port in ports)
