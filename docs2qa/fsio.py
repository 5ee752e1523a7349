"""Files written whole or not at all, the user's cache folder, and the library versions a record carries.

One place for each, so that every stage writes, caches and records provenance the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None, tmp: Path | None = None) -> None:
    """Write beside the target, then rename it in: a kill leaves the old file or the new one, whole,
    never a half file that looks finished. `mode` (e.g. read-only) is set before the rename; `tmp`
    (same file system) is for a store that sweeps its own leftovers by name or cannot write beside."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp or path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    if mode is not None:
        tmp.chmod(mode)
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def cache_dir() -> Path:
    """$DOCS2QA_CACHE (a leading ~ expanded), else ~/.cache/docs2qa: converted models and tokenizers."""
    root = os.environ.get("DOCS2QA_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "docs2qa"


def library_versions(names: Iterable[str], keep_missing: bool = False) -> dict[str, str | None]:
    """name -> installed version. A library that is not installed is left out, or, with
    `keep_missing`, recorded as None (a manifest that says "not installed" rather than nothing)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if keep_missing:
                versions[name] = None
    return versions
