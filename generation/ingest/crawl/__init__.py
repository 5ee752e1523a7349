"""Crawl a documentation site into raw pages.

    crawl_site(cfg, blobs, previous, journal) -> CrawlOutcome

Sources are seeds (links followed inside scope), sitemap.xml, llms.txt and a local folder.
Every URL ends either as a `Page` (raw body in the blob store) or a `Dropped` with a reason
code; finished URLs are journaled so a killed crawl resumes without refetching.
"""

from .crawler import CrawlOutcome, crawl_site

__all__ = ["CrawlOutcome", "crawl_site"]
