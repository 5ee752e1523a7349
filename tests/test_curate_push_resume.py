"""A `curate push` SIGKILLed while Argilla creates the dataset is finished by the next push.

Against the real local Argilla (tests/argilla_fixtures.py): a real push subprocess is
killed with SIGKILL right before one of its dataset-changing requests, which leaves the
dataset in Argilla's `draft` state with part of its settings; the next push must finish
and publish it and log every record exactly once. A draft that is not ours still clashes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from docs2qa.curation import schema
from docs2qa.curation.argilla_api import connect
from docs2qa.curation.push import push
from docs2qa.errors import Docs2qaError
from test_curate_push_pull import fresh_cfg, make_pairs, vectors

# Runs one push and SIGKILLs itself just before the KILL_AT-th request that changes a
# dataset (or before the publish request): the moment a user's Ctrl-\ or the OOM killer
# could hit. The secret travels in the environment, never on the command line.
KILLED_PUSH = textwrap.dedent("""
    import os, signal, sys
    import httpx

    sys.path.insert(0, os.environ["TESTS_DIR"])
    from test_curate_push_pull import make_pairs, vectors
    from docs2qa.curation.config import CurateConfig
    from docs2qa.curation.push import push

    kill_at, seen = os.environ["KILL_AT"], 0
    send = httpx.Client.send

    def killing_send(self, request, **kwargs):
        global seen
        if request.method != "GET" and request.url.path.startswith("/api/v1/datasets"):
            seen += 1
            if str(seen) == kill_at or (kill_at == "publish" and request.url.path.endswith("/publish")):
                os.kill(os.getpid(), signal.SIGKILL)
        return send(self, request, **kwargs)

    httpx.Client.send = killing_send
    pairs, chunks = make_pairs(6)
    push(pairs, chunks, vectors(6), CurateConfig(dataset=os.environ["DATASET"]), "run",
         os.environ["ARGILLA_URL"], os.environ["ARGILLA_KEY"])
    print("push finished without being killed")
""")


def _status(client, cfg) -> str:
    dataset = client.datasets(name=cfg.dataset, workspace=cfg.workspace)
    return client.http_client.get(f"/api/v1/datasets/{dataset.id}").json()["status"]


@pytest.mark.parametrize("kill_at", ["2", "12", "publish"])  # bare draft, half the settings, all but publish
def test_push_killed_while_creating_the_dataset_is_finished_by_the_next_push(argilla_server, kill_at):
    cfg = fresh_cfg()
    env = {
        **os.environ,
        "TESTS_DIR": str(Path(__file__).parent),
        "KILL_AT": kill_at,
        "DATASET": cfg.dataset,
        "ARGILLA_URL": argilla_server.url,
        "ARGILLA_KEY": argilla_server.api_key,
    }
    killed = subprocess.run([sys.executable, "-c", KILLED_PUSH], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    client = connect(argilla_server.url, argilla_server.api_key)
    assert _status(client, cfg) == "draft"  # the state a killed push leaves behind

    pairs, chunks = make_pairs(6)
    resumed = push(pairs, chunks, vectors(6), cfg, "run", argilla_server.url, argilla_server.api_key)
    assert (resumed["created_dataset"], resumed["created"], resumed["updated"]) == (True, 6, 0)
    assert _status(client, cfg) == "ready"
    dataset = client.datasets(name=cfg.dataset, workspace=cfg.workspace)
    expected = schema.build_settings(cfg.annotators_per_record, client)
    assert schema.signature(dataset.settings) == schema.signature(expected)
    assert dataset.settings.guidelines == schema.guidelines_text()
    ids = [record.id for record in dataset.records]
    assert sorted(ids) == sorted(p.pair_id for p in pairs)  # every record, each exactly once

    again = push(pairs, chunks, vectors(6), cfg, "run", argilla_server.url, argilla_server.api_key)
    assert (again["created_dataset"], again["created"], again["updated"]) == (False, 0, 6)


def test_a_foreign_draft_under_the_name_is_still_a_layout_clash(argilla_server):
    import argilla as rg
    from argilla._models import DatasetModel

    cfg = fresh_cfg()
    client = connect(argilla_server.url, argilla_server.api_key)
    workspace = client.workspaces(cfg.workspace) or rg.Workspace(name=cfg.workspace, client=client).create()
    model = client.api.datasets.create(DatasetModel(name=cfg.dataset, workspace_id=workspace.id))
    draft = rg.Dataset.from_model(model, client)
    question = rg.LabelQuestion(schema.Q_DECISION, labels=["yes", "no"])
    question.dataset = draft
    question.create()

    pairs, chunks = make_pairs(2)
    with pytest.raises(Docs2qaError, match=r"draft\) dataset .* exists with a different layout") as exc:
        push(pairs, chunks, vectors(2), cfg, "run", argilla_server.url, argilla_server.api_key)
    assert "question:decision is 'label_selection required labels=no,yes'" in str(exc.value)
    assert "delete" in exc.value.hint and "curate.dataset" in exc.value.hint
    assert _status(client, cfg) == "draft"  # nothing was added to it, nothing published
    left = client.datasets(name=cfg.dataset, workspace=cfg.workspace).settings
    assert [q.name for q in left.questions] == [schema.Q_DECISION] and len(left.fields) == 0
