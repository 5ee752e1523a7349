"""answer_first: spans picked from the chunk, questions checked against their answer."""

from __future__ import annotations

import numpy as np

from docs2qa.generation.qa import answer_first
from docs2qa.generation.qa.assemble import Unit, assemble
from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.generation.qa.keep import off_target
from docs2qa.records import Chunk

TEXT = """# Organizations

An organization is a shared space where a group of people own notebooks and datasets together.
Organizations are available on every plan; single sign-on requires the Team plan.

Select **New → Organization**, pick a display name and a slug. Invitations expire after 14 days.

It is also described [below](#more).

```bash
acme orgs list
```
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


def test_spans_are_clean_sentences_of_the_chunk_and_each_serves_one_type():
    spans = answer_first.candidates(TEXT)
    assert "Select New → Organization, pick a display name and a slug." in spans  # markup removed
    assert not any(s.startswith(("#", "```")) for s in spans)
    picked = answer_first.pick_answers(TEXT, {"factual": 1, "procedural": 1, "conceptual": 1})
    assert picked["factual"][0] in (
        "Invitations expire after 14 days.",
        "Organizations are available on every plan; single sign-on requires the Team plan.",
    )
    assert picked["procedural"] == ["Select New → Organization, pick a display name and a slug."]
    assert picked["conceptual"][0].startswith("An organization is a shared space")
    every = [s for spans in picked.values() for s in spans]
    assert len(every) == len(set(every))
    assert answer_first.score("It is also described below.", "factual") < 0  # dangling, too short


def test_a_sentence_introducing_a_command_takes_the_command_along():
    text = "To list them, run this command:\n\n```bash\nacme orgs list --mine\n```\n"
    assert answer_first.candidates(text) == ["To list them, run this command:\n\n```bash\nacme orgs list --mine\n```"]


CLI_PAGE = (
    """# acme deploy

## Deploying from CI

Deploy tokens are scoped to one app and cannot change its settings.

To deploy from a CI job, export the token and name the app:

```bash
export ACME_TOKEN=<your-deploy-token>
acme deploy --app <app-name> --wait
# --wait returns when the release is live
```

A minimal `acme.toml` looks like this:

```toml
[app]
name = "shop"
region = "eu-west"

[build]
command = "npm run build"
```

The full listing of every option follows:

```text
"""
    + "\n".join(f"--option-{i}  an option" for i in range(20))
    + """
```
"""
)


def test_code_blocks_are_answers_fenced_with_the_sentence_that_introduces_them():
    """On a CLI or API page the command or snippet is the substance: a multi-line command and a
    config file are answers, fenced as the docs show them, found verbatim in the chunk (their
    own evidence); a 20-line listing is not."""
    from docs2qa.generation.qa.keep.checks import evidence_ratio

    spans = answer_first.candidates(CLI_PAGE)
    deploy = next(s for s in spans if s.startswith("To deploy from a CI job"))
    assert deploy.endswith("acme deploy --app <app-name> --wait\n# --wait returns when the release is live\n```")
    toml = next(s for s in spans if s.startswith("A minimal `acme.toml`"))
    assert '[build]\ncommand = "npm run build"\n```' in toml
    assert not any("--option-19" in s for s in spans)
    assert all(evidence_ratio(s, CLI_PAGE) == 1.0 for s in (deploy, toml))
    # Asked as steps and as what the snippet is; never as an explanation.
    assert answer_first.opening(deploy, "procedural") == "How do I"
    assert answer_first.opening(toml, "factual") == "What does"
    assert answer_first.score(deploy, "procedural") >= 4 and answer_first.score(toml, "conceptual") <= 0
    picked = answer_first.pick_answers(CLI_PAGE, {"factual": 1, "procedural": 1, "conceptual": 1})
    assert deploy in picked["procedural"]


COMMAND_PAGE = """# lantern fetch

## Synopsis

```bash
lantern fetch [--station <name> ...] [--since <when>]
```

## Description

Downloads new readings from the harbour stations into the data folder, picking up where the previous fetch stopped.

## --station

Default: every station in the data folder. Type: name, repeatable. Limits the command to the named stations.
"""


def test_a_code_block_under_a_heading_is_a_how_to_answer():
    """A CLI reference shows a command's usage under "Synopsis" with no sentence before it: the
    block is the section's substance, asked "How do I" with the page label saying of what. An
    option's "Type: name." and "Default: ..." are labelled values, not steps or explanations."""
    from docs2qa.generation.qa.keep.checks import evidence_ratio
    from docs2qa.generation.qa.keep.off_target import gives_steps

    usage = "```bash\nlantern fetch [--station <name> ...] [--since <when>]\n```"
    spans = answer_first.candidates(COMMAND_PAGE)
    assert usage in spans
    assert evidence_ratio(usage, COMMAND_PAGE) == 1.0 and gives_steps(usage)
    assert answer_first.opening(usage, "procedural") == answer_first.SYNTAX == "What is the syntax of"
    assert (
        off_target.question_problem(
            "What is the syntax of the lantern fetch command?", usage, "lantern fetch", ["lantern fetch", "Synopsis"]
        )
        is None
    )
    assert (
        off_target.question_problem(
            "What is the syntax of the lantern fetch command?", "Downloads new readings.", "lantern fetch", []
        )
        is not None
    )
    assert answer_first.score(usage, "conceptual") < 0 < answer_first.score(usage, "procedural")
    assert answer_first.pick_answers(COMMAND_PAGE, {"procedural": 1})["procedural"] == [usage]
    assert answer_first.score("Type: name, repeatable.", "procedural") <= 0
    assert answer_first.score("Default: every station in the data folder.", "conceptual") <= 0
    # A block after a statement (not one ending in ":") stays unasked: nothing says what it shows.
    assert answer_first.candidates("Units are metric.\n\n```toml\nunits = 1\n```\n") == ["Units are metric."]
    # Its rewrite asks for the same line in other words, not what one option of it does.
    assert answer_first.rephrase_opening("What is the syntax of the lantern prune command?") == "How do I run"


def test_an_options_labelled_values_are_asked_for_by_their_label():
    """Asked "What", SmolLM2 wrote "What does the default lantern do?" of every "Default: ..."
    of the lantern CLI reference; the label says what the question is."""
    assert answer_first.opening("Default: lantern.toml in the data folder.", "factual") == "What is the default"
    assert answer_first.opening("Type: name, repeatable.", "factual") == "What type of value"
    assert answer_first.opening("Defaults apply to every command.", "factual") == "What"


def test_off_target_questions_are_named():
    answer = "Invitations expire after 14 days."
    assert off_target.question_problem("When do invitations expire?", answer, "Organizations", []) is None
    copied = off_target.question_problem("How do I create a mail filter?", answer, "Organizations", [])
    assert copied[0] == "off_target" and "worked example" in copied[1]
    foreign = off_target.question_problem("How do I install Ubuntu invitations?", answer, "Organizations", [])
    assert "ubuntu" in foreign[1]
    wrong_subject = off_target.question_problem(
        "What is a shared environment?",
        "An organization is a shared space for a group of people's environments.",
        "Organizations",
        [],
    )
    assert "answer is about 'An organization'" in wrong_subject[1]


def test_questions_are_checked_against_their_answer_and_the_rest_of_the_chunk():
    target = "Invitations expire after 14 days."
    question = "When do invitations expire?"
    where = {}

    def embed(texts):
        # A fake embedder: the answer on one axis, the chunk's other sentences on the other,
        # and the question wherever the case puts it.
        return np.array(
            [where["question"] if t == question else [1.0, 0.0] if t == target else [0.0, 1.0] for t in texts]
        )

    record = {
        "u1": {
            "parse_error": None,
            "pairs": [{"question": question, "answer": target, "evidence": target}],
            "tokens": {"prompt": 100, "completion": 10},
            "judgements": [
                {
                    "scores": {"grounded": 4, "correct": 4, "useful": 4, "standalone": 4},
                    "verdict": "keep",
                    "revised_answer": "",
                    "rationale": "ok",
                    "parse_error": None,
                    "raw_output": None,
                    "parse_attempts": 1,
                    "tokens": {"prompt": 10, "completion": 5},
                }
            ],
        }
    }
    unit = Unit("u1", CHUNK, "factual", 1, "hash", "answer_first", (target,))

    def outcome(vector):
        where["question"] = vector
        pairs, dropped, _ = assemble([unit], record, GenerateConfig(), {"generator": "g", "judge": "j"}, "jh", embed)
        return pairs, dropped

    pairs, dropped = outcome([1.0, 0.0])
    assert [p.question for p in pairs] == [question] and not dropped and pairs[0].evidence_ratio == 1.0
    _, dropped = outcome([0.0, 1.0])
    assert [d.reason for d in dropped] == [
        "off_target"
    ] and "cosine 0.00 < generate.gates.min_qa_similarity" in dropped[0].detail
    _, dropped = outcome([0.6, 0.8])  # close enough to its answer, closer to another sentence
    assert [d.reason for d in dropped] == ["off_target"] and "fits the question better" in dropped[0].detail


def test_auto_strategy_is_answer_first_for_small_models_only():
    assert GenerateConfig().resolved_strategy() == "answer_first"
    for small in ("HuggingFaceTB/SmolLM2-360M-Instruct", "Qwen/Qwen2.5-0.5B-Instruct"):
        assert GenerateConfig(generator={"model": small}).resolved_strategy() == "answer_first"
    for large in ("Qwen/Qwen2.5-7B-Instruct", "gpt-4o-mini", "meta-llama/Llama-3.1-8B-Instruct"):
        assert GenerateConfig(generator={"model": large}).resolved_strategy() == "free"
    assert GenerateConfig(strategy="free").resolved_strategy() == "free"


def test_the_judge_is_the_generator_unless_a_judge_model_is_set():
    assert GenerateConfig(judge={"min_score": 4}).judge_llm().model == "embedded:smollm2"
    cfg = GenerateConfig(generator={"model": "a"}, judge={"min_score": 4})
    assert cfg.judge_llm().model == "a"
    cfg = GenerateConfig(generator={"model": "a"}, judge={"model": "b", "min_score": 4})
    assert cfg.judge_llm().model == "b" and not hasattr(cfg.judge_llm(), "min_score")


LIMITS = """# Datasets

Datasets are versioned collections of files that notebooks can mount read-only.

| Limit | Free | Pro |
| --- | --- | --- |
| Largest single file | 50 GB | 80 GB |

A single file may be at most 50 GB on the Free plan. Pro raises the limit to 80 GB per file.

Start with the quick tour, or pick a topic below.
"""


def test_table_rows_are_not_answers_since_evidence_must_be_verbatim():
    # Measured on the demo: rows rewritten as sentences were dropped as evidence_not_in_chunk.
    assert not any("|" in s or "Largest" in s for s in answer_first.candidates(LIMITS))


def test_a_span_pointing_elsewhere_on_the_page_is_not_an_answer():
    # Measured on the demo: "Start with Getting started, or pick a topic below." was a procedural answer.
    assert answer_first.score("Start with Getting started, or pick a topic below.", "procedural") <= 0


def test_a_type_with_no_span_gives_its_slot_to_another_types_strong_span():
    # A page of limits has no steps: the procedural slot goes to a second factual sentence, so
    # the chunk still yields two pairs; the weak pointer sentence is never taken.
    picked = answer_first.pick_answers(LIMITS, {"factual": 1, "procedural": 1})
    assert picked["procedural"] == [] and len(picked["factual"]) == 2
    assert all("GB" in span for span in picked["factual"])
    # Nothing strong enough left: no filler span.
    thin = "# Notes\n\nA session is the container your notebook runs in.\n"
    assert sum(map(len, answer_first.pick_answers(thin, {"factual": 1, "procedural": 1}).values())) <= 1


def test_a_how_to_question_needs_an_answer_that_gives_steps():
    # Measured on the demo: "How do you delete a dataset?" kept for a sentence about old
    # versions being deleted automatically; "How do I create a dataset?" for checksums.
    automatic = "When a dataset exceeds the limit, the oldest versions are deleted first."
    problem = off_target.question_problem("How do you delete a dataset?", automatic, "Datasets", ["Datasets"])
    assert problem[0] == "off_target" and "gives no step" in problem[1]
    for steps in (
        "Select New → Organization, pick a display name and a slug.",
        "To list them, run this command: `acme orgs list --mine`",
        "To leave an organization, open Settings and select Leave.",
    ):
        assert off_target.gives_steps(steps), steps
    menu = "Select New → Organization, pick a display name and a slug."
    # "create" is how a user says "New → X": not a word the answer lacks.
    assert off_target.question_problem("How do I create a new organization?", menu, "Organizations", []) is None
    # Measured on the demo: the question copied the click instead of asking what it is for.
    clicked = off_target.question_problem("How do I select a new organization?", menu, "Organizations", [])
    assert clicked == ("off_target", "asks how to select something, not what the steps are for")


def test_a_question_about_only_the_page_subject_is_off_target():
    # Measured on the demo: "How does a REST API work?" for one specific sentence of the REST API page.
    answer = "The REST API gives programmatic access to notebooks, runs, datasets, quotas and events."
    problem = off_target.question_problem("How does a REST API work?", answer, "REST API", ["REST API"])
    assert problem == ("off_target", "the question names only the page's subject, nothing of its answer")
    specific = "What does the REST API give access to?"
    assert off_target.question_problem(specific, answer, "REST API", ["REST API"]) is None
    # Asking what the page's subject is stays fine when the answer defines it.
    definition = "Datasets are versioned collections of files that notebooks can mount read-only."
    assert off_target.question_problem("What are datasets?", definition, "Datasets", ["Datasets"]) is None


def test_procedural_spans_are_steps_not_sentences_that_name_a_tool():
    # Measured on the demo: these were picked as procedural answers and got "How do I ...?" questions.
    for prose in (
        "The `acme` command-line tool manages notebooks, datasets and environments from your terminal.",
        "Community events that are private to an organization are a common way to run internal bake-offs.",
        "The REST API gives programmatic access to notebooks, runs, datasets, quotas and events.",
    ):
        assert answer_first.score(prose, "procedural") <= 0, prose
    assert answer_first.score("Select New → Organization, pick a display name and a slug.", "procedural") > 0


def test_each_answer_gets_a_question_opening_that_fits_it():
    # Left to itself SmolLM2 asked "How do I ...?" of 17 of 26 demo sentences.
    assert answer_first.opening("Anyone can host an event from Events → Host an event.", "factual") == "How do I"
    assert answer_first.opening("Images are supported for 12 months after release.", "factual") == "How long"
    assert answer_first.opening("An organization is a shared space for a team.", "conceptual") == "What is"
    assert answer_first.opening("GPUs are shared by everyone, so use is metered.", "conceptual") == "Why"
    assert answer_first.opening("Uploads are resumable: a dropped upload continues.", "conceptual") == "What"
    assert answer_first.opening("If a run fails, its GPU-hours are refunded.", "factual") == "What happens"
    turns = answer_first.messages("Quotas", ["GPU quotas"], "Images are supported for 12 months.", "How long")
    assert turns[-1]["content"].endswith("The question starts with: How long")
    # Every worked example starts with the opening it names: the model learns to follow it.
    assert all(question.startswith(stem) for _, _, stem, question in answer_first.EXAMPLES)


def test_what_is_needs_a_definition_and_why_needs_a_reason():
    # Measured on the demo with question openings: "What is a persistent workspace?" of a sentence
    # that only mentions one, "What is a Community event?" of "Anyone can host a Community event ...".
    mention = "Every notebook runs in its own container with a persistent workspace and optional GPUs."
    problem = off_target.question_problem("What is a persistent workspace?", mention, "Getting started", [])
    assert problem == ("off_target", "asks what 'persistent workspace' is, but the answer is not a definition")
    survey = "A survey collects readings from one or more stations over a period of time."
    assert off_target.question_problem("What is a survey?", survey, "Recording surveys", []) is None
    assert answer_first.opening(survey, "conceptual") == "What is"
    # Not a definition (held-out tidewell site): a subject narrowed by "that" with "has", a term
    # before a colon that holds a verb.
    hope = "A backup that has never been restored is only a hope; drills turn it into evidence."
    assert not off_target.defines("backup", hope)[0]
    assert answer_first.opening(hope, "conceptual") != "What is"
    buckets = "Limits are enforced as token buckets: a token's bucket refills continuously."
    assert not off_target.defines("token bucket", buckets)[0]
    events = "Events are time-boxed challenges: a host publishes a problem and a leaderboard ranks them."
    problem = off_target.question_problem("Why do events have leaderboards?", events, "Events", ["Events"])
    assert problem == ("off_target", "asks why, but the answer gives no reason")
    reason = "GPUs are shared by everyone, so GPU use is measured in GPU-hours against a weekly quota."
    assert off_target.question_problem("Why is GPU use measured in GPU-hours?", reason, "GPU quotas", []) is None


def test_a_why_question_about_only_the_answers_subject_is_off_target():
    # Measured on the Lanternfish fixture pages: the reason is right, the question is not what it answers.
    answer = "Large surveys are written in batches of ten thousand rows so that memory use stays flat."
    problem = off_target.question_problem(
        "Why does a large survey need to be recorded?", answer, "Recording surveys", []
    )
    assert problem == ("off_target", "asks why of the answer's subject, not of what the answer says about it")
    good = "Why are large surveys written in batches?"
    assert off_target.question_problem(good, answer, "Recording surveys", []) is None


def test_what_happens_must_name_the_case_and_an_appended_command_is_not_a_how_to():
    # Both measured on the demo with question openings.
    answer = (
        "When a dataset exceeds the versions kept limit, the oldest versions that are not pinned by any "
        "notebook are deleted first."
    )
    problem = off_target.question_problem("What happens to deleted datasets?", answer, "Datasets", ["Datasets"])
    assert problem[0] == "off_target" and "not in the case the answer is about" in problem[1]
    good = "What happens when a dataset exceeds the versions kept limit?"
    assert off_target.question_problem(good, answer, "Datasets", ["Datasets"]) is None
    fact = "The CLI needs Python 3.9 or newer and is installed from PyPI: `pip install acme-notebooks`"
    assert answer_first.opening(fact, "factual") == "What"
    assert answer_first.opening("To list them, run `acme orgs list`", "factual") == "How do I"


# A Hugo Docsy page opens with its description (held-out quillmark site): a list of what the page
# covers, or what the reader will do, which its own sentences then say with the facts.
DOCSY_PAGE = """# Plans and billing

Plans, prices, envelope quotas, invoices and what happens when a payment fails.

Quillmark is billed per seat. Each plan includes a monthly quota of 50 production envelopes.
"""
QUICKSTART_PAGE = """# Quickstart

Send your first envelope in the sandbox in about ten minutes, first from the dashboard and then with the API.

Everything happens in the sandbox, so nothing you send here counts against your quota.
"""


def test_a_pages_summary_under_its_title_is_not_an_answer():
    assert answer_first.page_lead(DOCSY_PAGE) == (
        "Plans, prices, envelope quotas, invoices and what happens when a payment fails."
    )
    assert answer_first.page_lead(QUICKSTART_PAGE).startswith("Send your first envelope")
    for page in (DOCSY_PAGE, QUICKSTART_PAGE):
        picked = answer_first.pick_answers(page, {"factual": 2, "procedural": 1, "conceptual": 1})
        assert answer_first.page_lead(page) not in [s for spans in picked.values() for s in spans]
    # A statement there is the page's content: "A workspace is ...", "Results can be shared ...".
    for lead in (
        "A workspace is the unit of ownership in Shalebase: it owns tables and schedules.",
        "Results can be shared inside a workspace as saved queries and views.",
    ):
        assert answer_first.page_lead(f"# Page\n\n{lead}\n\nMore text follows here.\n") == ""
    # Only the first paragraph, of one sentence, of a page that goes on.
    assert answer_first.page_lead("# Page\n\nPlans, prices and invoices.\n") == ""
    assert answer_first.page_lead("## Billing\n\nPlans, prices and invoices.\n\nMore.\n") == ""


def test_it_after_a_sentence_giving_a_value_is_not_asked_about():
    # "It" is the page's product, which SmolLM2 could not name: "What does Python 3.9 require?"
    page = "# Python SDK\n\n## Installing\n\nThe current version is 3.2.0. It requires Python 3.9 or later.\n"
    assert "It requires Python 3.9 or later." not in answer_first.section_seconds(page)
    assert answer_first.score("It requires Python 3.9 or later.", "factual") < 0
    assert answer_first.pick_answers(page, {"factual": 2}) == {"factual": []}
    # After a sentence introducing a thing, "It" is that thing, which the page label names.
    named = "# CLI\n\n## The tool\n\n`shale` is the command line tool for Shalebase. It runs queries and loads files.\n"
    assert "It runs queries and loads files." in answer_first.section_seconds(named)
    assert answer_first.score("It runs queries and loads files.", "factual", second=True) >= 0


def test_they_that_names_nothing_in_its_sentence_is_not_asked_about():
    # Held-out tidewell site: "What is a role?" of "The role decides what they can do there."
    for dangling in (
        "The role decides what they can do there.",
        "If they take about 30 seconds, the SDK has fallen back to polling.",
        "Add them to `requirements.txt` or a custom environment.",
    ):
        assert answer_first.score(dangling, "conceptual") < 0, dangling
        assert answer_first.score(dangling, "procedural") < 0, dangling
    for named in (
        "Deploy tokens do not expire, but they stop working when their creator leaves the team.",
        "A member cannot approve their own change in the review queue.",
        "Create them under Settings → Access tokens.",  # the menu path names them
    ):
        assert answer_first.score(named, "procedural") >= 0 or answer_first.score(named, "conceptual") >= 0, named


def test_advice_on_when_to_do_something_is_asked_when():
    # Asked "How do I", SmolLM2 wrote "How do I use an API key?", which the sentence does not answer.
    assert answer_first.opening("Use an API key when your own backend calls Quillmark.", "procedural") == (
        "When should I"
    )
    assert answer_first.opening("Ask your lawyer if you are unsure.", "procedural") == "When should I"
    assert answer_first.question_type_of("When should I use an API key?", "procedural") == "factual"
    # Not a case of a later clause, nor an instruction that shows how.
    for steps in (
        "Run every experiment for at least 7 days, even if results look clear earlier.",
        "Run `qm login` if your token has expired.",
        "Open Settings → Keys when a key leaks, and revoke it.",
    ):
        assert answer_first.opening(steps, "procedural") == "How do I"


def test_a_list_items_label_is_not_part_of_its_answer():
    # Asked about whole, the label took the question: "What happens to an email address you can read?"
    text = (
        "## Before you begin\n\nYou need:\n\n"
        "- An email address you can read. In the sandbox, signing emails are delivered only to members of your team.\n"
        "- The sandbox is free. It is included on every plan.\n"
    )
    spans = answer_first.candidates(text)
    assert "In the sandbox, signing emails are delivered only to members of your team." in spans
    assert "The sandbox is free. It is included on every plan." in spans  # a statement, no label


def test_a_count_of_things_the_sentence_does_not_name_is_asked_how_many():
    # Asked "What", SmolLM2 wrote "Which way does a Quillmark API request authenticate?"
    assert answer_first.opening("Quillmark supports two ways to authenticate API requests.", "factual") == (
        "How many ways"
    )
    assert answer_first.opening("Every member of the team has one of four roles.", "factual") == "How many roles"
    # Named after a colon: the sentence can say which.
    named = "Pennant stores two kinds: plain variables, which anyone can read, and secrets."
    assert not answer_first.opening(named, "factual").startswith("How many")


def test_what_does_x_mean_wants_a_meaning():
    def problem(question, answer):
        return off_target.question_problem(question, answer, "Plans", ["Plans"])

    price = "Annual billing is 20% cheaper than monthly billing on the Starter and Team plans."
    assert problem("What does annual billing mean?", price)[1].startswith("asks what 'annual billing' means")
    codes = "Codes in the `4xx` range mean something is wrong with the request."
    assert problem("What does a 4xx code mean?", codes) is None
    assert problem("What does a seat mean?", "A seat is a paid place in a team, used by each Admin.") is None


def test_what_is_x_may_leave_out_a_word_that_only_qualifies_x():
    api = "The Quillmark REST API lets you do everything the dashboard does: create and send envelopes."
    assert off_target.defines("Quillmark API", api) == (True, "")
    # Not the noun that ends it: a webhook endpoint is no webhook, and one word is no subject.
    endpoint = "A webhook endpoint is a URL on your server that Quillmark calls."
    assert not off_target.defines("webhook", endpoint)[0]
    assert not off_target.defines("endpoint", endpoint)[0]
    assert not off_target.defines("API", api)[0]


def test_rules_read_on_the_held_out_tidewell_site():
    def problem(question, answer):
        return off_target.question_problem(question, answer, "Errors", ["Errors"])

    # "What happens ...?" must name the case's event, not only what it befalls.
    failed = "When a request fails, the API returns an HTTP status code in the 4xx or 5xx range."
    assert problem("What happens to an HTTP request?", failed)[1].startswith("asks what happens, but not in the case")
    assert problem("What happens when a request fails?", failed) is None
    assert problem("What happens to my work when I leave?", "Your notebooks stay when you leave the team.") is None
    # "What does X do?" of a sentence where X's words are split: its subject is something else.
    takes = "Tidewell takes snapshots on a schedule and keeps them according to the retention policy."
    assert problem("What does a Tidewell snapshot do?", takes)[1].startswith("asks what 'a Tidewell snapshot' does")
    assert problem("What does Tidewell do?", takes) is None
    # "For MySQL, it reads ...": what "it" is, the question cannot say.
    assert answer_first.score("For MySQL, it reads the binary log as a replica would, using GTIDs.", "factual") < 0


def test_a_steps_command_and_the_next_step_are_apart_from_the_prose_around_them():
    # VitePress markdown on the held-out tidewell site: a fence indented under its step, and the
    # next step right after a paragraph of the previous one, with no blank line.
    text = (
        "## Restoring\n\n"
        "1. Find the snapshot you want:\n\n"
        "   ```sh\n   tidewell snapshot list --source orders-prod\n   ```\n"
        "2. Start the restore:\n\n"
        "   ```sh\n   tidewell restore create --snapshot snap_01 --wait\n   ```\n\n"
        "   To restore a point in time instead, replace `--snapshot` with `--to-time 2025-10-14T09:32:00Z`.\n"
        "3. Connect to the restored server and check the data. It keeps the source's roles.\n"
    )
    spans = answer_first.candidates(text)
    assert "Find the snapshot you want:\n\n```sh\n   tidewell snapshot list --source orders-prod\n   ```" in spans
    assert "To restore a point in time instead, replace `--snapshot` with `--to-time 2025-10-14T09:32:00Z`." in spans
    assert "Connect to the restored server and check the data. It keeps the source's roles." in spans
    assert not any(span.startswith("```") or span.endswith(" 3.") for span in spans)


def test_a_paragraph_of_links_only_is_no_answer():
    # A Starlight hero's buttons (held-out belfry site): asked "How do I read the CLI reference?".
    page = (
        "# Acme\n\nAcme runs your scheduled jobs and retries them when they fail.\n\n"
        "[Start the quickstart](/start.html) [Read the CLI reference](/cli.html)\n"
    )
    assert "Start the quickstart Read the CLI reference" not in answer_first.candidates(page)
    assert "Acme runs your scheduled jobs and retries them when they fail." in answer_first.candidates(page)


def test_a_purpose_or_a_count_that_points_elsewhere_is_no_answer():
    # Held-out skerry site: asked "How do I create a new bucket?" and "Which of the three is Skerry?".
    assert answer_first.score("To do either, create a new bucket and copy the objects across.", "procedural") < 0
    assert answer_first.score("Most teams use Acme for one of three things", "factual") < 0
    # A count that is itself the fact stays: "How many roles does a token have?"
    assert answer_first.score("A token has one of two roles.", "factual") >= 0
