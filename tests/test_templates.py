"""generate.question_templates: a span whose shape gives its question away is asked by a template
(generation/qa/templates.py), not by the model; the model writes the others and the rewrites."""

from __future__ import annotations

import pytest

from docs2qa.generation.qa import answer_first
from docs2qa.generation.qa.keep.off_target import question_problem
from docs2qa.generation.qa.templates import question_for, template_question

# Sentences of the shapes a template reads, written for these tests (an invented mail service).
PURPOSE = "To raise a sending quota, open Settings → Quotas and click Request increase."
CASE = "When a message bounces twice, Postbox adds its address to the suppression list."
ADVICE = "If your API key has leaked, revoke it at once and create a new one."
TERM = "A sending domain is a domain you verified with DNS records before sending from it."


@pytest.mark.parametrize(
    ("answer", "question_type", "question"),
    [
        (PURPOSE, "procedural", "How do I raise a sending quota?"),
        ("To keep your logs longer, add a log drain.", "procedural", "How do I keep my logs longer?"),
        (CASE, "factual", "What happens when a message bounces twice?"),
        # What to do in a case is asked as such, and "you" is the asker.
        (ADVICE, "factual", "What should I do if my API key has leaked?"),
        ("If a send fails, roll back with `postbox undo`.", "factual", "What should I do if a send fails?"),
        ("When you delete a template, sent mail keeps a copy.", "factual", "What happens when I delete a template?"),
        ("If you are on the Free plan, messages wait in a queue.", "factual", "What happens if I am on the Free plan?"),
        ("A message over 10 MB is rejected with `413`.", "factual", "What happens to a message over 10 MB?"),
        ("Use a restricted key when a script only sends mail.", "factual", "When should I use a restricted key?"),
        (TERM, "conceptual", "What is a sending domain?"),
        ("Postbox is a hosted email delivery service.", "conceptual", "What is Postbox?"),
        ("Webhook secrets are random strings that sign each event.", "conceptual", "What are webhook secrets?"),
        ("The `postbox` CLI manages domains, keys and templates.", "factual", "What does the `postbox` CLI manage?"),
        ("Postbox bills for two things: messages sent and storage.", "factual", "What does Postbox bill for?"),
        ("The Events page caches results for a minute.", "factual", "What does the Events page cache?"),
        ("Bounce records are kept for 30 days.", "factual", "How long are bounce records kept?"),
        ("The `postbox` agent always runs every 6 hours.", "factual", "How often does the `postbox` agent run?"),
        ("Your API key is a secret that acts as you.", "conceptual", "What is my API key?"),
        # "You" the object of a verb no list names is "me".
        (
            "When Postbox emails you a report, the report lists every bounce.",
            "factual",
            "What happens when Postbox emails me a report?",
        ),
        # A statement and its reason, or a reason and its consequence: "Why" asks the statement.
        (
            "Attachments over 10 MB are refused, because most inboxes reject them.",
            "conceptual",
            "Why are attachments over 10 MB refused?",
        ),
        (
            "Postbox stores only a hash, so a lost key cannot be recovered.",
            "conceptual",
            "Why can't a lost key be recovered?",
        ),
        ("Invitations expire after 7 days.", "factual", "When do invitations expire?"),
        (
            "The `postbox` agent sends a heartbeat every 30 seconds.",
            "factual",
            "How often does the `postbox` agent send a heartbeat?",
        ),
    ],
)
def test_a_span_of_a_telling_shape_gets_its_question_from_a_template(answer, question_type, question):
    assert template_question(answer, question_type, "Postbox docs") == question
    # The template writes what a reader asks, and the question rules agree.
    assert question_problem(question, answer, "Postbox docs", []) is None


@pytest.mark.parametrize(
    ("answer", "question_type"),
    [
        # The task, the case or the thing points at what the span does not name.
        ("To avoid this, declare the schema yourself.", "procedural"),
        ("To try again, open it and choose Clone.", "procedural"),
        ("If it expires, send a new one.", "factual"),
        ("Once enabled, versioning cannot be turned off.", "factual"),
        ("If you get stuck, the Troubleshooting page covers the common errors.", "factual"),
        ("`--limit` is an additional cap on top of those.", "conceptual"),
        # No thing a reader could name: a lone "the" noun, a quantifier, a clause, a gerund.
        ("The job is paused.", "factual"),
        ("Each step is a job defined elsewhere in the project.", "conceptual"),
        ("Because the Owner is the only admin, make sure they know.", "conceptual"),
        ("By default Postbox uses the EU region.", "factual"),
        ("Sending needs a verified domain.", "factual"),
        # Not a definition: a ranking, an adjective, what is done to it.
        ("Data residency is the other reason to choose a region.", "conceptual"),
        ("New keys are temporary unless you pin them.", "conceptual"),
        ("Limits are enforced as token buckets.", "conceptual"),
        # A noun, not a verb: "records" of "The DNS records are ...".
        ("The DNS records are checked every hour.", "factual"),
        # A purpose, not a consequence; what the reader may do; two statements at once.
        ("Every command accepts `--key`, so that you can run it from any folder.", "conceptual"),
        ("The CLI does not send the message, so you can check the draft first.", "conceptual"),
        ("Minutes are allowed only with hours, so `90m` is valid and `30m` is not.", "conceptual"),
        # A case with no subject of its own.
        ("If not set, Postbox sends from the workspace's default domain.", "factual"),
        # A purpose too vague to ask, or one the rest answers with a pointer.
        ("To get started, create a workspace and an API key.", "procedural"),
        ("To keep your data safe, read the security guide.", "procedural"),
        # A plural subject read as a name and its verb: "Synced segments refresh ...".
        ("Synced segments refresh every 10 minutes.", "factual"),
        # No telling shape: the model writes it.
        ("Postbox signs each webhook event with its secret.", "factual"),
    ],
)
def test_a_span_of_no_telling_shape_is_left_to_the_model(answer, question_type):
    assert template_question(answer, question_type, "Postbox docs") is None


def test_a_templated_question_the_rules_drop_is_asked_of_the_model_instead():
    """A templated question the question rules drop would leave its fact with none: the model
    is asked (the step, the plan's keys and the dry run all read fitting_question)."""
    from docs2qa.generation.qa.templates import fitting_question

    answer = "The `/fail` ping accepts a body of up to 10 KB."
    assert template_question(answer, "factual", "Pings") == "What does the `/fail` ping accept?"
    assert fitting_question(answer, "factual", "Pings", ["Pings"]) == "What does the `/fail` ping accept?"
    dropped = "If `/workspace/requirements.txt` exists, it is installed with `pip` when a session starts."
    assert template_question(dropped, "factual", "Sessions") == "What happens if `/workspace/requirements.txt` exists?"
    assert question_problem(template_question(dropped, "factual", "Sessions"), dropped, "Sessions", ["Sessions"])
    assert fitting_question(dropped, "factual", "Sessions", ["Sessions"]) is None


def test_a_template_answers_only_for_the_opening_the_span_was_given():
    # The opening is answer_first's choice; a template never overrides it.
    assert answer_first.opening(PURPOSE, "procedural") == "How do I"
    assert question_for(PURPOSE, "What happens") is None
    assert question_for(CASE, "How do I") is None
    assert question_for("```\npostbox send\n```", "What does") is None  # a snippet: the model says what it is for


def test_what_to_do_in_a_case_is_rewritten_as_such_and_read_back():
    question = "What should I do if my API key has leaked?"
    assert answer_first.rephrase_openings(question) == ("How should I respond",)
    assert answer_first.canonical_form("How should I respond if my API key has leaked?") == question


def test_a_unit_key_holds_its_templated_questions_and_no_other_changes():
    """A killed run resumes what it planned: a unit's key holds the questions its templates
    wrote, so a changed template asks again, and a unit no template reads keeps the key it had
    before templates existed (earlier journals stay valid)."""
    from docs2qa.config import load_config
    from docs2qa.generation.qa.assemble import unit_key
    from docs2qa.generation.qa.generate import plan_units
    from docs2qa.records import Chunk

    plain = "Suppressed addresses stay on the list for 180 days, then leave it."
    text = f"# Quotas\n\n{PURPOSE}\n\n{CASE}\n\n{plain}\n"
    chunk = Chunk("c1", "p1", "u", "u#q", "Quotas", ["Quotas"], text, 200, 0, len(text), "sha", "2026-01-01T00:00:00Z")

    def plan(templates):
        config = load_config(None, ["name=t", "crawl.demo_site=true", f"generate.question_templates={templates}"])
        return {u.question_type: u for u in plan_units([chunk], config, {"generator": "g", "judge": ""}, "")[0]}

    on, off = plan("true"), plan("false")
    assert on.keys() == off.keys() and all(len(u.templated) == len(u.answers) for u in on.values())
    assert not any(u.templated for u in off.values())
    for question_type, unit in on.items():
        templated = [template_question(a, question_type, "Quotas") for a in unit.answers]
        before = unit_key(
            "c1", question_type, unit.n, unit.generate_prompt_hash, "g", "", "", *unit.answers,
            tries=unit.tries, rephrase=unit.rephrase,
        )  # fmt: skip
        assert off[question_type].key == before
        assert (unit.key == before) == (not any(templated)), (question_type, templated)
    assert any(u.key != off[t].key for t, u in on.items())  # the fixture's shapes are templated somewhere


def test_question_units_ask_the_model_only_for_spans_no_template_reads():
    """The generate step with the real embedded model: the templated span costs no request and
    its pair says so; the other span is asked as before; with rephrase, the template's question
    is rewritten by the model."""
    from docs2qa.config import LLMConfig
    from docs2qa.generation.llm import build_llm
    from docs2qa.generation.qa.steps import QuestionUnits
    from docs2qa.generation.qa.templates import fitting_question

    step = QuestionUnits(
        name="generate_qa",
        llm=build_llm(LLMConfig(max_new_tokens=40), answer_first.question_grammar()),
        parse_retries=1,
    )
    other = "Suppressed addresses stay on the list for 180 days."
    row = {
        "unit": "u1",
        "title": "Deliverability",
        "heading_path": ["Deliverability"],
        "answers": [CASE, other],
        "question_type": "factual",
        "tries": 2,
        "rephrase": True,
    }
    step.load()
    try:
        # The plan's templated questions (Unit.templated), as the pipeline's rows carry them.
        written = [fitting_question(a, "factual", row["title"], row["heading_path"]) or "" for a in row["answers"]]
        (templated,) = next(step.process([{**row, "templated": written}]))
        (plain,) = next(step.process([{**row, "templated": []}]))
    finally:
        step.unload()
    tried = templated["pairs"] + templated["failed_tries"]
    firsts = [t for t in tried if not t.get("rephrase_of")]
    # One templated question for CASE, two model tries for the other span.
    assert sorted((t["answer"], t["try"]) for t in firsts) == sorted([(CASE, 0), (other, 0), (other, 1)])
    (case,) = [p for p in templated["pairs"] if p["answer"] == CASE and not p.get("rephrase_of")]
    assert case["template"] and case["question"] == "What happens when a message bounces twice?"
    assert not any(p.get("template") for p in templated["pairs"] if p is not case)
    assert any(t.get("rephrase_of") == case["question"] for t in tried)  # the model rewrites it
    # Without templates the model is asked for CASE too, twice; templating saved those prompts.
    plain_firsts = [t for t in plain["pairs"] + plain["failed_tries"] if not t.get("rephrase_of")]
    assert sorted(t["answer"] for t in plain_firsts) == sorted([CASE, CASE, other, other])
    assert not any(p.get("template") for p in plain["pairs"])
    tokens = {r["unit"]: r["distilabel_metadata"]["statistics_generate_qa"]["input_tokens"][0] for r in (templated,)}
    assert 0 < tokens["u1"] < plain["distilabel_metadata"]["statistics_generate_qa"]["input_tokens"][0]


def test_a_templated_pair_names_the_template_as_its_writer():
    from docs2qa.generation.qa.assemble import TEMPLATE, Unit, assemble
    from docs2qa.generation.qa.config import GenerateConfig
    from docs2qa.records import Chunk

    text = f"# Quotas\n\n{PURPOSE}\n"
    chunk = Chunk("c1", "p1", "u", "u#q", "Quotas", ["Quotas"], text, 30, 0, len(text), "sha", "2026-01-01T00:00:00Z")
    question = "How do I raise a sending quota?"
    unit = Unit("u1", chunk, "procedural", 1, "hash", "answer_first", (PURPOSE,), templated=(question,))
    rewrite = "What are the steps to raise my sending quota?"
    record = {
        "parse_error": None,
        "raw_output": None,
        "pairs": [
            {"question": question, "answer": PURPOSE, "evidence": PURPOSE, "stem": "How do I", "template": True},
            {"question": rewrite, "answer": PURPOSE, "evidence": PURPOSE, "stem": "What are the steps to"},
        ],
        "failed_tries": [],
        "tokens": {"prompt": 100, "completion": 10},
    }
    pairs, dropped, _ = assemble(
        [unit], {"u1": record}, GenerateConfig(judge={"enabled": False}), {"generator": "g", "judge": ""}, ""
    )
    assert not dropped
    assert {p.question: p.generator_model for p in pairs} == {question: TEMPLATE, rewrite: "g"}


def test_the_dataset_card_names_the_model_and_says_templates_wrote_some_questions():
    from docs2qa.datastore import card

    def limitations(writers):
        return "\n".join(card._limitations({"generation": {"generator_model": writers}}, False))

    both = limitations("embedded:smollm2, template")
    assert "written by a language model (embedded:smollm2) and by templates (a question from the shape" in both
    assert "written by a language model (embedded:smollm2) from the documentation" in limitations("embedded:smollm2")
    assert "written by templates (a question" in limitations("template")
