"""Model-free checks on generated pairs."""

from __future__ import annotations

import time

import pytest

from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.generation.qa.keep.checks import check_pair, evidence_ratio, normalise

CHUNK = """## Sync settings

Acme Notes syncs your notebooks every **5 minutes** while the app is open. To change the
interval, open `Settings > Sync` and pick a value between 1 and 60 minutes — shorter
intervals use more battery.

> Note: notebooks larger than 2 GB are "paused" and do not sync until they shrink.

| Plan | Devices |
|------|---------|
| Free | 2       |
| Pro  | 10      |
"""

CFG = GenerateConfig()
GOOD = dict(
    question="How often does Acme Notes sync notebooks?",
    answer="Every 5 minutes while the app is open.",
    evidence="Acme Notes syncs your notebooks every 5 minutes while the app is open.",
)


def reasons(**changes) -> list[str]:
    pair = {**GOOD, "question_type": "factual", **changes}
    return [
        reason
        for reason, _ in check_pair(
            pair["question"], pair["answer"], pair["evidence"], CHUNK, pair["question_type"], changes.pop("cfg", CFG)
        )[1]
    ]


def test_good_pair_passes():
    ratio, failures = check_pair(**GOOD, chunk_text=CHUNK, question_type="factual", cfg=CFG)
    assert failures == [] and ratio == 1.0


@pytest.mark.parametrize(
    "quote",
    [
        "acme notes syncs your notebooks every **5 minutes** while the app is open",  # case and bold
        "“Acme Notes syncs your notebooks every 5 minutes\n while the app is open.”",  # curly quotes, line break
        "shorter intervals use more battery",
        "pick a value between 1 and 60 minutes - shorter intervals",  # en dash vs hyphen
        "notebooks larger than 2 GB are ‘paused’ and do not sync",  # smart vs straight quotes
        "open Settings > Sync and pick a value",  # backticks dropped
        "...every 5 minutes while the app is open...",
    ],
)
def test_true_quote_with_formatting_differences_passes(quote):
    assert evidence_ratio(quote, CHUNK) == 1.0
    assert "evidence_not_in_chunk" not in reasons(evidence=quote)


def test_slightly_misquoted_evidence_passes_fuzzily():
    ratio = evidence_ratio("Acme Notes synchronises your notebooks every 5 minutes while the app is running.", CHUNK)
    assert CFG.gates.evidence_min_ratio <= ratio < 1.0


def test_invented_evidence_fails_with_its_ratio():
    ratio, failures = check_pair(
        GOOD["question"],
        GOOD["answer"],
        "Keep-warm mode holds the water at 80 °C for up to 30 minutes.",
        CHUNK,
        "factual",
        CFG,
    )
    assert ratio < 0.6
    assert failures[0][0] == "evidence_not_in_chunk" and f"{ratio:.2f}" in failures[0][1]
    assert reasons(evidence="") == ["evidence_not_in_chunk"]


def test_unanswerable_takes_no_evidence():
    base = dict(question="Can Acme Notes export notebooks to PDF?", answer="The documentation does not say.")
    assert reasons(**base, evidence="", question_type="unanswerable") == []
    assert reasons(**base, evidence="syncs every 5 minutes", question_type="unanswerable") == [
        "evidence_for_unanswerable"
    ]


def test_length_bounds():
    assert reasons(question="Sync?") == ["question_too_short"]
    assert reasons(question="How often does Acme Notes sync when " + "the app is open and " * 20 + "?") == [
        "question_too_long"
    ]
    assert reasons(answer="5") == ["answer_too_short"]
    cfg = CFG.model_copy(update={"gates": CFG.gates.model_copy(update={"max_answer_chars": 20})})
    assert [r for r, _ in check_pair(**GOOD, chunk_text=CHUNK, question_type="factual", cfg=cfg)[1]] == [
        "answer_too_long"
    ]


@pytest.mark.parametrize(
    "question",
    [
        "According to the text, how often does Acme Notes sync?",
        "What does this section say about syncing?",
        "How often does the app sync, as described in the passage?",
        "What does the document describe?",
        "Which plans are listed above?",
        "What is the sync interval mentioned in the context?",
        "Based on the given documentation excerpt, how often does sync run?",
        "How many kinds of limits does it have?",
    ],
)
def test_not_standalone(question):
    assert "not_standalone" in reasons(question=question)


@pytest.mark.parametrize(
    "question",
    [
        "How do I make the text bold in Acme Notes?",
        "How do I share the document with another Acme Notes user?",
        "What does Acme Notes do in the context of low battery?",
        "Which section of Acme Notes settings controls sync?",
        "How much does it cost to sync a notebook?",
    ],
)
def test_standalone_questions_that_mention_such_words_pass(question):
    assert "not_standalone" not in reasons(question=question)


def test_wrong_language():
    french = dict(
        question="À quelle fréquence Acme Notes synchronise-t-il les carnets de notes ?",
        answer="Toutes les cinq minutes, tant que l'application reste ouverte sur votre appareil.",
    )
    assert reasons(**french) == ["wrong_language"]
    russian = dict(question="Как часто Acme Notes синхронизирует блокноты?", answer="Каждые пять минут.")
    assert reasons(**russian) == ["wrong_language"]
    code = dict(question="Which command installs the Acme Notes CLI?", answer="`pip install acme-notes-cli --upgrade`")
    assert "wrong_language" not in reasons(**code)
    # A table in an answer: its header and cells are labels, not prose (measured on the demo:
    # "| Plan | Weekly GPU-hours | ... |" rows were dropped as 0-7% English).
    row = dict(
        question="Which GPUs and how many GPU-hours does the Pro plan of Acme Notes include?",
        answer="| Plan | Weekly GPU-hours | Accelerators | Concurrent GPU sessions | Price |\n"
        "| --- | --- | --- | --- | --- |\n| Pro | 60 | T4, L4, A100 | 2 | $25 per month |",
    )
    assert "wrong_language" not in reasons(**row)
    # Languages other than English are checked only when a detector library is installed.
    german_cfg = CFG.model_copy(update={"language": "de"})
    assert (
        "wrong_language"
        not in [r for r, _ in check_pair(**GOOD, chunk_text=CHUNK, question_type="factual", cfg=german_cfg)[1]]
        or _has_langdetect()
    )


def _has_langdetect() -> bool:
    import importlib.util

    return importlib.util.find_spec("langdetect") is not None


def test_not_a_question():
    assert reasons(question="Tell me how often Acme Notes syncs.") == ["not_a_question"]
    statement = dict(
        question="Acme Notes syncs notebooks larger than 2 GB.",
        answer="False. Those are paused.",
        evidence='notebooks larger than 2 GB are "paused" and do not sync',
    )
    assert reasons(**statement, question_type="yes_no") == []
    assert reasons(**statement, question_type="factual") == ["not_a_question"]


def test_normalise():
    assert normalise("**Open** `Settings` — “now” isn't\u00a0 ") == 'open settings - "now" isn"t'


def test_fuzzy_search_is_fast_on_a_long_chunk():
    chunk = " ".join(f"Setting number {i} controls feature {i * 7} of the Acme Notes sync engine." for i in range(60))
    assert len(chunk) > 3000
    quote = "Setting numbr 41 controls featur 287 of the Acme Notes sync engin"
    start = time.perf_counter()
    ratio = evidence_ratio(quote, chunk)
    elapsed = time.perf_counter() - start
    assert ratio > 0.9
    assert elapsed < 5  # generous: a naive sliding window over every offset takes far longer
