"""A dataset version by Hugging Face conventions: `datasets.load_dataset(folder, config)` reads
every config without a warning (empty splits too), the card's header is complete, and every
split file has a JSONL twin that the manifest seals."""

from __future__ import annotations

import json
import logging
import re
import stat
import warnings

import pyarrow.parquet as pq
import pytest
import yaml

from docs2qa.datastore import card, formats, versions
from docs2qa.errors import IntegrityError
from test_card_honesty import lineage, rows

SETTINGS = {"system_prompt": "Answer from the docs.", "include_context": False}


def write(root, source="generation", **export):
    splits = {"train": rows(6, "train"), "validation": rows(2, "validation"), "test": []}
    return versions.write_version(root, "hf", splits, {**SETTINGS, **export}, lineage(source, None), {})


def header(path) -> dict:
    return yaml.safe_load((path / "README.md").read_text().split("---\n")[1])


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def datasets_log():
    # datasets logs through its own logger, which does not propagate to the root (so not to caplog).
    handler, logger = _Records(), logging.getLogger("datasets")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_every_config_loads_without_a_warning_and_without_the_empty_split(tmp_path, datasets_log):
    from datasets import load_dataset

    path = write(tmp_path / "store")
    names = [c["config_name"] for c in header(path)["configs"]]
    assert names == ["default", *formats.FORMATS]
    for name in names:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loaded = load_dataset(str(path), name, cache_dir=str(tmp_path / "cache"))
        assert [str(w.message) for w in caught] == [] and datasets_log == [], name
        # The empty test split is left out: datasets cannot read an empty split file.
        assert {s: loaded[s].num_rows for s in loaded} == {"train": 6, "validation": 2}, name


def test_the_card_declares_features_as_datasets_writes_them(tmp_path):
    from datasets import Features

    info = {i["config_name"]: i for i in header(write(tmp_path))["dataset_info"]}
    assert info["default"]["features"] == Features.from_arrow_schema(versions.canonical_schema())._to_yaml_list()
    for fmt in formats.FORMATS:
        assert info[fmt]["features"] == Features.from_arrow_schema(formats.arrow_schema(fmt))._to_yaml_list()
        assert [s["name"] for s in info[fmt]["splits"]] == ["train", "validation"]
        assert info[fmt]["download_size"] == sum(
            versions.split_file(tmp_path / "hf" / "v1", s, fmt).stat().st_size for s in ("train", "validation")
        )


def test_an_empty_split_file_is_what_datasets_cannot_load(tmp_path):
    # Why the card leaves empty splits out: if datasets learns to read them, this fails and the card can list them.
    import datasets

    path = write(tmp_path / "store")
    empty = versions.split_file(path, "test", "messages")
    assert pq.read_table(empty).num_rows == 0
    failures = (datasets.exceptions.DatasetGenerationError, ValueError)
    with pytest.raises(failures, match=r"generating the dataset|corresponds to no data"):
        datasets.load_dataset("parquet", data_files={"test": str(empty)}, cache_dir=str(tmp_path / "cache"))
    text = (path / "README.md").read_text()
    assert "## Empty splits" in text and "- **test** holds no pairs (split by page, none of the 3 page(s)" in text


def test_license_other_gets_a_name_and_link_and_the_header_its_creators(tmp_path):
    plain = header(write(tmp_path / "a"))
    assert plain["license"] == "other" and plain["license_name"] == "source-documentation-terms"
    assert plain["license_link"] == "https://docs.test/"  # the documentation's own terms
    assert plain["annotations_creators"] == ["machine-generated"] and plain["source_datasets"] == ["original"]
    assert plain["task_categories"] == ["question-answering", "text-generation"] and plain["language"] == ["en"]
    named = header(
        write(tmp_path / "b", "curation", license_name="acme-docs-terms", license_link="https://acme.test/terms")
    )
    assert (named["license_name"], named["license_link"]) == ("acme-docs-terms", "https://acme.test/terms")
    assert named["annotations_creators"] == ["machine-generated", "expert-generated"]  # people reviewed
    mit = header(write(tmp_path / "c", license="mit"))
    assert mit["license"] == "mit" and "license_name" not in mit and "license_link" not in mit


def test_the_card_describes_columns_limitations_and_citation(tmp_path):
    text = (write(tmp_path) / "README.md").read_text()
    for section in ("## Columns", "## Limitations", "## Citation", "## Use"):
        assert section in text
    for fmt in ("default", *formats.FORMATS):
        for field in card.features(card._schema(fmt)):
            assert re.search(rf"\| {fmt} \| {field['name']} \| [^|]+ \| \w", text), (fmt, field["name"])
    assert "@misc{hf_v1," in text


def test_the_usage_snippet_loads_from_where_the_user_stands(tmp_path, monkeypatch, datasets_log):
    from datasets import load_dataset

    monkeypatch.chdir(tmp_path)
    path = versions.write_version(
        "datasets", "hf", {"train": rows(3, "train")}, SETTINGS, lineage("generation", None), {}
    )
    snippet = (path / "README.md").read_text().split("```python\n")[1].split("```")[0]
    local, hub = re.findall(r'load_dataset\(("[^"]+", "messages"[^)]*)\)', snippet)
    assert local == '"datasets/hf/v1", "messages"'
    assert hub == '"USER/hf", "messages", revision="v1"'
    loaded = load_dataset("datasets/hf/v1", "messages", cache_dir=str(tmp_path / "cache"))
    assert loaded["train"].num_rows == 3 and datasets_log == []


def test_every_split_file_has_a_jsonl_twin_that_verify_checks(tmp_path):
    path = write(tmp_path)
    files = versions.read_manifest(path)["files"]
    for fmt in ("data", *formats.FORMATS):
        for split in versions.SPLITS:
            twin = versions.split_file(path, split, fmt, ".jsonl")
            lines = [json.loads(line) for line in twin.read_text().splitlines()]
            assert lines == pq.read_table(versions.split_file(path, split, fmt)).to_pylist()
            assert str(twin.relative_to(path)) in files
    twin = versions.split_file(path, "train", "alpaca", ".jsonl")
    twin.chmod(twin.stat().st_mode | stat.S_IWUSR)
    twin.write_text(twin.read_text().replace("level", "LEVEL", 1))
    with pytest.raises(IntegrityError, match=r"formats/alpaca/train\.jsonl: changed"):
        versions.verify_version(path)
    twin.unlink()
    with pytest.raises(IntegrityError, match=r"formats/alpaca/train\.jsonl: missing"):
        versions.verify_version(path)


def test_export_config_takes_the_license_fields_and_rejects_a_name_the_hub_would_not(tmp_path):
    from pydantic import ValidationError

    from docs2qa.config import ExportConfig

    cfg = ExportConfig(license_name="acme-docs-terms", license_link="https://acme.test/terms")
    assert (cfg.license_name, cfg.license_link) == ("acme-docs-terms", "https://acme.test/terms")
    with pytest.raises(ValidationError, match="license_name"):
        ExportConfig(license_name="Acme Docs Terms")
