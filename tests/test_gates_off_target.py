"""The answer_first question checks (keep.off_target.QUESTION_FORM) on a labelled set:
questions a reader accepts for their answer sentence, and questions that are off target
(a "How do I ...?" of a sentence that gives no step, a question about only the page's
subject, "What is X?" of a sentence about something else, "Why ...?" of the reason an answer
gives). Written by hand from the Lanternfish fixture pages (tests/generator_sites), from pairs
measured on the demo site and on the pennant site (tests/fixture_sites/pennant)."""

from __future__ import annotations

import json
from pathlib import Path

from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.generation.qa.keep.filters import FilterContext, candidate_of, measure
from docs2qa.generation.qa.keep.off_target import QUESTION_FORM, WhichForm, _Asked, question_problem

LABELS = Path(__file__).parent / "data" / "gate_labels_off_target.jsonl"


def test_off_target_questions_are_caught_without_losing_good_ones():
    rows = [json.loads(line) for line in LABELS.read_text().splitlines()]
    assert len(rows) >= 24
    labelled = [
        (
            candidate_of(
                row["question"], row["answer"], title=row["title"], heading_path=row["heading"], strategy="answer_first"
            ),
            row["label"],
        )
        for row in rows
    ]
    context = FilterContext(GenerateConfig())
    checks = measure(QUESTION_FORM, labelled, context)
    precision, recall, _ = checks.figures("off_target")
    false_alarms = [(r.candidate.question, r.failure[1:]) for r in checks.mistakes() if r.label == "good"]
    missed = [r.candidate.question for r in checks.mistakes() if r.label == "off_target"]
    print(f"off-target checks on {len(rows)} labelled questions: precision {precision:.2f}, recall {recall:.2f}")
    print(f"  false alarms: {false_alarms}\n  missed: {missed}")
    for rule in QUESTION_FORM:  # each alone: how many it flags, and how many of those are off target
        alone = measure([rule], labelled, context)
        flagged = [r for r in alone.results if r.failure]
        right = sum(r.label == "off_target" for r in flagged)
        print(f"  {rule.name} alone: flags {len(flagged)}, {right} of them off target")
    # Measured: precision 0.90, recall 1.00. What the strictness costs: "What is station.toml?" of
    # "Every station is described by a short file named station.toml." (the definition is passive)
    # and a fix for the float chamber the previous sentence names: 2 of 21 good questions.
    assert precision >= 0.85 and recall >= 0.9, (false_alarms, missed)


KEPT_ON_LARKSPUR = Path(__file__).parent / "data" / "larkspur_kept_labels.jsonl"


def test_the_form_rules_drop_what_a_reader_rejects_of_the_pairs_they_once_kept():
    """Every pair the embedded default kept on 24 chunks of the larkspur site (before the
    what-does, what-happens-to and why-denied rules), each labelled by a reader: 26 good, 23
    not. The rules were written from these rejects, so this pins what they catch; the held-out
    measure is benchmarks/bench_generation_quality.py on a site they were not written from."""
    rows = [json.loads(line) for line in KEPT_ON_LARKSPUR.read_text().splitlines()]
    assert len(rows) == 49 and all(row["why"] for row in rows if row["label"] == "bad")
    flagged = {
        row["question"]: question_problem(row["question"], row["answer"], row["title"], row["heading"]) for row in rows
    }
    good = [row["question"] for row in rows if row["label"] == "good"]
    bad = [row["question"] for row in rows if row["label"] == "bad"]
    caught = [q for q in bad if flagged[q]]
    print(
        f"larkspur's kept pairs: {len(caught)} of {len(bad)} rejects dropped; missed {sorted(set(bad) - set(caught))}"
    )
    assert not [(q, flagged[q]) for q in good if flagged[q]]
    # Measured: 17 of 23. Five left are garbled or give the answer away ("Which SDKs store
    # what?", "What happens to a flag created after creation?"), no form a rule reads; and
    # "What does a Larkspur account do?" of "You need a Larkspur account and Python 3.9 ...",
    # whose first words name the account.
    assert len(caught) >= 17


def test_what_a_question_takes_for_granted_must_be_what_its_answer_says():
    def problem(question, answer):
        found = question_problem(question, answer, "Sessions", ["Sessions"])
        return found and found[1]

    # "What does X do?": X is the answer's subject, and the answer says what X does.
    assert problem("What does a snapshot do?", "A snapshot freezes the workspace at one moment.") is None
    assert "is about" in problem("What does a snapshot do?", "Workspaces are kept for 30 days, and a snapshot for 7.")
    assert "what it is" in problem("What does a snapshot do?", "A snapshot is a frozen copy of a workspace.")
    assert "what it is" in problem("What does a seat do?", "Seats are billed monthly.")
    assert problem("What does the sign in command do?", "Run `acme login` to sign in.") is None
    # "What happens to X?": X is what the answer tells of, past a leading case, and something befalls it.
    assert (
        problem(
            "What happens to a session when all GPUs are busy?", "When all GPUs are busy, new sessions wait in a queue."
        )
        is None
    )
    assert problem("What happens to old logs?", "Old logs are deleted every night.") is None
    assert "nothing happening" in problem("What happens to a webhook?", "A webhook sends a POST request to your URL.")
    assert "something else" in problem(
        "What happens to a machine?", "Acme sends a weekly report to the owner of every idle machine."
    )
    # ... and not how X merely stands, nor the deed the question already names (a circle).
    assert "nothing happening" in problem("What happens to access?", "Access in Acme is granted per project.")
    assert "nothing happening" in problem(
        "What happens to an ID returned in the header?", "The same ID is returned in the header of every response."
    )
    reported = "Datasets reported for infringement are made private while the report is reviewed."
    assert problem("What happens to a dataset reported for infringement?", reported) is None
    sent = "An envelope sent in the sandbox can never become a live one."
    assert problem("What happens to an envelope sent in the sandbox?", sent) is None
    hope = "A backup that has never been restored is only a hope."
    assert "nothing happening" in problem("What happens to a backup that has never been restored?", hope)
    assert (
        problem(
            "What happens to the CLI when the quota is exhausted?", "The CLI reports an exhausted quota as an error."
        )
        is None
    )
    # "What happens ...?" with no one it befalls (a rewrite's "What is the result of X?"): the
    # answer must name a case, or tell of something happening.
    assert "names no case" in problem("What is the result of the REST API?", "The REST API is served at `/v1`.")
    assert (
        problem(
            "What happens when you upload a document?",
            "You upload a document, say who signs it, and Acme collects the signatures.",
        )
        is None
    )
    # "Why ...?" of a sentence that denies what it asks about.
    denied = "Unknown options are rejected at start-up, so a misspelled option fails instead of being ignored."
    assert "instead of being ignored" in problem("Why is a misspelled option ignored?", denied)
    assert problem("Why does a misspelled option fail?", denied) is None
    assert (
        problem(
            "Why does the first build take minutes?", "The first build takes minutes because no build cache exists yet."
        )
        is None
    )


def test_a_which_question_names_the_kind_it_picks_from_once():
    # Measured on the held-out quillmark and tidewell sites' kept pairs: all rejected by a reader.
    for question, answer, said in [
        ("Which is the Acme agent?", "The Acme agent, a small process next to each database.", "names no kind"),
        ("Which browser do you need to sign in a browser?", "To sign in a browser you need no account.", "(browser)"),
        (
            "Which command does the `snapshot create` command use to create a snapshot?",
            "Commands that create a snapshot (`snapshot create`) return at once.",
            "(command)",
        ),
        ("Which SDKs store what?", "Acme stores only what your SDKs send.", "what at once"),
    ]:
        problem = question_problem(question, answer, "Agent", ["Agent"])
        assert problem and problem[0] == "off_target" and said in problem[1], question
    # A reader keeps these (tests/data): the kind named once, a product's own names apart.
    for question in [
        "Which GPU types can I request with quarry jobs submit --gpu?",
        "Which version does quarry datasets download fetch when no --version is given?",
        "Which workspace do jobs run in when project.workspace is not set?",
        "Which is faster, a snapshot or a copy?",
    ]:
        assert WhichForm().problem(_Asked(question, "", set(), set(), set(), set())) is None, question


def test_a_how_to_question_asks_what_the_step_is_for():
    # Held-out tidewell site: the question repeats the step and drops its purpose.
    answer = "Run `acme <command> --help` for the complete list."
    problem = question_problem("How do I run the command `acme <command>`?", answer, "CLI", ["CLI"])
    assert problem == ("off_target", "asks how to take the step the answer gives, not what it is for")
    assert question_problem("How do I get the complete list of a command's options?", answer, "CLI", ["CLI"]) is None


def test_what_happens_to_asks_about_the_subject_and_what_follows_its_case():
    # Held-out belfry site: all rejected by a reader.
    def problem(question, answer):
        found = question_problem(question, answer, "Jobs", ["Jobs"])
        return found and found[1]

    operator = "The Operator role is designed for on-call engineers who pause jobs during an incident."
    assert "something else" in problem("What happens to an on-call engineer during an incident?", operator)
    ping = "The `/fail` ping now accepts a body of up to 10 KB, up from 1 KB."
    assert "something else" in problem("What happens to a body of up to 10 KB?", ping)
    fails = "Jobs fail for reasons that have nothing to do with your code: a database restarts."
    assert "not what follows" in problem("What happens to a job that fails?", fails)
    # Kept: the case in a clause of its own, and what follows it.
    assert problem("What happens to a job that fails?", "When a job fails, Acme retries it twice.") is None
    # "What's X?" is held to what "What is X?" must be.
    account = "You need an Acme account (the Free plan is enough), a terminal, and a container image."
    assert "not a definition" in problem("What's an Acme account?", account)
    manual = "A manual run uses the job's current definition and starts at once."
    assert "not a definition" in problem("What is a manual run?", manual)
    # A step whose command the question only repeats.
    assert "what it is for" in problem(
        "How do I run the acme command?", "Run `acme help <command>` for the same information offline."
    )
    assert problem("How do I debug a command?", "Use `acme --debug ...` to print every HTTP request.") is None


def test_what_an_endpoint_returns_is_no_definition_and_a_colon_gives_a_purpose():
    # Held-out skerry site: both rejected by a reader.
    returns = "The storage endpoint returns errors as XML, with the same codes where they overlap."
    problem = question_problem("What is the storage endpoint?", returns, "Errors", ["Errors"])
    assert problem and "not a definition" in problem[1]
    debug = "Run the CLI with `--debug`: it prints the canonical request it signed."
    problem = question_problem("How do I run the command `--debug`?", debug, "Errors", ["Errors"])
    assert problem == ("off_target", "asks how to take the step the answer gives, not what it is for")
