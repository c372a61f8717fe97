#!/usr/bin/env bash
# What deploy/Dockerfile does, outside Docker (CI has no Docker engine): install.sh's two steps into a
# fresh virtual environment from the same files the image copies, then the image's start command
# against a scratch SQLite database with no platform configured: it migrates, then serve exits 2 (a
# configuration error) saying which variables to set.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/src/deploy" "$work/src/requirements" "$work/app"
cp -R "$root/pyproject.toml" "$root/README.md" "$root/core" "$root/adapters" "$root/bot" "$work/src/"
cp "$root/deploy/install.sh" "$root/deploy/start.sh" "$work/src/deploy/"
cp "$root/requirements/runtime.lock" "$work/src/requirements/"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +

sh "$work/src/deploy/install.sh" deps "$work/venv"
sh "$work/src/deploy/install.sh" app "$work/venv" "$work/src"

# A clean environment, as in the container: no tokens, no keys, no developer's .env.
status=0
output="$(cd "$work/app" && env -i PATH="$work/venv/bin:/usr/bin:/bin" HOME="$work/app" \
  DATABASE_URL="sqlite+aiosqlite:///$work/app/data/consensus.db" sh "$work/src/deploy/start.sh" 2>&1)" || status=$?
echo "$output"
grep -q "Database is up to date." <<<"$output" || { echo "check-install: no migration" >&2; exit 1; }
[ "$status" -eq 2 ] || { echo "check-install: the start command exited $status, expected 2 (nothing to serve)" >&2; exit 1; }
grep -q "no chat platform is configured" <<<"$output" || { echo "check-install: serve did not say what to set" >&2; exit 1; }
echo "check-install: OK"
