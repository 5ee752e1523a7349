"""`docs2qa export` and the dataset store: versions, splits, leakage, formats, card, report."""

from __future__ import annotations

import json
import os
import stat
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from docs2qa.config import load_config
from docs2qa.curation.export import export
from docs2qa.datastore import versions
from docs2qa.datastore.compare import diff
from docs2qa.datastore.formats import FORMATS
from docs2qa.errors import Docs2qaError
from docs2qa.records import Dropped
from docs2qa.store import RunStore
from export_helpers import demo_run, pair_for, write_pairs
from generate_helpers import docs2qa


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    config_path, store, chunks = demo_run(tmp)
    first = export(load_config(config_path), store)  # v1, which the tests below read
    assert first["dataset"]["created"] and first["dataset"]["version"] == "v1"
    return tmp, config_path, store, chunks


def export_with(config_path: Path, store: RunStore, *overrides: str) -> dict:
    return export(load_config(config_path, list(overrides)), store)


def all_rows(path: Path) -> dict[str, list[dict]]:
    return {s: versions.read_split_rows(path, s) for s in versions.SPLITS}


@pytest.mark.slow  # the module's demo run takes ~100 s
def test_a_version_holds_every_split_format_card_and_report(run):
    tmp, _config_path, store, chunks = run
    path = versions.resolve_version("exp/v1", tmp / "datasets")
    assert path == tmp / "datasets" / "exp" / "v1"
    rows = all_rows(path)
    # Pages never straddle splits, and every split has some.
    pages = {s: {r["page_id"] for r in split_rows} for s, split_rows in rows.items()}
    assert all(pages.values())
    assert (
        not (pages["train"] & pages["test"])
        and not (pages["train"] & pages["validation"])
        and not (pages["test"] & pages["validation"])
    )
    kept = sum(len(r) for r in rows.values())
    leaked = [d for d in store.stage("export").read("dropped", Dropped)]
    assert kept + len(leaked) == len(chunks)
    for split, split_rows in rows.items():
        for fmt in FORMATS:
            assert pq.read_table(versions.split_file(path, split, fmt)).num_rows == len(split_rows)
    first = versions.read_split_rows(path, "train", "messages")[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    assert first[1]["content"] == rows["train"][0]["question"]  # closed-book: no context by default
    versions.verify_version(path)
    assert all(not (f.stat().st_mode & stat.S_IWUSR) for f in path.rglob("*") if f.is_file())


@pytest.mark.slow  # the module's demo run takes ~100 s
def test_manifest_lineage_and_card_numbers_match_the_data(run):
    tmp, config_path, store, chunks = run
    path = versions.resolve_version("exp", tmp / "datasets")
    manifest = versions.read_manifest(path)
    rows = [r for split_rows in all_rows(path).values() for r in split_rows]
    assert manifest["source"] == "generation" and manifest["run"]["config_hash"] == load_config(config_path).hash()
    assert len(manifest["crawl"]["pages"]) == len(
        store.stage("crawl").read("pages", __import__("docs2qa.records").records.Page)
    )
    assert all(len(p["body_sha256"]) == 64 for p in manifest["crawl"]["pages"])
    assert manifest["generation"]["prompt_hashes"] == ["prompt-g", "prompt-j"]
    assert manifest["generation"]["generator_model"] == "gen-model" and manifest["code"]["docs2qa"]
    assert "torch" in manifest["libraries"] or "pyarrow" in manifest["libraries"]

    card = (path / "README.md").read_text()
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["size_categories"] == ["n<1K"] and "question-answering" in header["task_categories"]
    info = {i["config_name"]: i for i in header["dataset_info"]}
    assert set(info) == {"default", *FORMATS}
    for config in info.values():  # every config declares every split that holds rows, with its size
        splits = {s["name"]: s["num_examples"] for s in config["splits"]}
        assert splits == {s: len(r) for s, r in all_rows(path).items() if r}
    configs = {c["config_name"]: c for c in header["configs"]}
    assert set(configs) == {"default", *FORMATS}
    for config in configs.values():
        for entry in config["data_files"]:
            assert (path / entry["path"]).is_file()
    stats = manifest["stats"]["total"]
    assert stats["rows"] == len(rows) and stats["pages"] == len({r["page_id"] for r in rows})
    mean_answer = round(sum(len(r["answer"].split()) for r in rows) / len(rows), 1)
    assert stats["avg_answer_words"] == mean_answer
    assert f"| all | {len(rows)} | {stats['pages']} |" in card and "NOT human-curated" in card
    cover = manifest["stats"]["coverage"]  # against every chunk of the run, not only those with pairs
    assert (cover["chunks"], cover["pages"]) == (len(chunks), len({c.page_id for c in chunks}))
    assert cover["chunks_with_pairs"] == len({r["chunk_id"] for r in rows})
    assert cover["pages_with_pairs"] == len({r["page_id"] for r in rows})
    assert manifest["stats"]["question_types"] == {
        t: sum(r["question_type"] == t for r in rows) for t in sorted({r["question_type"] for r in rows})
    }


@pytest.mark.slow  # the module's demo run takes ~100 s
def test_the_report_is_one_self_contained_page_of_plots(run):
    tmp, *_ = run
    html = (versions.resolve_version("exp/v1", tmp / "datasets") / "report.html").read_text()

    class Tags(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags, self.sources = [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            self.sources += [v for k, v in attrs if k in ("src", "href")]

    parser = Tags()
    parser.feed(html)
    assert parser.tags.count("svg") >= 6 and "script" not in parser.tags and not parser.sources
    assert "Pairs per page" in html and "Lowest judge score" in html and "Not human-curated" in html


@pytest.mark.slow  # the module's demo run takes ~100 s
def test_same_content_same_version_and_a_new_version_never_overwrites(run):
    tmp, config_path, store, _ = run
    v1 = versions.resolve_version("exp/v1", tmp / "datasets")
    before = {f: f.read_bytes() for f in v1.rglob("*") if f.is_file()}
    again = export_with(config_path, store)["dataset"]
    assert not again["created"] and again["version"] == "v1"
    other = export_with(config_path, store, "export.seed=7")["dataset"]
    assert other["created"] and other["version"] == "v2" and other["content_id"] != again["content_id"]
    assert {f: f.read_bytes() for f in v1.rglob("*") if f.is_file()} == before
    assert [e["version"] for e in versions.read_index(v1.parent)] == ["v1", "v2"]


@pytest.mark.slow  # the module's demo run takes ~100 s
def test_verify_detects_any_changed_byte(run, tmp_path):
    import shutil

    tmp, *_ = run
    # Which byte sits in the middle of manifest.json depends on the machine (paths, git commit):
    # flip the first byte too, so the manifest is also checked when it stops being JSON.
    for target, where in [
        (t, "middle") for t in ("data/test.parquet", "formats/alpaca/train.parquet", "README.md", "manifest.json")
    ] + [("manifest.json", "first")]:
        copy = tmp_path / f"{target.replace('/', '_')}-{where}" / "exp"
        shutil.copytree(tmp / "datasets" / "exp", copy)
        for f in copy.rglob("*"):
            f.chmod(f.stat().st_mode | stat.S_IWUSR)
        victim = copy / "v1" / target
        data = bytearray(victim.read_bytes())
        data[len(data) // 2 if where == "middle" else 0] ^= 1
        victim.write_bytes(bytes(data))
        with pytest.raises(Docs2qaError, match=f"failed verification:\n  .*{target}"):
            versions.verify_version(copy / "v1")


@pytest.mark.slow  # the module's demo run takes ~100 s
def test_leaked_pairs_are_removed_from_evaluation_splits_with_the_reason(run, tmp_path):
    _, config_path, store, chunks = run
    path = versions.resolve_version("exp/v1", Path(load_config(config_path).export.root))
    rows = all_rows(path)
    train_question = rows["train"][0]["question"]
    test_chunk = next(c for c in chunks if c.chunk_id == rows["test"][0]["chunk_id"])
    # The same question, asked about a test page: the model would be tested on what it trained on.
    copy = RunStore(tmp_path / "run")
    import shutil

    shutil.copytree(store.root, copy.root)
    pairs = copy.stage("generate").read("pairs", __import__("docs2qa.records").records.QAPair)
    write_pairs(copy, [*pairs, pair_for(test_chunk, 1, question=train_question.replace("say?", "say ?"))])
    manifest = export_with(config_path, copy, f"export.root={tmp_path / 'datasets'}")
    dropped = {d.reason: d for d in copy.stage("export").read("dropped", Dropped)}
    assert "leakage_question" in dropped and "similarity" in dropped["leakage_question"].detail
    leaked = versions.read_manifest(Path(manifest["dataset"]["path"]))
    assert leaked["stats"]["leakage_removed"] >= 1
    assert any(item["question"].endswith("say ?") for item in leaked["leakage"])
    questions = {r["question"] for s in ("validation", "test") for r in all_rows(Path(manifest["dataset"]["path"]))[s]}
    assert train_question.replace("say?", "say ?") not in questions
    # A rerun (after an upstream change that leaves the pairs alone) rewrites the drop table, whose
    # rows carry the time they were written, and finds the same version: what finetune and eval
    # compare stays, so they do not rerun.
    again = export_with(config_path, copy, f"export.root={tmp_path / 'datasets'}")
    assert not again["dataset"]["created"] and again["dataset"]["content_id"] == manifest["dataset"]["content_id"]
    assert {d.at for d in copy.stage("export").read("dropped", Dropped)} != {d.at for d in dropped.values()}
    assert again["output_hash"] == manifest["output_hash"]


@pytest.mark.slow  # the module's demo run takes ~100 s
def test_diff_reports_added_removed_and_changed_pairs(run, tmp_path):
    import shutil

    _, config_path, store, chunks = run
    copy = RunStore(tmp_path / "run")
    shutil.copytree(store.root, copy.root)
    QAPair = __import__("docs2qa.records").records.QAPair
    pairs = copy.stage("generate").read("pairs", QAPair)
    root = f"export.root={tmp_path / 'datasets'}"
    a = Path(export_with(config_path, copy, root)["dataset"]["path"])
    from dataclasses import replace

    edited = replace(pairs[1], answer="A corrected answer.")
    write_pairs(copy, [pairs[0], edited, *pairs[3:], pair_for(chunks[2], 2, question="Which new question was added?")])
    b = Path(export_with(config_path, copy, root)["dataset"]["path"])
    result = diff(a, b)
    assert [r["pair_id"] for r in result["removed"]] == [pairs[2].pair_id]
    assert len(result["added"]) == 1 and result["added"][0]["question"] == "Which new question was added?"
    changed = {c["pair_id"]: c for c in result["changed"]}
    assert changed[pairs[1].pair_id]["fields"] == ["answer"]
    assert changed[pairs[1].pair_id]["new_answer"] == "A corrected answer."
    assert result["stats_delta"]["rows"] == 0


@pytest.mark.slow  # the module's demo run takes ~100 s
def test_every_format_trains_in_trl_sft_trainer(run, tiny_chat_model, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from datasets import load_dataset
    from docs2qa.datastore.formats import alpaca_text

    tmp, *_ = run
    path = versions.resolve_version("exp/v1", tmp / "datasets")
    tokenizer = AutoTokenizer.from_pretrained(tiny_chat_model)
    for fmt in FORMATS:
        data = load_dataset("parquet", data_files={"train": str(versions.split_file(path, "train", fmt))})["train"]
        args = SFTConfig(
            output_dir=str(tmp_path / fmt),
            max_steps=1,
            per_device_train_batch_size=2,
            report_to=[],
            bf16=False,
            activation_checkpointing=False,
            max_length=512,
            use_cpu=True,
            save_strategy="no",
        )
        trainer = SFTTrainer(
            model=AutoModelForCausalLM.from_pretrained(tiny_chat_model),
            args=args,
            train_dataset=data,
            processing_class=tokenizer,
            formatting_func=alpaca_text if fmt == "alpaca" else None,
        )
        example = trainer.train_dataset[0]
        if fmt == "prompt_completion":  # the loss covers the answer only
            assert 0 < sum(label != -100 for label in example["labels"]) < len(example["input_ids"])
        assert trainer.train().training_loss > 0


@pytest.mark.slow  # the module's demo run takes ~100 s
def test_load_helper_returns_a_datasetdict(run):
    tmp, *_ = run
    loaded = versions.load("exp/v1", "prompt_completion", root=tmp / "datasets")
    manifest = versions.read_manifest(tmp / "datasets" / "exp" / "v1")
    assert {s: loaded[s].num_rows for s in loaded} == {s: n for s, n in manifest["counts"].items() if n}
    assert loaded["train"].column_names == ["prompt", "completion"]


@pytest.mark.slow  # the module's demo run takes ~100 s
def test_hub_push_uploads_tags_and_records_the_commit(run, tmp_path, monkeypatch):
    import shutil

    from docs2qa.config import ExportConfig
    from docs2qa.datastore.hub import push_version

    tmp, *_ = run
    shutil.copytree(tmp / "datasets" / "exp", tmp_path / "exp")
    path = tmp_path / "exp" / "v1"

    class RecordingHub:  # the real hub is not reachable from this machine
        def __init__(self):
            self.calls = []

        def create_repo(self, repo, **kw):
            self.calls.append(("create_repo", repo, kw["private"]))

        def upload_folder(self, **kw):
            self.calls.append(
                ("upload_folder", kw["repo_id"], sorted(p.name for p in Path(kw["folder_path"]).iterdir()))
            )
            return type("Commit", (), {"oid": "abc123"})()

        def create_tag(self, repo, **kw):
            self.calls.append(("create_tag", repo, kw["tag"], kw["revision"]))

    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(Docs2qaError, match="HF_TOKEN"):
        push_version(path, "me/exp", ExportConfig(), api=RecordingHub())
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    hub = RecordingHub()
    pushed = push_version(path, "me/exp", ExportConfig(), api=hub)
    assert [c[0] for c in hub.calls] == ["create_repo", "upload_folder", "create_tag"]
    assert hub.calls[1][2] == ["README.md", "data", "formats", "manifest.json", "report.html"]
    assert hub.calls[2] == ("create_tag", "me/exp", "v1", "abc123") and pushed["commit"] == "abc123"
    assert versions.read_manifest(path)["hub"][0]["commit"] == "abc123"
    versions.verify_version(path)  # recording the push is not tampering
    assert push_version(path, "me/exp", ExportConfig(), api=hub) == pushed and len(hub.calls) == 3
    assert all(b"hf_secret_value" not in f.read_bytes() for f in (tmp_path / "exp").rglob("*") if f.is_file())


@pytest.mark.slow  # the module's demo run takes ~100 s
def test_cli_export_list_show_diff_verify(run, tmp_path):
    import shutil

    _tmp, config_path, store, _ = run
    shutil.copytree(store.root, tmp_path / "run")
    root = tmp_path / "datasets"
    done = docs2qa("export", "-c", str(config_path), "--run", str(tmp_path / "run"), "--set", f"export.root={root}")
    assert done.returncode == 0, done.stderr
    assert "new version exp/v1" in done.stderr and "report.html" in done.stderr
    listed = docs2qa("datasets", "list", "--root", str(root))
    assert listed.returncode == 0 and listed.stdout.startswith("exp/v1  train=")
    shown = json.loads(docs2qa("datasets", "show", "exp", "--root", str(root)).stdout)
    assert shown["version"] == "v1" and shown["source"] == "generation"
    assert docs2qa("datasets", "verify", "exp/v1", "--root", str(root)).returncode == 0
    same = docs2qa("datasets", "diff", "exp/v1", str(root / "exp" / "v1"), "--root", str(root))
    assert same.returncode == 0 and "0 added, 0 removed, 0 changed" in same.stderr
    victim = root / "exp" / "v1" / "data" / "train.parquet"
    victim.chmod(0o644)
    victim.write_bytes(victim.read_bytes() + b"x")
    broken = docs2qa("datasets", "verify", "exp/v1", "--root", str(root))
    assert broken.returncode == 1 and "data/train.parquet: changed" in broken.stderr
    missing = docs2qa("datasets", "show", "nope/v9", "--root", str(root))
    assert missing.returncode == 1 and "no dataset version 'nope/v9'" in missing.stderr


def test_bad_export_settings_are_clear_errors(tmp_path):
    from docs2qa.config import ExportConfig

    with pytest.raises(Exception, match="sum to 1"):
        ExportConfig(ratios={"train": 0.5, "validation": 0.1, "test": 0.1})
    with pytest.raises(Docs2qaError, match="no dataset version"):
        versions.resolve_version("missing", tmp_path)
    with pytest.raises(Docs2qaError, match="not a dataset version"):
        versions.read_manifest(tmp_path)


def test_datasets_folder_is_not_a_package():
    root = Path(__file__).resolve().parents[1]
    assert not (root / "datasets" / "__init__.py").exists()
    assert os.path.isdir(root / "datasets")


@pytest.mark.parametrize("groups", range(0, 12))
def test_split_sizes_always_leave_training_a_group(groups):
    from docs2qa.curation.splits import group_counts

    for ratios in (
        {"train": 0.8, "validation": 0.1, "test": 0.1},
        {"train": 0.1, "validation": 0.45, "test": 0.45},
        {"train": 1.0},
    ):
        counts = group_counts(groups, ratios)
        assert sum(counts.values()) == groups and min(counts.values()) >= 0
        assert counts["train"] >= 1 or groups == 0
        if groups >= 3 and ratios.get("test"):
            assert counts["test"] >= 1 and counts["validation"] >= 1


@pytest.mark.slow  # the module's demo run takes ~100 s
def test_split_assignment_is_seeded_and_independent_of_row_order(run):
    from docs2qa.curation.splits import assign

    tmp, *_ = run
    rows = [r for s in versions.SPLITS for r in versions.read_split_rows(tmp / "datasets" / "exp" / "v1", s)]
    ratios = {"train": 0.8, "validation": 0.1, "test": 0.1}
    forward = assign(rows, "page", ratios, seed=0)
    assert forward == assign(list(reversed(rows)), "page", ratios, seed=0)
    assert forward != assign(rows, "page", ratios, seed=1)
    by_section = assign(rows, "section", ratios, seed=0)
    sections = {s: {r["page_id"] + "/".join(r["heading_path"][:2]) for r in by_section[s]} for s in by_section}
    assert not (sections["train"] & sections["test"])


def test_export_says_in_one_line_when_the_test_split_is_under_30_rows(tmp_path, capsys):
    from docs2qa.cli import _report
    from docs2qa.pipeline import stage_named
    from docs2qa.store import StageResult

    def exported(test: int) -> str:
        counts = {"train": 40, "validation": 4, "test": test}
        version = {"name": "exp", "version": "v1", "path": "/d/exp/v1", "content_id": "c", "created": True}
        store = RunStore(tmp_path / f"run{test}")
        extra = {"dataset": {**version, "counts": counts}}
        manifest = store.run_stage("export", "h", [], lambda stage: StageResult({}, 44 + test, extra=extra))
        _report(stage_named("export"), manifest)
        return capsys.readouterr().err

    said = exported(12)
    assert (
        "  only 12 test rows (under 30): eval's intervals on them will be wide and its numbers anecdotal; "
        "export more pairs (more chunks, more phrasings per fact)\n"
    ) in said
    assert "Traceback" not in said
    assert "test rows" not in exported(30)
