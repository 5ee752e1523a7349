"""The errors the CLI knows how to show (what went wrong, then what to do), by kind:

    Docs2qaError        refused input or state: exit 1, no traceback
      ConfigError       a config file, a --set or an option is wrong
      IntegrityError    data on disk is not what its manifest says (a damaged version, a broken file)
      ServiceError      a server we talk to (Argilla, an LLM endpoint, the hub) is unreachable or refuses
      AwaitingReview    nothing accepted yet: `docs2qa run` stops there, successfully

Code that catches one kind (a retry on ServiceError) need not parse messages.
"""

from __future__ import annotations


class Docs2qaError(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  -> {self.hint}"


class ConfigError(Docs2qaError):
    """A config file, a --set override or a command-line option is wrong."""


class IntegrityError(Docs2qaError):
    """Files on disk do not match what was recorded about them."""


class ServiceError(Docs2qaError):
    """A server docs2qa talks to cannot be reached or refuses the request."""


class AwaitingReview(Docs2qaError):
    """Nothing accepted yet: `docs2qa run` stops here, successfully, until people review."""
