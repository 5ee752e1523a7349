"""The ingest stages as run-store steps: crawl -> convert -> chunk.

Each function reads its inputs from the run store, does the work, and lets
`RunStore.run_stage` write tables, the dropped table and the manifest.
"""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from docs2qa.errors import Docs2qaError, IntegrityError
from docs2qa.pipeline import Description, Manifest, Requirement, Stage, record
from docs2qa.progress import track
from docs2qa.records import Chunk, Document, Dropped, Page
from docs2qa.store import RunStore, StageDir, StageResult

if TYPE_CHECKING:
    from docs2qa.config import Config
    from docs2qa.generation.ingest.config import ChunkConfig, ConvertConfig
    from docs2qa.generation.ingest.convert import Converted

log = logging.getLogger(__name__)

JOURNAL = "_journal.jsonl"

# A page keeping less than this share of its visible text gets a "main content unclear" row.
UNCLEAR_RATIO = 0.25
UNCLEAR_MIN_CHARS = 500


def crawl(config: Config, store: RunStore) -> Manifest:
    from docs2qa.generation.ingest.crawl import crawl_site

    def body(stage: StageDir) -> StageResult:
        crawl_cfg = config.crawl
        try:
            previous = stage.read("pages", Page)  # the last complete crawl, for conditional GETs
        except IntegrityError as exc:  # only saves requests: without it every page is fetched whole
            log.warning("%s: every page is fetched again", exc.message)
            previous = []
        server = _demo_server() if crawl_cfg.demo_site else nullcontext(None)
        with server as mirror:
            if mirror:
                crawl_cfg = crawl_cfg.model_copy(update={"base_url": mirror})
            outcome = crawl_site(crawl_cfg, store.blobs, previous, stage.path / JOURNAL)
        kinds = {
            kind: dict(Counter(d.reason for d in outcome.dropped if _drop_kind(d.reason) == kind).most_common())
            for kind in ("pages_failed", "links_skipped", "duplicates")
        }
        parts = [
            f"{sum(n.values())} {kind.replace('_', ' ')} ({', '.join(f'{r} {c}' for r, c in n.items())})"
            for kind, n in kinds.items()
            if n
        ]
        return StageResult(
            tables={"pages": (outcome.pages, Page)},
            count_in=outcome.attempted,
            dropped=outcome.dropped,
            extra={
                "changes": outcome.changes,
                "not_scheduled_over_max_pages": outcome.not_scheduled,
                "requests": outcome.requests,
                "dropped_by_kind": kinds,
                "summary": "; ".join(parts),
            },
        )

    # The hash is of the config as written: the demo mirror's random port must not
    # make every run look like a new configuration.
    manifest = record("crawl", config, store, body)
    (store.stage("crawl").path / JOURNAL).unlink(missing_ok=True)
    if not manifest["counts"]["out"]["pages"]:
        reasons = ", ".join(f"{r} {n}" for r, n in manifest["counts"]["dropped"].items()) or "no URL was found"
        raise Docs2qaError(
            f"the crawl kept no page ({reasons}); the reasons per URL are in "
            f"{store.stage('crawl').table_path('dropped')}",
            "check crawl.seeds/crawl.scope/crawl.local_dir, or `docs2qa status` for the counts",
        )
    return manifest


# Dropped crawl rows are of three kinds: links never fetched (a policy, not a failure), pages that
# repeat another page, and pages that failed.
_SKIPPED = {
    "out_of_scope",
    "host_not_allowed",
    "unsupported_scheme",
    "unsupported_content_type",
    "robots_disallowed",
    "private_address",
    "outside_local_dir",
}
_DUPLICATES = {"duplicate", "markdown_twin", "non_canonical", "noindex", "redirect_stub"}


def _drop_kind(reason: str) -> str:
    return "links_skipped" if reason in _SKIPPED else "duplicates" if reason in _DUPLICATES else "pages_failed"


def _demo_server() -> AbstractContextManager[str]:
    from docs2qa.demo import demo_site_path, serve_site

    return serve_site(demo_site_path())


def convert(config: Config, store: RunStore) -> Manifest:
    from docs2qa.generation.ingest.convert import warm_up
    from docs2qa.generation.ingest.page_dedup import find_duplicates, site_affixes, strip_affixes
    from docs2qa.generation.ingest.parallel import ordered_map

    def body(stage: StageDir) -> StageResult:
        pages = store.stage("crawl").read("pages", Page)
        jobs = [(str(store.blobs.root), p.body_sha256, p.url, p.source_format, config.convert) for p in pages]
        warm_up()  # here, so that forked workers start with the converter's libraries loaded
        converted, dropped = [], []
        results = ordered_map(_convert_page, jobs, config.convert.workers)  # workers start before the bar's thread
        with track("convert", len(pages)) as progress:
            for page, result in zip(pages, results):
                progress.advance()
                if isinstance(result, str):  # one bad page must not sink the run; it is recorded
                    dropped.append(Dropped(page.page_id, page.url, "convert_error", result))
                elif not result.markdown.strip():
                    dropped.append(Dropped(page.page_id, page.url, "empty_after_convert", "no main content found"))
                else:
                    converted.append((page, result))
        affixes = site_affixes([c.page_title for _, c in converted if c.page_title])
        duplicates = find_duplicates([(page.url, c.markdown) for page, c in converted])
        documents = []
        for page, c in converted:
            if page.url in duplicates:
                dropped.append(Dropped(page.page_id, page.url, *duplicates[page.url]))
                continue
            if c.visible_chars >= UNCLEAR_MIN_CHARS and c.kept_chars < c.visible_chars * UNCLEAR_RATIO:
                # A warning, not a drop: the page is kept, the user learns to check it.
                dropped.append(
                    Dropped(
                        page.page_id,
                        page.url,
                        "main_content_unclear",
                        f"main content unclear: {100 * c.kept_chars // c.visible_chars}% of the visible "
                        "text kept (page kept); set convert.main_selector if text is missing",
                    )
                )
            title = strip_affixes(c.title, affixes) if c.title_from_tag else c.title
            documents.append(
                Document(
                    page.page_id,
                    page.url,
                    title or page.title,
                    c.markdown,
                    page.body_sha256,
                    page.fetched_at,
                    c.heading_ids,
                )
            )
        return StageResult(tables={"documents": (documents, Document)}, count_in=len(pages), dropped=dropped)

    return record("convert", config, store, body)


def _convert_page(job: tuple[str, str, str, str, ConvertConfig]) -> Converted | str:
    """Convert one page (runs in a worker process): a Converted, or the error as text."""
    from pathlib import Path

    from docs2qa.generation.ingest.convert import Converted, convert_html
    from docs2qa.generation.ingest.markdown_source import normalise_markdown
    from docs2qa.store import BlobStore

    blobs_root, digest, url, source_format, convert_cfg = job
    raw = BlobStore(Path(blobs_root)).get(digest).decode("utf-8", errors="replace")
    try:
        if source_format == "markdown":
            markdown, heading_ids, title = normalise_markdown(raw, url)
            return Converted(markdown, heading_ids, title)
        return convert_html(raw, url, convert_cfg)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def chunk(config: Config, store: RunStore) -> Manifest:
    from docs2qa.generation.ingest.parallel import ordered_map
    from docs2qa.generation.ingest.tokenizer import load_token_counter

    def body(stage: StageDir) -> StageResult:
        documents = store.stage("convert").read("documents", Document)
        load_token_counter(config.chunk.tokenizer)  # loaded once here; forked workers inherit it
        chunks, dropped = [], []
        jobs = [(document, config.chunk) for document in documents]
        results = ordered_map(_chunk_document, jobs, config.convert.workers)  # workers start before the bar's thread
        with track("chunk", len(documents)) as progress:
            for document, pieces in zip(documents, results):
                progress.advance()
                if not pieces:
                    dropped.append(
                        Dropped(document.page_id, document.url, "no_chunks", "document has no text to chunk")
                    )
                chunks.extend(pieces)
        notes = sum(1 for c in chunks if c.note)
        return StageResult(
            tables={"chunks": (chunks, Chunk)},
            count_in=len(documents),
            dropped=dropped,
            extra={"tokenizer": config.chunk.tokenizer, "oversized_blocks_split": notes},
        )

    return record("chunk", config, store, body)


def _chunk_document(job: tuple[Document, ChunkConfig]) -> list[Chunk]:
    """Chunk one document (runs in a worker process, which loads the tokenizer once)."""
    from docs2qa.generation.ingest.chunk import chunk_document
    from docs2qa.generation.ingest.tokenizer import load_token_counter

    document, chunk_cfg = job
    return chunk_document(document, load_token_counter(chunk_cfg.tokenizer), chunk_cfg)


def _describe_crawl(manifest: Manifest) -> Description:
    # The crawl counts failed pages apart from skipped links and duplicates.
    return Description(dropped=manifest.get("summary") or None)


_INGEST = "docs2qa.generation.ingest.stages"  # the module of these stages' bodies

_FETCH = (Requirement("httpx", "crawl"), Requirement("lxml", "crawl"))
_RENDER = Requirement("playwright", "render", when=lambda config: config.crawl.render_js)
_CONVERT = (Requirement("bs4", "crawl"), Requirement("lxml", "crawl"), Requirement("markdownify", "crawl"))
_CHUNK = (Requirement("tokenizers", "crawl"), Requirement("transformers", "crawl"), Requirement("gguf", "crawl"))


STAGES = (
    Stage(
        "crawl",
        f"{_INGEST}:crawl",
        (),
        "fetch the docs site into the run (incremental)",
        describe=_describe_crawl,
        requires=(*_FETCH, _RENDER),
    ),
    Stage(
        "convert",
        f"{_INGEST}:convert",
        ("crawl",),
        "turn pages into clean Markdown",
        requires=_CONVERT,
    ),
    Stage(
        "chunk",
        f"{_INGEST}:chunk",
        ("convert",),
        "split Markdown into token-budgeted chunks",
        requires=_CHUNK,
    ),
)
