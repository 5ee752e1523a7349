"""From a docs site to kept Q&A pairs: ingest/ (crawl -> convert -> chunk), then qa/ (the
generate stage: planning, prompts, parsing, the filters that keep or drop a pair) with llm/
(model backends)."""
