"""Files written whole or not at all, the user's cache folder, and the library versions a record carries.

One place for each, so that every stage writes, caches and records provenance the same way.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None, tmp: Path | None = None) -> None:
    """Write beside the target, then rename it in: a kill leaves the old file or the new one, whole,
    never a half file that looks finished. `mode` (e.g. read-only) is set before the rename; `tmp`
    (same file system) is for a store that sweeps its own leftovers by name or cannot write beside."""
    import uuid

    path.parent.mkdir(parents=True, exist_ok=True)
    # Unique per call: two threads storing the same blob would otherwise share one temp file,
    # and the first rename would pull it from under the second.
    tmp = tmp or path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        tmp.write_bytes(data)
        if mode is not None:
            tmp.chmod(mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk must not leave half a file behind as well
        raise


# The disk is full, or the folder cannot be written (turned read-only, permissions).
STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES)


def storage_error(exc: BaseException) -> OSError | None:
    """The OSError of a full or unwritable disk behind `exc` (itself, or what it was raised
    from), or None. Such an error is the machine's, not the data's: work that meets it must
    stop (and be redone on the rerun), never be recorded as a failed item."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in STORAGE_ERRNOS:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


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
