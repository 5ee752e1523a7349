"""The curation stages' config sections: `curate:` (push, pull) and `export:`, whose model lives
in core because the dataset store (docs2qa/datastore) reads it.

Only pydantic and docs2qa.config are imported here, so loading a config stays light.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from docs2qa.config import ExportConfig, Section


class CurateConfig(Section):
    """Human review in Argilla: a local server docs2qa runs, or your own."""

    api_url: str | None = Field(
        None,
        description="An Argilla server you run yourself; "
        "default: $ARGILLA_API_URL, else the one `curate serve` started.",
    )
    api_key_env: str = Field(
        "ARGILLA_API_KEY", description="Environment variable holding the API key of your own server (never the key)."
    )
    state_dir: str = Field(
        ".docs2qa/argilla", description="Where `curate serve` keeps its database, logs, PIDs and generated credentials."
    )
    host: str = Field("127.0.0.1", description="Address `curate serve` binds; anything but loopback exposes the UI.")
    port: int = Field(6900, ge=1, le=65535)
    workspace: str = "docs2qa"
    dataset: str | None = Field(None, description="Argilla dataset name; default: docs2qa-<run name>.")
    annotators_per_record: int = Field(1, ge=1, description="Submitted responses a record needs to count as done.")
    policy: Literal["majority", "unanimous", "first"] = Field(
        "majority", description="How several annotators' answers to one record are resolved."
    )
    demo_accept_min_score: int | None = Field(
        None,
        ge=1,
        le=5,
        description="NOT human curation: pull accepts pairs whose lowest judge score is at least this, for demos; "
        "with no judge (generate.judge.enabled off), every pair that passed the filters.",
    )


SECTIONS = {"curate": CurateConfig, "export": ExportConfig}
