"""Several questions per answer span (generate.questions_per_answer): the plan, the requests, the
fact each pair asks about, which of two repeats is kept, and the type a question's form gives it."""

from __future__ import annotations

import pytest

from docs2qa.generation.qa import answer_first
from docs2qa.generation.qa.assemble import Unit, assemble, unit_key
from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.generation.qa.keep.judge_health import JUDGE
from docs2qa.records import Chunk

TEXT = """# Organizations

Invitations expire after 14 days. Single sign-on requires the Team plan.

Select New → Organization, pick a display name and a slug.
"""
CHUNK = Chunk(
    "c1",
    "p1",
    "https://acme.example/docs/orgs",
    "https://acme.example/docs/orgs#organizations",
    "Organizations",
    ["Organizations"],
    TEXT,
    80,
    0,
    len(TEXT),
    "sha",
    "2026-01-01T00:00:00+00:00",
)
EXPIRE = "Invitations expire after 14 days."
SSO = "Single sign-on requires the Team plan."
LABELS = {"generator": "transformers:g", "judge": ""}


def verdict(score=5):
    return {
        "scores": dict.fromkeys(("grounded", "correct", "useful", "standalone"), score),
        "verdict": "keep",
        "revised_answer": "",
        "rationale": "",
        "parse_error": None,
        "raw_output": None,
        "parse_attempts": 1,
        "tokens": {"prompt": 10, "completion": 5},
    }


def record(pairs, *, judgements=None, failed_tries=()):
    return {
        "parse_error": None,
        "raw_output": None,
        "pairs": [{"question": q, "answer": a, "evidence": a, "stem": stem} for q, a, stem in pairs],
        "failed_tries": list(failed_tries),
        "tokens": {"prompt": 100, "completion": 10},
        "judgements": [verdict() for _ in pairs] if judgements is None else list(judgements),
    }


# A judged run, as the code before generate.judge.enabled ran every one (auto keeps the judge for free),
# so the tests of repeats and types below fail there for what they test, not for a missing judge.
JUDGED = GenerateConfig(strategy="free")
JUDGED_LABELS = {"generator": "transformers:g", "judge": "transformers:j"}


def unit(question_type="factual", answers=(EXPIRE, SSO)):
    # Assembly reads the journal's pairs, not how many tries were planned.
    return Unit("u1", CHUNK, question_type, len(answers), "hash", "answer_first", answers)


def test_each_try_at_a_span_shows_the_worked_examples_in_another_order():
    from docs2qa.generation.qa.config import MAX_QUESTIONS_PER_ANSWER

    def asked(order):
        return answer_first.messages("Organizations", ["Organizations"], EXPIRE, "How long", order)

    # The first try is the prompt one try always was; the others differ only in the examples' order
    # (greedy decoding: the same prompt would give the same question).
    assert asked(0) == answer_first.messages("Organizations", ["Organizations"], EXPIRE, "How long")
    tries = [asked(order) for order in range(MAX_QUESTIONS_PER_ANSWER)]
    assert MAX_QUESTIONS_PER_ANSWER == len(answer_first.EXAMPLE_ORDERS) >= 2
    assert len({tuple(t["content"] for t in turns) for turns in tries}) == len(tries)
    for turns in tries:
        assert turns[0] == tries[0][0] and turns[-1] == tries[0][-1]  # same instructions, same answer and opening
        assert sorted(t["content"] for t in turns) == sorted(t["content"] for t in tries[0])
    assert answer_first.tries_hash() != answer_first.prompt_hash()


def test_the_plan_asks_each_span_as_often_as_configured_and_tries_change_the_unit():
    from docs2qa.config import load_config
    from docs2qa.generation.qa.generate import plan_units

    chunk = Chunk(
        *[getattr(CHUNK, f) for f in ("chunk_id", "page_id", "url", "anchor_url", "title")],
        ["Organizations"],
        TEXT * 3,
        200,
        0,
        3 * len(TEXT),
        "sha",
        "2026-01-01T00:00:00+00:00",
    )

    def plan(tries, rephrase=False):
        config = load_config(
            None,
            [
                "name=t",
                "crawl.demo_site=true",
                f"generate.questions_per_answer={tries}",
                f"generate.rephrase={str(rephrase).lower()}",
                "generate.questions_per_type={factual: 2}",
                "generate.question_templates=false",  # their keys: tests/test_templates.py
            ],
        )
        (planned,), _ = plan_units([chunk], config, {"generator": "g", "judge": ""}, "")
        return planned

    one, three = plan(1), plan(3)
    assert three.tries == 3 and one.tries == 1 and three.answers == one.answers
    assert three.key != one.key
    # One try keeps the key a unit had before tries existed: earlier journals stay valid.
    assert one.key == unit_key(chunk.chunk_id, "factual", 2, one.generate_prompt_hash, "g", "", "", *one.answers)
    rephrased = plan(1, rephrase=True)
    assert rephrased.rephrase and not one.rephrase and rephrased.key != one.key
    assert GenerateConfig().questions_per_answer >= 2  # several tries by default, as measured (README)


def test_question_units_ask_every_span_once_per_try(tiny_chat_model):
    """The generate step itself, with a real (tiny, random) model: requests per span and what is journaled."""
    from docs2qa.config import LLMConfig
    from docs2qa.generation.llm import build_llm
    from docs2qa.generation.qa.steps import QuestionUnits

    step = QuestionUnits(
        name="generate_qa",
        llm=build_llm(LLMConfig(model=str(tiny_chat_model), max_new_tokens=24), answer_first.question_grammar()),
        parse_retries=0,
    )
    step.load()
    rows = [
        {
            "unit": "u1",
            "title": "Organizations",
            "heading_path": ["Organizations"],
            "answers": [EXPIRE, SSO],
            "question_type": "factual",
            "tries": 3,
        }
    ]
    (row,) = next(step.process(rows))
    # The random model rarely writes a parsable question: a try is a pair or a failed try, never lost.
    pairs, failed = row["pairs"] or [], row["failed_tries"]
    asked = [(p["answer"], p["stem"], p["try"]) for p in pairs] + [(t["answer"], t["stem"], t["try"]) for t in failed]
    expected = [(a, answer_first.opening(a, "factual"), order) for a in (EXPIRE, SSO) for order in range(3)]
    assert sorted(asked) == sorted(expected)  # 3 requests per span, each its own try, with the span's opening
    assert all(p["evidence"] == p["answer"] and p["question"].endswith("?") for p in pairs)
    assert all(t["raw_output"] and t["parse_error"] for t in failed)
    assert (row["pairs"] is None) == (row["parse_error"] is not None) == (not pairs)
    assert row["distilabel_metadata"]["statistics_generate_qa"]["input_tokens"][0] > 0


def test_every_distinct_question_of_a_span_is_kept_with_the_span_fact_id():
    from docs2qa.generation.qa.assemble import fact_id

    pairs, dropped, _ = assemble(
        [unit()],
        {
            "u1": record(
                [
                    ("After how many days do invitations expire?", EXPIRE, "How long"),
                    ("When do invitations expire?", EXPIRE, "What happens"),
                    ("Which plan does single sign-on need?", SSO, "What"),
                ]
            )
        },
        GenerateConfig(),
        LABELS,
        "",
    )
    assert not dropped and len(pairs) == 3
    facts = {p.question: p.fact_id for p in pairs}
    assert (
        facts["After how many days do invitations expire?"]
        == facts["When do invitations expire?"]
        == fact_id("c1", EXPIRE)
    )
    assert facts["Which plan does single sign-on need?"] == fact_id("c1", SSO) != fact_id("c1", EXPIRE)
    assert fact_id("c1", EXPIRE) != fact_id("c2", EXPIRE)  # a fact is a span of one chunk
    assert len({p.pair_id for p in pairs}) == 3


def test_a_try_that_never_parsed_is_dropped_alone_with_its_raw_text():
    failed = {
        "answer": SSO,
        "stem": "What",
        "try": 1,
        "parse_error": "no '?'",
        "raw_output": "Q: sso",
        "parse_attempts": 3,
    }
    pairs, dropped, _ = assemble(
        [unit()],
        {"u1": record([("When do invitations expire?", EXPIRE, "How long")], failed_tries=[failed])},
        GenerateConfig(),
        LABELS,
        "",
    )
    assert [p.question for p in pairs] == ["When do invitations expire?"]
    assert [d.reason for d in dropped] == ["generation_parse_error"]
    assert "Q: sso" in dropped[0].detail and f"try 2 at {SSO!r}" in dropped[0].detail


@pytest.mark.slow  # loads the MiniLM embedding model
def test_of_two_pairs_with_one_question_the_one_whose_answer_it_fits_is_kept():
    from docs2qa.generation.qa.generate import _embedder

    question = "How long are invitations valid?"
    # The span that does not fit comes first: the first pair was kept before.
    pairs, dropped, _ = assemble(
        [unit()],
        {"u1": record([(question, SSO, "What"), (question, EXPIRE, "How long")])},
        JUDGED,
        JUDGED_LABELS,
        "jh",
        embed=_embedder(JUDGED),
        filters=(),  # the repeats alone: the off-target rules would drop the misfit before
    )
    assert [(p.question, p.answer) for p in pairs] == [(question, EXPIRE)]
    assert [d.reason for d in dropped] == ["duplicate_exact"]
    assert "kept the pair of 'Invitations expire" in dropped[0].detail


def test_of_two_repeats_the_better_judged_is_kept():
    question = "How long are invitations valid?"
    pairs, dropped, _ = assemble(
        [unit()],
        {
            "u1": record(
                [(question, EXPIRE, "How long"), (question, EXPIRE, "What")], judgements=[verdict(3), verdict(5)]
            )
        },
        JUDGED,
        JUDGED_LABELS,
        "jh",
        filters=JUDGE,
    )
    assert [p.score_grounded for p in pairs] == [5] and [d.reason for d in dropped] == ["duplicate_exact"]


def test_the_question_type_follows_the_question_form():
    # Measured: "How do I create a new notebook?" of a span picked as factual was typed factual.
    pairs, _, _ = assemble(
        [unit("factual", ("Select New → Organization, pick a display name and a slug.",))],
        {
            "u1": record(
                [
                    (
                        "How do I create a new organization?",
                        "Select New → Organization, pick a display name and a slug.",
                        "How do I",
                    ),
                    (
                        "Which menu makes an organization?",
                        "Select New → Organization, pick a display name and a slug.",
                        "What",
                    ),
                ]
            )
        },
        JUDGED,
        JUDGED_LABELS,
        "jh",
        filters=(),
    )
    assert {p.question: p.question_type for p in pairs} == {
        "How do I create a new organization?": "procedural",
        "Which menu makes an organization?": "factual",
    }
    of = answer_first.question_type_of
    assert of("How can I leave an organization?", "conceptual") == "procedural"
    assert of("Why is GPU use metered?", "factual") == "conceptual"
    assert of("What is an organization?", "factual") == "conceptual"
    assert of("What does flushing the chamber do?", "procedural") == "factual"  # no how-to, no steps asked
    assert of("What is the default interval?", "factual") == "factual"
    assert of("How many retries does the driver make?", "conceptual") == "factual"
    assert of("How do I delete it?", "yes_no") == "yes_no"  # free strategy's own types stay


def test_free_pairs_name_their_evidence_as_the_fact_and_unanswerable_ones_none():
    from docs2qa.generation.qa.assemble import fact_id

    evidence = "Invitations expire after 14 days"
    free = Unit("u1", CHUNK, "factual", 1, "hash")
    rec = record([("When do Acme invitations expire?", "After 14 days.", "")])
    rec["pairs"][0]["evidence"] = evidence
    (pair,), _, _ = assemble([free], {"u1": rec}, GenerateConfig(strategy="free", judge={"enabled": False}), LABELS, "")
    assert pair.fact_id == fact_id("c1", evidence) == fact_id("c1", "invitations  expire after 14 DAYS")
    assert fact_id("c1", "") == ""
