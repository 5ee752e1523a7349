"""Every Python package in the tree must be listed in pyproject.toml, or a wheel install
(unlike the editable one) silently lacks it; and so must every folder of shipped data, or each
build warns about it (setuptools treats a folder with an identifier's name as a package)."""

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {
    "docs2qa": "docs2qa",
    "generation": "docs2qa.generation",
    "curation": "docs2qa.curation",
    "finetune": "docs2qa.finetune",
}
DEMO_SITE = ROOT / "docs2qa" / "demo_site"


def test_every_package_and_data_folder_is_declared():
    declared = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, package in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *relative)))
    data = [DEMO_SITE, *(path for path in DEMO_SITE.rglob("*") if path.is_dir() and path.name != "__pycache__")]
    found |= {".".join(("docs2qa", *path.relative_to(ROOT / "docs2qa").parts)) for path in data}
    assert found == declared


def test_the_wheel_builds_without_warnings_and_ships_the_demo_site(tmp_path):
    """The build bootstrap.sh's install runs, on a copy of the tree (a build writes build/ and
    an egg-info beside the sources): no warning from the build backend, every demo file kept."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in MAPPED:
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=ignore)
    build = "import setuptools.build_meta as backend; print(backend.build_wheel('dist'))"
    done = subprocess.run([sys.executable, "-c", build], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not re.search(r"Warning\b", done.stderr), done.stderr
    wheel = tmp_path / "dist" / done.stdout.strip().splitlines()[-1]
    shipped = {name for name in zipfile.ZipFile(wheel).namelist() if name.startswith("docs2qa/demo_site/")}
    demo = {
        f"docs2qa/{path.relative_to(ROOT / 'docs2qa').as_posix()}" for path in DEMO_SITE.rglob("*") if path.is_file()
    }
    assert demo and shipped == demo


def test_bootstrap_ends_naming_the_readmes_two_commands():
    """A fresh machine's setup ends saying what to run next: the README's two commands."""
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^bash scripts/bootstrap\.sh && (.+)$", readme, flags=re.MULTILINE)
    assert len(commands) == 2
    last = (ROOT / "scripts" / "bootstrap.sh").read_text().rstrip().splitlines()[-1]
    said = subprocess.run(["bash", "-c", last], capture_output=True, text=True, timeout=10).stdout
    assert len(said.splitlines()) == 1 and all(f"`{command}`" in said for command in commands), said
