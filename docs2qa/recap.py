"""The recap `docs2qa run` ends with: what each stage made, where the cards and reports are,
and the next step (where to review, how to sign in, how to stop the review server).

Read from the stages' manifests, so it is the same after a run that did everything and after
one that found every stage up to date. Never prints a secret: it says where the password is.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from docs2qa.config import ConfigBase, ConfigPaths
    from docs2qa.pipeline import Stage
    from docs2qa.store import RunStore


def recap(
    cfg: ConfigBase, store: RunStore, config_path: ConfigPaths, overrides: list[str] | None, run_dir: Path | None
) -> str:
    from docs2qa.pipeline import stages_for

    manifests: dict[str, dict[str, Any]] = {}
    lines = ["", f"run {store.root}:"]
    for stage in stages_for(cfg):
        manifest = store.stage(stage.name).manifest()
        if manifest is None:
            lines.append(f"  {stage.name:<9} not run")
            continue
        manifests[stage.name] = manifest
        lines.append(f"  {stage.name:<9} {_made(stage, manifest)}")
        if stage.name == "eval":
            lines += _eval_lines(manifest)
    files = _files(manifests)
    if files:
        lines += ["", *files]
    lines += ["", *_next_step(cfg, manifests, config_path, overrides, run_dir)]
    return "\n".join(lines)


def _made(stage: Stage, manifest: dict[str, Any]) -> str:
    counts = manifest["counts"]
    described = stage.describe(manifest)
    out = ", ".join(f"{n} {table}" for table, n in counts["out"].items()) or described.product or "done"
    dropped = sum(counts["dropped"].values())
    # A stage that counts drops its own way says so (the crawl's are mostly links it skipped, not pages lost).
    said = described.dropped if described.dropped is not None else f"{dropped} dropped" if dropped else ""
    made = f"{counts['in']} in -> {out}" + (f", {said}" if said else "")
    seconds = f"{manifest['wall_s']:.0f}s"
    earlier = manifest.get("wall_s_earlier_runs")
    if earlier:  # resumed: this run did only the rest of the work
        seconds += f", {manifest['wall_s'] + earlier:.0f}s with the earlier runs it resumed"
    return f"{made}  [{seconds}]"


def _eval_lines(manifest: dict[str, Any]) -> list[str]:
    """Eval's verdicts as it wrote them (results.json's "verdicts"): each with its n and 95%
    interval, "tuned beats base" only when the interval excludes 0, "no clear difference" else."""
    verdicts = (manifest.get("eval") or {}).get("verdicts") or {}
    return [f"{'':<12}{verdict['line']}" for verdict in verdicts.values() if verdict.get("line")]


def _files(manifests: dict[str, dict[str, Any]]) -> list[str]:
    """Cards and reports that exist, by what they are."""
    found = []
    version = manifests.get("export", {}).get("dataset") or {}
    if version.get("path"):
        found += [
            ("dataset card", Path(version["path"]) / "README.md"),
            ("dataset report", Path(version["path"]) / "report.html"),
        ]
    model_dir = manifests.get("finetune", {}).get("finetune", {}).get("model_dir")
    if model_dir:
        found.append(("model card", Path(model_dir) / "README.md"))
    report = manifests.get("eval", {}).get("eval", {}).get("report")
    if report:
        found.append(("eval report", Path(report)))
    from docs2qa.logs import log_file

    log = log_file()
    if log is not None:
        found.append(("log (warnings, -v shows them)", log))
    return [f"{label + ':':<16} {path}" for label, path in found if path.exists()]


def _next_step(
    cfg: Any,
    manifests: dict[str, dict[str, Any]],
    config_path: ConfigPaths,
    overrides: list[str] | None,
    run_dir: Path | None,
) -> list[str]:
    options = command_options(config_path, overrides, run_dir)
    argilla = manifests.get("push", {}).get("argilla") or {}
    if not argilla.get("url"):
        return [
            f"next: look at the dataset report; rerun `{shlex.join(['docs2qa', 'run', *options])}` after any change"
        ]
    lines = [f"next: review the pairs in Argilla at {argilla['url']}"]
    curate = cfg.curate
    if curate.api_url or os.environ.get("ARGILLA_API_URL"):
        lines.append("  sign in with your own account on that server")
    else:
        credentials = Path(curate.state_dir).expanduser().resolve() / "credentials.json"
        lines.append(f"  sign in as {_username(credentials)}; the password is in {credentials} (mode 0600)")
        lines.append(
            "  the Argilla server keeps running; stop it with: " + shlex.join(["docs2qa", "curate", "stop", *options])
        )
    lines.append("  then rerun " + shlex.join(["docs2qa", "run", *options]) + " to pull the decisions and export them")
    return lines


def command_options(config_path: ConfigPaths, overrides: list[str] | None, run_dir: Path | None) -> list[str]:
    """The -c/--set/--run words that name the same run to a later command."""
    from docs2qa.config import config_paths

    options = [word for path in config_paths(config_path) for word in ("-c", str(path))]
    options += [word for value in overrides or [] for word in ("--set", value)]
    return options + (["--run", str(run_dir)] if run_dir else [])


def next_command(*words: str, run_folder: bool = True) -> str:
    """`docs2qa WORDS` with the -c/--set/--run of the docs2qa command running now, so a hint
    can be pasted as it is (without -c it fails); just the words outside the command line.
    `run_folder=False`: no --run, for a command that takes none (`datasets ...`)."""
    from typer._click.globals import get_current_context

    context = get_current_context(silent=True)
    params = context.params if context is not None else {}
    run = params.get("run") if run_folder else None
    options = command_options(params.get("config"), params.get("set_"), run)
    return shlex.join(["docs2qa", *words, *options])


def _username(credentials: Path) -> str:
    """Only the user name from the server's credentials file (which `curate serve` wrote)."""
    try:
        return repr(str(json.loads(credentials.read_text())["username"]))
    except (OSError, ValueError, KeyError, TypeError):
        return "the user named in the same file"
