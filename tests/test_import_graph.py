"""Core (docs2qa/) imports no stage package: generation/, curation/ and finetune/ are found by name
through docs2qa/registry.py, so core can be read, tested and started without them."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGE_PACKAGES = ("docs2qa.generation", "docs2qa.curation", "docs2qa.finetune")


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Every module an import statement names, at any depth (inside functions too)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:  # relative: inside docs2qa/ it stays in core unless it names a stage package
                found.append((node.lineno, "docs2qa." + node.module))
            else:
                found.append((node.lineno, node.module))
                # `from docs2qa import generation` names the package as an imported name
                found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _stage_imports(source: str) -> list[str]:
    return [
        f"line {line}: {name}"
        for line, name in _imports(ast.parse(source))
        if any(name == p or name.startswith(p + ".") for p in STAGE_PACKAGES)
    ]


def test_no_core_module_imports_a_stage_package():
    core = sorted(p for p in (ROOT / "docs2qa").rglob("*.py") if "demo_site" not in p.parts)
    assert len(core) > 5
    offenders = {str(path.relative_to(ROOT)): hits for path in core if (hits := _stage_imports(path.read_text()))}
    assert offenders == {}, f"core modules import stage packages: {offenders}"


@pytest.mark.parametrize(
    "source",
    [
        "import docs2qa.generation.ingest.convert",
        "def f():\n    from docs2qa.curation.pull import collect\n",
        "from docs2qa import finetune",
        "class A:\n    def m(self):\n        import docs2qa.finetune.stage as s\n",
    ],
)
def test_the_check_sees_every_form_of_import(source):
    assert _stage_imports(source), source


@pytest.mark.parametrize("module", ["docs2qa.config", "docs2qa.cli", "docs2qa.pipeline", "docs2qa.store"])
def test_importing_core_loads_no_stage_module(module):
    script = (
        f"import json, sys; import {module}; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({STAGE_PACKAGES!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_loading_a_config_imports_only_the_section_modules():
    # The sections come from the stage packages, by name; their stage code is not loaded for it.
    script = (
        "import json, sys; from docs2qa.config import load_config; "
        "c = load_config('configs/demo.yaml'); assert c.finetune and c.eval; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('docs2qa.generation', "
        "'docs2qa.curation', 'docs2qa.finetune')))))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # Each stage package declares its own sections: only they and their packages' __init__ load.
    assert json.loads(done.stdout) == [
        "docs2qa.curation",
        "docs2qa.curation.config",
        "docs2qa.finetune",
        "docs2qa.finetune.config",
        "docs2qa.finetune.evaluate",
        "docs2qa.finetune.evaluate.config",
        "docs2qa.generation",
        "docs2qa.generation.ingest",
        "docs2qa.generation.ingest.config",
        "docs2qa.generation.qa",
        "docs2qa.generation.qa.config",
    ]
