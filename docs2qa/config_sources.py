"""Where each value of a config came from: the default, a preset or config file, or a --set.

The loader (docs2qa/config.py) merges layers in order: each preset named under `defaults:`
(its own presets first), the config file, then each --set. Here the same merge is followed key
by key, so that `docs2qa config` can say which layer each leaf value came from, and which values
a later preset left to an earlier one (a CPU preset stacked on a GPU preset keeps the GPU's
gradient_accumulation_steps unless it sets its own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT = "default"


@dataclass(frozen=True)
class Layer:
    """One file's own keys (its `defaults:` removed) and the files that named it in theirs."""

    source: str
    data: dict[str, Any]
    included_by: tuple[str, ...] = ()  # empty for the config file itself

    @property
    def is_preset(self) -> bool:
        return bool(self.included_by)


def replace(sources: dict[str, str], dotted: str, value: object, source: str) -> None:
    """`dotted` now holds `value` whole (a --set, or a value where a section was): every leaf
    under it comes from `source`."""
    for key in [k for k in sources if k == dotted or k.startswith(dotted + ".")]:
        del sources[key]
    if isinstance(value, Mapping) and value:
        for key, child in value.items():
            replace(sources, f"{dotted}.{key}", child, source)
    else:
        sources[dotted] = source


def merge(
    sources: dict[str, str], base: Mapping[str, Any], top: Mapping[str, Any], source: str, prefix: str = ""
) -> None:
    """The sources after `deep_merge(base, top)`: sections merge key by key, anything else replaces."""
    for key, value in top.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            merge(sources, base[key], value, source, dotted + ".")
        else:
            replace(sources, dotted, value, source)


def leaves(values: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys of the values that are not sections (an empty section is a value)."""
    keys = []
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            keys += leaves(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def inherited(sources: Mapping[str, str], layers: Sequence[Layer]) -> dict[str, str]:
    """Values a later preset left to an earlier one: dotted key -> the later preset.

    A later preset that sets keys of a section (e.g. `finetune`) but not this one keeps the
    earlier preset's value, usually unawares when the two are for different hardware. A preset
    that names the earlier one in its own `defaults:` builds on it on purpose: not reported."""
    position = {layer.source: i for i, layer in enumerate(layers)}
    found = {}
    for key, source in sources.items():
        if source not in position or not layers[position[source]].is_preset:
            continue
        earlier, section = layers[position[source]], key.split(".", 1)[0]
        later = [
            layer
            for layer in layers[position[source] + 1 :]
            if layer.is_preset and section in layer.data and layer.source not in earlier.included_by
        ]
        if later:
            found[key] = later[-1].source
    return found
