"""The ingest stages' config sections: `crawl:`, `convert:`, `chunk:`.

Only pydantic and docs2qa.config are imported here, so loading a config stays light.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, field_validator, model_validator

from docs2qa.config import Section


class CrawlConfig(Section):
    """Where pages come from and how politely they are fetched."""

    required_section: ClassVar[bool] = True  # a run needs a source: no default crawl

    seeds: list[str] = Field(default_factory=list, description="Start URLs; links are followed inside `scope`.")
    sitemaps: list[str] = Field(default_factory=list, description="sitemap.xml URLs whose pages are seeds.")
    llms_txt: list[str] = Field(default_factory=list, description="llms.txt URLs whose links are seeds.")
    local_dir: str | None = Field(None, description="A folder of .html/.md files to read instead of the network.")
    local_base_url: str | None = Field(
        None, description="URL that files in local_dir are published under (for links and ids)."
    )
    demo_site: bool = Field(False, description="Serve the bundled demo docs site on 127.0.0.1 and crawl it.")
    scope: list[str] = Field(
        default_factory=list,
        description="URL prefixes a page must start with; default: each seed's folder.",
    )
    base_url: str | None = Field(
        None,
        description="Fetch from this origin (a mirror) while keeping the configured URLs as page identity.",
    )
    follow_links: bool = Field(True, description="Follow links found on pages (inside scope).")
    markdown_alternates: bool = Field(True, description="Prefer a page's `.md` twin when the site serves one.")
    render_js: bool = Field(False, description="Render JavaScript-only pages with headless Chromium.")
    chromium_path: str = Field(
        "/usr/bin/chromium", description="System Chromium used for rendering (never downloaded)."
    )
    respect_robots: bool = Field(True, description="Honour robots.txt (a missing one allows all).")
    user_agent: str = Field("docs2qa/0.1", description="User-Agent header, also the robots.txt agent.")
    concurrency_per_host: int = Field(4, ge=1, description="Requests in flight per host.")
    delay_s: float = Field(0.0, ge=0, description="Pause between requests to one host.")
    timeout_s: float = Field(20.0, gt=0, description="Per-request timeout.")
    retries: int = Field(3, ge=0, description="Retries on 429/5xx and network errors.")
    backoff_s: float = Field(0.5, ge=0, description="First retry delay; doubles each attempt.")
    max_retry_after_s: float = Field(60.0, ge=0, description="Longest Retry-After that is honoured.")
    max_pages: int = Field(500, ge=1, description="Stop after this many pages.")
    max_bytes: int = Field(5_000_000, ge=1024, description="Larger bodies are dropped as too_large.")
    allow_private_addresses: bool = Field(
        False, description="Allow loopback/private hosts (needed for tests and local mirrors)."
    )
    min_text_chars: int = Field(200, ge=0, description="Pages with less visible text are recorded as empty.")

    @field_validator("seeds", "sitemaps", "llms_txt", "scope")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        bad = [u for u in urls if not u.startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"only http(s) URLs are allowed, got {bad}")
        return urls

    @model_validator(mode="after")
    def _has_a_source(self) -> CrawlConfig:
        if not (self.seeds or self.sitemaps or self.llms_txt or self.local_dir or self.demo_site):
            raise ValueError(
                "no source: set crawl.seeds, crawl.sitemaps, crawl.llms_txt, crawl.local_dir or crawl.demo_site"
            )
        return self


class ConvertConfig(Section):
    """HTML -> Markdown."""

    main_selector: str | None = Field(
        None,
        description="CSS selector of the main content; "
        "default: detected (main/article/[role=main], else the page without its chrome).",
    )
    drop_selectors: list[str] = Field(
        default_factory=list, description="Extra CSS selectors to remove before conversion."
    )
    workers: int | None = Field(
        None,
        ge=1,
        description="Processes that convert and chunk pages; default: the machine's cores. "
        "Output is identical for any number.",
    )


class ChunkConfig(Section):
    """Heading-aware, token-budgeted chunks."""

    tokenizer: str = Field(
        "embedded:smollm2",
        description="'embedded:smollm2', a tokenizer.json file, or a folder holding one.",
    )
    max_tokens: int = Field(512, ge=16, description="Token budget of a chunk.")
    min_tokens: int = Field(64, ge=0, description="Sections smaller than this merge into a neighbour.")
    overlap_tokens: int = Field(0, ge=0, description="Context repeated from the previous piece of a split section.")

    @model_validator(mode="after")
    def _budgets(self) -> ChunkConfig:
        if self.min_tokens >= self.max_tokens:
            raise ValueError("chunk.min_tokens must be smaller than chunk.max_tokens")
        if self.overlap_tokens >= self.max_tokens // 2:
            raise ValueError("chunk.overlap_tokens must be under half of chunk.max_tokens")
        return self


SECTIONS = {"crawl": CrawlConfig, "convert": ConvertConfig, "chunk": ChunkConfig}
