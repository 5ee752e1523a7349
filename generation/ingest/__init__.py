"""Ingest: a docs site into chunks. crawl/ (pages and raw bodies) -> convert.py (HTML or
Markdown pages into clean Markdown documents) -> chunk.py (heading-aware, token-budgeted chunks
with provenance); stages.py declares the three stages."""
