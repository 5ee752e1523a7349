"""`docs2qa` command line: one command per stage, `run` for all of them, `status`.

Kept thin and import-light: each command imports its stage only when it runs.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

# typer exports only the base of its vendored click errors (TyperException); show() and a usage
# error's ctx are on these subclasses, the ones typer's own main() catches. Loaded by `import typer`.
from typer._click.exceptions import ClickException, UsageError

from docs2qa.errors import ConfigError, Docs2qaError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from typer._click.core import Context

    from docs2qa.config import Config, ConfigBase, ExportConfig
    from docs2qa.pipeline import Manifest, Stage
    from docs2qa.store import RunStore

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
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Debug lines from docs2qa, and third-party warnings.")
    ] = False,
) -> None:
    from docs2qa.logs import configure

    configure(verbose)


ConfigOption = Annotated[
    list[Path] | None,
    typer.Option(
        "-c",
        "--config",
        help="YAML config file, e.g. configs/demo.yaml; repeat it to stack presets in order, the later one winning.",
    ),
]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="Override a key: --set crawl.max_pages=20 (repeatable).")
]
RunOption = Annotated[Path | None, typer.Option("--run", help="Run folder (default: runs/<config name>).")]
DryRunOption = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Print what it would do (and, for generate, the tokens, time and cost); load no model, write nothing.",
    ),
]


def _load(config_path: list[Path] | None, overrides: list[str] | None) -> ConfigBase:
    from docs2qa.config import load_config

    if not config_path:
        raise ConfigError("no config given", "pass one with -c, e.g. `docs2qa run -c configs/demo.yaml`")
    return load_config(config_path, overrides or [])


def _export_config(config: list[Path] | None, overrides: list[str] | None) -> ExportConfig:
    """The export section of the config after --set (without -c: the defaults after --set)."""
    from pydantic import ValidationError

    from docs2qa.config import ExportConfig, apply_override, format_validation_error

    if config:
        whole: Config = _load(config, overrides)  # with the sections the stage packages declare
        section: ExportConfig = whole.export
        return section
    data: dict[str, Any] = {}
    for assignment in overrides or []:
        apply_override(data, assignment)
    try:  # without a config file only the export section matters here
        return ExportConfig.model_validate(data.get("export", {}))
    except ValidationError as exc:
        problems = format_validation_error(exc, None).replace("\n  ", "\n  export.")  # keys as the user typed them
        raise ConfigError(problems, "see `docs2qa config --reference` for the export.* keys") from exc


def _open_run(
    config_path: list[Path] | None,
    overrides: list[str] | None,
    run_dir: Path | None,
    read_only: bool = False,
    dry_run: bool = False,
) -> tuple[ConfigBase, RunStore]:
    """The config and the run folder; records the config there and logs to it. `read_only`
    (status): nothing is written, and the folder must exist: a look with other --set values must
    not rewrite the config the run used, nor one from another directory create an empty run.
    `dry_run`: nothing is written at all, not even the config or the log."""
    from docs2qa.logs import to_file
    from docs2qa.store import RunStore

    config = _load(config_path, overrides)
    store = RunStore(run_dir or Path("runs") / config.name)
    if store.root.exists() and not store.root.is_dir():
        raise Docs2qaError(f"the run folder {store.root} is a file", "pass --run with a folder (new or existing)")
    if read_only and not store.root.is_dir():
        raise Docs2qaError(
            f"there is no run folder {store.root.absolute()}",
            "run this in the folder you ran `docs2qa run` in, or pass --run with the run folder",
        )
    if dry_run or read_only:
        return config, store
    try:
        store.save_config(config.model_dump(mode="json"), config.hash())
        to_file(store.root)  # third-party warnings and chatter land here, not on the terminal (-v shows them)
    except OSError as exc:  # a parent that is a file, no permission, a full disk
        raise Docs2qaError(
            f"cannot write the run folder {store.root}: {exc.strerror or exc}", "pass --run with a folder you can write"
        ) from exc
    return config, store


def _report(stage: Stage, manifest: Manifest) -> None:
    """The run summary of one stage: counts, drops by reason, time, then what its describe() adds."""
    from rich.console import Console

    described = stage.describe(manifest)
    counts = manifest["counts"]
    out = ", ".join(f"{n} {table}" for table, n in counts["out"].items()) or described.product or "done"
    reasons = ", ".join(f"{reason} {n}" for reason, n in counts["dropped"].items())
    dropped = f"{sum(counts['dropped'].values())} dropped" + (f" ({reasons})" if reasons else "")
    if described.dropped is not None:
        dropped = described.dropped
    # soft_wrap: paths stay whole, copyable and greppable; highlight=False: no number painted in
    # pieces ("1." and "6s" of "1.6s") and no URL underlined into the comma after it.
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    earlier = manifest.get("wall_s_earlier_runs")  # a resumed stage: the interrupted runs did the rest
    resumed = f" (+{earlier:.1f}s in the earlier runs it resumed)" if earlier else ""
    console.print(
        f"[bold]{manifest['stage']}[/]: {counts['in']} in -> {out}; {dropped} in {manifest['wall_s']:.1f}s{resumed}"
    )
    for note in described.notes:
        console.print(f"  {note}")


def _stage_command(stage: Stage) -> None:
    """`docs2qa <stage>` from the stage's declaration: -c/--set/--run plus the options it declares."""
    import inspect

    options = {option.param: option for option in stage.options}

    def command(
        config: list[Path] | None = None, set_: list[str] | None = None, run: Path | None = None, **extra: Any
    ) -> None:
        dry_run = extra.pop("dry_run", False)
        overrides = [
            *(set_ or []),
            *(
                f"{options[name].override}={value}"
                for name, value in extra.items()
                if options[name].override and value is not None
            ),
        ]
        cfg, store = _open_run(config, overrides, run, dry_run=dry_run)
        if dry_run:
            _print_plan(
                [f"[bold]{stage.name} --dry-run[/] of {store.root}: nothing loaded, nothing written"],
                stage.plan(cfg, store, **extra),
                indent=2,
            )
            return
        manifest = stage.run(cfg, store, **stage.cli_arguments(extra))
        if manifest and "counts" in manifest:  # under `accelerate launch` only the first process records
            _report(stage, manifest)

    parameters = [
        inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ConfigOption),
        inspect.Parameter("set_", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=SetOption),
        inspect.Parameter("run", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=RunOption),
        *(
            inspect.Parameter(
                o.param,
                inspect.Parameter.KEYWORD_ONLY,
                default=o.default,
                annotation=Annotated[o.type if o.type is bool else o.type | None, typer.Option(o.flag, help=o.help)],
            )
            for o in stage.options
        ),
        *(
            [inspect.Parameter("dry_run", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=DryRunOption)]
            if stage.dry_run
            else []
        ),
    ]
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    command.__doc__ = stage.help or stage.summary[0].upper() + stage.summary[1:] + "."
    # Typer reads the parameter named `set_` as `--set` through the Option above.
    app.command(stage.name)(command)


def register_stage_commands() -> None:
    """Called by main(), not on import: declarations live in the stage packages, which `import
    docs2qa.cli` must not load. The stage commands go first in --help, in pipeline order, then
    the command groups the packages add (`curate`, `datasets`)."""
    import importlib

    from docs2qa.pipeline import stages
    from docs2qa.registry import COMMAND_GROUPS

    if any(info.name == "crawl" for info in app.registered_commands):
        return
    before = len(app.registered_commands)
    for stage in stages():
        if not stage.command:  # push and pull live under `docs2qa curate`
            _stage_command(stage)
    added = app.registered_commands[before:]
    app.registered_commands[:] = [*added, *app.registered_commands[:before]]
    for name, target in COMMAND_GROUPS:
        module, _, attribute = target.partition(":")
        app.add_typer(getattr(importlib.import_module(module), attribute), name=name)


@app.command()
def run(
    config: ConfigOption = None, set_: SetOption = None, run: RunOption = None, dry_run: DryRunOption = False
) -> None:
    """Run every stage in order, skipping stages that are complete and up to date."""
    from rich.console import Console

    from docs2qa import run_lock
    from docs2qa.errors import AwaitingReview
    from docs2qa.pipeline import stages_for

    if dry_run:
        _dry_run(*_open_run(config, set_, run, dry_run=True))
        return
    cfg, store = _open_run(config, set_, run)
    console = Console(stderr=True)
    # One writer for the whole run, not per stage: between two stages another command could
    # otherwise take the folder and change what the next stage reads (the lock is re-entrant).
    with run_lock.writing(store.root, "run"):
        for stage in stages_for(cfg):  # a missing package stops the run before any work, not after it
            stage.check_requirements(cfg)
        for stage in stages_for(cfg):
            if not stage.always_run and stage.is_fresh(cfg, store):
                console.print(f"[dim]{stage.name}: up to date, skipped[/]")
                continue
            try:
                _report(stage, stage.run(cfg, store))
            except AwaitingReview as waiting:
                console.print(f"[bold]waiting for review:[/] {waiting}")
                break
    from docs2qa.recap import recap

    Console(stderr=True, soft_wrap=True).print(recap(cfg, store, config, set_, run), markup=False, highlight=False)


def _dry_run(cfg: ConfigBase, store: RunStore) -> None:
    """What `docs2qa run` would do, stage by stage, read from the run folder; writes nothing
    (no config, log, lock or manifest) and loads no model."""
    from docs2qa.pipeline import stages_for

    header = [f"[bold]run --dry-run[/] of {store.root} (config {cfg.hash()}): nothing loaded, nothing written"]
    planned = stages_for(cfg)
    for stage in planned:
        try:
            stage.check_requirements(cfg)
        except Docs2qaError as exc:  # the run checks every stage's packages before any work
            header.append(f"[bold red]the run would stop before any work:[/] {exc} (-> {exc.hint})")
    _print_plan(header)
    runs: set[str] = set()  # stages that would (or may) run: what reads them may run too
    for stage in planned:
        upstream = [i for i in stage.inputs_for(cfg) if i in runs]
        reasons = [] if stage.always_run else stage.stale_reasons(cfg, store)
        if stage.always_run:
            state = "would run (it always runs: it reads state outside the run)"
        elif reasons:
            state = "would run (" + ", ".join(reasons) + ")"
        elif upstream:
            state = f"may run: after {', '.join(upstream)}, if that changes what it reads"
        else:
            _print_plan([f"  {stage.name:<9} up to date: skipped"])
            continue
        runs.add(stage.name)
        lines: list[Any] = [f"  {stage.name:<9} {state}"]
        if stage.dry_run:
            plan = stage.plan(cfg, store)
            if upstream:
                plan.append(f"(from what {', '.join(upstream)} holds now: it runs first and may change it)")
            _print_plan(lines, plan, indent=12)
        else:
            _print_plan(lines)


def _print_plan(lines: list[Any], details: Sequence[Any] = (), indent: int = 0) -> None:
    """`lines` (with rich markup), then a stage's plan `details` (plain text, or a rich
    renderable such as a table), indented."""
    from rich.console import Console
    from rich.padding import Padding

    # soft_wrap: one line per fact, greppable; highlight=False: numbers stay whole.
    console = Console(soft_wrap=True, highlight=False)
    for line in lines:
        console.print(line)
    for detail in details:
        if isinstance(detail, str):
            console.print(" " * indent + detail, markup=False)
        else:
            console.print(Padding(detail, (0, 0, 0, indent), expand=False))


@app.command("config")
def show_config(
    config: ConfigOption = None,
    set_: SetOption = None,
    run: Annotated[
        Path | None, typer.Option("--run", help="Without -c: the config this run folder was last run with.")
    ] = None,
    reference: Annotated[
        bool, typer.Option("--reference", help="Print every key with its default and meaning.")
    ] = False,
) -> None:
    """Print the resolved config (after --set) with where each value came from, or the reference of every key."""
    if reference:
        from docs2qa.reference import config_reference

        print(config_reference())
        return
    from docs2qa.config import resolve_config
    from docs2qa.config_view import annotated_yaml, inherited_warnings

    if not config and run is not None:
        config = [run / "config.yaml"]  # every command that opens a run records its resolved config there
        if not config[0].is_file():
            raise ConfigError(f"{run} holds no config.yaml (no command has run in it)", "pass the config with -c")
    if not config:
        raise ConfigError("no config given", "pass one with -c (or a run folder with --run), or use --reference")
    resolved, sources, inherited = resolve_config(config, set_ or [])
    print(annotated_yaml(resolved.model_dump(mode="json"), sources, inherited), end="")
    for warning in inherited_warnings(inherited, sources):
        print(warning, file=sys.stderr)


@app.command()
def status(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """Show what each stage of a run holds: counts, drops by reason, when, and why it is stale."""
    from rich.console import Console

    from docs2qa.pipeline import stages_for

    cfg, store = _open_run(config, set_, run, read_only=True)
    # soft_wrap: reason lists stay on one line each, readable and greppable in any width.
    console = Console(soft_wrap=True)
    console.print(f"[bold]run {store.root}[/]  (config {cfg.hash()})")
    for stage in stages_for(cfg):
        folder = store.stage(stage.name)
        manifest = folder.manifest()
        if manifest is None:
            if folder.manifest_unreadable():
                console.print(
                    f"  {stage.name:<9} manifest unreadable: rerun `docs2qa {stage.command or stage.name}`",
                    markup=False,
                )
            else:
                console.print(f"  {stage.name:<9} not run")
            continue
        stale = stage.stale_reasons(cfg, store)
        if stale[:1] and stale[0].startswith("damaged"):
            console.print(f"  {stage.name:<9} {stale[0]}: rerun `docs2qa {stage.command or stage.name}`", markup=False)
            continue
        state = "up to date" if not stale else ("unfinished" if stale == ["unfinished"] else "stale")
        counts = manifest["counts"]
        described = stage.describe(manifest)
        out = ", ".join(f"{n} {t}" for t, n in counts["out"].items()) or described.product or "done"
        dropped = described.dropped if described.dropped is not None else f"{sum(counts['dropped'].values())} dropped"
        console.print(
            f"  {stage.name:<9} {state:<10} {counts['in']} in -> {out}; "
            f"{dropped}  [dim]{manifest['finished_at']}  "
            f"config {manifest['config_hash']}  {manifest['wall_s']:.1f}s[/]"
        )
        if state == "stale":
            console.print("            stale: " + ", ".join(stale) + " changed")
        if counts["dropped"] and described.dropped is None:  # else the line above gave the reasons
            console.print("            dropped: " + ", ".join(f"{r} {n}" for r, n in counts["dropped"].items()))
        for note in described.notes:
            console.print(f"            {note}")


def _context_named_in(argv: list[str]) -> Context:
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
    from docs2qa.logs import close_file

    try:
        _main()
    finally:
        close_file()  # an in-process caller (tests) keeps no handler or pointer to this run's log


def _main() -> None:
    # typer (0.26+) vendors click: its errors are typer's ClickException (a TyperException, 0.28+), not click's classes.
    try:
        register_stage_commands()
        code = app(prog_name=_prog_name(), standalone_mode=False)
    except Docs2qaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:
        # A disk full or turned read-only under a command: the run's state is resumable (a
        # stage's marker is written last), so this is one line and the rerun, not a traceback.
        from docs2qa.fsio import storage_error

        cause = storage_error(exc)
        if cause is None:
            raise
        where = cause.filename or "the run folder"
        rerun = shlex.join(["docs2qa", *sys.argv[1:]])
        print(f"error: {where}: {os.strerror(cause.errno or 0)}", file=sys.stderr)
        print(
            f"  -> free space there or make it writable, then rerun `{rerun}`: finished work is kept", file=sys.stderr
        )
        sys.exit(1)
    except ClickException as exc:  # usage errors (exit 2) print the usage line and the problem
        if isinstance(exc, UsageError) and exc.ctx is None:  # the parser raises some (`-c` without a value) bare
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
