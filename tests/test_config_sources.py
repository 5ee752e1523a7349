"""Where each config value came from (default, a preset, the config file, --set), shown by
`docs2qa config`, and the values a later preset silently keeps from an earlier one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from docs2qa.config import load_config, resolve_config
from docs2qa.config_view import annotated_yaml
from test_cli_errors import call

ROOT = Path(__file__).resolve().parents[1]

GPU = {"finetune": {"batch_size": 4, "gradient_accumulation_steps": 4, "lora": {"r": 128, "alpha": 256}}}
CPU = {"finetune": {"batch_size": 1, "lora": {"r": 8}}, "eval": {"batch_size": 2}}


def stacked(tmp_path: Path, *, cpu_builds_on_gpu: bool = False) -> Path:
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "gpu.yaml").write_text(yaml.safe_dump(GPU))
    cpu = {"defaults": ["gpu.yaml"], **CPU} if cpu_builds_on_gpu else CPU
    (tmp_path / "presets" / "cpu.yaml").write_text(yaml.safe_dump(cpu))
    run = {
        "defaults": ["presets/cpu.yaml"] if cpu_builds_on_gpu else ["presets/gpu.yaml", "presets/cpu.yaml"],
        "crawl": {"seeds": ["https://docs.example/"], "max_pages": 9},
        "finetune": {"lora": {"alpha": 16}},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(run))
    return tmp_path / "run.yaml"


def test_each_value_names_its_layer(tmp_path):
    path = stacked(tmp_path)
    gpu, cpu = str(tmp_path / "presets" / "gpu.yaml"), str(tmp_path / "presets" / "cpu.yaml")
    config, sources, inherited = resolve_config(path, ["finetune.max_steps=5", "crawl.max_pages=3"])
    assert config == load_config(path, ["finetune.max_steps=5", "crawl.max_pages=3"])
    assert {key: sources[key] for key in sources if sources[key] != "default"} == {
        "name": f"{path} (its file name)",
        "crawl.seeds": str(path),
        "crawl.max_pages": "--set",  # --set wins over the file
        "finetune.batch_size": cpu,  # the later preset wins over the earlier
        "finetune.gradient_accumulation_steps": gpu,  # the later preset does not set it: the earlier one's stays
        "finetune.lora.r": cpu,
        "finetune.lora.alpha": str(path),  # the file wins over both presets, key by key
        "finetune.max_steps": "--set",
        "eval.batch_size": cpu,
    }
    assert sources["finetune.epochs"] == sources["crawl.render_js"] == "default"
    # Every value of the config has a source, and only those.
    assert len(sources) == len(list(_leaf_lines(annotated_yaml(config.model_dump(mode="json"), sources, {}))))
    assert inherited == {"finetune.gradient_accumulation_steps": cpu}
    assert (config.finetune.gradient_accumulation_steps, config.finetune.batch_size) == (4, 1)


def test_a_set_that_replaces_a_section_takes_its_leaves(tmp_path):
    _, sources, _ = resolve_config(stacked(tmp_path), ["finetune.lora={r: 2}"])
    assert sources["finetune.lora.r"] == "--set"
    assert sources["finetune.lora.alpha"] == "default"  # the files' alpha went with the section --set replaced


def test_a_preset_that_names_the_earlier_one_builds_on_it_on_purpose(tmp_path):
    path = stacked(tmp_path, cpu_builds_on_gpu=True)
    _, sources, inherited = resolve_config(path)
    assert sources["finetune.gradient_accumulation_steps"] == str(tmp_path / "presets" / "gpu.yaml")
    assert sources["finetune.batch_size"] == str(tmp_path / "presets" / "cpu.yaml")
    assert inherited == {}


def _leaf_lines(text: str):
    return (line for line in text.splitlines() if not line.startswith("#") and not line.rstrip().endswith(":"))


@pytest.mark.parametrize("shipped", ["demo.yaml", "kaggle.yaml"])
def test_the_annotated_config_is_the_same_yaml(shipped, tmp_path):
    config, sources, inherited = resolve_config(
        ROOT / "configs" / shipped,
        ["export.system_prompt=|\n  two\n  lines: [x] # y", "generate.prices={a.b: {prompt: 1}}"],
    )
    values = config.model_dump(mode="json")
    text = annotated_yaml(values, sources, inherited)
    assert yaml.safe_load(text) == values
    lines = text.splitlines()
    # A value over several lines takes its comment after its last line, outside the quotes.
    assert any(re.fullmatch(r"    lines: \[x\] # y' +# --set", line) for line in lines)
    assert any(re.fullmatch(r"      prompt: 1\.0 +# --set", line) for line in lines)  # indented by depth, not dots
    assert any(line.startswith("  max_pages: ") and line.endswith(f"# {ROOT / 'configs' / shipped}") for line in lines)
    assert "  chromium_path: /usr/bin/chromium" in lines  # a default carries no comment


def test_docs2qa_config_shows_sources_and_warns_of_a_kept_value(monkeypatch, capsys, tmp_path):
    path = stacked(tmp_path)
    code, out, err = call(monkeypatch, capsys, "config", "-c", str(path), "--set", "finetune.max_steps=5")
    assert code == 0, err
    gpu, cpu = tmp_path / "presets" / "gpu.yaml", tmp_path / "presets" / "cpu.yaml"
    lines = out.splitlines()
    assert (
        f"  gradient_accumulation_steps: 4                  # {gpu}, kept under {cpu}, which does not set it" in lines
    )
    assert f"  batch_size: 1                                   # {cpu}" in lines
    assert "  max_steps: 5                                    # --set" in lines
    assert err == (
        f"warning: {cpu} sets finetune keys but keeps these of the earlier {gpu}: "
        "finetune.gradient_accumulation_steps; set them in your config or with --set if that is not meant\n"
    )
    assert yaml.safe_load(out) == load_config(path, ["finetune.max_steps=5"]).model_dump(mode="json")


def test_a_run_folders_config_says_its_one_source(monkeypatch, capsys, tmp_path):
    path = stacked(tmp_path)
    recorded = tmp_path / "run" / "config.yaml"
    recorded.parent.mkdir()
    recorded.write_text(yaml.safe_dump(load_config(path).model_dump(mode="json"), sort_keys=False))
    code, out, err = call(monkeypatch, capsys, "config", "--run", str(recorded.parent))
    assert code == 0 and err == ""
    assert out.startswith(f"# every value from {recorded}\n") and "#" not in out.split("\n", 1)[1]


def test_two_config_flags_stack_like_defaults(monkeypatch, capsys):
    """`-c CONFIG -c PRESET` is `defaults: [CONFIG, PRESET]`: the later file wins, each value
    names its file, and the values the preset leaves to the config's own preset are warned of."""
    kaggle, cpu = "configs/kaggle.yaml", "configs/finetune/smollm2-cpu.yaml"
    monkeypatch.chdir(ROOT)
    code, out, err = call(monkeypatch, capsys, "config", "-c", kaggle, "-c", cpu)
    assert code == 0, err
    values = yaml.safe_load(out)
    assert values["name"] == "kaggle" and values["crawl"]["seeds"]  # the first file is not lost
    assert values["finetune"]["base_model"] == "embedded:smollm2"  # the later file wins
    lines = out.splitlines()
    assert any(re.fullmatch(rf"  base_model: embedded:smollm2 +# {cpu}", line) for line in lines)
    assert any(re.fullmatch(r"name: kaggle +# configs/kaggle\.yaml", line) for line in lines)
    gemma = "configs/finetune/gemma-7b-qlora.yaml"
    kept = rf"  gradient_accumulation_steps: 4 +# {gemma}, kept under {cpu}, which does not set it"
    assert any(re.fullmatch(kept, line) for line in lines)
    assert err.startswith(f"warning: {cpu} sets finetune keys but keeps these of the earlier {gemma}: ")
    assert load_config([ROOT / kaggle, ROOT / cpu]).finetune.base_model == "embedded:smollm2"


def test_stacked_config_files_name_themselves_in_a_command_and_an_error(tmp_path):
    from docs2qa.errors import ConfigError
    from docs2qa.recap import command_options

    preset = tmp_path / "preset.yaml"
    preset.write_text(yaml.safe_dump(CPU))
    assert command_options([ROOT / "configs" / "demo.yaml", preset], ["eval.batch_size=1"], None) == [
        "-c", str(ROOT / "configs" / "demo.yaml"), "-c", str(preset), "--set", "eval.batch_size=1",
    ]  # fmt: skip
    with pytest.raises(ConfigError, match=rf"^{re.escape(f'{preset} + {preset}')} has 1 problem\(s\):\n  crawl: "):
        load_config([preset, preset])
