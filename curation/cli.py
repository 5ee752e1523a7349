"""`docs2qa curate ...` and `docs2qa datasets ...`: the command groups of the curation package.

Core's CLI (docs2qa/cli.py) adds them by name (docs2qa/registry.py), so that core imports no
stage package; the stage commands themselves (`curate push`, `curate pull`) run the declared stages.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from docs2qa.cli import ConfigOption, RunOption, SetOption, _export_config, _load, _open_run, _report
from docs2qa.errors import Docs2qaError

if TYPE_CHECKING:
    from docs2qa.config import Config


def _config(config: list[Path] | None, overrides: list[str] | None) -> Config:
    """The whole config, the stage packages' sections (curate, export) included."""
    return _load(config, overrides)


curate_app = typer.Typer(no_args_is_help=True, help="Human review in Argilla: serve, users, push, pull, status, stop.")


@curate_app.command("serve")
def curate_serve(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """Start the local Argilla server (first use builds its environment, about 2 minutes)."""
    import shlex

    from docs2qa.curation.server import serve
    from docs2qa.recap import command_options

    info = serve(_config(config, set_).curate)  # the server belongs to no run: no run folder is written
    # The same options, so that the hint stops this server (--set may move its port or state_dir).
    options = command_options(config, set_, run)
    print(
        f"Argilla is running at {info.url}\n"
        f"  sign in as {info.username!r}; the password is in {info.state_dir / 'credentials.json'} (mode 0600)\n"
        f"  stop it with: {shlex.join(['docs2qa', 'curate', 'stop', *options])}"
    )


@curate_app.command("stop")
def curate_stop(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """Stop the local Argilla server that `curate serve` started (and nothing else)."""
    from docs2qa.curation.server import stop

    print("stopped" if stop(_config(config, set_).curate) else "nothing was running")


@curate_app.command("push")
def curate_push(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """Send the generated pairs to Argilla with the judge's suggestions (idempotent)."""
    from docs2qa.pipeline import stage_named
    from docs2qa.recap import next_command

    cfg, store = _open_run(config, set_, run)
    stage = stage_named("push")
    manifest = stage.run(cfg, store)
    _report(stage, manifest)
    summary = manifest["argilla"]
    print(
        f"{summary['records']} records in dataset {summary['dataset']!r} ({summary['created']} new, "
        f"{summary['updated']} updated)\nreview them at {summary['url']}, then run `{next_command('curate', 'pull')}`"
    )


JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary as JSON (for programs), not tables.")]


@curate_app.command("pull")
def curate_pull(
    config: ConfigOption = None, set_: SetOption = None, run: RunOption = None, as_json: JsonOption = False
) -> None:
    """Freeze people's decisions into an immutable snapshot of the run."""
    from docs2qa.pipeline import stage_named

    cfg, store = _open_run(config, set_, run)
    snapshot = stage_named("pull").run(cfg, store)["snapshot"]
    if as_json:  # the snapshot's id, path and `created` are in it: nothing else goes to stdout
        print(json.dumps(snapshot, indent=2, ensure_ascii=False))
        return
    from docs2qa.curation.summary_view import print_summary

    print_summary(snapshot)
    state = "new snapshot" if snapshot["created"] else "unchanged, same snapshot"
    print(f"{state}: {snapshot['path']}")


@curate_app.command("status")
def curate_status(
    config: ConfigOption = None, set_: SetOption = None, run: RunOption = None, as_json: JsonOption = False
) -> None:
    """Review progress: outcomes, per annotator, agreement, and the judge against people."""
    from docs2qa.curation.pull import collect
    from docs2qa.curation.server import connection
    from docs2qa.curation.summary_view import print_summary

    cfg = _config(config, set_)  # reads Argilla only: no run folder is written
    # Looks only: a server that does not answer here is reported, never stopped, started or moved.
    api_url, api_key = connection(cfg.curate)
    _, summary = collect(cfg.curate, cfg.name, api_url, api_key)
    if as_json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        from docs2qa.curation.push import review_url

        print_summary(summary, url=review_url(api_url, summary["dataset"]["id"]))


users_app = typer.Typer(no_args_is_help=True, help="The people who review: annotator accounts in the run's workspace.")
curate_app.add_typer(users_app, name="users")
NameArgument = Annotated[str, typer.Argument(help="The annotator's username.")]


@users_app.command("add")
def users_add(name: NameArgument, config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """An annotator account in the workspace; its password goes to a 0600 file, never to the screen."""
    from docs2qa.curation.annotators import add, check_name
    from docs2qa.curation.stage import connect_or_serve
    from docs2qa.recap import next_command

    check_name(name)
    cfg = _config(config, set_)  # the server's accounts belong to no run: no run folder is written
    api_url, api_key = connect_or_serve(cfg.curate)
    added = add(cfg.curate, cfg.name, api_url, api_key, name)
    needed = cfg.curate.annotators_per_record
    print(
        f"annotator {name!r} can sign in at {api_url} in workspace {cfg.curate.workspace!r}\n"
        f"  username, password and API key are in {added['path']} (mode 0600): hand that file to them"
    )
    if added["existed"]:
        print("  the account existed: its password is new, the old one no longer works")
    if added["dataset"] is None:
        print(f"  each record will need {needed} submitted response(s) once `{next_command('curate', 'push')}` runs")
    elif added["distribution_set"]:
        print(
            f"  dataset {added['dataset']!r} now needs {needed} submitted response(s) per record; "
            f"run `{next_command('curate', 'push')}` so its guidelines say so"
        )
    if added["annotators"] < needed:
        print(f"  {added['annotators']} annotator(s) in the workspace; records need {needed} each: add more")


@users_app.command("list")
def users_list(config: ConfigOption = None, set_: SetOption = None, run: RunOption = None) -> None:
    """Everyone in the run's workspace, with the credentials file docs2qa wrote for them."""
    from docs2qa.curation.annotators import members
    from docs2qa.curation.stage import connect_or_serve

    cfg = _config(config, set_)
    people = members(cfg.curate, *connect_or_serve(cfg.curate))
    if not people:
        print(f"nobody in workspace {cfg.curate.workspace!r}; add someone with `docs2qa curate users add NAME`")
    for person in people:
        print(f"{person['username']}  {person['role']}  {person['credentials'] or '(no credentials file here)'}")


@users_app.command("remove")
def users_remove(
    name: NameArgument, config: ConfigOption = None, set_: SetOption = None, run: RunOption = None
) -> None:
    """Take an annotator out of the workspace and lock the account; their responses stay."""
    from docs2qa.curation.annotators import check_name, remove
    from docs2qa.curation.stage import connect_or_serve

    check_name(name)
    cfg = _config(config, set_)
    removed = remove(cfg.curate, *connect_or_serve(cfg.curate), name)
    where = f"removed from workspace {cfg.curate.workspace!r}" if removed["was_member"] else "was in no such workspace"
    print(
        f"annotator {name!r} {where}; the account is locked (new password, written nowhere); "
        "their submitted responses stay and still count"
    )


datasets_app = typer.Typer(no_args_is_help=True, help="The versioned dataset store: list, show, diff, verify, push.")
RootOption = Annotated[
    Path | None, typer.Option("--root", help="Folder of the dataset store (default: export.root of the config).")
]
RefArgument = Annotated[str, typer.Argument(help="name/version, a name (its newest version) or a version folder.")]


def _dataset_root(root: Path | None, config: list[Path] | None, overrides: list[str] | None) -> Path:
    """--root, else export.root of the config after --set (without -c: of the defaults after --set)."""
    return root if root is not None else Path(_export_config(config, overrides).root)


@datasets_app.command("list")
def datasets_list(config: ConfigOption = None, set_: SetOption = None, root: RootOption = None) -> None:
    """Every version: rows per split, content id, source, when; BROKEN with the reason for a damaged one."""
    from docs2qa.datastore.versions import INDEX, list_versions, read_index, read_manifest, seal_problems

    root = _dataset_root(root, config, set_)
    versions = list_versions(root)
    if not versions:
        print(f"no dataset versions under {root}; make one with `docs2qa export`")
    broken = []
    entries: dict[Path, list[dict[str, str]] | None] = {}
    for dataset in sorted({path.parent for path in versions}):
        entries[dataset] = None  # no readable index: said once here, not again per version
        if not (dataset / INDEX).is_file():
            broken.append(f"{dataset.name}/{INDEX}  MISSING  nothing seals the versions of {dataset.name}")
            print(broken[-1])
            continue
        try:
            entries[dataset] = read_index(dataset)
        except Docs2qaError as exc:
            broken.append(f"{dataset.name}/{INDEX}  BROKEN  {exc.message}")
            print(broken[-1])
    for path in versions:
        try:
            m = read_manifest(path)
            problems = seal_problems(path, m, entries[path.parent])
        except Docs2qaError as exc:  # one damaged version must not hide the others
            problems = [exc.message]
        if problems:
            broken.append(f"{path.parent.name}/{path.name}  BROKEN  {'; '.join(problems)}")
            print(broken[-1])
            continue
        counts = " ".join(f"{s}={n}" for s, n in m["counts"].items())
        source = m.get("source", "?")
        print(f"{m['name']}/{m['version']}  {counts}  content {m['content_id']}  {source}  {m['created_at']}")
    if broken:
        print(
            f"{len(broken)} broken: `docs2qa datasets verify NAME/VERSION` says what is wrong and what to do",
            file=sys.stderr,
        )


@datasets_app.command("show")
def datasets_show(
    ref: RefArgument, config: ConfigOption = None, set_: SetOption = None, root: RootOption = None
) -> None:
    """A version's manifest: lineage, settings, statistics, files."""
    from docs2qa.datastore.versions import read_manifest, resolve_version

    print(
        json.dumps(read_manifest(resolve_version(ref, _dataset_root(root, config, set_))), indent=2, ensure_ascii=False)
    )


@datasets_app.command("diff")
def datasets_diff(
    a: RefArgument, b: RefArgument, config: ConfigOption = None, set_: SetOption = None, root: RootOption = None
) -> None:
    """Pairs added, removed and changed from version A to version B, and the statistics delta."""
    from docs2qa.datastore.compare import diff
    from docs2qa.datastore.versions import resolve_version

    root = _dataset_root(root, config, set_)
    result = diff(resolve_version(a, root), resolve_version(b, root))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(
        f"{len(result['added'])} added, {len(result['removed'])} removed, {len(result['changed'])} changed",
        file=sys.stderr,
    )


RepoArgument = Annotated[str, typer.Argument(help="The Hub dataset repo, OWNER/NAME (created if it does not exist).")]


@datasets_app.command("push")
def datasets_push(
    ref: RefArgument, repo: RepoArgument, config: ConfigOption = None, set_: SetOption = None, root: RootOption = None
) -> None:
    """Upload a version to a Hugging Face dataset repo, tagged with its version (token: $HF_TOKEN)."""
    from docs2qa.datastore.hub import push_version
    from docs2qa.datastore.versions import resolve_version

    path = resolve_version(ref, _dataset_root(root, config, set_))
    pushed = push_version(path, repo, _export_config(config, set_))
    print(f"pushed to https://huggingface.co/datasets/{pushed['repo']} at {pushed['commit']} (tag {pushed['tag']})")


@datasets_app.command("verify")
def datasets_verify(
    ref: RefArgument, config: ConfigOption = None, set_: SetOption = None, root: RootOption = None
) -> None:
    """Check every byte of a version against its manifest (exit 1 on any change)."""
    from docs2qa.datastore.versions import resolve_version, verify_version

    path = resolve_version(ref, _dataset_root(root, config, set_))
    verify_version(path)
    print(f"{path}: ok")
