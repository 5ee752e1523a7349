#!/usr/bin/env bash
# Rewrite constraints.txt from the current .venv (after adding or upgrading a dependency).
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# Versions known to install and work together (pip freeze of the dev environment)."
  echo "# scripts/bootstrap.sh installs with '-c constraints.txt'; regenerate with scripts/freeze.sh."
  # The local '+cpu' label names a wheel found on disk, not on PyPI: pin the public version.
  .venv/bin/pip freeze --exclude-editable | sed -E 's/^torch==([0-9.]+)\+cpu/torch==\1/' | grep -v '^-e'
} > constraints.txt
