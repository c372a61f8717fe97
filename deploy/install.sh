#!/bin/sh
# The install steps of the image, shared with deploy/check-install.sh so CI runs exactly these.
#   install.sh deps VENV       a virtual environment with the run-time pins (requirements/runtime.lock)
#   install.sh app VENV SRC    the consensus package from SRC, on top, without resolving anything
set -eu
step=$1 venv=$2
pip() { "$venv/bin/pip" --disable-pip-version-check --no-input "$@"; }
case "$step" in
  deps)
    python3 -m venv "$venv"
    pip install --quiet --require-hashes --requirement "$(dirname "$0")/../requirements/runtime.lock"
    ;;
  app)
    pip install --quiet --no-deps "$3"
    pip check  # every dependency is pinned and present
    ;;
  *) echo "usage: install.sh deps VENV | app VENV SRC" >&2; exit 2 ;;
esac
