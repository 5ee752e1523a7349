"""generate.rephrase: each span's first question asked again in other words, so that the
knowledge protocol has a fact in two phrasings (one to train on, one to ask)."""

from __future__ import annotations

import pytest

from docs2qa.generation.qa import answer_first
from docs2qa.generation.qa.keep.off_target import question_problem

STEPS = "Open Settings → Domains, select Add domain and enter the domain name."
TERM = "A token is a secret string that acts as you when the CLI calls the API."
REASON = "Builds are queued at night, because the build servers are being updated then."


@pytest.mark.parametrize(
    ("question", "opening", "read_as", "question_type"),
    [
        ("How do I add a domain?", "What are the steps to", "How do I add a domain?", "procedural"),
        ("Why are builds queued at night?", "What is the reason", "Why builds are queued at night?", "conceptual"),
        ("How long are logs kept?", "When", "How long are logs kept?", "factual"),
        ("What happens to old releases?", "What becomes of", "What happens to old releases?", "factual"),
        ("What happens when a build fails?", "What is the result", "What happens when a build fails?", "factual"),
        ("What is a release?", "How would you describe", "What is a release?", "conceptual"),
        ("What does a 409 error mean?", "What is the meaning of", "What is a 409 error?", "conceptual"),
        ("Which plan includes SSO?", "Which", "Which plan includes SSO?", "factual"),
    ],
)
def test_a_rewrite_starts_from_another_form_and_is_read_as_its_original(question, opening, read_as, question_type):
    assert answer_first.rephrase_opening(question) == opening
    rewrite = {
        "What are the steps to": "What are the steps to add a domain?",
        "What is the reason": "What is the reason why builds are queued at night?",
        "When": "When are logs deleted?",
        "What becomes of": "What becomes of an old release?",
        "What is the result": "What is the result when a build fails?",
        "How would you describe": "How would you describe a release?",
        "What is the meaning of": "What is the meaning of a 409 error?",
    }.get(opening, question)
    if opening not in ("What does", "Which", "When"):
        assert answer_first.canonical_form(rewrite).split()[:2] == read_as.split()[:2]
    assert answer_first.question_type_of(rewrite, question_type) == question_type


def test_the_question_rules_hold_a_rewrite_to_the_form_it_stands_for():
    # "What are the steps to X?" wants steps, as "How do I X?" does.
    assert question_problem("What are the steps to add a domain?", STEPS, "Domains", ["Domains"]) is None
    assert question_problem("What are the steps to add a domain?", REASON, "Builds", ["Builds"])[0] == "off_target"
    # "What is the reason ...?" wants a reason, as "Why ...?" does; it is not "What is X?".
    assert question_problem("What is the reason why builds are queued at night?", REASON, "Builds", ["Builds"]) is None
    assert question_problem("What is the reason for domains?", STEPS, "Domains", ["Domains"])[0] == "off_target"
    # "How would you describe X?" wants a definition of X, as "What is X?" does.
    assert question_problem("How would you describe a token?", TERM, "Tokens", ["Tokens"]) is None
    assert question_problem("How would you describe a domain?", STEPS, "Domains", ["Domains"])[0] == "off_target"


def test_the_rephrase_prompt_shows_the_question_its_answer_and_the_new_opening():
    turns = answer_first.rephrase_messages("How do I add a domain?", STEPS, "What are the steps to")
    *_, asked, begun = turns
    assert turns[0]["role"] == "system" and asked["role"] == "user"
    assert "How do I add a domain?" in asked["content"] and STEPS in asked["content"]
    assert asked["content"].endswith("starts with: What are the steps to")
    # The reply is begun with the new opening: told alone, SmolLM2 copied the question.
    assert begun == {"role": "assistant", "content": "Q: What are the steps to"}
    assert len(turns) == 3 + 2 * len(answer_first.REPHRASE_EXAMPLES)


@pytest.mark.slow  # starts llama.cpp on the embedded SmolLM2
def test_smollm2_rewrites_each_first_question_from_another_opening():
    """The generate step with the real embedded model: one more request per span whose first
    question parsed, its pair carrying the question it rewrites; without rephrase, none."""
    from docs2qa.config import LLMConfig
    from docs2qa.generation.llm import build_llm
    from docs2qa.generation.qa.steps import QuestionUnits, rewrite_fits

    step = QuestionUnits(
        name="generate_qa",
        llm=build_llm(LLMConfig(max_new_tokens=40), answer_first.question_grammar()),
        parse_retries=1,
    )
    step.load()
    try:
        row = {
            "unit": "u1",
            "title": "Custom domains",
            "heading_path": ["Custom domains"],
            "answers": [STEPS, REASON, TERM],
            "question_type": "procedural",
            "tries": 1,
        }
        (plain,) = next(step.process([{**row, "rephrase": False}]))
        (rephrased,) = next(step.process([{**row, "rephrase": True}]))
    finally:
        step.unload()
    assert not any(p.get("rephrase_of") for p in plain["pairs"])
    firsts = {p["answer"]: p["question"] for p in plain["pairs"]}
    assert firsts, "SmolLM2 wrote no question at all"
    rewrites = [p for p in rephrased["pairs"] if p.get("rephrase_of")]
    tried = rewrites + [t for t in rephrased["failed_tries"] if t.get("rephrase_of")]
    # Greedy decoding: the first questions are the plain run's, and each is rewritten from its
    # first opening; again from the second only when that rewrite does not fit.
    firsts_tried = [t for t in tried if t["try"] == 1]
    assert sorted((t["answer"], t["rephrase_of"]) for t in firsts_tried) == sorted(firsts.items())
    row = {"title": "Custom domains", "heading_path": ["Custom domains"]}
    misfits = {
        t["answer"]
        for t in firsts_tried
        if not ("question" in t and rewrite_fits({**t, "parse_error": None, "failure": None}, row))
    }
    seconds = [t for t in tried if t["try"] == 2]
    assert {t["answer"] for t in seconds} <= misfits
    for pair in rewrites:
        assert pair["stem"] == answer_first.rephrase_openings(pair["rephrase_of"])[pair["try"] - 1]
        assert pair["question"].endswith("?")
        # The begun reply was continued under its own grammar, not made to write "Q:" again.
        assert pair["question"].startswith(pair["stem"] + " ") and "Q:" not in pair["question"]
    assert "grammar" in step.llm.generation_kwargs["extra_body"]  # the step's own grammar is back
    assert step.llm.generation_kwargs["extra_body"]["grammar"].startswith("%llguidance")
    assert '"Q:"' in step.llm.generation_kwargs["extra_body"]["grammar"]


@pytest.mark.parametrize(
    ("reply", "read"),
    [
        # llama.cpp returns the begun turn whole; the grammar makes its own part start with "Q:" again.
        ("Q: What doesQ: What does a personal token do?", "Q: What does a personal token do?"),
        ("Q: What are the steps toQ: Add a domain to an app?", "Q: What are the steps to add a domain to an app?"),
        # A backend that returns only its own words goes on from the opening.
        ("add a domain to an app?", "Q: What are the steps to add a domain to an app?"),
        # A whole reply, or one started afresh, is read as it is.
        ("Q: How do I add a domain?", "Q: How do I add a domain?"),
        ("Q: What are the steps to add a domain?", "Q: What are the steps to add a domain?"),
    ],
)
def test_a_begun_reply_is_read_as_one_question(reply, read):
    stem = "What does" if "What does" in reply else "What are the steps to"
    assert answer_first.begun_reply(reply, stem) == read


def test_two_phrasings_of_one_fact_survive_dedup_unless_their_words_nearly_repeat():
    """Near-duplicate removal with the real embedding model: the same fact asked from another
    opening stays (embeddings alone would merge it); a near-copy goes; other facts as before."""
    from dataclasses import replace

    from docs2qa.generation.qa.assemble import remove_near_duplicates
    from docs2qa.generation.qa.config import GenerateConfig
    from docs2qa.records import QAPair

    base = QAPair("", "c1", "pg", "u", "u", "T", [], "", "", "procedural", "", "g", "h")
    rows = [
        ("p1", "f1", "How do I create a new token?"),
        ("p2", "f1", "What are the steps to create a new token?"),
        ("p3", "f1", "How can I create a new token?"),
        ("p4", "f2", "How do I make a new token?"),
    ]
    answer = "Create one under Account → Tokens."
    pairs = [replace(base, pair_id=p, fact_id=f, question=q, answer=answer) for p, f, q in rows]
    kept, dropped = remove_near_duplicates(pairs, GenerateConfig())
    assert {p.pair_id for p in kept} == {"p1", "p2"}
    assert {d.item_id for d in dropped} == {"p3", "p4"}


def test_the_question_rewritten_is_the_first_that_fits_its_answer():
    """A rewrite keeps its original's flaws, so the first try the question rules pass is
    rewritten; only a span none of whose tries pass has its first rewritten."""
    from docs2qa.generation.qa.steps import to_rephrase

    def tried(question, answer=TERM, order=0):
        return {"question": question, "answer": answer, "order": order, "parse_error": None, "failure": None}

    row = {"title": "Tokens", "heading_path": ["Tokens"]}
    does, what_is = tried("What does a token do?"), tried("What is a token?", order=1)
    assert question_problem(does["question"], TERM, "Tokens", ["Tokens"])  # a definition says what it is
    unparsed = {**tried(None), "parse_error": "no question"}
    assert to_rephrase(row, [unparsed, does, what_is]) == {TERM: what_is}
    assert to_rephrase(row, [does, tried("What does a token do for you?", order=1)]) == {TERM: does}
    steps = tried("How do I add a domain?", STEPS)
    assert to_rephrase(row, [does, steps]) == {TERM: does, STEPS: steps}


def test_a_rewrite_that_misses_is_asked_once_more_from_a_second_opening():
    from docs2qa.generation.qa.steps import rewrite_fits

    assert answer_first.rephrase_openings("What happens when a build fails?") == ("What is the result", "What occurs")
    assert answer_first.rephrase_openings("How do I add a domain?")[1] == "What should I do to"
    assert answer_first.rephrase_openings("How many builds run at once?") == ("What is the number of",)  # no second
    assert answer_first.canonical_form("What should I do to add a domain?") == "How do I add a domain?"
    assert answer_first.canonical_form("What best describes a token?") == "What is a token?"

    row = {"title": "Tokens", "heading_path": ["Tokens"]}

    def rewrite(question, original="What is a token?", answer=TERM):
        return {"question": question, "answer": answer, "rephrase_of": original, "parse_error": None, "failure": None}

    assert rewrite_fits(rewrite("How would you describe a token?"), row)
    assert not rewrite_fits(rewrite("What does a token do?"), row)  # the definition says what it is
    assert not rewrite_fits(rewrite("What is the token?"), row)  # nearly its original's words
    assert not rewrite_fits({**rewrite(None), "parse_error": "no question"}, row)
