"""Generation stages: crawl a docs site, convert pages to Markdown, chunk them."""
