"""How much of an OpenAI-compatible server's capacity does distilabel's OpenAILLM use?

1. direct: N chat requests straight from the openai client, C in flight (asyncio);
2. task:   the same prompts through a TextGeneration task with our `build_llm` OpenAILLM,
           in this process, batches of C (distilabel sends one batch's requests together);
3. pipeline: the same task inside a real distilabel Pipeline (step processes and all).

Prints completion tokens per second of each and their ratio to direct (goal >= 0.9).
A pipeline pays a fixed start-up (processes, queues) that a small N cannot amortize, so
it is measured too (a one-batch pipeline minus one direct batch) and a steady-state
ratio is printed without it.

The server shares this machine's CPUs with the client: anything the client burns (the
pipeline's per-request INFO log lines from `httpx2`, which distilabel does not silence)
is taken from the server. DISTILABEL_LOG_LEVEL defaults to WARNING here for that reason.
By default it starts `transformers serve` on 127.0.0.1 with a tiny random model built on
the spot; `--model embedded:smollm2` serves SmolLM2, `--base-url` uses a running server.

    .venv/bin/python benchmarks/bench_generation_server.py --n 48 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

TOPICS = [
    "the sitemap",
    "a Markdown table",
    "the robots file",
    "a code block",
    "the run manifest",
    "a dropped record",
    "the chunk size",
    "an answer with evidence",
]


def prompts(n: int) -> list[str]:
    return [f"Write one sentence about {TOPICS[i % len(TOPICS)]} (request {i})." for i in range(n)]


async def _direct(base_url: str, model: str, texts: list[str], concurrency: int, max_tokens: int) -> tuple[float, int]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=600)
    gate = asyncio.Semaphore(concurrency)

    async def one(text: str) -> int:
        async with gate:
            reply = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": text}], max_tokens=max_tokens, temperature=0
            )
            assert reply.choices[0].message.content is not None
            return reply.usage.completion_tokens if reply.usage else 0

    started = time.perf_counter()
    tokens = await asyncio.gather(*(one(t) for t in texts))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed, sum(tokens)


def direct(base_url: str, model: str, texts: list[str], concurrency: int, max_tokens: int) -> tuple[float, int]:
    return asyncio.run(_direct(base_url, model, texts, concurrency, max_tokens))


def _cfg(base_url: str, model: str, max_tokens: int):
    from docs2qa.config import LLMConfig

    return LLMConfig(backend="openai", model=model, base_url=base_url, max_new_tokens=max_tokens, temperature=0)


def _tokens(rows: list[dict]) -> int:
    assert all(r["generation"] is not None for r in rows), "a request failed"
    return sum(r["distilabel_metadata"]["statistics_text_generation_0"]["output_tokens"] for r in rows)


def task(base_url: str, model: str, texts: list[str], concurrency: int, max_tokens: int) -> tuple[float, int]:
    from distilabel.steps.tasks import TextGeneration

    from docs2qa.generation.llm import build_llm

    step = TextGeneration(llm=build_llm(_cfg(base_url, model, max_tokens)), input_batch_size=concurrency)
    step.load()
    rows: list[dict] = []
    started = time.perf_counter()
    for start in range(0, len(texts), concurrency):
        rows += next(step.process([{"instruction": t} for t in texts[start : start + concurrency]]))
    elapsed = time.perf_counter() - started
    step.unload()
    return elapsed, _tokens(rows)


def pipeline(base_url: str, model: str, texts: list[str], concurrency: int, max_tokens: int) -> tuple[float, int]:
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration

    from docs2qa.generation.llm import build_llm

    with tempfile.TemporaryDirectory() as cache:
        with Pipeline(name="bench-generation-server", cache_dir=cache) as pipe:
            load = LoadDataFromDicts(data=[{"instruction": t} for t in texts], batch_size=len(texts))
            generate = TextGeneration(llm=build_llm(_cfg(base_url, model, max_tokens)), input_batch_size=concurrency)
            load >> generate
        started = time.perf_counter()
        rows = pipe.run(use_cache=False)["default"]["train"].to_list()
        elapsed = time.perf_counter() - started
    return elapsed, _tokens(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=48, help="prompts")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--model", default="tiny", help="'tiny' (built now), 'embedded:smollm2' or a model folder")
    parser.add_argument(
        "--base-url", help="use this running server (…/v1) instead of starting one; --model is its model name"
    )
    parser.add_argument("--server-threads", type=int, default=1, help="OMP threads of the started server")
    args = parser.parse_args()
    os.environ.setdefault("DISTILABEL_LOG_LEVEL", "WARNING")

    from docs2qa.generation.llm import resolve_model
    from tiny_models import build_tiny_chat_model, transformers_server

    workdir = tempfile.TemporaryDirectory()
    if args.base_url:
        model, server = args.model, nullcontext(args.base_url)
    else:
        model = (
            str(build_tiny_chat_model(Path(workdir.name) / "tiny"))
            if args.model == "tiny"
            else resolve_model(args.model)
        )
        server = transformers_server(model, threads=args.server_threads)
    texts = prompts(args.n)
    with server as base_url:
        print(
            f"server {base_url}  model {Path(model).name}  "
            f"n={args.n} concurrency={args.concurrency} max_tokens={args.max_tokens}"
        )
        direct(base_url, model, texts[: args.concurrency], args.concurrency, args.max_tokens)  # warm-up
        results = {}
        for name, run in (("direct", direct), ("task", task), ("pipeline", pipeline)):
            elapsed, tokens = run(base_url, model, texts, args.concurrency, args.max_tokens)
            results[name] = tokens / elapsed
            print(
                f"{name:9s} {elapsed:7.2f} s  {tokens:6d} completion tokens  "
                f"{results[name]:8.1f} tok/s  {args.n / elapsed:6.2f} req/s"
            )
            if name == "pipeline":
                pipeline_s, pipeline_tokens = elapsed, tokens
        one_batch = texts[: args.concurrency]
        overhead = (
            pipeline(base_url, model, one_batch, args.concurrency, args.max_tokens)[0]
            - direct(base_url, model, one_batch, args.concurrency, args.max_tokens)[0]
        )
        print(f"pipeline fixed start-up ≈ {overhead:.2f} s (one-batch pipeline minus one direct batch)")
        results["pipeline steady"] = pipeline_tokens / max(pipeline_s - overhead, 1e-9)
    workdir.cleanup()
    for name in ("task", "pipeline", "pipeline steady"):
        ratio = results[name] / results["direct"]
        print(f"ratio {name}/direct = {ratio:.3f}  ({'meets' if ratio >= 0.9 else 'below'} the 0.9 goal)")


if __name__ == "__main__":
    main()
