"""Markdown reference of every config key, generated from the pydantic models.

README.md embeds this table and a test keeps the two equal, so the docs cannot drift.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from docs2qa.config import config_model


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(section)"
    return "`" + json.dumps(value) + "`"


def _rows(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        nested = [
            a
            for a in getattr(annotation, "__args__", (annotation,))
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if nested:
            yield from _rows(nested[0], f"{prefix}{name}.")
            continue
        description = (field.description or "").replace("|", "\\|")
        yield f"| `{prefix}{name}` | {_default(field)} | {description} |"


def config_reference() -> str:
    return "\n".join(["| key | default | meaning |", "| --- | --- | --- |", *_rows(config_model())])
