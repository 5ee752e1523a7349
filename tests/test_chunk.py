"""Chunker: hypothesis properties over generated Markdown pages, plus focused behaviour checks."""

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docs2qa.generation.ingest import tokenizer as tk
from docs2qa.generation.ingest.chunk import chunk_document
from docs2qa.generation.ingest.config import ChunkConfig
from docs2qa.generation.ingest.markdown_blocks import fence_closes, fence_open
from docs2qa.records import Document, chunk_id, page_id

WORDS = (
    "tide pool shore crab gauge level snapshot survey north cove reef kelp buoy anchor harbour "
    "import return value config option install run chunk token table code list"
).split()


@pytest.fixture(scope="module")
def counter(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(
        [
            " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(12))
            + " | --- |\n# "
            + WORDS[i % len(WORDS)].capitalize()
            + "."
            for i in range(300)
        ],
        trainer,
    )
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    tk._LOADED.pop(str(path), None)
    return tk.load_token_counter(str(path))


def doc_of(markdown: str, title: str = "", ids=()) -> Document:
    url = "https://docs.invalid/guide/page"
    return Document(
        page_id=page_id(url),
        url=url,
        title=title,
        markdown=markdown,
        body_sha256="b" * 64,
        fetched_at="2024-01-01T00:00:00+00:00",
        heading_ids=list(ids),
    )


# ----------------------------------------------------------------------------- strategies

words = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join)
heading = st.tuples(st.integers(1, 4), st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)).map(
    lambda t: "#" * t[0] + " " + t[1].capitalize()
)
paragraph = st.lists(words.map(lambda w: w.capitalize() + "."), min_size=1, max_size=4).map("\n".join)
code_line = st.one_of(words, words.map(lambda w: "# " + w), words.map(lambda w: "    " + w), st.just(""))
code = st.tuples(st.sampled_from(["", "python", "bash"]), st.lists(code_line, min_size=1, max_size=40)).map(
    lambda t: f"```{t[0]}\n" + "\n".join(t[1]) + "\n```"
)
table = st.tuples(
    st.integers(2, 3), st.lists(st.lists(st.sampled_from(WORDS), min_size=3, max_size=3), min_size=1, max_size=30)
).map(
    lambda t: "\n".join(
        ["| " + " | ".join(WORDS[: t[0]]) + " |", "|" + "---|" * t[0]]
        + ["| " + " | ".join(r[: t[0]]) + " |" for r in t[1]]
    )
)
list_item = st.tuples(words, st.lists(words, max_size=3)).map(
    lambda t: "- " + t[0] + "".join("\n  - " + sub for sub in t[1])
)
md_list = st.lists(list_item, min_size=1, max_size=12).map("\n".join)
block = st.one_of(heading, heading, paragraph, paragraph, code, table, md_list)
markdown_doc = st.lists(block, min_size=1, max_size=25).map(lambda bs: "\n\n".join(bs) + "\n")
budgets = st.tuples(st.sampled_from([64, 96, 160]), st.sampled_from([0, 8, 30]), st.sampled_from([0, 5, 20]))


def balanced(text: str) -> bool:
    fence = None
    for line in text.split("\n"):
        if fence is None:
            opened = fence_open(line)
            fence = opened[1] if opened else None
        elif fence_closes(line, fence):
            fence = None
    return fence is None


def assert_lines_in_order(markdown: str, chunks) -> None:
    ci, pos = 0, 0
    for line in (ln.strip() for ln in markdown.split("\n")):
        if not line:
            continue
        while ci < len(chunks):
            found = chunks[ci].text.find(line, pos)
            if found >= 0:
                pos = found + len(line)
                break
            ci, pos = ci + 1, 0
        assert ci < len(chunks), f"source line lost: {line!r}"


# ------------------------------------------------------------------------------ properties


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(markdown=markdown_doc, budget=budgets, title=st.sampled_from(["", "Field guide"]))
def test_chunk_properties(counter, markdown, budget, title):
    max_tokens, min_tokens, overlap = budget
    cfg = ChunkConfig(tokenizer="unused", max_tokens=max_tokens, min_tokens=min_tokens, overlap_tokens=overlap)
    doc = doc_of(markdown, title)
    chunks = chunk_document(doc, counter, cfg)
    assert chunks
    for ch in chunks:
        assert ch.token_count == counter.count(ch.text) <= max_tokens
        assert balanced(ch.text), ch.text
        assert 0 <= ch.start < ch.end <= len(markdown)
        assert ch.chunk_id == chunk_id(doc.page_id, ch.start, ch.end, ch.text)
        assert (ch.page_id, ch.url, ch.title, ch.body_sha256, ch.fetched_at) == (
            doc.page_id,
            doc.url,
            doc.title,
            doc.body_sha256,
            doc.fetched_at,
        )
        assert ch.anchor_url.startswith(doc.url)
        if ch.heading_path and ch.heading_path != [title]:
            assert ch.text.startswith("#")
    for a, b in pairwise(chunks):
        assert a.end <= b.start
    assert_lines_in_order(markdown, chunks)
    ids = [c.chunk_id for c in chunks]
    assert len(set(ids)) == len(ids)
    assert [c.chunk_id for c in chunk_document(doc, counter, cfg)] == ids


# ------------------------------------------------------------------------------- behaviour

CFG = ChunkConfig(tokenizer="unused", max_tokens=64, min_tokens=16, overlap_tokens=0)


def test_paths_anchors_and_heading_context(counter):
    md = (
        "# Reef\n\n"
        + "Kelp grows on the reef. " * 6
        + "\n\n## Crabs\n\n"
        + "Crab walks the shore. " * 6
        + "\n\n### Hermit\n\n"
        + "Hermit crab shells. " * 6
        + "\n"
    )
    cfg = ChunkConfig(tokenizer="unused", max_tokens=256, min_tokens=16)
    chunks = chunk_document(doc_of(md, "Reef", ["reef", "crabs-here", "hermit"]), counter, cfg)
    assert [c.heading_path for c in chunks] == [["Reef"], ["Reef", "Crabs"], ["Reef", "Crabs", "Hermit"]]
    assert [c.anchor_url.split("#")[1] for c in chunks] == ["reef", "crabs-here", "hermit"]
    assert chunks[2].text.startswith("# Reef\n\n## Crabs\n\n### Hermit\n\nHermit crab")


def test_small_sections_merge_and_keep_first_path(counter):
    md = "# Reef\n\n## Kelp\n\nShort.\n\n## Crabs\n\nAlso short.\n"
    chunks = chunk_document(doc_of(md, "Reef"), counter, CFG)
    assert len(chunks) == 1
    assert chunks[0].heading_path == ["Reef"]
    assert chunks[0].text == md.rstrip("\n")
    assert (chunks[0].start, chunks[0].end) == (0, len(md) - 1)


def test_preamble_belongs_to_the_page(counter):
    md = "Intro before any heading. " * 8 + "\n\n## Later\n\n" + "Body text here. " * 8 + "\n"
    chunks = chunk_document(doc_of(md, "Page title"), counter, CFG)
    assert chunks[0].heading_path == ["Page title"]
    assert chunks[0].anchor_url == "https://docs.invalid/guide/page"
    assert chunks[0].text.startswith("# Page title\n\nIntro")


def test_long_code_block_is_split_with_language_reopened(counter):
    body = "\n".join(f"value_{i} = run(config, option={i})" for i in range(60))
    md = f"## Code\n\n```python\n{body}\n```\n"
    chunks = chunk_document(doc_of(md), counter, CFG)
    assert len(chunks) > 2
    for ch in chunks:
        assert ch.text.startswith("## Code\n\n```python\n") and ch.text.endswith("\n```")
        assert "split at line boundaries" in ch.note
        assert ch.token_count <= 64


def test_long_table_repeats_its_header(counter):
    rows = "\n".join(f"| row {i} | tide gauge level {i} |" for i in range(40))
    md = f"## Table\n\n| name | value |\n|---|---|\n{rows}\n"
    chunks = chunk_document(doc_of(md), counter, CFG)
    assert len(chunks) > 2
    for ch in chunks:
        assert "| name | value |\n|---|---|\n| row" in ch.text
        assert "header row repeated" in ch.note


def test_overlap_carries_trailing_context(counter):
    md = "## Prose\n\n" + " ".join(f"Sentence {i} about the reef." for i in range(40)) + "\n"
    cfg = ChunkConfig(tokenizer="unused", max_tokens=64, min_tokens=0, overlap_tokens=8)
    chunks = chunk_document(doc_of(md), counter, cfg)
    assert len(chunks) > 2
    for a, b in pairwise(chunks):
        tail = a.text.split()[-2:]
        assert " ".join(tail) in b.text


def test_empty_document_has_no_chunks(counter):
    assert chunk_document(doc_of("\n\n"), counter, CFG) == []


def test_table_after_a_heading_is_split_at_rows_not_words(counter):
    """The split budget of a table that will start its own pieces counts its own heading context:
    without it the rows all 'fit', the split made no progress and the table was cut mid-row."""
    markdown = "## Tide tide tide\n\nTide.\n\n| tide | pool |\n|---|---|\n" + "| tide | tide |\n" * 13
    cfg = ChunkConfig(tokenizer="unused", max_tokens=96, min_tokens=0, overlap_tokens=0)
    chunks = chunk_document(doc_of(markdown), counter, cfg)
    assert_lines_in_order(markdown, chunks)
    tables = [c for c in chunks if "|" in c.text]
    assert len(tables) >= 2
    for c in tables:
        assert "| tide | pool |\n|---|---|\n" in c.text
        assert all(line.startswith("|") and line.endswith("|") for line in c.text.split("\n") if "|" in line)
