"""`docs2qa curate serve | stop`: a local Argilla stack that docs2qa starts and owns.

Four services, all bound to loopback except the web server (cfg.host): redis (rq job
queue, password-protected), the search backend (osmem, an in-memory OpenSearch API with
no authentication of its own, so it runs in a private network namespace reached only
through a 0600 Unix socket: private_search.py), argilla-server (API + web UI) and its rq
worker. The SQLite database and generated credentials live in cfg.state_dir; osmem keeps
nothing on disk, so every start rebuilds the search indices from the database.

Every process started here carries $DOCS2QA_ARGILLA_STATE=<state_dir> in its
environment, which its own children inherit: `stop` ends the recorded processes, then
any process still carrying the tag (children orphaned by a killed parent, or services a
killed `serve` started but had not recorded yet).
How processes are started, recognised and stopped lives in process_groups.py.

state_dir/
  venv/              the service's own Python (service_env.py)
  launcher/          launch_server.py, osmem_engine.py, private_search.py (copied from here)
  search.sock        the search backend's Unix socket (mode 0600)
  home/argilla.db    all curated data (ARGILLA_HOME_PATH)
  credentials.json   owner username, password, API key (mode 0600)
  service-secrets.json  what the server and worker read at start: owner credentials, the
                     session key, the Redis URL with its password (mode 0600; never in a
                     process environment or command line, where /proc shows them)
  redis.conf         loopback-only, password-protected, no persistence (mode 0600)
  pids.json          what `serve` started, so `stop` ends exactly that
  logs/              one log per process
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from docs2qa.curation.config import CurateConfig
from docs2qa.errors import Docs2qaError, ServiceError
from docs2qa.secrets import env_secret

from . import process_groups
from .argilla_api import answers_as
from .service_env import ensure_service_venv, tail

USERNAME = "docs2qa"
STOP_ORDER = ("worker", "server", "search", "redis")  # rq's pool takes ~30 s to exit once redis is gone
LAUNCHER_FILES = ("launch_server.py", "osmem_engine.py", "private_search.py")
STATE_TAG = "DOCS2QA_ARGILLA_STATE"  # environment variable naming the state dir of a service process
SECRETS_VAR = "DOCS2QA_SERVICE_SECRETS"  # environment variable naming the file launch_server.py reads secrets from
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with the terminating NUL
READY_TIMEOUT_S = 300.0  # migration + reindex + start; a loaded 2-core machine needs ~30 s


@dataclass(frozen=True)
class ServerInfo:
    url: str
    api_key: str
    username: str
    password: str
    state_dir: Path

    def __repr__(self) -> str:  # keeps secrets out of tracebacks and test logs
        return f"ServerInfo(url={self.url!r}, username={self.username!r}, state_dir={str(self.state_dir)!r})"


class _Paths:
    def __init__(self, root: Path):
        self.root = root
        self.venv = root / "venv"
        self.launcher = root / "launcher"
        self.home = root / "home"
        self.logs = root / "logs"
        self.tmp = root / "tmp"
        self.redis_dir = root / "redis"
        self.credentials = root / "credentials.json"
        self.service_secrets = root / "service-secrets.json"
        self.pids = root / "pids.json"
        self.redis_conf = root / "redis.conf"
        self.lock = root / ".serve.lock"
        self.search_socket = root / "search.sock"


def _paths(cfg: CurateConfig) -> _Paths:
    return _Paths(Path(cfg.state_dir).expanduser().resolve())


def _url(cfg: CurateConfig) -> str:
    host = "127.0.0.1" if cfg.host in ("0.0.0.0", "") else cfg.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{cfg.port}"


# ---------------------------------------------------------------- public API


def serve(cfg: CurateConfig) -> ServerInfo:
    """Start the local stack, or return the running one. Prints nothing."""
    paths = _paths(cfg)
    paths.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(paths):
        creds = _read_credentials(paths)
        if creds and _all_alive(paths) and answers_as(_url(cfg), creds["api_key"], creds["username"]):
            return _info(cfg, paths, creds)
        _stop_recorded(paths)  # leftovers of a crash or a half-finished start
        redis_bin = shutil.which("redis-server")
        if not redis_bin:
            raise Docs2qaError(
                "the local Argilla server needs Redis, and redis-server is not installed",
                "apt-get install redis-server   (or point curate.api_url at your own Argilla server)",
            )
        _require_free_port(cfg.host, cfg.port)
        if len(os.fsencode(paths.search_socket)) > SOCKET_PATH_MAX:
            raise Docs2qaError(
                f"the state dir path is too long for the search backend's Unix socket: {paths.search_socket}",
                f"set curate.state_dir to a path under {SOCKET_PATH_MAX - len('/search.sock')} characters",
            )
        python = ensure_service_venv(paths.venv, paths.logs / "venv-install.log")
        creds = creds or _create_credentials(paths)
        _start(cfg, paths, python, redis_bin, creds)
        return _info(cfg, paths, creds)


def stop(cfg: CurateConfig) -> bool:
    """Stop exactly the processes `serve` recorded; False when none of them was running."""
    paths = _paths(cfg)
    if not paths.root.exists():
        return False
    with _locked(paths):
        return _stop_recorded(paths)


def server_status(cfg: CurateConfig) -> dict:
    paths = _paths(cfg)
    record = _read_pids(paths)
    alive = {name: process_groups.matches(entry) for name, entry in record.get("processes", {}).items()}
    creds = _read_credentials(paths)
    up = (
        bool(alive)
        and all(alive.values())
        and creds is not None
        and answers_as(_url(cfg), creds["api_key"], creds["username"])
    )
    return {
        "running": up,
        "url": _url(cfg),
        "pids": {name: entry["pid"] for name, entry in record.get("processes", {}).items()},
        "alive": alive,
        "state_dir": str(paths.root),
        "logs": str(paths.logs),
    }


def configured_url(cfg: CurateConfig) -> str | None:
    """The URL of the user's own Argilla (config, then $ARGILLA_API_URL), if they have one."""
    return cfg.api_url or os.environ.get("ARGILLA_API_URL") or None


def recorded_elsewhere(cfg: CurateConfig) -> str | None:
    """The URL of the live local server recorded in cfg's state dir when it is not cfg's URL."""
    paths = _paths(cfg)
    return _recorded_other_url(cfg, paths) if _all_alive(paths) else None


def _recorded_other_url(cfg: CurateConfig, paths: _Paths) -> str | None:
    recorded = _read_pids(paths).get("url")
    return recorded if recorded and recorded != _url(cfg) else None


def connection(cfg: CurateConfig) -> tuple[str, str]:
    """(api_url, api_key): your own server if configured, else the one `serve` started."""
    url = configured_url(cfg)
    if url:
        key = env_secret(
            cfg.api_key_env,
            f"the configured Argilla server {url}",
            f"export {cfg.api_key_env}=<the API key of an owner or admin on that server>",
        )
        return url.rstrip("/"), key
    paths = _paths(cfg)
    creds = _read_credentials(paths)
    if creds and _all_alive(paths):
        recorded = _recorded_other_url(cfg, paths)
        if recorded:
            # Another curate.port or host than it was started with (a typo): only `serve` may
            # stop it and start another; anything else says where the reviewers' server is.
            port = urlsplit(recorded).port
            raise Docs2qaError(
                f"no local Argilla at {_url(cfg)}: the server recorded in {paths.root} runs at {recorded}",
                f"address that one (--set curate.port={port}); `docs2qa curate serve` with this config "
                "would stop it and start another",
            )
        return _url(cfg), creds["api_key"]
    raise Docs2qaError(
        f"no Argilla server: the local one (state in {paths.root}) is not running and none is configured",
        "run `docs2qa curate serve`, or set ARGILLA_API_URL and ARGILLA_API_KEY to use your own server",
    )


# ---------------------------------------------------------------- starting


def _start(cfg: CurateConfig, paths: _Paths, python: Path, redis_bin: str, creds: dict) -> None:
    for folder in (paths.logs, paths.home, paths.redis_dir):
        folder.mkdir(parents=True, exist_ok=True)
    # Every argilla_server process copies the 14 MB web UI into a new temp dir and never
    # removes it; a private TMPDIR emptied at each start keeps that bounded.
    shutil.rmtree(paths.tmp, ignore_errors=True)
    paths.tmp.mkdir()
    _install_launcher(paths)
    fresh_db = not (paths.home / "argilla.db").exists()
    redis_port = _free_port()
    redis_password = secrets.token_urlsafe(24)
    write_private(
        paths.redis_conf,
        f'bind 127.0.0.1\nport {redis_port}\nsave ""\nappendonly no\ndir {paths.redis_dir}\n'
        f"requirepass {redis_password}\nprotected-mode yes\ndaemonize no\n"
        # Rewriting its title would overwrite the memory /proc/PID/environ reads, hiding the
        # state tag from stop; the unchanged command line holds the config path for processes.matches.
        "set-proc-title no\n",
    )
    osmem_bin = _osmem_binary(paths.venv)
    # redis and the search backend get no Argilla secret: only the server and worker read them.
    base_env = _base_env(paths)
    env = _service_env(base_env, paths, creds, f"redis://:{redis_password}@127.0.0.1:{redis_port}/0")
    launcher = str(paths.launcher / "launch_server.py")
    search = str(paths.launcher / "private_search.py")
    record: dict = {"url": _url(cfg), "processes": {}}
    try:
        record["processes"]["redis"] = process_groups.spawn(
            paths.logs / "redis.log",
            paths.root,
            [redis_bin, str(paths.redis_conf)],
            base_env,
            marker=str(paths.redis_conf),
        )
        record["processes"]["search"] = process_groups.spawn(
            paths.logs / "search.log",
            paths.root,
            [str(python), search, str(paths.search_socket), osmem_bin],
            base_env,
            marker=search,
        )
        _write_pids(paths, record)
        _wait_port(redis_port, record["processes"]["redis"], paths.logs / "redis.log")
        _wait_socket(paths.search_socket, record["processes"]["search"], paths.logs / "search.log")
        reindex = [] if fresh_db else ["--reindex"]  # osmem starts empty; SQLite holds the records
        record["processes"]["server"] = process_groups.spawn(
            paths.logs / "server.log",
            paths.root,
            [str(python), launcher, "serve", *reindex, "--host", cfg.host, "--port", str(cfg.port)],
            env,
            marker=f"{launcher} serve",
        )
        _write_pids(paths, record)
        _wait_ready(cfg, paths, record, creds)
        # The rq worker (dataset distribution changes, Hub jobs) starts once the server
        # answers: on two cores the two imports would otherwise slow each other down.
        record["processes"]["worker"] = process_groups.spawn(
            paths.logs / "worker.log",
            paths.root,
            [str(python), launcher, "worker", "--num-workers", "1"],
            env,
            marker=f"{launcher} worker",
        )
        _write_pids(paths, record)
    except BaseException:
        _stop_processes(record.get("processes", {}))
        paths.pids.unlink(missing_ok=True)
        raise


def _wait_ready(cfg: CurateConfig, paths: _Paths, record: dict, creds: dict) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    url = _url(cfg)
    while time.monotonic() < deadline:
        if process_groups.exited(record["processes"]["server"]):
            log = paths.logs / "server.log"
            raise ServiceError(f"the Argilla server exited while starting:\n{tail(log)}", f"full log: {log}")
        if answers_as(url, creds["api_key"], creds["username"]):
            return
        time.sleep(0.5)
    log = paths.logs / "server.log"
    raise ServiceError(f"the Argilla server did not answer at {url} within {READY_TIMEOUT_S:.0f} s:\n{tail(log)}")


def _base_env(paths: _Paths) -> dict:
    """The caller's environment without Argilla's, Python's or docs2qa's own variables
    (a user's ARGILLA_API_KEY for another server has no business here), plus the tag."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARGILLA_", "PYTHON", "VIRTUAL_ENV", "DOCS2QA_"))}
    env.update({STATE_TAG: str(paths.root), "TMPDIR": str(paths.tmp), "PYTHONUNBUFFERED": "1"})
    return env


def _service_env(base_env: dict, paths: _Paths, creds: dict, redis_url: str) -> dict:
    """The server's and worker's environment. Their secrets go to a 0600 file that
    launch_server.py loads into its own memory: an exec'd environment stays readable in
    /proc/PID/environ (and `ps e`) for the life of the process and of every fork of it."""
    write_private(
        paths.service_secrets,
        json.dumps(
            {
                "ARGILLA_REDIS_URL": redis_url,
                "ARGILLA_AUTH_SECRET_KEY": creds["auth_secret_key"],  # web sign-ins survive a restart
                "DOCS2QA_OWNER_USERNAME": creds["username"],
                "DOCS2QA_OWNER_PASSWORD": creds["password"],
                "DOCS2QA_OWNER_API_KEY": creds["api_key"],
            }
        ),
    )
    env = dict(base_env)
    env.update(
        ARGILLA_HOME_PATH=str(paths.home),
        ARGILLA_SEARCH_ENGINE="osmem",
        # The host only names the backend in requests: osmem_engine connects to the socket.
        ARGILLA_ELASTICSEARCH="http://search.invalid:9200",
        DOCS2QA_SEARCH_SOCKET=str(paths.search_socket),
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        # typer's default rich tracebacks print every frame's local variables, secrets included
        _TYPER_STANDARD_TRACEBACK="1",
        **{SECRETS_VAR: str(paths.service_secrets)},
    )
    return env


def _install_launcher(paths: _Paths) -> None:
    paths.launcher.mkdir(parents=True, exist_ok=True)
    here = Path(__file__).parent
    for name in LAUNCHER_FILES:
        shutil.copyfile(here / name, paths.launcher / name)


def _osmem_binary(venv: Path) -> str:
    found = sorted(venv.glob("lib/python3*/site-packages/osmem_server/bin/osmem-server"))
    if not found:
        raise Docs2qaError(
            f"osmem-server binary missing from {venv}", f"delete {venv} and run serve again to rebuild it"
        )
    return str(found[0])


# ---------------------------------------------------------------- stopping


def _stop_recorded(paths: _Paths) -> bool:
    record = _read_pids(paths)
    ran = _stop_processes(record.get("processes", {}))
    ran = process_groups.stop_tagged(f"{STATE_TAG}={paths.root}") or ran
    paths.pids.unlink(missing_ok=True)
    paths.service_secrets.unlink(missing_ok=True)  # its Redis password died with this Redis
    return ran


def _stop_processes(processes: dict) -> bool:
    ran = False
    for name in STOP_ORDER:
        entry = processes.get(name)
        if entry and process_groups.matches(entry):
            ran = True
            process_groups.terminate(entry["pid"], grace_s=20.0 if name in ("worker", "server") else 5.0)
    return ran


def _all_alive(paths: _Paths) -> bool:
    processes = _read_pids(paths).get("processes", {})
    return set(processes) == set(STOP_ORDER) and all(process_groups.matches(e) for e in processes.values())


# ---------------------------------------------------------------- small helpers


@contextlib.contextmanager
def _locked(paths: _Paths):
    with open(paths.lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _read_pids(paths: _Paths) -> dict:
    try:
        return json.loads(paths.pids.read_text())
    except (OSError, ValueError):
        return {}


def _write_pids(paths: _Paths, record: dict) -> None:
    tmp = paths.pids.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2))
    tmp.replace(paths.pids)


def write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)


class _Secret(dict):
    """Credentials: a dict whose repr never shows values,
    because pytest and tracebacks print the arguments of failing frames."""

    def __repr__(self) -> str:
        return f"<{len(self)} private values>"


def _read_credentials(paths: _Paths) -> _Secret | None:
    try:
        return _Secret(json.loads(paths.credentials.read_text()))
    except (OSError, ValueError):
        return None


def _create_credentials(paths: _Paths) -> _Secret:
    creds = _Secret(
        username=USERNAME,
        password=secrets.token_urlsafe(18),
        api_key=secrets.token_urlsafe(32),
        auth_secret_key=secrets.token_hex(32),
    )
    write_private(paths.credentials, json.dumps(creds, indent=2))
    return creds


def _info(cfg: CurateConfig, paths: _Paths, creds: dict) -> ServerInfo:
    return ServerInfo(_url(cfg), creds["api_key"], creds["username"], creds["password"], paths.root)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _require_free_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        # as uvicorn does: connections of a just-stopped server linger in TIME_WAIT, and
        # only a listening socket should count as "in use"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise Docs2qaError(
                    f"cannot start Argilla on {host}:{port}: {host} is not an address of this machine",
                    "set curate.host to 127.0.0.1 (or another local address)",
                ) from exc
            raise Docs2qaError(
                f"cannot start Argilla on {host}:{port}: the port is in use by another program ({exc.strerror})",
                f"stop that program, or pick another port: --set curate.port={port + 1}",
            ) from exc


def _wait_socket(path: Path, entry: dict, log: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(path))
            return
        if process_groups.exited(entry):
            raise Docs2qaError(f"the search backend exited while starting:\n{tail(log)}", f"full log: {log}")
        time.sleep(0.05)
    raise Docs2qaError(f"the search backend did not listen on {path} within {timeout_s:.0f} s:\n{tail(log)}")


def _wait_port(port: int, entry: dict, log: Path, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        if process_groups.exited(entry):
            raise Docs2qaError(f"{log.stem} exited while starting:\n{tail(log)}", f"full log: {log}")
        time.sleep(0.05)
    raise Docs2qaError(f"{log.stem} did not listen on 127.0.0.1:{port} within {timeout_s:.0f} s:\n{tail(log)}")
