"""The model-free checks and gates on pairs about technical docs, written the way capable
models write them.

tests/data/gate_labels_technical.jsonl: 179 pairs about invented pages of a job runner's docs
(a CLI reference, a REST API reference, a config reference, plans and limits), each row with
its chunk. 126 good ones answer with commands, code blocks, JSON/TOML/YAML, placeholders
(`<your-token>`, `[NAME]`, `{id}`, f"{name}"), bare numbers ("8"), sentences that restate the
question before answering, and paraphrases (`paraphrase: true`: the page says it in other
words, which only the embedder recognises). 53 bad ones carry the reason the rule made for them
should drop them: degenerate, echo, unsupported, answer_too_short, evidence_not_in_chunk,
not_standalone, not_a_question, question_too_short, wrong_language.

Measured before these rules read code as code (benchmarks/bench_gates_technical.py): 29 of
126 good pairs dropped (23%): degenerate 18 (placeholders in commands, JSON, f-strings, n/a),
unsupported 6 (paraphrases), answer_too_short 3 (numbers), echo 2 (restatements); recall of
degenerate 0.93, echo 0.90, not_standalone 0.67, wrong_language 0. After: none dropped, every
bad pair dropped for its reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docs2qa.generation.qa.config import GenerateConfig
from docs2qa.generation.qa.keep.checks import CHECKS, check_pair
from docs2qa.generation.qa.keep.filters import ANY_BAD, FilterContext, candidate_of, measure
from docs2qa.generation.qa.keep.gates import GATES, degenerate_problem, echo_problem, gate_pair

DATA = Path(__file__).parent / "data"
ROWS = [json.loads(line) for line in (DATA / "gate_labels_technical.jsonl").read_text().splitlines()]
CFG = GenerateConfig()


def _label(row: dict) -> str:
    return row["reason"] if row["label"] == "bad" else "good"


def _replay(rows: list[dict], embed=None) -> list[tuple[dict, str]]:
    """What the checks and gates, run as the pipeline runs them, say of each row."""
    labelled = [
        (
            candidate_of(r["question"], r["answer"], r["evidence"], r["chunk"], question_type=r["question_type"]),
            _label(r),
        )
        for r in rows
    ]
    result = measure((*CHECKS, *GATES), labelled, FilterContext(CFG, embed))
    for reason in [*sorted({_label(r) for r in rows} - {"good"}), ANY_BAD]:
        precision, recall, n = result.figures(reason)
        print(f"  {reason:22s} n={n:3d} precision {precision:.2f} recall {recall:.2f}")
    return [(row, r.said) for row, r in zip(rows, result.results)]


def test_every_label_replays_without_the_embedder():
    assert len(ROWS) >= 150 and sum(r["label"] == "good" for r in ROWS) >= 100
    assert all(r["why"] and r["chunk"] and (r["label"] == "good" or r["reason"]) for r in ROWS)
    # Without the embedder (a single check, a test) only the page's own words support an
    # answer: the paraphrases are dropped as unsupported, everything else as labelled.
    wrong = [
        (row["question"], _label(row), said)
        for row, said in _replay(ROWS)
        if said != ("unsupported" if row.get("paraphrase") else _label(row))
    ]
    assert not wrong, wrong


@pytest.mark.slow  # loads the MiniLM embedding model
def test_every_label_replays_with_the_embedder_and_the_small_models_failures_still_drop():
    from docs2qa.models.embeddings import load_embedder
    from generator_sites.content import PAGES
    from generator_sites.sites import _markdown

    model = load_embedder(CFG.dedup.model)

    def embed(texts):
        return model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    wrong = [(row["question"], _label(row), said) for row, said in _replay(ROWS, embed) if said != _label(row)]
    assert not wrong, wrong
    # The embedder accepts paraphrases; it must not accept the 135M model's wrong answers
    # ("Tokens never expire unless you revoke them" scored 0.87 against "Tokens expire after
    # 90 days by default").
    chunks = json.loads((DATA / "gate_chunks.json").read_text())
    chunks |= {page[0]: _markdown(page) for page in PAGES}
    for name in ("gate_labels.jsonl", "gate_labels_heldout.jsonl"):
        rows = [json.loads(line) for line in (DATA / name).read_text().splitlines()]
        labelled = [
            (candidate_of(r["question"], r["answer"], r["evidence"], chunks[r["chunk"]]), r["label"]) for r in rows
        ]
        result = measure(GATES, labelled, FilterContext(CFG, embed))
        passed = [r.candidate.answer for r in result.results if r.label != "good" and r.said == "good"]
        assert not passed, (name, passed)


SYNTAX = [
    'Set "compilerOptions": {"strict": true} in tsconfig.json.',
    'Use f"{name}" to put the name in the string.',
    'It returns {"status": "ok"} when the service is healthy.',
    "kaggle datasets download -d <your-username>/<dataset>",
    "kaggle competitions submissions -c [COMPETITION NAME]",
    "Run `acme login --token <your-token>` once per machine.",
    "Type: n/a. The field cannot be configured.",
    "Call GET /v1/runs/{id} with the run's id.",
    "```bash\nacme push [NAME] --from <your-folder>\n```",
    "The latest release is 2.4.1.",
]
SLOTS = [
    "[insert answer here]",
    "The limit is <insert number here>.",
    "{answer}",
    "The file is called {{ answer }}.",
    "Run `acme login --token <insert token here>`.",  # a slot is a slot in code too
    "Tokens last [number of days] days.",
    "The project is named [NAME].",  # outside code, a bracketed name is a slot
    "N/A",
    "1. 2. 3. 4.",
]


def test_placeholders_in_code_are_syntax_and_slots_in_prose_are_degenerate():
    assert [a for a in SYNTAX if degenerate_problem(a, "answer")] == []
    assert [a for a in SLOTS if not degenerate_problem(a, "answer")] == []


def test_an_answer_may_restate_the_question_when_it_adds_the_answer():
    question = "What is the maximum prize pool for featured competitions?"
    assert echo_problem(question, "The maximum prize pool for featured competitions is a million dollars.") is None
    assert echo_problem(question, "The maximum prize pool for featured competitions.")[0] == "echo"
    # Vague words add nothing: found by the held-out set, which this gate missed before.
    problem = echo_problem("How long can free jobs run?", "Free jobs can run for a long time.")
    assert problem and problem[0] == "echo"


def test_a_number_or_a_term_is_a_whole_answer_to_a_factual_question_that_asks_for_one():
    chunk = "Free-plan jobs may use 8 cores. The config file is TOML."

    def reasons(question: str, answer: str, question_type: str = "factual", cfg=CFG) -> list[str]:
        return [reason for reason, _ in check_pair(question, answer, chunk, chunk, question_type, cfg)[1]]

    assert "answer_too_short" not in reasons("How many cores can a Free-plan job use?", "8")
    assert "answer_too_short" in reasons("How long can a Free-plan job run?", "8")  # 8 what?
    assert "answer_too_short" in reasons("How many cores can a Free-plan job use?", "8", "procedural")
    assert "answer_too_short" in reasons("How many cores can a Free-plan job use?", ".")
    strict = GenerateConfig(gates={"min_answer_chars": 6})
    assert "answer_too_short" not in reasons("Which format does the config file use?", "TOML", cfg=strict)
    assert "answer_too_short" in reasons("Which format does the config file use?", "the", cfg=strict)


def test_a_short_quote_of_code_is_evidence():
    chunk = "Reference the token in the workflow:\n\n```yaml\nenv:\n  ACME_TOKEN: ${{ secrets.ACME_TOKEN }}\n```\n"
    question = "How do I give the workflow the Acme token?"
    answer = "Reference the token in the workflow env: `ACME_TOKEN: ${{ secrets.ACME_TOKEN }}`."
    assert gate_pair(question, answer, "ACME_TOKEN: ${{ secrets.ACME_TOKEN }}", chunk, "factual", CFG) is None
    problem = gate_pair(question, answer, "ACME_TOKEN", chunk, "factual", CFG)  # one word proves nothing
    assert problem and problem[0] == "unsupported"
