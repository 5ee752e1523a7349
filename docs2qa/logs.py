"""Logging for the CLI: our modules log through `logging.getLogger(__name__)` (all under
"docs2qa"); `main()` decides once what reaches the terminal, and a command that opens a run
folder also writes everything to runs/<name>/logs/run.log.

Default terminal: our INFO and above, third-party loggers only from ERROR, no Python warnings
and no third-party progress bars (their chatter buries our progress bars). The run log gets
our DEBUG lines and third-party WARNINGs and Python warnings, where each names its module.
`-v/--verbose`: all of that on the terminal too, deprecations included, with their bars.

Third-party output is routed at its source: Python warnings through logging
(`logging.captureWarnings`), the hub/transformers/datasets libraries' own stderr handlers
replaced by propagation to ours (their official switches, applied as each one's logging
module loads), their tqdm bars off through their environment switches.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    _StreamHandler = logging.StreamHandler[TextIO]
else:
    _StreamHandler = logging.StreamHandler

OURS = "docs2qa"
LOG_FILE_ENV = "DOCS2QA_LOG_FILE"  # the run log, for child processes (the generation pipeline)
VERBOSE_ENV = "DOCS2QA_VERBOSE"
# Each of these sets up its own stderr handler when it loads, bypassing the root logger.
_LIBRARY_LOGGING = ("transformers.utils.logging", "datasets.utils.logging", "huggingface_hub.utils.logging")
# The official switches of the hub/transformers bars ("Loading weights") and the datasets bars
# ("Tokenizing train dataset", "Map"); read when those libraries load.
_PROGRESS_SWITCHES = ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS")
_FILE_LAYOUT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The categories the interpreter's own filters ignore whole (no message, module or line): -v shows them.
_SILENCED_BY_DEFAULT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)

_installed: dict[str, logging.Handler] = {}  # "<logger>/<role>" -> the handler added, replaced on a rerun
_switched_off: list[str] = []  # progress switches configure() set, undone by a later -v


class _Stderr(_StreamHandler):
    """Writes to whatever sys.stderr is now: a rich progress bar swaps it for a proxy that
    prints above the bar, and a handler that kept the original would draw through it."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure(verbose: bool) -> None:
    ours = logging.getLogger(OURS)
    ours.setLevel(logging.DEBUG)  # the terminal handler filters; the run log keeps our DEBUG lines
    ours.propagate = False  # the root handlers below are for third-party loggers
    _install(ours, "terminal", _terminal("%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s"))
    _installed[f"{OURS}/terminal"].setLevel(logging.DEBUG if verbose else logging.INFO)
    root = logging.getLogger()
    root.setLevel(logging.WARNING)
    _install(root, "terminal", _terminal("%(levelname)s %(name)s: %(message)s"))
    _installed["root/terminal"].setLevel(logging.WARNING if verbose else logging.ERROR)
    if verbose:
        os.environ[VERBOSE_ENV] = "1"
        _show_silenced_warnings()
        for switch in _switched_off:
            os.environ.pop(switch, None)
        _switched_off.clear()
    else:
        os.environ.pop(VERBOSE_ENV, None)
        for switch in _PROGRESS_SWITCHES:
            if switch not in os.environ:  # a user's own setting wins
                os.environ[switch] = "1"
                _switched_off.append(switch)
    logging.captureWarnings(True)  # to the "py.warnings" logger: the run log, the terminal with -v
    if not any(isinstance(finder, _RouteLibraryLogs) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RouteLibraryLogs())
    for name in _LIBRARY_LOGGING:
        if name in sys.modules:
            _route(sys.modules[name])


def _show_silenced_warnings() -> None:
    """Every warning once per place, deprecations included: the interpreter's filters that ignore
    a whole category become "default" where they stand. A filter put ahead of them on purpose
    (-W error, PYTHONWARNINGS, pytest's filterwarnings = error) still decides first, which a
    new filter at the front, as simplefilter("default") adds, would override."""
    silenced = [("ignore", None, category, None, 0) for category in _SILENCED_BY_DEFAULT]
    shown = [("default", *entry[1:]) if entry in silenced else entry for entry in warnings.filters]
    warnings.resetwarnings()  # tells the warnings machinery that the filters changed
    warnings.filters = shown  # swapped in as catch_warnings does, which puts its saved list back on exit


def to_file(run_root: Path) -> Path:
    """Everything logged from here on also goes to <run>/logs/run.log (appended: one log per run
    folder, across commands and resumes). Returns its path."""
    path = Path(run_root) / "logs" / "run.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log:  # where each command's lines start
        log.write(f"---- {' '.join(['docs2qa', *sys.argv[1:]])}\n")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FILE_LAYOUT))
    _install(logging.getLogger(OURS), "file", handler)
    _install(logging.getLogger(), "file", handler)
    os.environ[LOG_FILE_ENV] = str(path)
    return path


def close_file() -> None:
    """Stop writing the run log: the CLI's end, so that an in-process caller (a test) keeps no
    handler, and starts no pipeline process, writing to this run's folder."""
    for name in (OURS, "root"):
        handler = _installed.pop(f"{name}/file", None)
        if handler is not None:
            logging.getLogger(None if name == "root" else name).removeHandler(handler)
            handler.close()
    os.environ.pop(LOG_FILE_ENV, None)


def log_file() -> Path | None:
    """The run log this process (or its parent CLI) writes to, if any."""
    value = os.environ.get(LOG_FILE_ENV)
    return Path(value) if value else None


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


def _terminal(layout: str) -> logging.Handler:
    handler = _Stderr()
    handler.setFormatter(logging.Formatter(layout))
    return handler


def _install(logger: logging.Logger, role: str, handler: logging.Handler) -> None:
    """Our handler on `logger`, leaving handlers others added (pytest's) in place."""
    key = f"{logger.name}/{role}"
    previous = _installed.get(key)
    if previous is not None:
        logger.removeHandler(previous)
        if role == "file":
            previous.close()  # its file; the other logger's copy is the same handler
    logger.addHandler(handler)
    _installed[key] = handler


def _route(module: ModuleType) -> None:
    """A library's own logging module: drop its stderr handler, send its records to ours."""
    if hasattr(module, "disable_default_handler"):  # transformers sets its handler up on first use
        module.disable_default_handler()
    library = logging.getLogger(module.__name__.split(".")[0])
    for handler in list(library.handlers):
        if type(handler) is logging.StreamHandler:  # theirs (datasets', the hub's), not pytest's or a file
            library.removeHandler(handler)
    library.propagate = True  # what their enable_propagation() does


class _RouteLibraryLogs(importlib.abc.MetaPathFinder):
    """Applies _route as each library's logging module finishes loading, so that importing
    transformers (seconds, ~500 MB) stays where a stage needs it."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name not in _LIBRARY_LOGGING:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            load(module)
            _route(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]  # this module's own loader
        return spec
