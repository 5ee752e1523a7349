"""Uploads to the Hugging Face Hub: `docs2qa export --push-to-hub REPO` and `docs2qa datasets push
REF REPO` upload a version with its card, tag the commit with the version name, and record the
commit in the manifest; `docs2qa models push` (finetune/hub.py) shares the checks and the errors.
The token is read from the environment variable `export.hub_token_env` names and is never
written anywhere."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docs2qa.config import ExportConfig
from docs2qa.errors import ConfigError, ServiceError
from docs2qa.records import utc_now
from docs2qa.secrets import env_secret

if TYPE_CHECKING:
    from huggingface_hub import HfApi


def hub_token(cfg: ExportConfig, repo: str) -> str:
    """The token, once `repo` is known to be a repo id: both are checked before any request."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo)
    except HFValidationError as exc:
        raise ConfigError(f"{repo!r} is not a Hub repo id: {exc}", "name it OWNER/NAME, e.g. acme/docs-qa") from exc
    return env_secret(
        cfg.hub_token_env,
        "a push to the Hub (a Hugging Face token)",
        f"export {cfg.hub_token_env}=hf_... (a token with write access), then rerun",
    )


@contextmanager
def hub_errors(what: str, then: str) -> Iterator[None]:
    """A failed Hub request as one line: `what` failed, why, and `then` (what to do next). The
    HTTP stack's traceback says no more than that, and a request error names no token."""
    # httpx2: the client huggingface_hub (2.x, constraints.txt) makes its requests with; a
    # refused request is its HTTPError too (HfHubHTTPError), with the Hub's status and message.
    import httpx2
    from huggingface_hub import constants
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        yield
    except OfflineModeIsEnabled:
        raise ServiceError(f"cannot {what}: HF_HUB_OFFLINE is set (unset it to reach the Hub); {then}") from None
    except HfHubHTTPError as exc:
        status = exc.response.status_code
        said = (exc.server_message or str(exc)).strip().splitlines()[0]
        why = {401: "the token was not accepted", 403: "the token may not write there"}.get(status, said)
        raise ServiceError(f"the Hub refused to {what} (HTTP {status}: {why}); {then}") from None
    except httpx2.HTTPError as exc:
        where = f"the Hugging Face Hub at {constants.ENDPOINT}"
        raise ServiceError(f"cannot reach {where} to {what} ({exc}); {then}") from None


def push_version(
    path: Path, repo: str, cfg: ExportConfig, api: HfApi | None = None, then: str = "rerun once the Hub answers"
) -> dict[str, Any]:
    """Push the version at `path` to the dataset repo `repo` (once: a repeat returns the recorded push);
    `api` stands in for the Hub in tests; `then` is what to do when the Hub fails."""
    from docs2qa.datastore.versions import read_manifest, record_hub_push, verify_version

    token = hub_token(cfg, repo)
    verify_version(path)  # never publish a version that differs from what was exported
    manifest = read_manifest(path)
    if any(p["repo"] == repo for p in manifest.get("hub", [])):
        pushed: dict[str, Any] = next(p for p in manifest["hub"] if p["repo"] == repo)
        return pushed
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    version = f"{manifest['name']}/{manifest['version']}"
    with hub_errors(f"upload {version} to the dataset repo {repo}", then):
        api.create_repo(repo, repo_type="dataset", private=cfg.hub_private, exist_ok=True, token=token)
        commit = api.upload_folder(
            repo_id=repo,
            repo_type="dataset",
            folder_path=str(path),
            token=token,
            commit_message=f"{manifest['name']} {manifest['version']} (content {manifest['content_id']})",
        )
        api.create_tag(
            repo, tag=manifest["version"], revision=commit.oid, repo_type="dataset", token=token, exist_ok=True
        )
    push = {"repo": repo, "commit": commit.oid, "tag": manifest["version"], "pushed_at": utc_now()}
    record_hub_push(path, push)
    return push
