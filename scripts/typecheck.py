"""Run mypy over the package as it is installed: `docs2qa.generation` is the folder generation/.

mypy cannot follow setuptools' editable-install import hook, so it cannot map `docs2qa.generation`
(and curation, finetune) to their top-level folders. This builds that layout out of symlinks in a
temporary folder, runs mypy there with pyproject.toml's [tool.mypy], and prints paths as in the repo.

    .venv/bin/python scripts/typecheck.py        # exit code is mypy's
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    pyproject = ROOT / "pyproject.toml"
    package_dir = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-dir"]
    with tempfile.TemporaryDirectory(prefix="docs2qa-mypy-") as tmp:
        tree = Path(tmp) / "docs2qa"
        tree.mkdir()
        for entry in (ROOT / "docs2qa").iterdir():
            (tree / entry.name).symlink_to(entry)
        # "docs2qa.generation" = "generation" -> docs2qa/generation links to the folder generation/.
        back = {}
        for module, folder in package_dir.items():
            link = Path(tmp, *module.split("."))
            link.symlink_to(ROOT / folder)
            back[f"{link.relative_to(tmp)}{os.sep}"] = f"{folder}{os.sep}"
        mypy = [sys.executable, "-m", "mypy", "--config-file", str(pyproject), "--cache-dir", str(ROOT / ".mypy_cache")]
        done = subprocess.run([*mypy, "docs2qa"], cwd=tmp, capture_output=True, text=True)
    for line in (done.stdout + done.stderr).splitlines():
        for linked, real in back.items():
            if line.startswith(linked):
                line = real + line[len(linked) :]
                break
        print(line)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
