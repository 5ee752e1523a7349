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


def test_under_knowledge_a_question_reworded_from_another_opening_stays_and_a_near_copy_goes():
    """Embeddings call "What are the steps to create a new token?" a copy of "How do I create a new
    token?" (cosine 0.94); by its words (wording.NEAR_COPY) it asks in other words. Words compare
    questions of one fact only: "How do I create a new team?" shares most words with the token
    question and asks something else."""
    from docs2qa.curation.leakage import remove_leakage
    from docs2qa.wording import NEAR_COPY

    chunk = "Create one under Account → Tokens."
    train = [
        {"pair_id": "t1", "fact_id": "token", "question": "How do I create a new token?", "context": chunk},
        {"pair_id": "t2", "fact_id": "logs", "question": "How do I stream logs?", "context": chunk},
        {"pair_id": "t3", "fact_id": "team", "question": "How do I create a new team?", "context": chunk},
    ]
    test = [
        {
            "pair_id": "x1",
            "fact_id": "token",
            "question": "What are the steps to create a new token?",
            "context": chunk,
        },
        {"pair_id": "x2", "fact_id": "logs", "question": "How do I stream the logs?", "context": chunk},
    ]
    splits = {"train": train, "validation": [], "test": test}
    kept, removed = remove_leakage(splits, "embedded:all-minilm-l6-v2", 0.9, None, NEAR_COPY)
    assert [(r["pair_id"], r["matched"], r["nearest_pair_id"]) for r in removed] == [("x2", "question_words", "t2")]
    assert [r["pair_id"] for r in kept["test"]] == ["x1"]
    # By embeddings both would go: the reworded one too.
    _, by_embedding = remove_leakage(splits, "embedded:all-minilm-l6-v2", 0.9, None)
    assert {r["pair_id"] for r in by_embedding} == {"x1", "x2"}


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


ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def _exported(tmp_path, phrasings: int, *overrides: str):
    """crawl -> convert -> chunk of the fixture docs folder, pairs asking each chunk's facts in
    `phrasings` phrasings, then the real export stage; returns (exit code, stderr, version path)."""
    import sys

    import pytest
    import yaml

    from docs2qa.cli import main
    from docs2qa.config import load_config
    from docs2qa.generation.ingest import stages
    from docs2qa.records import Chunk, QAPair, content_id, pair_id
    from docs2qa.store import RunStore, StageResult

    tmp_path.mkdir(parents=True, exist_ok=True)
    config_path = tmp_path / "p.yaml"
    docs = ROOT / "tests" / "fixture_site" / "docs"
    config_path.write_text(
        yaml.safe_dump(
            {
                "name": "p",
                "crawl": {"local_dir": str(docs), "local_base_url": "https://docs.example/docs/"},
                "export": {
                    "root": str(tmp_path / "datasets"),
                    "source": "generation",
                    "ratios": {"train": 0.5, "validation": 0.1, "test": 0.4},
                },
            }
        )
    )
    store = RunStore(tmp_path / "run")
    config = load_config(config_path)
    for stage in (stages.crawl, stages.convert, stages.chunk):
        stage(config, store)
    chunks = store.stage("chunk").read("chunks", Chunk)
    pairs = []
    for chunk in chunks:
        for span in range(2):
            fact = content_id("fact", chunk.chunk_id, span)
            for p in range(phrasings):
                topic = ("storage limits", "sharing with a team")[span]
                question = (
                    f"What does the {chunk.title} page say about {topic}?",
                    f"How are {topic} handled in {chunk.title}?",
                    f"Which rules for {topic} apply?",
                )[p]
                pairs.append(
                    QAPair(
                        pair_id(chunk.chunk_id, "p", "m", question),
                        chunk.chunk_id,
                        chunk.page_id,
                        chunk.url,
                        chunk.anchor_url,
                        chunk.title,
                        list(chunk.heading_path),
                        question,
                        f"Answer {span}.",
                        "factual",
                        "",
                        "m",
                        "p",
                        fact_id=fact,
                    )
                )
    store.run_stage("generate", "t", ["chunk"], lambda stage: StageResult({"pairs": (pairs, QAPair)}, len(pairs)))
    argv = [
        "docs2qa",
        "export",
        "-c",
        str(config_path),
        "--run",
        str(store.root),
        *(w for o in overrides for w in ("--set", o)),
    ]
    mp = pytest.MonkeyPatch()
    mp.setattr(sys, "argv", argv)
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    finally:
        mp.undo()
    versions = sorted((tmp_path / "datasets" / "p").glob("v*"))
    return code, versions[-1] if versions else None


def test_a_knowledge_version_tests_trained_facts_in_new_words_and_its_card_says_so(tmp_path):
    import pyarrow.parquet as pq

    from docs2qa.datastore.versions import read_manifest

    code, version = _exported(tmp_path, 3, "export.protocol=knowledge")
    assert code == 0 and version is not None
    split = {s: pq.read_table(version / "data" / f"{s}.parquet").to_pylist() for s in ("train", "test")}
    trained = {}
    for row in split["train"]:
        trained.setdefault(row["fact_id"], set()).add(row["question"])
    assert split["test"]
    for row in split["test"]:
        assert len(trained[row["fact_id"]]) == 2 and row["question"] not in trained[row["fact_id"]]
    assert read_manifest(version)["export"]["protocol"] == "knowledge"
    card = (version / "README.md").read_text()
    assert (
        "Protocol **knowledge**: the test questions ask about facts the model trained on, asked in words it never saw"
        in card
    )
    assert "splits by fact" in card


def test_knowledge_without_facts_asked_twice_is_a_clear_error(tmp_path, capsys):
    code, version = _exported(tmp_path, 1, "export.protocol=knowledge")
    err = capsys.readouterr().err
    assert code == 1 and version is None
    assert "needs facts asked in two or more phrasings" in err and "export.protocol=generalization" in err


def test_a_rag_version_prompts_with_retrieved_chunks_and_a_generalization_one_without(tmp_path):
    import json

    from docs2qa.curation.retrieval import SEPARATOR
    from docs2qa.datastore.versions import read_manifest

    code, version = _exported(tmp_path / "rag", 1, "export.protocol=rag", "export.rag_chunks=2")
    assert code == 0
    manifest = read_manifest(version)
    assert manifest["export"]["protocol"] == "rag" and manifest["export"]["include_context"] is True
    assert set(manifest["stats"]["retrieval"]) <= {"oracle+distractors", "distractors", "retrieved"}
    first = json.loads((version / "formats" / "messages" / "train.jsonl").read_text().splitlines()[0])
    assert SEPARATOR.strip() in first["messages"][-2]["content"]  # the user turn holds two chunks
    assert "Protocol **rag**" in (version / "README.md").read_text()
    code, version = _exported(tmp_path / "gen", 1)
    assert code == 0 and "Protocol **generalization**" in (version / "README.md").read_text()
    assert read_manifest(version)["export"]["include_context"] is False
