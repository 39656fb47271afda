#!/usr/bin/env bash
# checkov, the Terraform scanner of tests/unit/test_deploy_terraform.py, in a virtualenv of
# its own (run by `make setup`). It cannot share the project's: checkov depends on
# `bc-python-hcl2`, the dev extra on `python-hcl2`, and both install the module `hcl2`, so
# whichever comes second breaks the other; checkov also pins many common packages exactly.
# Already installed at the pinned version: nothing to do.
# Usage: scripts/install-checkov.sh [PYTHON]   (default python3)
# The virtualenv: $CHECKOV_VENV, default ~/.cache/inferline/checkov-venv.
set -euo pipefail

PYTHON=${1:-python3}
CHECKOV_VERSION=3.3.30   # keep in step with tests/unit/test_deploy_terraform.py
VENV=${CHECKOV_VENV:-"${XDG_CACHE_HOME:-$HOME/.cache}/inferline/checkov-venv"}

if [ -x "$VENV/bin/checkov" ] && [ "$("$VENV/bin/checkov" --version 2>/dev/null)" = "$CHECKOV_VERSION" ]; then
  echo "checkov $CHECKOV_VERSION is installed in $VENV"
  exit 0
fi
test -x "$VENV/bin/python" || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "checkov==$CHECKOV_VERSION"
echo "checkov $("$VENV/bin/checkov" --version) installed in $VENV"
