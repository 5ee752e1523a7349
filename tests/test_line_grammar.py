"""Constrained decoding: whatever a model would say, the text comes out in the line format."""

from __future__ import annotations

import pytest

from docs2qa.config import LLMConfig
from docs2qa.generation.llm import build_llm
from docs2qa.generation.qa.parsing import parse_critique, parse_pairs
from docs2qa.generation.qa.prompts import critique_grammar, critique_messages, generate_messages, pairs_grammar

CHUNK = "Uploads are limited to 20 GB per dataset. A private dataset is visible only to you."


@pytest.fixture(scope="module")
def tiny_llm(tiny_chat_model):
    def build(grammar, max_new_tokens):
        llm = build_llm(LLMConfig(model=str(tiny_chat_model), max_new_tokens=max_new_tokens, batch_size=4), grammar)
        llm.load()
        return llm

    return build


def test_random_model_output_always_parses_as_pairs(tiny_llm):
    llm = tiny_llm(pairs_grammar(2), 200)
    prompts = [
        generate_messages("lines", qt, 2, "Datasets", ["Datasets", "Limits"], CHUNK)
        for qt in ("factual", "procedural", "conceptual", "yes_no")
    ]
    for output in llm.generate(prompts, max_new_tokens=200):
        text = output["generations"][0]
        pairs = parse_pairs(text, "lines")  # raises on any malformed reply
        assert 1 <= len(pairs) <= 2
        assert all(p["question"].strip() and p["answer"].strip() for p in pairs)
        assert output["statistics"]["output_tokens"][0] > 0


def test_random_model_output_always_parses_as_a_critique(tiny_llm):
    llm = tiny_llm(critique_grammar(), 160)
    prompts = [
        critique_messages("lines", f"Question {i}?", "Answer.", "Uploads are limited", CHUNK, "Datasets", ["Datasets"])
        for i in range(4)
    ]
    for output in llm.generate(prompts, max_new_tokens=160):
        critique = parse_critique(output["generations"][0], "lines")
        assert set(critique["scores"].values()) <= {1, 2, 3, 4, 5}
        assert critique["verdict"] in ("keep", "revise", "drop")


def test_a_field_never_exceeds_its_token_limit(tiny_llm):
    from docs2qa.generation.llm.line_grammar import Field, LineGrammar

    grammar = LineGrammar((Field("NOTE:", max_tokens=5),)).to_dict()
    llm = tiny_llm(grammar, 40)
    output = llm.generate([[{"role": "user", "content": "Say something long."}]], max_new_tokens=40)[0]
    assert output["generations"][0].startswith("NOTE:")
    label = len(llm._pipeline.tokenizer.encode("NOTE:", add_special_tokens=False))
    # label + at most 5 content tokens + the newline that ends the field + EOS
    assert output["statistics"]["output_tokens"][0] <= label + 5 + 2


def test_evidence_is_always_a_verbatim_quote_of_the_excerpt(tiny_llm):
    from docs2qa.generation.qa.keep.checks import evidence_ratio

    llm = tiny_llm(pairs_grammar(1), 120)
    prompts = [generate_messages("lines", "factual", 1, "Datasets", ["Datasets"], CHUNK) for _ in range(2)]
    for output in llm.generate(prompts, max_new_tokens=120):
        (pair,) = parse_pairs(output["generations"][0], "lines")
        assert pair["evidence"] and evidence_ratio(pair["evidence"], CHUNK) == 1.0, pair["evidence"]


def test_a_question_line_ends_at_its_question_mark(tiny_chat_model):
    from transformers import AutoTokenizer

    from docs2qa.generation.llm.line_grammar import Field, LineGrammar, LineGrammarProcessor, Vocabulary

    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model)
    vocab = Vocabulary(tokenizer, {tokenizer.eos_token_id})
    for stop, after_mark in ((True, [vocab.newline]), (False, None)):
        grammar = LineGrammar((Field("Q:", max_tokens=40, end_with="?", stop_at_end=stop),))
        processor = LineGrammarProcessor(grammar, vocab, prompt_width=0, rows=1, max_new_tokens=60)
        row = processor.rows[0]
        row.mode, row.produced = "text", vocab.encode(" When do uploads stop")
        assert processor._allowed(row, 50) is None  # free text until the question mark
        row.produced = vocab.encode(" When do uploads stop?")
        # stop_at_end: the line ends at "?", so the model cannot go on to answer its own question.
        assert processor._allowed(row, 50) == after_mark
