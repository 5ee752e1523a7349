"""Dataset protocols: which held-out questions a version asks, and what they can measure."""

from __future__ import annotations

from collections import Counter

from docs2qa.curation.splits import assign_facts


def _rows(phrasings_per_fact: list[int]) -> list[dict]:
    return [
        {"pair_id": f"f{f}-p{p}", "fact_id": f"f{f}", "question": f"q {f} {p}"}
        for f, n in enumerate(phrasings_per_fact)
        for p in range(n)
    ]


def test_a_held_out_fact_sends_one_phrasing_out_and_trains_on_the_others():
    rows = _rows([3] * 20 + [2] * 20 + [1] * 10)
    splits = assign_facts(rows, {"train": 0.5, "validation": 0.1, "test": 0.4}, seed=0)
    train_facts = Counter(r["fact_id"] for r in splits["train"])
    for split in ("test", "validation"):
        asked = Counter(r["fact_id"] for r in splits[split])
        assert set(asked.values()) == {1}  # one phrasing per held-out fact
        assert all(train_facts[fact] >= 1 for fact in asked)  # every asked fact was trained on
        trained_questions = {r["question"] for r in splits["train"]}
        assert not trained_questions & {r["question"] for r in splits[split]}
    assert len(splits["test"]) == 16 and len(splits["validation"]) == 4  # shares of the 40 multi-phrasing facts
    single = {r["fact_id"] for r in rows if r["fact_id"] in {f"f{f}" for f in range(40, 50)}}
    assert single <= set(train_facts)  # one phrasing: trained, never asked
    assert sorted(r["pair_id"] for s in splits.values() for r in s) == sorted(r["pair_id"] for r in rows)


def test_the_assignment_depends_on_the_seed_and_the_facts_not_on_row_order():
    rows = _rows([2] * 30)
    ratios = {"train": 0.6, "validation": 0.1, "test": 0.3}
    first = assign_facts(rows, ratios, seed=1)
    assert assign_facts(list(reversed(rows)), ratios, seed=1) == first
    assert assign_facts(rows, ratios, seed=2) != first


def test_a_near_copy_of_a_test_question_in_train_is_removed_but_a_new_phrasing_stays():
    """The knowledge protocol's leakage check compares questions only (a held-out fact shares its
    chunk with training by design), with the real embedding model."""
    from docs2qa.curation.leakage import remove_leakage

    chunk = "A team workspace holds 40 GPU hours per week; unused hours do not carry over."
    train = [
        {"pair_id": "t1", "question": "How many GPU hours does a team workspace get each week?", "context": chunk},
        {"pair_id": "t2", "question": "Do unused GPU hours carry over to the next week?", "context": chunk},
    ]
    test = [
        {"pair_id": "x1", "question": "How many GPU hours does a team workspace get every week?", "context": chunk},
        {"pair_id": "x2", "question": "What is the weekly GPU allowance of a team?", "context": chunk},
    ]
    kept, removed = remove_leakage(
        {"train": train, "validation": [], "test": test}, "embedded:all-minilm-l6-v2", 0.9, None
    )
    assert [r["pair_id"] for r in removed] == ["x1"] and removed[0]["matched"] == "question"
    assert [r["pair_id"] for r in kept["test"]] == ["x2"]


def _chunk(chunk_id: str, text: str):
    from docs2qa.records import Chunk

    return Chunk(
        chunk_id, "p-" + chunk_id, "https://d.example/" + chunk_id, "", chunk_id, [], text, 0, 0, len(text), "", ""
    )


def test_rag_rows_carry_the_oracle_among_distractors_in_most_training_rows():
    """RAFT's recipe over the run's chunks, with the real embedding model: most training rows
    hold their oracle chunk among distractors, the rest distractors only; held-out rows hold what
    retrieval returns for their question."""
    from docs2qa.curation.retrieval import SEPARATOR, retrieved_contexts

    topics = ["GPU quotas", "API tokens", "notebook sharing", "dataset versions", "billing", "organizations"]
    chunks = [_chunk(f"c{i}", f"{t}: everything about {t} in Acme Cloud, rule {i}.") for i, t in enumerate(topics)]
    train = [
        {"pair_id": f"t{i}-{j}", "chunk_id": f"c{i}", "question": f"What is the rule for {t}? ({j})", "context": ""}
        for i, t in enumerate(topics)
        for j in range(10)
    ]
    test = [{"pair_id": "x0", "chunk_id": "c0", "question": "How do GPU quotas work?", "context": ""}]
    out = retrieved_contexts(
        {"train": train, "validation": [], "test": test}, chunks, "embedded:all-minilm-l6-v2", 3, 0.8, 0
    )
    kinds = Counter(r["retrieval"] for r in out["train"])
    assert kinds["oracle+distractors"] + kinds["distractors"] == 60 and 0.6 < kinds["oracle+distractors"] / 60 < 0.95
    for row in out["train"]:
        parts = row["context"].split(SEPARATOR)
        oracle = next(c.text for c in chunks if c.chunk_id == row["chunk_id"])
        assert len(parts) == 3 and (oracle in parts) == (row["retrieval"] == "oracle+distractors")
    assert {
        row["context"].split(SEPARATOR).index(next(c.text for c in chunks if c.chunk_id == row["chunk_id"]))
        for row in out["train"]
        if row["retrieval"] == "oracle+distractors"
    } == {0, 1, 2}
    (asked,) = out["test"]
    assert asked["retrieval"] == "retrieved" and asked["context"].split(SEPARATOR)[0] == chunks[0].text
    assert out == retrieved_contexts(
        {"train": train, "validation": [], "test": test}, chunks, "embedded:all-minilm-l6-v2", 3, 0.8, 0
    )
