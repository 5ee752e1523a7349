"""`docs2qa models push MODEL_DIR REPO`: upload a trained adapter with its card and lineage to a
Hugging Face model repo. The card first gets the Hub repos its dataset version is in (its
`datasets:` and the scores' `dataset.type`), so the Hub links the model to its data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from docs2qa import fsio
from docs2qa.errors import Docs2qaError

if TYPE_CHECKING:
    from docs2qa.config import ExportConfig

# What a user of the adapter needs: not the checkpoints (optimizer states) nor a merged copy.
UPLOADED = ["README.md", "manifest.json", "adapter/*"]


def push_adapter(model_dir: Path, repo: str, cfg: ExportConfig) -> dict[str, Any]:
    """Push the adapter in `model_dir` (what `docs2qa finetune` wrote) to the model repo `repo`."""
    from docs2qa.datastore.hub import hub_errors, hub_token
    from docs2qa.finetune.card import with_dataset_repos

    if not all((model_dir / name).exists() for name in ("adapter", "manifest.json", "README.md")):
        raise Docs2qaError(
            f"{model_dir} holds no trained adapter (adapter/, manifest.json and README.md)",
            "pass the folder `docs2qa finetune` wrote; the recap of `docs2qa run` names it beside `model card:`",
        )
    token = hub_token(cfg, repo)
    fsio.atomic_write_text(model_dir / "README.md", with_dataset_repos(model_dir))
    from huggingface_hub import HfApi

    api = HfApi()
    with hub_errors(f"upload the adapter in {model_dir} to the model repo {repo}", "rerun once the Hub answers"):
        api.create_repo(repo, repo_type="model", private=cfg.hub_private, exist_ok=True, token=token)
        commit = api.upload_folder(
            repo_id=repo,
            folder_path=str(model_dir),
            allow_patterns=UPLOADED,
            token=token,
            commit_message=f"adapter {model_dir.name}",
        )
    return {"repo": repo, "commit": commit.oid}
