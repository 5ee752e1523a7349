"""What a dataset version's held-out questions measure (export.protocol), in the words the
dataset card, the model card and the eval report all use."""

from __future__ import annotations

from typing import Any

# A version exported before protocols existed split by page and asked closed book.
DEFAULT = "generalization"

_MEASURES = {
    "knowledge": "facts the model trained on, asked in words it never saw, closed book (one phrasing of each "
    "test fact is held out, its other phrasings train): whether the model learned the docs",
    "rag": "pages the model never trained on, with the chunks a retriever returns in the prompt (training rows "
    "carry their own chunk among distractors, or distractors only): answering from retrieved documentation",
    "generalization": "pages the model never trained on, closed book: generalization to unseen pages, not "
    "knowledge of the docs, since no model can know a page it never saw",
}


def protocol_of(export: dict[str, Any]) -> str:
    protocol: str = export.get("protocol") or DEFAULT
    return protocol


def measures(export: dict[str, Any]) -> str:
    """One sentence: the protocol and what its test questions measure."""
    protocol = protocol_of(export)
    return f"Protocol **{protocol}**: the test questions ask about {_MEASURES[protocol]}."
