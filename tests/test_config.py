import pytest
import yaml

from docs2qa.config import load_config
from docs2qa.errors import Docs2qaError


def write(tmp_path, data, name="site.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


MINIMAL = {"crawl": {"seeds": ["https://docs.example.org/docs/"]}}


def test_name_defaults_to_file_stem_and_hash_is_stable(tmp_path):
    first = load_config(write(tmp_path, MINIMAL, "mysite.yaml"))
    second = load_config(write(tmp_path, MINIMAL, "mysite.yaml"))
    assert first.name == "mysite"
    assert first.hash() == second.hash()
    assert first.section_hash("crawl") == second.section_hash("crawl")


def test_overrides_are_parsed_as_yaml_values(tmp_path):
    config = load_config(
        write(tmp_path, MINIMAL),
        ["crawl.max_pages=7", "crawl.render_js=true", "crawl.scope=[https://docs.example.org/]"],
    )
    assert config.crawl.max_pages == 7
    assert config.crawl.render_js is True
    assert config.crawl.scope == ["https://docs.example.org/"]


def test_override_changes_only_its_section_hash(tmp_path):
    base = load_config(write(tmp_path, MINIMAL))
    changed = load_config(write(tmp_path, MINIMAL), ["chunk.max_tokens=256"])
    assert base.section_hash("crawl") == changed.section_hash("crawl")
    assert base.section_hash("chunk") != changed.section_hash("chunk")


def test_every_error_is_listed_at_once_with_its_dotted_path(tmp_path):
    bad = {"crawl": {"seedz": ["x"], "max_pages": 0, "seeds": ["ftp://x"]}, "chunk": {"max_tokens": 1}, "extra": 1}
    with pytest.raises(Docs2qaError) as info:
        load_config(write(tmp_path, bad))
    message = str(info.value)
    for expected in (
        "crawl.seedz: unknown key",
        "crawl.max_pages",
        "crawl.seeds",
        "chunk.max_tokens",
        "extra: unknown key",
    ):
        assert expected in message
    assert "5 problem(s)" in message


@pytest.mark.parametrize("assignment", ["novalue", "=3"])
def test_malformed_override_says_how_to_write_it(tmp_path, assignment):
    with pytest.raises(Docs2qaError, match="key=value"):
        load_config(write(tmp_path, MINIMAL), [assignment])


def test_a_config_needs_a_source(tmp_path):
    with pytest.raises(Docs2qaError, match="no source"):
        load_config(write(tmp_path, {"crawl": {}}))


def test_missing_and_invalid_files_have_clear_errors(tmp_path):
    with pytest.raises(Docs2qaError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(Docs2qaError, match="is a folder, not a file"):
        load_config(tmp_path)
    broken = tmp_path / "broken.yaml"
    broken.write_text("crawl: [unclosed")
    with pytest.raises(Docs2qaError, match="not valid YAML"):
        load_config(broken)


def test_defaults_merge_presets_under_the_file(tmp_path):
    (tmp_path / "presets").mkdir()
    (tmp_path / "presets" / "small.yaml").write_text(
        "finetune:\n  max_steps: 5\n  lora:\n    r: 4\n    alpha: 8\neval:\n  batch_size: 2\n"
    )
    config = tmp_path / "run.yaml"
    config.write_text(
        "defaults: [presets/small.yaml]\ncrawl:\n  seeds: [https://docs.example/]\nfinetune:\n  lora:\n    r: 8\n"
    )
    loaded = load_config(config, ["eval.batch_size=3"])
    assert loaded.name == "run" and loaded.finetune.max_steps == 5
    assert (loaded.finetune.lora.r, loaded.finetune.lora.alpha) == (8, 8)  # the file wins, key by key
    assert loaded.eval.batch_size == 3  # and --set wins over both


def test_broken_defaults_are_clear_errors(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("defaults: [missing.yaml]\ncrawl:\n  seeds: [https://docs.example/]\n")
    with pytest.raises(Docs2qaError, match=r"missing\.yaml does not exist \(named in the defaults of"):
        load_config(config)
    config.write_text("defaults: [run.yaml]\ncrawl:\n  seeds: [https://docs.example/]\n")
    with pytest.raises(Docs2qaError, match="loop back"):
        load_config(config)


@pytest.mark.parametrize(
    "assignment",
    [
        "crawl.max_pages=[1",  # an unclosed list
        "crawl.user_agent=a: b: c",  # text with ': ' must be quoted
        "crawl.seeds=!!python/name:os.system",  # safe YAML refuses Python tags
        "crawl.max_pages=" + "[" * 5000,  # nesting deeper than the parser's recursion
    ],
)
def test_an_override_that_is_not_yaml_says_how_to_quote_it(tmp_path, assignment):
    with pytest.raises(Docs2qaError, match=r"--set crawl\.\w+: the value is not valid YAML") as info:
        load_config(write(tmp_path, MINIMAL), [assignment])
    assert "quote" in str(info.value)


def test_a_config_that_is_not_utf8_or_too_deep_is_a_clear_error(tmp_path):
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("crawl:\n  seeds: [https://docs.example/]\n  user_agent: caf\xe9\n".encode("latin-1"))
    with pytest.raises(Docs2qaError, match="is not UTF-8 text") as info:
        load_config(latin1)
    assert "save it as UTF-8" in str(info.value)
    deep = tmp_path / "deep.yaml"
    deep.write_text("crawl: " + "[" * 5000)
    with pytest.raises(Docs2qaError, match="not valid YAML"):
        load_config(deep)


def test_an_unreadable_config_is_a_clear_error(tmp_path, monkeypatch):
    path = write(tmp_path, MINIMAL)

    def refuse(self):  # chmod 000 does not stop root, who may run the suite
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(type(path), "read_bytes", refuse)
    with pytest.raises(Docs2qaError, match=r"cannot read .*site\.yaml: Permission denied"):
        load_config(path)


@pytest.mark.parametrize("entry", ["3", "{a: 1}", "null"])
def test_a_defaults_entry_that_is_not_a_file_name_is_a_clear_error(tmp_path, entry):
    config = tmp_path / "run.yaml"
    config.write_text(f"defaults: [{entry}]\ncrawl:\n  seeds: [https://docs.example/]\n")
    with pytest.raises(Docs2qaError, match="`defaults` must be a list of YAML file names"):
        load_config(config)


@pytest.mark.parametrize("name", [".", ".."])
def test_a_run_name_cannot_point_outside_runs(tmp_path, name):
    # runs/.. would put every stage's folder in the working directory.
    with pytest.raises(Docs2qaError, match="name"):
        load_config(write(tmp_path, MINIMAL), [f"name={name}"])
    with pytest.raises(Docs2qaError, match=r"export\.name"):
        load_config(write(tmp_path, MINIMAL), [f"export.name={name}"])
