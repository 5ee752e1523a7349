"""The ingest stages as run-store steps: crawl -> convert -> chunk.

Each function reads its inputs from the run store, does the work, and lets
`RunStore.run_stage` write tables, the dropped table and the manifest.
"""

from __future__ import annotations

from contextlib import nullcontext

from docs2qa.config import Config
from docs2qa.pipeline import record
from docs2qa.progress import track
from docs2qa.records import Chunk, Document, Dropped, Page
from docs2qa.store import RunStore, StageResult

JOURNAL = "_journal.jsonl"


def crawl(config: Config, store: RunStore) -> dict:
    from docs2qa.generation.crawl import crawl_site

    def body(stage) -> StageResult:
        crawl_cfg = config.crawl
        previous = stage.read("pages", Page)  # the last complete crawl, for conditional GETs
        server = _demo_server() if crawl_cfg.demo_site else nullcontext(None)
        with server as mirror:
            if mirror:
                crawl_cfg = crawl_cfg.model_copy(update={"base_url": mirror})
            outcome = crawl_site(crawl_cfg, store.blobs, previous, stage.path / JOURNAL)
        return StageResult(
            tables={"pages": (outcome.pages, Page)},
            count_in=outcome.attempted,
            dropped=outcome.dropped,
            extra={"changes": outcome.changes, "not_scheduled_over_max_pages": outcome.not_scheduled,
                   "requests": outcome.requests},
        )

    # The hash is of the config as written: the demo mirror's random port must not
    # make every run look like a new configuration.
    manifest = record("crawl", config, store, body)
    (store.stage("crawl").path / JOURNAL).unlink(missing_ok=True)
    return manifest


def _demo_server():
    from docs2qa.demo import demo_site_path, serve_site

    return serve_site(demo_site_path())


def convert(config: Config, store: RunStore) -> dict:
    from docs2qa.generation.convert import html_to_markdown, normalise_markdown

    def body(stage) -> StageResult:
        pages = store.stage("crawl").read("pages", Page)
        documents, dropped = [], []
        with track("convert", len(pages)) as progress:
            for page in pages:
                progress.advance()
                raw = store.blobs.get(page.body_sha256).decode("utf-8", errors="replace")
                try:
                    if page.source_format == "markdown":
                        markdown, heading_ids, title = normalise_markdown(raw, page.url)
                    else:
                        markdown, heading_ids, title = html_to_markdown(raw, page.url, config.convert)
                except Exception as exc:  # one bad page must not sink the run; it is recorded
                    dropped.append(Dropped(page.page_id, page.url, "convert_error", f"{type(exc).__name__}: {exc}"))
                    continue
                if not markdown.strip():
                    dropped.append(Dropped(page.page_id, page.url, "empty_after_convert", "no main content found"))
                    continue
                documents.append(Document(page.page_id, page.url, title or page.title, markdown,
                                          page.body_sha256, page.fetched_at, heading_ids))
        return StageResult(tables={"documents": (documents, Document)}, count_in=len(pages), dropped=dropped)

    return record("convert", config, store, body)


def chunk(config: Config, store: RunStore) -> dict:
    from docs2qa.generation.chunk import chunk_document
    from docs2qa.generation.tokenizer import load_token_counter

    def body(stage) -> StageResult:
        documents = store.stage("convert").read("documents", Document)
        counter = load_token_counter(config.chunk.tokenizer)
        chunks, dropped = [], []
        with track("chunk", len(documents)) as progress:
            for document in documents:
                progress.advance()
                pieces = chunk_document(document, counter, config.chunk)
                if not pieces:
                    dropped.append(Dropped(document.page_id, document.url, "no_chunks", "document has no text to chunk"))
                chunks.extend(pieces)
        notes = sum(1 for c in chunks if c.note)
        return StageResult(tables={"chunks": (chunks, Chunk)}, count_in=len(documents), dropped=dropped,
                           extra={"tokenizer": config.chunk.tokenizer, "oversized_blocks_split": notes})

    return record("chunk", config, store, body)

