"""Configured crawl URLs that are not URLs: a clear error, not a mirror origin made of b'' parts or a crash."""

from __future__ import annotations

import pytest

from docs2qa.errors import ConfigError
from docs2qa.generation.ingest.crawl.scope import Mirror


@pytest.mark.parametrize("base_url", ["docs-mirror:8000", "not a url", "http://"])
def test_an_unusable_base_url_is_a_config_error(base_url):
    with pytest.raises(ConfigError, match=r"crawl\.base_url") as caught:
        Mirror(base_url, ["https://docs.x.org"])
    assert "scheme://host" in caught.value.hint


def test_a_usable_base_url_maps_to_its_origin():
    assert Mirror("http://127.0.0.1:9000/some/path", ["https://docs.x.org"]).mirror == "http://127.0.0.1:9000"


@pytest.mark.parametrize("key", ["seeds", "sitemaps", "llms_txt", "scope"])
def test_a_configured_url_that_does_not_normalise_is_a_config_error(key, tmp_path):
    from docs2qa.generation.ingest.config import CrawlConfig
    from docs2qa.generation.ingest.crawl.crawler import Crawl

    urls = {"seeds": ["https://docs.x.org/"], key: ["http://"]}  # passes the http(s) check, names no host
    with pytest.raises(ConfigError, match=rf"crawl\.{key} holds 'http://'"):
        Crawl(CrawlConfig(**urls), None, [], tmp_path / "journal.jsonl")
