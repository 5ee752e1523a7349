"""One error type the CLI knows how to show: what went wrong, then what to do."""


class Docs2qaError(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  -> {self.hint}"


def require(module: str, extra: str, feature: str):
    """Import an optional dependency or say which extra brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Docs2qaError(
            f"{feature} needs the Python package '{module}', which is not installed.",
            f'pip install "docs2qa[{extra}]"',
        ) from exc


class AwaitingReview(Docs2qaError):
    """Nothing accepted yet: `docs2qa run` stops here, successfully, until people review."""
