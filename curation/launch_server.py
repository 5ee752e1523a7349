"""Entry point of every argilla-server process docs2qa starts (server, worker, setup).

Run by the Argilla service venv's Python, never imported by docs2qa: server.py copies
this file and osmem_engine.py into <state_dir>/launcher/ and runs it by path. A copy
rather than the package folder because running a script puts its folder first on
sys.path, and docs2qa's curation/ folder holds modules (server.py, ...) that must not
shadow anything the server imports.

    python launch_server.py worker --num-workers 1                   # any argilla_server command
    python launch_server.py serve [--reindex] --host H --port P      # setup, then `start`

Every command first loads its secrets (the Redis URL, the session key, the owner's
credentials) from the 0600 file named by $DOCS2QA_SERVICE_SECRETS into this process's own
os.environ, where argilla_server's settings read them. They never travel in the exec'd
environment nor in argv: /proc/PID/environ and /proc/PID/cmdline would show them for the
life of the process and of every child rq forks from it (a fork copies the environment
as it was at exec, not os.environ's later changes, so the forks do not show them either).

`serve` then migrates the database, creates the owner from DOCS2QA_OWNER_USERNAME /
DOCS2QA_OWNER_PASSWORD / DOCS2QA_OWNER_API_KEY (or brings an existing one in line) and,
with --reindex, rebuilds the search indices (osmem keeps nothing across restarts); then
it runs `start` in the same process. Each argilla_server process costs ~7 s of imports
on a small machine, so one process instead of four is most of a restart's time. The
user-creation echo (which prints the API key) is swallowed so the key never reaches the log.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys


def _run(app, args: list[str]) -> None:
    try:
        app(args, standalone_mode=False)
    except SystemExit as exc:  # typer.Exit inside a command
        if exc.code not in (0, None):
            raise


def setup(app, reindex: bool) -> None:
    import asyncio

    from argilla_server.database import AsyncSessionLocal
    from argilla_server.models import User

    _run(app, ["database", "migrate"])

    username = os.environ["DOCS2QA_OWNER_USERNAME"]
    password = os.environ["DOCS2QA_OWNER_PASSWORD"]
    api_key = os.environ["DOCS2QA_OWNER_API_KEY"]

    async def sync_owner() -> bool:
        """True when the owner exists; its key and password are made to match the
        credentials file (which may have been regenerated after being deleted)."""
        from argilla_server.contexts.accounts import hash_password, verify_password

        async with AsyncSessionLocal() as session:
            user = await User.get_by(session, username=username)
            if user is None:
                return False
            if user.api_key != api_key or not verify_password(password, user.password_hash):
                user.api_key = api_key
                user.password_hash = hash_password(password)
                await session.commit()
                print(f"updated the credentials of owner {username!r}", flush=True)
            return True

    if not asyncio.run(sync_owner()):
        with contextlib.redirect_stdout(io.StringIO()):
            _run(
                app,
                [
                    "database",
                    "users",
                    "create",
                    "--username",
                    username,
                    "--password",
                    password,
                    "--api-key",
                    api_key,
                    "--role",
                    "owner",
                    "--first-name",
                    username,
                ],
            )
        print(f"created owner user {username!r}", flush=True)
    if reindex:
        _run(app, ["search-engine", "reindex"])
    # The setup steps ran in event loops that are closed now; uvicorn's loop must not
    # inherit their pooled connections.
    from argilla_server.database import async_engine

    async_engine.sync_engine.dispose(close=False)
    print("setup done", flush=True)


def children_die_with_their_parent() -> None:
    """rq's pool forks a process per worker, and each worker forks one per job. Were the
    pool killed (SIGKILL, the OOM killer), they would run on as orphans holding Redis
    connections; the kernel's parent-death signal ends each one with its parent instead."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    forking: dict[str, int] = {}  # the pid that forks, recorded just before it does

    def armed() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != forking["pid"]:  # the parent died before the watch was set
            os._exit(1)

    os.register_at_fork(before=lambda: forking.update(pid=os.getpid()), after_in_child=armed)


def load_secrets() -> None:
    """Before anything imports argilla_server, whose settings read os.environ once."""
    with open(os.environ["DOCS2QA_SERVICE_SECRETS"]) as handle:
        os.environ.update(json.load(handle))


def main(argv: list[str]) -> None:
    load_secrets()
    import osmem_engine  # noqa: F401  (registers the "osmem" engine in this process)
    from argilla_server.cli import app

    if argv[:1] == ["worker"]:
        children_die_with_their_parent()
    if argv[:1] == ["serve"]:
        rest = [a for a in argv[1:] if a != "--reindex"]
        setup(app, reindex="--reindex" in argv[1:])
        app(["start", *rest])
    else:
        app(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
