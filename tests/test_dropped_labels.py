"""The rules that drop answer_first units, measured against a reader on units they really dropped.

tests/data/dropped_labels.jsonl holds every unit `docs2qa generate` dropped as `off_target` or
`no_answer_span` on two real-looking fixture sites written for this (tests/fixture_sites/shalebase,
an MkDocs Material site of a SQL warehouse; tests/fixture_sites/corvid, a model hub) and on the
Lanternfish pages (tests/generator_sites), with the embedded SmolLM2, answer_first, two questions
per answer and the judge off (its auto setting). A pair asked twice alike is one row. Each row
says which rule dropped it then (`rule`; `detail` is that rule's own words) and a reader's label:
for a pair, "good" when a reader would keep it; for a no_answer_span unit (a chunk and a question
type no span was picked for), "good" when a sentence of the chunk that no other type took suits
the type (`spans`: the sentences a reader would use). A "good" drop is a false drop. Rows marked
`found: after` are units only today's span picking leaves without a span.

Measured before the rules were fixed (the `rule` field): false drops per rule closest_sentence 4
of 11, foreign_words 8 of 59, what_is_definition 8 of 52, page_subject_only 1 of 8, near_answer
1 of 11, copied_example 0 of 27, what_happens_case 0 of 4, why_reason 0 of 2, how_to_steps 0 of 1;
no_answer_span 18 of 41 (19 since code blocks are answers: a YAML block with the sentence
introducing it, relabelled good). The held-out site (tests/fixture_sites/larkspur) was never run here.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from docs2qa.generation.qa import answer_first
from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.generation.qa.keep import off_target
from docs2qa.generation.qa.keep.filters import Candidate, FilterContext, apply, candidate_of

LABELS = Path(__file__).parent / "data" / "dropped_labels.jsonl"
ROWS = [json.loads(line) for line in LABELS.read_text().splitlines()]
PAIRS = [row for row in ROWS if row["rule"] != "no_answer_span"]
UNITS = [row for row in ROWS if row["rule"] == "no_answer_span"]
WANTED = {"factual": 1, "procedural": 1, "conceptual": 1}  # what generate asks by default
MAX_FALSE_DROPS = 0.10


def test_the_set_is_large_and_labelled_by_a_reader():
    assert len(ROWS) >= 100 and len(PAIRS) >= 100 and len(UNITS) >= 40
    assert all(row["label"] in ("good", "bad") and row["why"] for row in ROWS)
    assert all(row.get("spans") for row in UNITS if row["label"] == "good")


def _same(a: str, b: str) -> bool:
    return a.strip().rstrip(".:") == b.strip().rstrip(".:")


def test_no_answer_span_drops_few_units_a_reader_would_ask_and_keeps_dropping_the_rest():
    before = [row for row in UNITS if row.get("found") != "after"]
    print(f"no_answer_span before: {sum(r['label'] == 'good' for r in before)} of {len(before)} drops false")
    false_drops, caught, wrong_span = [], [], []
    for row in UNITS:
        picked = answer_first.pick_answers(row["chunk"], WANTED)[row["question_type"]]
        if row["label"] == "good":
            if not picked:
                false_drops.append((row["heading"], row["question_type"]))
            elif not any(_same(p, s) for p in picked for s in row["spans"]):
                wrong_span.append((row["question_type"], picked, row["spans"]))
        else:
            caught.append(not picked)
    dropped = len(false_drops) + sum(caught)
    rate = len(false_drops) / dropped
    print(f"no_answer_span after: {len(false_drops)} of {dropped} drops false {false_drops}")
    print(f"  units a reader finds nothing for, still dropped: {sum(caught)} of {len(caught)}")
    # Measured: 2 of 25 (one sentence, "The workspace has scanned its daily quota.", that says
    # what the QUOTA_EXCEEDED heading means and that no type values); 23 of 23 bad still dropped.
    assert rate <= MAX_FALSE_DROPS, false_drops
    assert all(caught), "a unit a reader finds no sentence for now gets a span"
    assert not wrong_span, wrong_span


def test_span_picking_does_not_depend_on_the_order_of_the_types():
    # Measured on the Lanternfish pages: with questions_per_type written "conceptual, factual,
    # procedural" factual took "Start one with the survey command ..." and procedural had none.
    for row in UNITS:
        shuffled = {t: 1 for t in ("conceptual", "factual", "procedural")}
        assert answer_first.pick_answers(row["chunk"], shuffled) == answer_first.pick_answers(row["chunk"], WANTED)


def test_a_type_with_one_span_gets_it_before_a_type_with_many():
    text = (
        "# Getting started\n\n## Create an account\n\nSign up at the Acme console with an email address or "
        "a single sign-on provider. New accounts start on the Starter plan, which is free and needs no "
        "payment card.\n"
    )
    picked = answer_first.pick_answers(text, WANTED)
    # Served in a fixed order, factual took the instruction (worth 0.5 to it, as much as the
    # other sentence) and procedural found none.
    assert picked["procedural"] == ["Sign up at the Acme console with an email address or a single sign-on provider."]
    assert picked["factual"] and picked["factual"][0] != picked["procedural"][0]


def _candidates(rows: list[dict]) -> tuple[list[Candidate], list[Candidate]]:
    """The labelled pairs, and the other spans of their chunks their question was also asked of
    (not labelled: they make a repeat a repeat, as in the run)."""

    def candidate(row: dict, answer: str) -> Candidate:
        pair = candidate_of(
            row["question"],
            answer,
            answer,
            row["chunk"],
            question_type=row["question_type"],
            title=row["title"],
            heading_path=row["heading"],
            strategy="answer_first",
        )
        chunk_id = f"{row['site']}:{row['chunk']}"
        pair.unit = replace(pair.unit, chunk=replace(pair.unit.chunk, chunk_id=chunk_id))
        pair.pair_id = f"{chunk_id}:{row['question']}"  # as assemble's: one per question of a chunk
        return pair

    return [candidate(r, r["answer"]) for r in rows], [candidate(r, a) for r in rows for a in r.get("asked_too", [])]


def _outcomes(rules, embed) -> list[str]:
    """What happens to each labelled pair: the rule that drops it, "duplicate_exact" when it
    passes but its question is kept with a better answer (assemble), or "kept"."""
    from docs2qa.generation.qa.assemble import _best_of_repeats

    labelled, others = _candidates(PAIRS)
    context = FilterContext(GenerateConfig(), embed)
    kept, _ = apply(rules, labelled + others, context)
    survivors = {id(c) for c in _best_of_repeats(kept, context)[0]}
    return [
        c.failures[0].filter.name if c.failures else "kept" if id(c) in survivors else "duplicate_exact"
        for c in labelled
    ]


def _check(outcomes: list[str], rules, recall: bool = True) -> None:
    """Each rule's false drops at most MAX_FALSE_DROPS of its drops, and (`recall`) the bad pairs
    these rules dropped before still dropped (by any of them, or as a repeat)."""
    names = {rule.name for rule in rules}
    bad = [i for i, row in enumerate(PAIRS) if row["label"] == "bad" and row["rule"] in names]
    for rule in rules:
        drops = [PAIRS[i] for i, said in enumerate(outcomes) if said == rule.name]
        false = [(r["question"], r["answer"][:60]) for r in drops if r["label"] == "good"]
        was = [i for i in bad if PAIRS[i]["rule"] == rule.name]
        still = sum(outcomes[i] != "kept" for i in was)
        print(f"  {rule.name:18s} drops {len(drops):3d}, false {len(false)}; bad still dropped {still}/{len(was)}")
        assert len(false) <= MAX_FALSE_DROPS * len(drops), (rule.name, false)
    missed = [(PAIRS[i]["rule"], PAIRS[i]["question"]) for i in bad if outcomes[i] == "kept"]
    print(f"  bad pairs still dropped: {len(bad) - len(missed)} of {len(bad)}; missed {missed}")
    assert not recall or len(missed) <= 0.05 * len(bad), missed


def test_the_question_form_rules_drop_few_pairs_a_reader_keeps():
    # Without embeddings, the model-free rules alone. What they let through the embedding rules
    # catch (the test below): "What is a workspace?" of "A workspace is created in one region ..."
    # now passes ForeignWords, and NearAnswer drops it.
    outcomes = _outcomes(off_target.QUESTION_FORM, None)
    _check(outcomes, off_target.QUESTION_FORM, recall=False)


@pytest.mark.slow  # loads the MiniLM embedding model
def test_the_off_target_rules_drop_few_pairs_a_reader_keeps_and_still_catch_the_bad_ones():
    from docs2qa.models.embeddings import load_embedder

    model = load_embedder(GenerateConfig().dedup.model)

    def embed(texts):
        return model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    outcomes = _outcomes(off_target.OFF_TARGET, embed)
    # Measured: false drops closest_sentence 0 of 5, foreign_words 0 of 42, what_is_definition 1
    # of 46, near_answer 1 of 16, page_subject_only 0 of 7; 150 of 153 bad pairs still dropped
    # (1 of them as a repeat of a question kept with a better answer).
    _check(outcomes, off_target.OFF_TARGET)
    repeats = [PAIRS[i] for i, said in enumerate(outcomes) if said == "duplicate_exact"]
    print(f"  dropped as repeats of a question kept with another answer: {len(repeats)}")


def test_what_is_accepts_the_definitions_a_reader_accepts():
    # Each was dropped as "the answer is not a definition" (the last two shapes are the issue's,
    # from Kaggle's pages, with invented names).
    for question, answer in (
        ("What is a load job?", "A load job is one run of `shale load` or one upload in the console."),
        ("What is a workspace?", "Workspace: the container for tables, saved queries, schedules and members."),
        ("What is the shale command line tool?", "`shale` is the command line tool for Shalebase."),
        ("What is a quota?", "Quotas keep one workspace from slowing down everyone else in its region."),
        ("What is the inference API?", "The inference API runs a hosted model on your input and returns the result."),
        ("What is shalectl?", "shalectl: This is a Python library for scripting Shalebase workspaces."),
        ("What is a Shale Package?", "Shale Packages are new functionality that lets you write reusable queries."),
    ):
        assert off_target.question_problem(question, answer, "Glossary", []) is None, question
    for question, answer in (
        ("What is a single binary?", "The tool is a single binary for Linux, macOS and Windows."),
        ("What is an organisation?", "Organisation members are readers, writers or admins."),
        ("What is a sandbox?", "Sandboxes run on CPU by default."),
        ("What is a sandbox?", "A sandbox stops after 20 minutes without input."),
        ("What is a key?", "Keys expire after 365 days by default."),
    ):
        problem = off_target.question_problem(question, answer, "Glossary", [])
        assert problem and problem[0] == "off_target", question


def test_a_sentence_that_cannot_answer_the_question_or_was_asked_it_too_is_no_rival():
    from docs2qa.generation.qa.assemble import Unit

    chunk_text = (
        "# The shale tool\n\n`shale` is the command line tool for Shalebase. Run `shale version` to check "
        "that it works. Open Settings → Tools and select Check.\n"
    )
    question = "How do I check that the shale tool works?"
    definition, answer, menu = answer_first.candidates(chunk_text)
    near = {question: [1.0, 0.0, 0.0], answer: [0.8, 0.6, 0.0], definition: [0.9, 0.0, 0.44], menu: [0.0, 0.0, 1.0]}

    def embed(texts):
        return __import__("numpy").array([near[t] for t in texts])

    def outcome(*answers: str) -> list:
        pairs = [candidate_of(question, a, a, chunk_text, strategy="answer_first") for a in answers]
        chunk = replace(pairs[0].unit.chunk, chunk_id="c")
        for pair in pairs:
            pair.unit = Unit("u", chunk, "procedural", 1, "h", "answer_first", (pair.answer,))
        apply([off_target.ClosestSentence()], pairs, FilterContext(GenerateConfig(), embed))
        return [p.failure for p in pairs]

    # The definition is closer to the question (0.9 > 0.8) but gives no step.
    assert outcome(answer) == [None]
    # A sentence that gives steps and is closer is a rival...
    near[menu] = [0.95, 0.0, 0.31]
    assert "fits the question better" in outcome(answer)[0][1]
    # ...unless the same question was asked of it too: a repeat, which assemble settles.
    assert outcome(answer, menu) == [None, None]
