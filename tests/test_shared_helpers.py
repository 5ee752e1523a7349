"""Shared pieces live once (issue 13): each helper has one home that every user calls."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from docs2qa import fsio, journal
from docs2qa.errors import Docs2qaError
from docs2qa.records import QAPair
from docs2qa.secrets import env_secret

ROOT = Path(__file__).resolve().parent.parent
CODE = [
    p
    for top in ("docs2qa", "generation", "curation", "finetune")
    for p in (ROOT / top).rglob("*.py")
    if "demo_site" not in p.parts
]


def _defined(name: str) -> list[str]:
    return sorted(
        str(p.relative_to(ROOT))
        for p in CODE
        if any(isinstance(n, ast.FunctionDef) and n.name == name for n in ast.walk(ast.parse(p.read_text())))
    )


@pytest.mark.parametrize(
    "name,home",
    [
        ("atomic_write_bytes", ["docs2qa/fsio.py"]),
        ("cache_dir", ["docs2qa/fsio.py"]),
        ("drop_partial_last_line", ["docs2qa/journal.py"]),
        ("env_secret", ["docs2qa/secrets.py"]),
        ("shown_answer", ["docs2qa/records.py"]),
    ],
)
def test_each_helper_is_defined_once(name, home):
    assert _defined(name) == home


def test_library_versions_has_one_implementation():
    # finetune's card keeps a named wrapper (its library list, missing ones recorded as None).
    assert _defined("library_versions") == ["docs2qa/fsio.py", "finetune/card.py"]
    assert "fsio.library_versions" in (ROOT / "finetune/card.py").read_text()
    versions = fsio.library_versions(["pyarrow", "no-such-library-docs2qa"], keep_missing=True)
    assert versions["pyarrow"] and versions["no-such-library-docs2qa"] is None
    assert "no-such-library-docs2qa" not in fsio.library_versions(["no-such-library-docs2qa"])


def test_cache_dir_expands_home_for_every_user(monkeypatch, tmp_path):
    # The embedded-model resolver's copy used DOCS2QA_CACHE as given: "~/c" became a folder named "~".
    from docs2qa.generation.ingest import tokenizer
    from docs2qa.models import embedded

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DOCS2QA_CACHE", "~/c")
    assert embedded.cache_dir() == tmp_path / "c"
    assert tokenizer.tokenizer_cache() == tmp_path / "c" / "tokenizers"
    monkeypatch.delenv("DOCS2QA_CACHE")
    assert fsio.cache_dir() == tmp_path / ".cache" / "docs2qa"


def test_atomic_write_leaves_no_temporary_and_sets_mode(tmp_path):
    target = tmp_path / "a" / "f.json"
    fsio.atomic_write_bytes(target, b"old")
    fsio.atomic_write_bytes(target, b"new", mode=0o444, tmp=tmp_path / ".tmp-f")
    assert target.read_bytes() == b"new" and (target.stat().st_mode & 0o777) == 0o444
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "f.json"]


def test_journal_reads_complete_lines_and_skips_invalid_only_when_asked(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"k": 1}\nnot json\n{"k": 2}\n{"k": 3')
    with pytest.raises(ValueError):
        list(journal.read(path))
    assert list(journal.read(path, skip_invalid=True)) == [{"k": 1}, {"k": 2}]
    assert journal.count_lines(path) == 3
    path.write_bytes(b'{"k": 1}\n{"k": 2}\n{"k": 3')
    assert journal.append_new(path, [{"k": 2}, {"k": 4}], key="k") == [{"k": 4}]  # the half line is cut first
    assert list(journal.read(path)) == [{"k": 1}, {"k": 2}, {"k": 4}]


def test_env_secret_names_the_variable_never_a_value(monkeypatch):
    monkeypatch.setenv("DOCS2QA_TEST_SECRET", "")
    with pytest.raises(Docs2qaError, match=r"\$DOCS2QA_TEST_SECRET is not set") as err:
        env_secret("DOCS2QA_TEST_SECRET", "the test")
    assert "export DOCS2QA_TEST_SECRET=" in str(err.value)
    monkeypatch.setenv("DOCS2QA_TEST_SECRET", "s3cret")
    assert env_secret("DOCS2QA_TEST_SECRET", "the test") == "s3cret"


def _pair(**kw) -> QAPair:
    base = dict(
        pair_id="p",
        chunk_id="c",
        page_id="g",
        url="u",
        anchor_url="u#a",
        title="t",
        heading_path=["h"],
        question="Q?",
        answer="old",
        question_type="factual",
        evidence="e",
        generator_model="m",
        generate_prompt_hash="x",
    )
    return QAPair(**{**base, **kw})


def test_shown_answer_is_the_revision_only_when_the_judge_asked():
    assert _pair(judge_verdict="revise", revised_answer="new").shown_answer == "new"
    assert _pair(judge_verdict="revise", revised_answer="  ").shown_answer == "old"
    assert _pair(judge_verdict="keep", revised_answer="new").shown_answer == "old"


def test_export_rows_have_exactly_the_stores_columns():
    from docs2qa.curation.export import NOT_CURATED, canonical_row
    from docs2qa.datastore.versions import CANONICAL_COLUMNS, canonical_schema

    row = canonical_row(_pair(judge_verdict="revise", revised_answer="new"), None, NOT_CURATED)
    assert tuple(row) == CANONICAL_COLUMNS == tuple(canonical_schema().names)
    assert row["answer"] == "new"
