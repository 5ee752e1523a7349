"""Secrets come from the environment variable a config names, never from a file or a log."""

from __future__ import annotations

import os

from docs2qa.errors import Docs2qaError


def env_secret(variable: str, needed_for: str, fix: str | None = None) -> str:
    """The value of $variable; a Docs2qaError that names the variable (never a value) when it is
    unset or empty. `needed_for` says what asked for it, `fix` how to provide it."""
    value = os.environ.get(variable)
    if not value:
        raise Docs2qaError(
            f"${variable} is not set or empty: {needed_for} needs it",
            fix or f"export {variable}=... before running; the secret itself never goes in a file",
        )
    return value
