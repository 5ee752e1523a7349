"""pull's lookup of the workspace and dataset: Argilla's "not found" warnings are expected answers
and stay quiet (pytest's filterwarnings = error would fail on one); any other warning shows."""

from __future__ import annotations

import uuid
import warnings

import pytest

from docs2qa.curation import argilla_api
from docs2qa.curation.config import CurateConfig
from docs2qa.curation.pull import collect
from docs2qa.errors import Docs2qaError


def test_a_missing_workspace_or_dataset_is_an_error_not_a_warning(argilla_server):
    import argilla as rg

    missing_workspace = CurateConfig(workspace=f"w{uuid.uuid4().hex[:10]}", dataset="d")
    with pytest.raises(Docs2qaError, match="there is no dataset"):
        collect(missing_workspace, "run", argilla_server.url, argilla_server.api_key)
    client = argilla_api.connect(argilla_server.url, argilla_server.api_key)
    workspace = rg.Workspace(name=f"w{uuid.uuid4().hex[:10]}", client=client).create()
    missing_dataset = CurateConfig(workspace=workspace.name, dataset=f"d{uuid.uuid4().hex[:10]}")
    with pytest.raises(Docs2qaError, match="run `docs2qa curate push` first"):
        collect(missing_dataset, "run", argilla_server.url, argilla_server.api_key)


class _WarningClient:
    """Answers the workspace lookup as argilla 2 does for a missing one, plus another warning."""

    def workspaces(self, name: str) -> None:
        warnings.warn(f"Workspace with name {name!r} not found.", UserWarning, stacklevel=2)
        warnings.warn("the server's API version is older than this client's", UserWarning, stacklevel=2)


def test_other_warnings_of_the_lookup_still_show(monkeypatch):
    monkeypatch.setattr(argilla_api, "connect", lambda url, key: _WarningClient())
    with pytest.warns(UserWarning, match="API version is older") as shown, pytest.raises(Docs2qaError):
        collect(CurateConfig(), "run", "http://127.0.0.1:9", "key")
    assert [str(w.message) for w in shown] == ["the server's API version is older than this client's"]
