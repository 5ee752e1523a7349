"""README.md is the contract with users: its commands and reference must stay true."""

import re
from pathlib import Path

from docs2qa.reference import config_reference

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command():
    ci_command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci_command in README


def test_readme_main_job_command_uses_a_shipped_config():
    match = re.search(r"docs2qa run -c (configs/\S+\.yaml)", README)
    assert match and (ROOT / match.group(1)).is_file()


def test_config_reference_is_current():
    assert config_reference() in README, "run: python scripts/update_readme_reference.py"
