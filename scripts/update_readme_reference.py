"""Rewrite the config reference between the markers in README.md."""

import re
from pathlib import Path

from docs2qa.reference import config_reference

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def main() -> None:
    text = README.read_text()
    README.write_text(re.sub(f"{START}.*?{END}", f"{START}\n{config_reference()}\n{END}", text, flags=re.S))


if __name__ == "__main__":
    main()
