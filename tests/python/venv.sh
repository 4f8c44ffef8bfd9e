#!/usr/bin/env bash
# Creates (once) the venv with the third-party clients the tests use (and
# bench/'s peers and data generator), and
# prints its python. Safe to run concurrently. $PONDSQL_VENV overrides where.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${PONDSQL_VENV:-$HOME/.cache/pondsql/venv}"
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
stamp="$venv/.requirements"
if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  cp "$here/requirements.txt" "$stamp"
fi
echo "$venv/bin/python"
