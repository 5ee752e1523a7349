"""Logging for the CLI: our modules log through `logging.getLogger(__name__)` (all under
"docs2qa"); `main()` decides once what reaches the terminal.

Default: our INFO and above, third-party loggers only from ERROR (their INFO chatter, such as
one line per HTTP request, buries the progress bars). `-v/--verbose`: our DEBUG lines with the
module that wrote them, third-party WARNINGs, and Python warnings (deprecations included)
through logging, so a problem in a library shows where it happens.
"""

from __future__ import annotations

import logging
import sys
import warnings

OURS = "docs2qa"


_installed: dict[str, logging.Handler] = {}  # logger name -> the handler configure() added, replaced on a rerun


def configure(verbose: bool) -> None:
    ours = logging.getLogger(OURS)
    ours.setLevel(logging.DEBUG if verbose else logging.INFO)
    ours.propagate = False  # the root handler below is for third-party loggers
    _install(ours, "%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s")
    root = logging.getLogger()
    root.setLevel(logging.WARNING if verbose else logging.ERROR)
    _install(root, "%(levelname)s %(name)s: %(message)s")
    if verbose:
        warnings.simplefilter("default")  # every warning once per place, DeprecationWarning included
        logging.captureWarnings(True)


def _install(logger: logging.Logger, layout: str) -> None:
    """Our stderr handler on `logger`, leaving handlers others added (pytest's) in place."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(layout))
    previous = _installed.get(logger.name)
    if previous is not None:
        logger.removeHandler(previous)
    logger.addHandler(handler)
    _installed[logger.name] = handler
