"""`docs2qa config`: the resolved config as YAML, each value followed by where it came from.

Comments keep the output valid YAML (the same values a program reads with yaml.safe_load), and
a value with no comment is the default, so the values someone chose stand out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from docs2qa.config_sources import DEFAULT

# Comments start in one column for short lines; longer lines take theirs after two spaces.
COLUMN = 48


def annotated_yaml(values: Mapping[str, Any], sources: Mapping[str, str], inherited: Mapping[str, str]) -> str:
    chosen = {source for source in sources.values() if source != DEFAULT}
    if len(chosen) == 1 and DEFAULT not in sources.values():  # e.g. a run folder's config.yaml
        dumped: str = yaml.safe_dump(dict(values), sort_keys=False)
        return f"# every value from {chosen.pop()}\n" + dumped
    header = "# where each value came from: a file or --set; a value without a comment is the default\n"
    return header + "".join(_lines(values, sources, inherited, "", 0))


def _lines(
    values: Mapping[str, Any], sources: Mapping[str, str], inherited: Mapping[str, str], prefix: str, depth: int
) -> Iterator[str]:
    indent = "  " * depth  # not the dots of the prefix: a key such as a model name may hold dots
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield f"{indent}{key}:\n"
            yield from _lines(value, sources, inherited, dotted + ".", depth + 1)
            continue
        # Flow style keeps a list of words on its line; a scalar's mapping stays in block style.
        flow = None if isinstance(value, list | Mapping) else False
        text = yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=flow, width=10**6)
        lines = [indent + line for line in text.rstrip("\n").split("\n")]
        source = sources.get(dotted, DEFAULT)
        if source != DEFAULT:
            note = f"# {source}"
            if dotted in inherited:
                note += f", kept under {inherited[dotted]}, which does not set it"
            lines[-1] = f"{lines[-1]:<{COLUMN}}  {note}"
        yield from (line + "\n" for line in lines)


def inherited_warnings(inherited: Mapping[str, str], sources: Mapping[str, str]) -> list[str]:
    """One line per pair of presets where the later one left values to the earlier one."""
    pairs: dict[tuple[str, str], list[str]] = {}
    for key, later in inherited.items():
        pairs.setdefault((sources[key], later), []).append(key)
    return [
        f"warning: {later} sets {', '.join(sorted({k.split('.', 1)[0] for k in keys}))} keys but keeps these of the "
        f"earlier {earlier}: {', '.join(keys)}; set them in your config or with --set if that is not meant"
        for (earlier, later), keys in pairs.items()
    ]
