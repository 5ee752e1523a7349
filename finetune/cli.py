"""`docs2qa models ...`: the command group of the finetune package (docs2qa/registry.py adds it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from docs2qa.cli import ConfigOption, SetOption, _export_config

models_app = typer.Typer(no_args_is_help=True, help="Trained adapters: push one to the Hugging Face Hub.")


@models_app.command("push")
def models_push(
    model_dir: Annotated[
        Path, typer.Argument(help="The folder `docs2qa finetune` wrote (its adapter/, README.md, manifest.json).")
    ],
    repo: Annotated[str, typer.Argument(help="The Hub model repo, OWNER/NAME (created if it does not exist).")],
    config: ConfigOption = None,
    set_: SetOption = None,
) -> None:
    """Upload an adapter with its card, which names the dataset's Hub repo (token: $HF_TOKEN)."""
    from docs2qa.finetune.hub import push_adapter

    pushed = push_adapter(model_dir, repo, _export_config(config, set_))
    print(f"pushed to https://huggingface.co/{pushed['repo']} at {pushed['commit']}")
