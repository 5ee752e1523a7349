"""Sites imitating ten documentation generators go through crawl (local_dir) -> convert -> chunk
with no per-site settings: every word of the content kept, no chrome, the page's own titles,
no duplicate pages, and only anchors that exist on the page. Each generator renders two sets of
pages: a prose guide, and a command reference whose pages share option sections word for word
(none of them is a duplicate or an aggregate; mdBook's print.html of either is)."""

from __future__ import annotations

import re
from collections import Counter

import lxml.html
import pytest

from docs2qa.config import Config
from docs2qa.generation.ingest import stages
from docs2qa.generation.ingest.markdown_blocks import github_slug
from docs2qa.records import Chunk, Document, Dropped
from docs2qa.store import RunStore
from generator_sites import cli_reference, content
from generator_sites.content import CHROME_PHRASES
from generator_sites.sites import GENERATORS, build

BASE = "https://lanternfish.invalid/docs/"
WORD_RE = re.compile(r"[a-z0-9]+")


def words(text: str) -> Counter:
    return Counter(WORD_RE.findall(text.lower()))


def page_words(page) -> Counter:
    parts = [page[1]]
    for title, _, blocks in page[2]:
        parts.append(title)
        for block in blocks:
            value = block[-1]
            parts.append(
                " ".join(" ".join(r) for r in value)
                if block[0] == "table"
                else " ".join(value)
                if block[0] == "ul"
                else value
            )
    return words(" ".join(parts))


def recall(expected: Counter, got: Counter) -> float:
    return sum(min(n, got[w]) for w, n in expected.items()) / sum(expected.values())


CONTENTS = {"guide": content.PAGES, "cli": cli_reference.PAGES}


@pytest.fixture(scope="module", params=[(g, c) for g in sorted(GENERATORS) for c in CONTENTS], ids="-".join)
def ingested(request, tmp_path_factory):
    generator, pages = request.param[0], CONTENTS[request.param[1]]
    root = tmp_path_factory.mktemp(generator)
    site = build(generator, root / "site", pages)
    config = Config.model_validate(
        {"name": generator, "crawl": {"local_dir": str(root / "site"), "local_base_url": BASE}}
    )
    store = RunStore(root / "run")
    for stage in (stages.crawl, stages.convert, stages.chunk):
        stage(config, store)
    dropped = [d for s in ("crawl", "convert") for d in store.stage(s).read("dropped", Dropped)]
    return (
        site,
        root / "site",
        store.stage("convert").read("documents", Document),
        store.stage("chunk").read("chunks", Chunk),
        dropped,
        pages,
    )


def file_of(url: str) -> str:
    return url[len(BASE) :] or "index.html"


def test_kept_pages_and_titles(ingested):
    site, _, documents, _, dropped, _ = ingested
    assert {file_of(d.url): d.title for d in documents} == site.kept
    reasons = {file_of(d.ref): d.reason for d in dropped}
    for name, reason in site.dropped.items():
        assert reasons.get(name) == reason, (name, reasons)


def test_every_word_of_the_content_is_kept(ingested):
    _site, _, documents, chunks, _, pages = ingested
    by_url = {}
    for c in chunks:
        by_url.setdefault(c.url, []).append(c.text)
    titles = {p[1]: p for p in pages}
    for doc in documents:
        page = next(p for p in pages if p[1] in doc.title)
        got = words("\n".join(by_url[doc.url]))
        assert recall(page_words(page), got) >= 0.98, (doc.url, titles and sorted((page_words(page) - got).items()))


def test_no_navigation_text_in_chunks(ingested):
    _, _, _, chunks, _, _ = ingested
    leaked = {p for c in chunks for p in CHROME_PHRASES if p in c.text}
    assert not leaked


def test_no_duplicate_pages(ingested):
    _, _, documents, _, _, pages = ingested
    assert len(documents) == len(pages)
    assert len({d.markdown for d in documents}) == len(documents)


def test_anchors_exist(ingested):
    _site, folder, documents, chunks, _, _ = ingested
    targets = {}
    for doc in documents:
        path = folder / file_of(doc.url)
        if path.suffix == ".md":
            seen: set[str] = set()
            targets[doc.url] = {github_slug(h, seen) for h in re.findall(r"^#+ (.+)$", path.read_text(), re.M)}
        else:
            tree = lxml.html.fromstring(path.read_bytes())
            targets[doc.url] = {el.get("id") for el in tree.iter() if el.get("id")} | {
                el.get("name") for el in tree.iter("a") if el.get("name")
            }
    anchored = 0
    for c in chunks:
        url, _, fragment = c.anchor_url.partition("#")
        assert url == c.url
        if fragment:
            anchored += 1
            assert fragment in targets[c.url], (c.anchor_url, c.heading_path)
    assert anchored > 0
