"""A stage's code identity is what it really runs: the modules of docs2qa its entry function
imports, directly or through others, and the files they read. No hand-kept list can drift:
export used to miss curation.snapshot (which export.py imports), so a change there left export
"up to date"."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from docs2qa.pipeline import code_files, code_version, stages

ROOT = Path(__file__).resolve().parents[1]

# Run in a copy of the project installed the plain way (site/docs2qa/generation, ...): record
# every stage, or say why each is stale.
PROBE = """
import json, sys
from pathlib import Path
import docs2qa
from docs2qa import pipeline
from docs2qa.config import load_config
from docs2qa.records import Page, page_id
from docs2qa.store import RunStore, StageResult

site, config, run, mode = sys.argv[1:]
assert Path(docs2qa.__file__).is_relative_to(site), docs2qa.__file__  # the copy, not the checkout
config, store = load_config(Path(config)), RunStore(Path(run))
for stage in pipeline.stages_for(config):
    if mode == "record":
        row = Page(page_id(stage.name), "u", "u", stage.name, "html", "text/html", "0" * 64, 1, "t")
        pipeline.record(stage.name, config, store, lambda folder, row=row: StageResult({"pages": ([row], Page)}, 1))
print(json.dumps({s.name: s.stale_reasons(config, store) for s in pipeline.stages_for(config)}))
"""


def _probe(project: Path, mode: str) -> dict[str, list[str]]:
    site = project / "site"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    args = [sys.executable, "-c", PROBE, str(site), str(project / "config.yaml"), str(project / "run"), mode]
    done = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    reasons: dict[str, list[str]] = json.loads(done.stdout)
    return reasons


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A copy of the project's source with a run recorded by it, every stage up to date. A copy,
    so that editing its modules touches nobody else's checkout and nothing else edits it."""
    project = tmp_path_factory.mktemp("project")
    package = project / "site" / "docs2qa"
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "docs2qa", package, ignore=skip)
    for stage_package in ("generation", "curation", "finetune"):  # pyproject's package-dir mapping
        shutil.copytree(ROOT / stage_package, package / stage_package, ignore=skip)
    # Reviewed pairs: push and pull run, and export reads the curation snapshot.
    config = {"crawl": {"seeds": ["https://docs.example/guide/"]}, "export": {"source": "curation"}}
    (project / "config.yaml").write_text(yaml.safe_dump(config))
    recorded = _probe(project, "record")
    assert recorded == {name: [] for name in recorded} and len(recorded) == len(stages())
    return project


UP_TO_DATE = {s.name: [] for s in stages()}


@pytest.mark.parametrize(
    ("changed", "stale"),
    [
        pytest.param(None, set(), id="nothing changed"),
        # Imported by curation/export.py, never by the export stage's own module: export used to
        # miss it. pull reads it too; push, finetune and eval do not import it.
        pytest.param("curation/snapshot.py", {"pull", "export"}, id="an indirect import"),
        # The prompts, two imports away from generate (generate -> qa.tasks -> qa.prompts); push and
        # pull reach them too: the review record (curation/record_view.py) measures support with the
        # gate's content_words, and the keep package loads every filter, answer_first's among them.
        pytest.param("generation/qa/prompts.py", {"generate", "push", "pull"}, id="prompts two imports deep"),
        # Read by curation/schema.py and sent to Argilla; export does not read it.
        pytest.param("curation/guidelines.md", {"push", "pull"}, id="a guidelines file"),
        # A folder that docs2qa/demo.py serves: what the demo crawl fetches.
        pytest.param("docs2qa/demo_site/docs/api.md", {"crawl"}, id="a data folder"),
        # finetune/stage.py declares both stages: only the one whose body reaches the module.
        pytest.param("finetune/evaluate/report.py", {"eval"}, id="one of two stages of a module"),
    ],
)
def test_a_change_makes_exactly_the_stages_that_run_it_stale(project, changed, stale):
    """Through the real run store, in a fresh process: the stages whose code includes the changed
    file say "code version"; the others stay up to date (their dependents go stale on the new
    output once those stages rerun, as for any input change)."""
    path = None
    if changed:
        top, _, rest = changed.partition("/")
        path = project / "site" / "docs2qa" / (rest if top == "docs2qa" else changed)
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
    try:
        assert _probe(project, "status") == {**UP_TO_DATE, **{name: ["code version"] for name in stale}}
    finally:
        if path:
            path.write_bytes(original)


def test_every_stage_runs_its_own_module_and_the_project_core():
    for stage in stages():
        module, _, function = stage.target.partition(":")
        files = dict(code_files(module, function))
        assert module in files and "docs2qa.store" in files, stage.name
        assert len(stage.version) == 16 and stage.version == code_version(module, function)


def test_a_module_shared_by_stages_counts_only_what_each_stage_reaches():
    """generation/ingest/stages.py holds crawl, convert and chunk: crawl's code is not the converter's."""
    crawl, convert, chunk = (
        dict(code_files("docs2qa.generation.ingest.stages", f)) for f in ("crawl", "convert", "chunk")
    )
    assert (
        "docs2qa.generation.ingest.crawl.crawler" in crawl and "docs2qa.generation.ingest.crawl.crawler" not in convert
    )
    assert "docs2qa.generation.ingest.convert" in convert and "docs2qa.generation.ingest.convert" not in crawl
    assert "docs2qa.generation.ingest.tokenizer" in chunk and "docs2qa.generation.ingest.tokenizer" not in convert
    # generate's pipeline runs in a child process started through `if __name__ == "__main__"`.
    assert "docs2qa.generation.qa.tasks" in dict(code_files("docs2qa.generation.qa.generate", "generate"))


def _fake_stage(tmp_path, monkeypatch, name: str, body: str) -> Path:
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "run.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    return package


def _fresh_version(module: str, function: str) -> str:
    code_version.cache_clear()  # it hashes the files again; which files they are has not changed
    return code_version(module, function)


def test_a_file_a_module_names_beside_it_is_part_of_the_code(tmp_path, monkeypatch):
    package = _fake_stage(
        tmp_path,
        monkeypatch,
        "prompted_stage",
        "from pathlib import Path\n\n"
        "def body(config, store):\n"
        '    return (Path(__file__).parent / "prompt.md").read_text()\n',
    )
    (package / "prompt.md").write_text("Ask one question.")
    (package / "notes.md").write_text("Not read by the stage.")
    before = _fresh_version("prompted_stage.run", "body")
    (package / "notes.md").write_text("Edited.")
    assert _fresh_version("prompted_stage.run", "body") == before
    (package / "prompt.md").write_text("Ask two questions.")
    assert _fresh_version("prompted_stage.run", "body") != before


def test_imports_that_only_type_checkers_see_are_not_code(tmp_path, monkeypatch):
    _fake_stage(
        tmp_path,
        monkeypatch,
        "typed_stage",
        "from typing import TYPE_CHECKING\n"
        "from . import helper\n\n"
        "if TYPE_CHECKING:\n"
        "    from docs2qa.curation.snapshot import Snapshot\n\n"
        "def body(config, store):\n"
        "    from docs2qa.datastore import versions\n"
        "    return helper, versions\n",
    )
    (tmp_path / "typed_stage" / "helper.py").write_text("")
    files = dict(code_files("typed_stage.run", "body"))
    assert {"typed_stage.run", "docs2qa.datastore", "docs2qa.datastore.versions"} <= files.keys()
    assert "docs2qa.curation.snapshot" not in files
