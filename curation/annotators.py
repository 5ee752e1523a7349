"""`docs2qa curate users add | list | remove`: the people who review, as annotator accounts in
the run's Argilla workspace.

A new account's password is generated here and written only to a 0600 file under curate.state_dir
(annotators/NAME.json, with the user's API key), which the person is handed; it is never printed
or logged. Adding someone also sets the run's dataset to need curate.annotators_per_record
submitted responses per record, so pull's agreement tables compare real people.

Removing someone takes them out of the workspace and changes their password to one written
nowhere, but keeps the account: Argilla deletes a user's responses with the user, and their
decisions are part of the review.
"""

from __future__ import annotations

import json
import re
import secrets
import warnings
from pathlib import Path

from docs2qa.curation import argilla_api
from docs2qa.curation.config import CurateConfig
from docs2qa.errors import Docs2qaError

ANNOTATOR = "annotator"
# Also a file name under the state dir: no path separators, no leading dot.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def credentials_path(cfg: CurateConfig, name: str) -> Path:
    return Path(cfg.state_dir).expanduser().resolve() / "annotators" / f"{name}.json"


def add(cfg: CurateConfig, run_name: str, api_url: str, api_key: str, name: str) -> dict:
    """Create the annotator account `name` in cfg.workspace, or give an existing one (a person
    removed earlier, or whose file was lost) a new password and its place back. Returns {"username",
    "path", "existed", "dataset", "distribution_set", "annotators"}: dataset is None until the run
    is pushed (push then creates it with the same distribution)."""
    from docs2qa.curation.server import write_private

    check_name(name)
    client = argilla_api.connect(api_url, api_key)
    workspace = _workspace(client, cfg, create=True)
    password = secrets.token_urlsafe(18)
    user = _user(client, name)
    existed = user is not None
    if user is None:
        import argilla as rg

        user = rg.User(username=name, password=password, role=ANNOTATOR, client=client).create()
    else:
        _refuse_non_annotator(user, name)
        argilla_api.set_password(client, user.id, password)
    if name not in _member_names(workspace):
        workspace.add_user(user)
    path = credentials_path(cfg, name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    creds = {
        "url": api_url,
        "workspace": cfg.workspace,
        "username": name,
        "password": password,
        "api_key": argilla_api.user_api_key(client, user.id),
    }
    write_private(path, json.dumps(creds, indent=2))
    dataset, changed = _require_annotators_per_record(client, cfg, run_name, workspace)
    return {
        "username": name,
        "path": path,
        "existed": existed,
        "dataset": dataset,
        "distribution_set": changed,
        "annotators": sum(role == ANNOTATOR for role in _member_names(workspace).values()),
    }


def members(cfg: CurateConfig, api_url: str, api_key: str) -> list[dict]:
    """Everyone in cfg.workspace: username, role, and the credentials file docs2qa wrote ("" if none)."""
    client = argilla_api.connect(api_url, api_key)
    workspace = _workspace(client, cfg, create=False)
    if workspace is None:
        return []
    out = []
    for username, role in sorted(_member_names(workspace).items()):
        path = credentials_path(cfg, username) if _NAME.fullmatch(username) else None
        out.append({"username": username, "role": role, "credentials": str(path) if path and path.exists() else ""})
    return out


def remove(cfg: CurateConfig, api_url: str, api_key: str, name: str) -> dict:
    """Take annotator `name` out of cfg.workspace and lock the account; their responses stay.
    Returns {"username", "was_member", "credentials_deleted"}."""
    check_name(name)
    client = argilla_api.connect(api_url, api_key)
    user = _user(client, name)
    if user is None:
        raise Docs2qaError(
            f"there is no user {name!r} at {api_url}", "`docs2qa curate users list` shows the workspace's people"
        )
    _refuse_non_annotator(user, name)
    workspace = _workspace(client, cfg, create=False)
    was_member = workspace is not None and name in _member_names(workspace)
    if was_member:
        workspace.remove_user(user)
    argilla_api.set_password(client, user.id, secrets.token_urlsafe(24))  # written nowhere: no more sign-in
    path = credentials_path(cfg, name)
    deleted = path.exists()
    path.unlink(missing_ok=True)
    return {"username": name, "was_member": was_member, "credentials_deleted": deleted}


def check_name(name: str) -> None:
    """Refuse a name before anything connects (the CLI starts the local server otherwise)."""
    if not _NAME.fullmatch(name):
        raise Docs2qaError(
            f"{name!r} is not a usable annotator name",
            "use letters, digits, '.', '_' or '-', starting with a letter or digit (at most 63 characters)",
        )


def _refuse_non_annotator(user, name: str) -> None:
    role = getattr(user.role, "value", user.role)
    if role != ANNOTATOR:
        raise Docs2qaError(
            f"{name!r} is an {role} account, not an annotator: docs2qa manages annotators only",
            "pick another name, or change that account in Argilla's own settings",
        )


def _user(client, name: str):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "User with username .* not found", UserWarning)  # an expected answer
        return client.users(username=name)


def _workspace(client, cfg: CurateConfig, create: bool):
    import argilla as rg

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Workspace with name .* not found", UserWarning)
        workspace = client.workspaces(cfg.workspace)
    if workspace is None and create:
        workspace = rg.Workspace(name=cfg.workspace, client=client).create()
    return workspace


def _member_names(workspace) -> dict[str, str]:
    """username -> role of everyone in the workspace."""
    return {u.username: str(getattr(u.role, "value", u.role)) for u in workspace.users}


def _require_annotators_per_record(client, cfg: CurateConfig, run_name: str, workspace) -> tuple[str | None, bool]:
    """(the run's dataset name or None when it is not pushed yet, whether its distribution changed)."""
    from docs2qa.curation.push import dataset_name

    name = dataset_name(cfg, run_name)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Dataset with name .* not found", UserWarning)
        dataset = client.datasets(name=name, workspace=workspace)
    if dataset is None:
        return None, False
    if dataset.settings.distribution.min_submitted == cfg.annotators_per_record:
        return name, False
    argilla_api.set_distribution(client, dataset.id, cfg.annotators_per_record)
    return name, True
