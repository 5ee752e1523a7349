"""A dataset version -> the train and validation splits trl trains on.

Whichever format is read (`finetune.format`, default `prompt_completion`), it becomes
conversational prompt/completion: the prompt is `docs2qa.datastore.formats.chat_prompt`, the
completion the curated answer, and trl renders both with the base model's own chat template
and puts the loss on the completion only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from docs2qa.datastore import formats, versions
from docs2qa.errors import Docs2qaError


@dataclass(frozen=True)
class DatasetVersion:
    path: Path
    name: str
    version: str
    content_id: str
    counts: dict[str, int]

    def describe(self) -> dict:
        return {"name": self.name, "version": self.version, "content_id": self.content_id, "path": str(self.path)}


def open_version(ref: str | None, root: str | Path = "datasets") -> DatasetVersion:
    """Resolve and verify a version: a model must never be trained on data that changed after export."""
    if not ref:
        raise Docs2qaError("no dataset to fine-tune on", "set finetune.dataset, e.g. --set finetune.dataset=demo/v1")
    path = versions.resolve_version(ref, root)
    versions.verify_version(path)
    manifest = versions.read_manifest(path)
    return DatasetVersion(
        path=path.resolve(),
        name=manifest["name"],
        version=manifest["version"],
        content_id=manifest["content_id"],
        counts=dict(manifest["counts"]),
    )


def load_split(version: DatasetVersion, split: str, fmt: str = "prompt_completion"):
    """One split as an in-memory prompt/completion `datasets.Dataset` (zero rows when the
    version has none)."""
    import pyarrow.parquet as pq

    from datasets import Dataset

    file = versions.split_file(version.path, split, fmt)
    if not file.is_file():
        if version.counts.get(split, 0):
            raise Docs2qaError(
                f"{file} is missing: the version was exported without the {fmt} format",
                f"set finetune.format to one of the version's formats, or export with {fmt}",
            )
        return Dataset.from_list([])
    table = pq.read_table(file)
    if fmt == "prompt_completion":
        return Dataset(table)
    return Dataset.from_list([formats.to_prompt_completion(row, fmt) for row in table.to_pylist()])


def accepts_system_role(tokenizer) -> bool:
    """Gemma's template raises on a system message; such models get it folded into the user turn."""
    probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    try:
        tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True)
    except Exception:  # jinja raise_exception surfaces as TemplateError or ValueError depending on the version
        return False
    return True


def model_messages(tokenizer, messages: list[dict]) -> list[dict]:
    """The messages as this model's template takes them: the one rule training and evaluation share."""
    return messages if accepts_system_role(tokenizer) else formats.fold_system_message(messages)


def for_model(dataset, tokenizer):
    """Fold system prompts into the user turn for templates without a system role (as evaluation
    does); anything else is passed through unchanged."""
    if len(dataset) == 0 or accepts_system_role(tokenizer):
        return dataset
    return dataset.map(lambda row: {"prompt": formats.fold_system_message(row["prompt"])})


def count_too_long(dataset, tokenizer, max_length: int) -> int:
    """Examples whose rendered prompt + answer exceed max_length: trl cuts them (and drops those
    left without answer tokens), so the run reports how many there were."""
    if len(dataset) == 0:
        return 0
    lengths = [
        len(
            tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True, return_dict=True)[
                "input_ids"
            ]
        )
        for row in dataset
    ]
    return sum(length > max_length for length in lengths)
