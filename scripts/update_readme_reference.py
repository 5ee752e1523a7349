"""Rewrite the config reference between the markers in README.md."""

import re
from pathlib import Path

from docs2qa.reference import config_reference

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"

text = README.read_text()
new = re.sub(f"{START}.*?{END}", f"{START}\n{config_reference()}\n{END}", text, flags=re.S)
README.write_text(new)
