"""`docs2qa` command line: one command per stage, `run` for all of them, `status`.

Kept thin and import-light: each command imports its stage only when it runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from docs2qa.errors import Docs2qaError

# -h works wherever --help does: click passes the option names down to every subcommand.
_HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Turn a documentation site into a curated Q&A dataset and a fine-tuned model.",
    pretty_exceptions_enable=False,
    context_settings=_HELP_OPTIONS,
)


def _print_version(value: bool) -> None:
    if value:
        from docs2qa import __version__

        print(f"docs2qa {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass

ConfigOption = Annotated[Optional[Path], typer.Option("-c", "--config", help="YAML config file, e.g. configs/demo.yaml.")]
SetOption = Annotated[
    Optional[list[str]], typer.Option("--set", help="Override a key: --set crawl.max_pages=20 (repeatable).")
]
RunOption = Annotated[Optional[Path], typer.Option("--run", help="Run folder (default: runs/<config name>).")]


def _load(config_path: Path | None, overrides: list[str] | None):
    from docs2qa.config import load_config

    if config_path is None:
        raise Docs2qaError("no config given", "pass one with -c, e.g. `docs2qa run -c configs/demo.yaml`")
    return load_config(config_path, overrides or [])


def _open_run(config_path: Path | None, overrides: list[str] | None, run_dir: Path | None):
    from docs2qa.store import RunStore

    config = _load(config_path, overrides)
    store = RunStore(run_dir or Path("runs") / config.name)
    if store.root.exists() and not store.root.is_dir():
        raise Docs2qaError(f"the run folder {store.root} is a file", "pass --run with a folder (new or existing)")
    try:
        store.save_config(config.model_dump(mode="json"), config.hash())
    except OSError as exc:  # a parent that is a file, no permission, a full disk
        raise Docs2qaError(f"cannot write the run folder {store.root}: {exc.strerror or exc}",
                           "pass --run with a folder you can write") from exc
    return config, store


def _report(manifest: dict) -> None:
    from rich.console import Console

    counts = manifest["counts"]
    out = ", ".join(f"{n} {table}" for table, n in counts["out"].items()) or "done"
    dropped = sum(counts["dropped"].values())
    reasons = ", ".join(f"{reason} {n}" for reason, n in counts["dropped"].items())
    line = f"[bold]{manifest['stage']}[/]: {counts['in']} in -> {out}; {dropped} dropped"
    if manifest.get("summary"):  # the crawl counts failed pages apart from skipped links
        line, reasons = f"[bold]{manifest['stage']}[/]: {counts['in']} in -> {out}; {manifest['summary']}", ""
    console = Console(stderr=True, soft_wrap=True)  # paths stay whole: copyable and greppable
    console.print(line + (f" ({reasons})" if reasons else "") + f" in {manifest['wall_s']:.1f}s")
    if "argilla" in manifest:  # where people review what was just pushed
        console.print(f"  review at {manifest['argilla']['url']}, then `docs2qa curate pull`")
    if "finetune" in manifest:
        tuned = manifest["finetune"]
        console.print(f"  adapter and model card in {tuned['model_dir']} ({tuned.get('global_step', '?')} steps)")
    if "eval" in manifest:
        console.print(f"  results: {manifest['eval'].get('results')}; report: {manifest['eval'].get('report')}")
    if "dataset" in manifest:
        version = manifest["dataset"]
        state = "new version" if version["created"] else "unchanged, existing version"
        console.print(f"  {state} {version['name']}/{version['version']} (content {version['content_id']}) at "
                      f"{version['path']}; report: {version['path']}/report.html")


def _stage_command(name: str, summary: str):
    def command(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
        from docs2qa.pipeline import STAGE_BY_NAME

        cfg, store = _open_run(config, set_, run)
        _report(STAGE_BY_NAME[name].run(cfg, store))

    command.__doc__ = summary[0].upper() + summary[1:] + "."
    # Typer reads the parameter named `set_` as `--set` through the Option above.
    app.command(name)(command)


def _register_stage_commands() -> None:
    from docs2qa.pipeline import STAGES

    for stage in STAGES:
        if stage.name not in _COMMANDS_WITH_OPTIONS:
            _stage_command(stage.name, stage.summary)


_COMMANDS_WITH_OPTIONS = {"generate", "push", "pull", "export", "finetune", "eval"}  # push and pull live under `docs2qa curate`


_register_stage_commands()


@app.command()
def generate(
    config: ConfigOption = None,
    set_: SetOption = None,
    run: RunOption = None,
    max_tokens: Annotated[Optional[int], typer.Option("--max-tokens", help="Token budget; stops cleanly (resumable) when reached.")] = None,
    ray: Annotated[bool, typer.Option("--ray", help="Run the pipeline on a Ray cluster (a local one by default).")] = False,
    ray_address: Annotated[
        Optional[str], typer.Option("--ray-address", help="Join this Ray cluster instead of starting a local one.")
    ] = None,
) -> None:
    """Generate grounded Q&A pairs, judge them, drop failed checks and near-duplicates."""
    from docs2qa.pipeline import STAGE_BY_NAME

    overrides = [*(set_ or []), *([f"generate.max_tokens={max_tokens}"] if max_tokens is not None else [])]
    cfg, store = _open_run(config, overrides, run)
    # generate() takes "" for a local cluster and an address to join one; None means no Ray.
    ray_target = ray_address if ray_address else ("" if ray else None)
    _report(STAGE_BY_NAME["generate"].run(cfg, store, ray=ray_target))


@app.command()
def export(
    config: ConfigOption = None,
    set_: SetOption = None,
    run: RunOption = None,
    push_to_hub: Annotated[
        Optional[str], typer.Option("--push-to-hub", help="Also upload the version to this Hugging Face dataset repo.")
    ] = None,
) -> None:
    """Freeze the accepted pairs into a versioned dataset with card, manifest and report."""
    from docs2qa.pipeline import STAGE_BY_NAME

    cfg, store = _open_run(config, set_, run)
    manifest = STAGE_BY_NAME["export"].run(cfg, store)
    _report(manifest)
    if push_to_hub:
        from docs2qa.curation.hub import push_version

        pushed = push_version(Path(manifest["dataset"]["path"]), push_to_hub, cfg.export)
        print(f"pushed to https://huggingface.co/datasets/{pushed['repo']} at {pushed['commit']} (tag {pushed['tag']})")


@app.command()
def finetune(
    config: ConfigOption = None,
    set_: SetOption = None,
    run: RunOption = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the last checkpoint (same step count).")] = False,
    merge: Annotated[bool, typer.Option("--merge", help="Also write the adapter merged into an un-quantized base.")] = False,
) -> None:
    """QLoRA-tune the base model on a dataset version (multi-GPU: `accelerate launch -m docs2qa finetune ...`)."""
    from docs2qa.pipeline import STAGE_BY_NAME

    cfg, store = _open_run(config, set_, run)
    manifest = STAGE_BY_NAME["finetune"].run(cfg, store, resume=resume, merge=merge)
    if "stage" in manifest:  # the first process of a multi-GPU launch reports
        _report(manifest)


@app.command("eval")
def evaluate(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """Compare the tuned model with its base on the test split (or eval.gold_file)."""
    from docs2qa.pipeline import STAGE_BY_NAME

    cfg, store = _open_run(config, set_, run)
    _report(STAGE_BY_NAME["eval"].run(cfg, store))


@app.command()
def run(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """Run every stage in order, skipping stages that are complete and up to date."""
    from rich.console import Console

    from docs2qa.errors import AwaitingReview
    from docs2qa.pipeline import stages_for

    cfg, store = _open_run(config, set_, run)
    console = Console(stderr=True)
    for stage in stages_for(cfg):
        if not stage.always_run and stage.is_fresh(cfg, store):
            console.print(f"[dim]{stage.name}: up to date, skipped[/]")
            continue
        try:
            _report(stage.run(cfg, store))
        except AwaitingReview as waiting:
            console.print(f"[bold]waiting for review:[/] {waiting}")
            break
    console.print(f"run folder: {store.root}")


@app.command("config")
def show_config(
    config: ConfigOption = None,
    set_: SetOption = None,
    run: Annotated[
        Optional[Path], typer.Option("--run", help="Without -c: the config this run folder was last run with.")
    ] = None,
    reference: Annotated[bool, typer.Option("--reference", help="Print every key with its default and meaning.")] = False,
) -> None:
    """Print the resolved config (after --set), or the reference of every key."""
    if reference:
        from docs2qa.reference import config_reference

        print(config_reference())
        return
    import yaml

    from docs2qa.config import load_config

    if config is None and run is not None:
        config = run / "config.yaml"  # every command that opens a run records its resolved config there
        if not config.is_file():
            raise Docs2qaError(f"{run} holds no config.yaml (no command has run in it)", "pass the config with -c")
    if config is None:
        raise Docs2qaError("no config given", "pass one with -c (or a run folder with --run), or use --reference")
    print(yaml.safe_dump(load_config(config, set_ or []).model_dump(mode="json"), sort_keys=False), end="")


@app.command()
def status(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """Show what each stage of a run holds: counts in/out/dropped by reason, when, config hash."""
    from rich.console import Console

    from docs2qa.pipeline import stages_for

    cfg, store = _open_run(config, set_, run)
    # soft_wrap: reason lists stay on one line each, readable and greppable in any width.
    console = Console(soft_wrap=True)
    console.print(f"[bold]run {store.root}[/]  (config {cfg.hash()})")
    for stage in stages_for(cfg):
        manifest = store.stage(stage.name).manifest()
        if manifest is None:
            console.print(f"  {stage.name:<9} not run")
            continue
        fresh = stage.is_fresh(cfg, store)
        state = "up to date" if fresh else ("stale" if store.stage(stage.name).is_complete() else "unfinished")
        counts = manifest["counts"]
        out = ", ".join(f"{n} {t}" for t, n in counts["out"].items()) or _product(manifest)
        console.print(f"  {stage.name:<9} {state:<10} {counts['in']} in -> {out}; "
                      f"{sum(counts['dropped'].values())} dropped  [dim]{manifest['finished_at']}  "
                      f"config {manifest['config_hash']}  {manifest['wall_s']:.1f}s[/]")
        if counts["dropped"]:
            console.print("            dropped: " + ", ".join(f"{r} {n}" for r, n in counts["dropped"].items()))
        if "tokens" in manifest:
            tokens = ", ".join(f"{step} {t['prompt']}+{t['completion']}" for step, t in manifest["tokens"].items())
            cost = manifest.get("cost_usd")
            console.print(f"            tokens (prompt+completion): {tokens}" + (f"; cost ${cost}" if cost is not None else ""))


def _product(manifest: dict) -> str:
    """What a stage without tables made, in a few words."""
    if "argilla" in manifest:
        return f"{manifest['argilla'].get('records', '?')} records in Argilla"
    if "snapshot" in manifest:
        return f"snapshot {manifest['snapshot']['id']} ({manifest['snapshot'].get('counts', {}).get('accepted', 0)} accepted)"
    if "dataset" in manifest:
        return f"{manifest['dataset']['name']}/{manifest['dataset']['version']}"
    if "finetune" in manifest:
        return f"adapter after {manifest['finetune'].get('global_step', '?')} steps"
    if "eval" in manifest:
        scores = manifest["eval"].get("aggregates", {})
        rouge = {name: agg.get("rouge_l", {}).get("mean") for name, agg in scores.items()}
        return "ROUGE-L " + ", ".join(f"{name} {value:.3f}" for name, value in rouge.items() if value is not None)
    return "done"


curate_app = typer.Typer(no_args_is_help=True, help="Human review in Argilla: serve, push, pull, status, stop.")
app.add_typer(curate_app, name="curate")


@curate_app.command("serve")
def curate_serve(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """Start the local Argilla server (first use builds its environment, about 2 minutes)."""
    import shlex

    from docs2qa.curation.server import serve

    info = serve(_load(config, set_).curate)  # the server belongs to no run: no run folder is written
    # The same options, so that the hint stops this server (--set may move its port or state_dir).
    options = ["-c", str(config), *(word for value in set_ or [] for word in ("--set", value))]
    options += ["--run", str(run)] if run else []
    print(f"Argilla is running at {info.url}\n"
          f"  sign in as {info.username!r}; the password is in {info.state_dir / 'credentials.json'} (mode 0600)\n"
          f"  stop it with: {shlex.join(['docs2qa', 'curate', 'stop', *options])}")


@curate_app.command("stop")
def curate_stop(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """Stop the local Argilla server that `curate serve` started (and nothing else)."""
    from docs2qa.curation.server import stop

    print("stopped" if stop(_load(config, set_).curate) else "nothing was running")


@curate_app.command("push")
def curate_push(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """Send the generated pairs to Argilla with the judge's suggestions (idempotent)."""
    from docs2qa.pipeline import STAGE_BY_NAME

    cfg, store = _open_run(config, set_, run)
    manifest = STAGE_BY_NAME["push"].run(cfg, store)
    _report(manifest)
    summary = manifest["argilla"]
    print(f"{summary['records']} records in dataset {summary['dataset']!r} ({summary['created']} new, "
          f"{summary['updated']} updated)\nreview them at {summary['url']}, then run `docs2qa curate pull`")


@curate_app.command("pull")
def curate_pull(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """Freeze people's decisions into an immutable snapshot of the run."""
    from docs2qa.pipeline import STAGE_BY_NAME

    cfg, store = _open_run(config, set_, run)
    snapshot = STAGE_BY_NAME["pull"].run(cfg, store)["snapshot"]
    _print_curation(snapshot)
    state = "new snapshot" if snapshot["created"] else "unchanged, same snapshot"
    print(f"{state}: {snapshot['path']}")


@curate_app.command("status")
def curate_status(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """Review progress: pending / submitted / discarded, per annotator, and agreement."""
    from docs2qa.curation.pull import collect
    from docs2qa.curation.stage import connect_or_serve

    cfg, store = _open_run(config, set_, run)
    _, summary = collect(cfg.curate, cfg.name, *connect_or_serve(cfg.curate))
    _print_curation(summary)


def _print_curation(summary: dict) -> None:
    import json

    hidden = {"dataset", "path", "created", "id"}
    print(json.dumps({k: summary[k] for k in summary if k not in hidden}, indent=2))


datasets_app = typer.Typer(no_args_is_help=True, help="The versioned dataset store: list, show, diff, verify.")
app.add_typer(datasets_app, name="datasets")
RootOption = Annotated[
    Optional[Path], typer.Option("--root", help="Folder of the dataset store (default: export.root of the config).")
]
RefArgument = Annotated[str, typer.Argument(help="name/version, a name (its newest version) or a version folder.")]


def _dataset_root(root: Path | None, config: Path | None, overrides: list[str] | None) -> Path:
    """--root, else export.root of the config after --set (without -c: of the defaults after --set)."""
    from docs2qa.config import ExportConfig, apply_override, format_validation_error, load_config

    if root is not None:
        return root
    if config is not None:
        return Path(load_config(config, overrides or []).export.root)
    data: dict = {}
    for assignment in overrides or []:
        apply_override(data, assignment)
    try:  # without a config file only the export section matters here
        return Path(ExportConfig.model_validate(data.get("export", {})).root)
    except ValueError as exc:  # pydantic's ValidationError
        problems = format_validation_error(exc, None).replace("\n  ", "\n  export.")  # keys as the user typed them
        raise Docs2qaError(problems, "see `docs2qa config --reference` for the export.* keys") from exc


@datasets_app.command("list")
def datasets_list(config: ConfigOption = None, set_: SetOption = None, root: RootOption = None) -> None:
    """Every version: rows per split, content id, source, when; BROKEN with the reason for a damaged one."""
    from docs2qa.curation.versions import list_versions, read_index, read_manifest

    root = _dataset_root(root, config, set_)
    versions = list_versions(root)
    if not versions:
        print(f"no dataset versions under {root}; make one with `docs2qa export`")
    broken = []
    for dataset in sorted({path.parent for path in versions}):
        try:
            read_index(dataset)
        except Docs2qaError as exc:
            broken.append(f"{dataset.name}/index.json  BROKEN  {exc.message}")
            print(broken[-1])
    for path in versions:
        try:
            m = read_manifest(path)
        except Docs2qaError as exc:  # one damaged version must not hide the others
            broken.append(f"{path.parent.name}/{path.name}  BROKEN  {exc.message}")
            print(broken[-1])
            continue
        counts = " ".join(f"{s}={n}" for s, n in m["counts"].items())
        print(f"{m['name']}/{m['version']}  {counts}  content {m['content_id']}  {m.get('source', '?')}  {m['created_at']}")
    if broken:
        print(f"{len(broken)} broken: `docs2qa datasets verify NAME/VERSION` says what is wrong and what to do",
              file=sys.stderr)


@datasets_app.command("show")
def datasets_show(ref: RefArgument, config: ConfigOption = None, set_: SetOption = None, root: RootOption = None) -> None:
    """A version's manifest: lineage, settings, statistics, files."""
    import json

    from docs2qa.curation.versions import read_manifest, resolve_version

    print(json.dumps(read_manifest(resolve_version(ref, _dataset_root(root, config, set_))), indent=2, ensure_ascii=False))


@datasets_app.command("diff")
def datasets_diff(a: RefArgument, b: RefArgument, config: ConfigOption = None, set_: SetOption = None,
                  root: RootOption = None) -> None:
    """Pairs added, removed and changed from version A to version B, and the statistics delta."""
    import json

    from docs2qa.curation.compare import diff
    from docs2qa.curation.versions import resolve_version

    root = _dataset_root(root, config, set_)
    result = diff(resolve_version(a, root), resolve_version(b, root))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"{len(result['added'])} added, {len(result['removed'])} removed, {len(result['changed'])} changed",
          file=sys.stderr)


@datasets_app.command("verify")
def datasets_verify(ref: RefArgument, config: ConfigOption = None, set_: SetOption = None,
                    root: RootOption = None) -> None:
    """Check every byte of a version against its manifest (exit 1 on any change)."""
    from docs2qa.curation.versions import resolve_version, verify_version

    path = resolve_version(ref, _dataset_root(root, config, set_))
    verify_version(path)
    print(f"{path}: ok")


def _context_named_in(argv: list[str]):
    """A context of the deepest command that argv names, to print that command's usage line."""
    from typer.core import TyperGroup

    command = typer.main.get_command(app)
    ctx = command.make_context(_prog_name(), [], resilient_parsing=True)
    for word in argv:  # groups take only flags, so a word that names a subcommand is one
        if word.startswith("-"):
            continue
        if not isinstance(command, TyperGroup) or word not in command.commands:
            break
        command = command.commands[word]
        ctx = command.make_context(word, [], parent=ctx, resilient_parsing=True)
    return ctx


def _prog_name() -> str:
    # As click names it: `python -m docs2qa` runs __main__.py, the console script is `docs2qa`.
    return "python -m docs2qa" if Path(sys.argv[0]).name == "__main__.py" else Path(sys.argv[0]).name


_INTERRUPTED = 130  # what typer returns, instead of raising, for a Ctrl-C in non-standalone mode


def main() -> None:
    # typer (0.26+) vendors click: its errors derive from typer.TyperException (0.28+), not from click's classes.
    try:
        code = app(prog_name=_prog_name(), standalone_mode=False)
    except Docs2qaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors (exit 2) print the usage line and the problem
        if getattr(exc, "ctx", False) is None:  # the parser raises some (`-c` without a value) without their command
            exc.ctx = _context_named_in(sys.argv[1:])
        exc.show()
        sys.exit(exc.exit_code)
    except typer.Abort:  # end of input at a prompt
        sys.exit(1)
    except KeyboardInterrupt:  # outside a command (typer turns one inside into exit code 130)
        code = _INTERRUPTED
    if code == _INTERRUPTED:
        print("interrupted: rerun the same command to resume", file=sys.stderr)
    # A command returns None; typer returns Exit's code (help, --version, Ctrl-C) instead of exiting.
    if isinstance(code, int) and code:
        sys.exit(code)
