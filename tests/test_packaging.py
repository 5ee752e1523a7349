"""Every Python package in the tree must be listed in pyproject.toml, or a wheel install
(unlike the editable one) silently lacks it."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {
    "docs2qa": "docs2qa",
    "generation": "docs2qa.generation",
    "curation": "docs2qa.curation",
    "finetune": "docs2qa.finetune",
}


def test_every_package_folder_is_declared():
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, package in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *relative)))
    assert found == declared
