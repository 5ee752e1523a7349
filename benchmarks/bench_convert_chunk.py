"""Throughput of convert + chunk against raw lxml parsing of the same HTML, in one run.

    python benchmarks/bench_convert_chunk.py [--pages 300] [--workers 2 4] [--tokenizer embedded:smollm2] [--json]

Pages are generated (invented text, deterministic): a docs-site shell (header, nav, sidebar,
footer, cookie banner) around a main column of headings, prose, highlighted code, tables and
nested lists, 10-80 KB each like real documentation pages. Only ratios measured in the same
run are meaningful; the machine's absolute speed is not. Next to each scaling figure stands the
machine's ceiling at that moment (plain arithmetic over the same number of processes): on a
shared machine whose cores are busy, scaling cannot show, and the ceiling says so.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VOCAB = (
    "tide pool shore crab gauge level snapshot survey north cove reef kelp buoy anchor harbour "
    "current depth sample record station export import schema field value option default "
    "returns raises parameter client request response batch index query filter limit offset"
).split()


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(VOCAB) for _ in range(rng.randint(6, 22))]
    if rng.random() < 0.3:
        i = rng.randrange(len(words))
        words[i] = f"<code>{words[i]}_{rng.randint(1, 99)}</code>"
    if rng.random() < 0.2:
        i = rng.randrange(len(words))
        words[i] = f'<a href="../{words[i]}/index.html">{words[i]}</a>'
    return " ".join(words).capitalize() + "."


def _code(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(3, 30)):
        a, b = rng.choice(VOCAB), rng.choice(VOCAB)
        lines.append(
            f'<span class="n">{a}</span> <span class="o">=</span> <span class="n">client</span>'
            f'<span class="o">.</span><span class="n">{b}</span><span class="p">(</span>'
            f'<span class="s2">"{rng.choice(VOCAB)}"</span><span class="p">)</span>'
        )
    lang = rng.choice(["python", "bash", "json"])
    return f'<div class="highlight-{lang}"><div class="highlight"><pre>' + "\n".join(lines) + "</pre></div></div>"


def _table(rng: random.Random) -> str:
    cols = rng.randint(2, 5)
    head = "".join(f"<th>{rng.choice(VOCAB).title()}</th>" for _ in range(cols))
    rows = "".join(
        "<tr>"
        + "".join(f"<td>{' '.join(rng.choice(VOCAB) for _ in range(rng.randint(1, 6)))}</td>" for _ in range(cols))
        + "</tr>"
        for _ in range(rng.randint(2, 25))
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _list(rng: random.Random, depth: int = 0) -> str:
    items = []
    for _ in range(rng.randint(2, 6)):
        inner = _sentence(rng)
        if depth < 2 and rng.random() < 0.25:
            inner += _list(rng, depth + 1)
        items.append(f"<li>{inner}</li>")
    tag = rng.choice(["ul", "ol"])
    return f"<{tag}>{''.join(items)}</{tag}>"


def make_page(i: int, rng: random.Random) -> str:
    title = " ".join(rng.choice(VOCAB) for _ in range(3)).title()
    nav = "".join(f'<li><a href="/docs/{rng.choice(VOCAB)}/{k}.html">{rng.choice(VOCAB)}</a></li>' for k in range(60))
    body = [f'<h1 id="top">{title}<a class="headerlink" href="#top">¶</a></h1>']
    for s in range(rng.randint(3, 14)):
        name = " ".join(rng.choice(VOCAB) for _ in range(2)).title()
        body.append(f'<section id="s{s}"><h2>{name}<a class="headerlink" href="#s{s}">¶</a></h2>')
        for _ in range(rng.randint(1, 5)):
            kind = rng.random()
            if kind < 0.5:
                body.append("<p>" + " ".join(_sentence(rng) for _ in range(rng.randint(1, 6))) + "</p>")
            elif kind < 0.7:
                body.append(_code(rng))
            elif kind < 0.82:
                body.append(_table(rng))
            elif kind < 0.95:
                body.append(_list(rng))
            else:
                body.append(f"<h3>{rng.choice(VOCAB).title()} details</h3><p>{_sentence(rng)}</p>")
        body.append("</section>")
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title} | Bench Docs</title>"
        "<script>window.dataLayer=[];</script><style>.x{color:red}</style></head><body>"
        "<div class='cookie-banner'>Cookies? <button>OK</button></div>"
        f"<header><a href='/'>Bench Docs</a><nav><ul>{nav}</ul></nav></header>"
        f"<aside><ul>{nav}</ul></aside><main><article>{''.join(body)}</article></main>"
        "<footer><p>Footer text</p></footer></body></html>"
    )


def _document(url: str, body: bytes, convert_cfg):
    from docs2qa.generation.ingest.convert import html_to_markdown
    from docs2qa.records import Document, page_id, sha256_hex

    md, ids, title = html_to_markdown(body, url, convert_cfg)
    return Document(page_id(url), url, title, md, sha256_hex(body), "2024-01-01T00:00:00+00:00", ids)


def _convert_and_chunk(job):
    from docs2qa.generation.ingest.chunk import chunk_document
    from docs2qa.generation.ingest.tokenizer import load_token_counter

    url, body, convert_cfg, chunk_cfg = job
    doc = _document(url, body, convert_cfg)
    return doc.markdown, [c.text for c in chunk_document(doc, load_token_counter(chunk_cfg.tokenizer), chunk_cfg)]


def _burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def machine_ceiling(workers: int, tasks_per_worker: int = 4, n: int = 2_000_000) -> float:
    """Speed-up of plain Python arithmetic over `workers` processes on this machine now: the most
    any parallel code can show here (a shared or throttled machine shows far less than the cores)."""
    from docs2qa.generation.ingest.parallel import _context

    tasks = [n] * (workers * tasks_per_worker)
    t0 = time.perf_counter()
    for task in tasks:
        _burn(task)
    serial = time.perf_counter() - t0
    with _context().Pool(workers) as pool:
        t0 = time.perf_counter()
        pool.map(_burn, tasks, chunksize=tasks_per_worker)
        parallel = time.perf_counter() - t0
    return serial / parallel


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tokenizer", default="embedded:smollm2")
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=[2],
        help="process counts whose scaling is measured (the first figure is always one process)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import lxml.html

    from docs2qa.generation.ingest.chunk import chunk_document
    from docs2qa.generation.ingest.config import ChunkConfig, ConvertConfig
    from docs2qa.generation.ingest.tokenizer import load_token_counter

    rng = random.Random(args.seed)
    pages = [(f"https://bench.invalid/docs/p{i}.html", make_page(i, rng).encode()) for i in range(args.pages)]
    total_mb = sum(len(b) for _, b in pages) / 1e6

    t0 = time.perf_counter()
    counter = load_token_counter(args.tokenizer)
    load_s = time.perf_counter() - t0
    convert_cfg = ConvertConfig()
    chunk_cfg = ChunkConfig(
        tokenizer=args.tokenizer, max_tokens=args.max_tokens, min_tokens=min(64, args.max_tokens // 4)
    )

    _document(*pages[0], convert_cfg)  # first-use imports are not throughput
    # Page by page, lxml then convert then chunk: on a shared machine whose load swings, the
    # three figures then see the same load and their ratio holds.
    lxml_s = convert_s = chunk_s = 0.0
    docs, chunks = [], []
    for url, body in pages:
        t0 = time.perf_counter()
        lxml.html.fromstring(body)
        t1 = time.perf_counter()
        docs.append(_document(url, body, convert_cfg))
        t2 = time.perf_counter()
        chunks.append(chunk_document(docs[-1], counter, chunk_cfg))
        t3 = time.perf_counter()
        lxml_s, convert_s, chunk_s = lxml_s + t1 - t0, convert_s + t2 - t1, chunk_s + t3 - t2

    result = {
        # The machine's load while it ran: scaling over processes needs idle cores to show.
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpus": len(os.sched_getaffinity(0)),
        "pages": len(pages),
        "html_mb": round(total_mb, 2),
        "chunks": sum(map(len, chunks)),
        "tokenizer_load_s": round(load_s, 3),
        "lxml_parse_s": round(lxml_s, 3),
        "convert_s": round(convert_s, 3),
        "chunk_s": round(chunk_s, 3),
        "lxml_pages_per_s": round(len(pages) / lxml_s, 1),
        "convert_chunk_pages_per_s": round(len(pages) / (convert_s + chunk_s), 1),
        # goal >= 0.1: convert+chunk in one process at a tenth of merely parsing the HTML with lxml
        "throughput_ratio": round(lxml_s / (convert_s + chunk_s), 4),
    }
    # Scaling over processes, as the convert and chunk stages run (convert.workers): the same
    # pages through generation.parallel.ordered_map, output compared with the one-process run.
    from docs2qa.generation.ingest.parallel import ordered_map

    single = [(d.markdown, [c.text for c in cs]) for d, cs in zip(docs, chunks)]
    jobs = [(url, body, convert_cfg, chunk_cfg) for url, body in pages]
    for workers in args.workers:
        t0 = time.perf_counter()
        out = list(ordered_map(_convert_and_chunk, jobs, workers))
        wall = time.perf_counter() - t0
        result[f"workers_{workers}_s"] = round(wall, 3)
        result[f"workers_{workers}_speedup"] = round((convert_s + chunk_s) / wall, 2)
        result[f"workers_{workers}_identical"] = out == single
        result[f"workers_{workers}_machine_ceiling"] = round(machine_ceiling(workers), 2)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return result


if __name__ == "__main__":
    main()
