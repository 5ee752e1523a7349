"""Packages a stage imports are declared on the stage and checked once before it runs: a missing
one is one line naming the extra, before any work, never an ImportError inside a body."""

from __future__ import annotations

import sys

import pytest
import yaml

from docs2qa.cli import main
from docs2qa.config import load_config
from docs2qa.pipeline import Requirement, Stage, stages


def test_every_declared_requirement_is_installed_here_and_names_an_extra():
    import tomllib
    from pathlib import Path

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for stage in stages():
        for requirement in stage.requires:
            assert requirement.extra in extras, (stage.name, requirement)
            __import__(requirement.module)


def test_a_missing_package_stops_the_stage_before_its_code_is_imported(tmp_path):
    config_path = tmp_path / "c.yaml"
    config_path.write_text(yaml.safe_dump({"name": "r", "crawl": {"seeds": ["https://docs.example/"]}}))
    stage = Stage(
        "probe",
        "docs2qa.no_such_module:body",  # importing it would raise ModuleNotFoundError
        (),
        "probe",
        requires=(Requirement("no_such_package_xyz", "generate"), Requirement("json", "crawl")),
    )
    from docs2qa.errors import Docs2qaError
    from docs2qa.store import RunStore

    with pytest.raises(Docs2qaError) as err:
        stage.run(load_config(config_path), RunStore(tmp_path / "run"))
    assert "'no_such_package_xyz'" in err.value.message and "'json'" not in err.value.message
    assert err.value.hint == 'pip install "docs2qa[generate]"'


def test_run_checks_every_stage_before_the_first_one_works(tmp_path, monkeypatch, capsys):
    """`docs2qa run` without peft stops before crawling, not after an hour of generation."""
    config_path = tmp_path / "c.yaml"
    config_path.write_text(yaml.safe_dump({"name": "r", "crawl": {"seeds": ["https://docs.example/"]}}))
    monkeypatch.setitem(sys.modules, "peft", None)  # as if not installed
    monkeypatch.setattr(sys, "argv", ["docs2qa", "run", "-c", str(config_path), "--run", str(tmp_path / "run")])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 1
    assert "the finetune stage needs the Python package(s) 'peft'" in err and "docs2qa[finetune]" in err
    assert not (tmp_path / "run" / "crawl").exists()


def test_a_conditional_requirement_is_checked_only_under_its_config(tmp_path, monkeypatch):
    config_path = tmp_path / "c.yaml"
    config_path.write_text(yaml.safe_dump({"name": "r", "crawl": {"seeds": ["https://docs.example/"]}}))
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    finetune = next(s for s in stages() if s.name == "finetune")
    assert [r.module for r in finetune.missing_requirements(load_config(config_path))] == ["bitsandbytes"]
    plain = load_config(config_path, ["finetune.quantization=none"])
    assert finetune.missing_requirements(plain) == []


def test_the_default_llama_cpp_backend_needs_xllamacpp_and_a_transformers_one_does_not(tmp_path, monkeypatch):
    config_path = tmp_path / "c.yaml"
    config_path.write_text(yaml.safe_dump({"name": "r", "crawl": {"seeds": ["https://docs.example/"]}}))
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    generate = next(s for s in stages() if s.name == "generate")
    assert [r.module for r in generate.missing_requirements(load_config(config_path))] == ["xllamacpp"]
    transformers = load_config(config_path, ["generate.generator.backend=transformers"])
    assert generate.missing_requirements(transformers) == []
