"""`docs2qa export --push-to-hub REPO`: upload a version with its card, tag the commit with the
version name, and record the commit in the manifest. The token is read from the environment
variable `export.hub_token_env` names and is never written anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from docs2qa.config import ExportConfig
from docs2qa.records import utc_now
from docs2qa.secrets import env_secret

if TYPE_CHECKING:
    from huggingface_hub import HfApi


def push_version(path: Path, repo: str, cfg: ExportConfig, api: HfApi | None = None) -> dict[str, Any]:
    """Push the version at `path` to the dataset repo `repo` (once: a repeat returns the recorded push);
    `api` stands in for the Hub in tests."""
    from docs2qa.datastore.versions import read_manifest, record_hub_push, verify_version

    token = env_secret(
        cfg.hub_token_env,
        "--push-to-hub (a Hugging Face token)",
        f"export {cfg.hub_token_env}=hf_... (a token with write access), then rerun",
    )
    verify_version(path)  # never publish a version that differs from what was exported
    manifest = read_manifest(path)
    if any(p["repo"] == repo for p in manifest.get("hub", [])):
        pushed: dict[str, Any] = next(p for p in manifest["hub"] if p["repo"] == repo)
        return pushed
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    api.create_repo(repo, repo_type="dataset", private=cfg.hub_private, exist_ok=True, token=token)
    commit = api.upload_folder(
        repo_id=repo,
        repo_type="dataset",
        folder_path=str(path),
        token=token,
        commit_message=f"{manifest['name']} {manifest['version']} (content {manifest['content_id']})",
    )
    api.create_tag(repo, tag=manifest["version"], revision=commit.oid, repo_type="dataset", token=token, exist_ok=True)
    push = {"repo": repo, "commit": commit.oid, "tag": manifest["version"], "pushed_at": utc_now()}
    record_hub_push(path, push)
    return push
