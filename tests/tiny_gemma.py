"""A tiny random Gemma (same architecture and chat template as Gemma-7B-it) for fine-tuning tests.

Built at test time in about a second: GemmaConfig with hidden 64 and 2 layers, a byte-level BPE
tokenizer trained with `tokenizers` on local text, and Gemma's own chat template (no system
role: it raises on one, as the real template does). The text it writes is gibberish; it
exercises quantisation, masking, packing, checkpoints and merging, not quality.

    from tiny_gemma import tiny_gemma  # noqa: F401  (session fixture)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tiny_models import train_chat_tokenizer, training_text

# Gemma-7b-it's template, verbatim in behaviour: BOS, alternating user/model turns, no system role.
GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]


def build_tiny_gemma(path: str | Path, *, seed: int = 0, vocab_size: int = 512, **config) -> Path:
    """Write the tiny Gemma and its tokenizer to `path`; `config` overrides GemmaConfig fields."""
    import torch
    from transformers import GemmaConfig, GemmaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = train_chat_tokenizer(
        [*training_text().splitlines(), *QA_TEXT],
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        chat_template=GEMMA_CHAT_TEMPLATE,
        bos="<bos>",
        eos="<eos>",
        unk="<unk>",
        pad="<pad>",
    )
    tokenizer.save_pretrained(path)

    torch.manual_seed(seed)
    settings = (
        dict(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            # Every projection's out_features is a multiple of 32 (k/v: 2 x 16), and every in_features a
            # multiple of 64 (the 4-bit block size): bitsandbytes' packed CPU path (AVX512-BF16) asserts both.
            num_key_value_heads=2,
            head_dim=16,
            max_position_embeddings=1024,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=True,
        )
        | config
    )
    model = GemmaForCausalLM(GemmaConfig(**settings))
    with torch.no_grad():
        # With the default std 0.02 the tied, frozen embeddings make every logit nearly equal
        # and LoRA cannot move the loss; std 0.1 gives it something to work with.
        model.get_input_embeddings().weight.normal_(0.0, 0.1)
    model.save_pretrained(path)
    return path


# Q&A-like sentences so the tokenizer has merges for the test questions and answers.
QA_TEXT = [
    "How do I restart a notebook kernel?",
    "Open the Run menu and choose Restart kernel.",
    "Which port does the server use?",
    "The server listens on port 6900 by default.",
    "Can I export a dataset as parquet?",
    "Yes, every version is written as parquet files.",
    "Documentation:",
    "Question:",
]


def qa_rows(n: int = 24, *, seed: int = 0) -> list[dict]:
    """Canonical dataset rows (the columns of data/<split>.parquet) about an invented product."""
    import random

    rng = random.Random(seed)
    facts = [
        (
            "Which port does the server use?",
            "The server listens on port {n}.",
            "The server listens on port {n} by default.",
        ),
        (
            "How many GPUs can a notebook use?",
            "A notebook can use {n} GPUs.",
            "Each notebook can attach up to {n} GPUs.",
        ),
        ("How long is a session kept?", "A session is kept for {n} hours.", "Idle sessions are kept for {n} hours."),
        ("How many files can a dataset hold?", "A dataset can hold {n} files.", "A dataset holds at most {n} files."),
    ]
    rows = []
    for i in range(n):
        question, answer, context = facts[i % len(facts)]
        value = rng.choice([2, 4, 8, 16, 32, 6900])
        rows.append(
            {
                "pair_id": f"p{i:04d}",
                "question": question,
                "answer": answer.format(n=value),
                "context": context.format(n=value),
                "question_type": "factual",
                "page_id": f"page{i % 3}",
                "url": f"https://acme.example/docs/{i % 3}",
                "anchor_url": f"https://acme.example/docs/{i % 3}#a",
                "title": "Acme docs",
                "heading_path": ["Acme", "Limits"],
                "chunk_id": f"c{i % 5}",
                "fact_id": "",
                "generator_model": "test",
                "min_judge_score": 5,
                "curation": "accepted",
            }
        )
    return rows


@pytest.fixture(scope="session")
def tiny_gemma(tmp_path_factory) -> Path:
    return build_tiny_gemma(tmp_path_factory.mktemp("tiny-gemma"))
