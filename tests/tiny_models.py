"""Tiny random chat models built at test time (no weights are downloaded or shipped).

`build_tiny_chat_model(path)` writes a 2-layer Llama with a byte-level BPE tokenizer and a
ChatML chat template to `path` in a second or two. Its text is gibberish; it exercises the
plumbing (padding, templates, token counts, pipelines, servers), not quality.

Use the session fixture from a conftest or test module:

    from tiny_models import build_tiny_chat_model, tiny_chat_model  # noqa: F401  (tests/ is on sys.path under pytest)
"""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]

_SUBJECTS = ["The crawler", "A chunk", "The converter", "Each page", "The generator", "A judge", "The exporter"]
_VERBS = ["reads", "writes", "splits", "checks", "stores", "skips", "follows", "records"]
_OBJECTS = [
    "the sitemap",
    "every heading",
    "a Markdown table",
    "the robots file",
    "each code block",
    "the question",
    "an answer with evidence",
    "the run manifest",
    "a dropped record",
]
_TAILS = [
    "before the next stage.",
    "when the cache is warm.",
    "and keeps the order.",
    "with a clear reason.",
    "in one pass.",
]


def training_text() -> str:
    """A few KB of plain English written here, enough for a small BPE vocabulary."""
    lines = [
        f"{s} {v} {o} {t}"
        for s, v, o, t in itertools.islice(itertools.product(_SUBJECTS, _VERBS, _OBJECTS, _TAILS), 0, None, 7)
    ]
    return "\n".join(lines)


def train_chat_tokenizer(
    lines: list[str],
    *,
    vocab_size: int,
    special_tokens: list[str],
    chat_template: str,
    bos: str,
    eos: str,
    unk: str,
    pad: str,
):
    """A byte-level BPE tokenizer trained on `lines`, with its special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(lines, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token=bos, eos_token=eos, unk_token=unk, pad_token=pad
    )
    tokenizer.chat_template = chat_template
    return tokenizer


def build_tiny_chat_model(path: str | Path, *, seed: int = 0, vocab_size: int = 400) -> Path:
    """Write a tiny LlamaForCausalLM + tokenizer + chat template to `path`; return the path.

    Embeddings and output head are redrawn with a large std so next-token logits are
    peaked: greedy decoding then does not hinge on float rounding, and batched and
    one-at-a-time runs must agree exactly.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)

    tokenizer = train_chat_tokenizer(
        training_text().splitlines(),
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        chat_template=CHAT_TEMPLATE,
        bos="<|im_start|>",
        eos="<|im_end|>",
        unk="<|endoftext|>",
        pad="<|pad|>",
    )
    tokenizer.save_pretrained(path)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        # k/v project to 2 x 16 = 32: bitsandbytes' packed 4-bit CPU path (AVX512-BF16) needs every
        # quantized layer's out_features to be a multiple of 32 (tests/test_bnb_cpu_paths.py).
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        # Large weights make attention content-dependent: different prompts, different text.
        initializer_range=0.3,
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.get_input_embeddings().weight.normal_(0.0, 1.0)
        # Untied and large: with tied embeddings the model just repeats its last input token.
        model.get_output_embeddings().weight.normal_(0.0, 1.0)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_chat_model(tmp_path_factory) -> Path:
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat-model"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def transformers_server(model: str | Path, *, threads: int = 1, startup_s: float = 180.0) -> Iterator[str]:
    """Run `transformers serve` (OpenAI-compatible) for `model` on 127.0.0.1; yield its /v1 URL.

    Needs `transformers[serving]` (fastapi, uvicorn). The server is stopped on exit.
    """
    import httpx

    port = free_port()
    code = "import sys; from transformers.cli.transformers import main; sys.argv[0] = 'transformers'; sys.exit(main())"
    cmd = [
        sys.executable,
        "-c",
        code,
        "serve",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with open(Path(os.environ.get("TMPDIR", "/tmp")) / f"transformers-serve-{port}.log", "w+b") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + startup_s
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(
                        f"transformers serve exited ({process.returncode}):\n{log.read().decode()[-3000:]}"
                    )
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"transformers serve did not answer within {startup_s:.0f} s")
                time.sleep(0.5)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
