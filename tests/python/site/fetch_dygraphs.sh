#!/usr/bin/env bash
# Fetches (once) the charting library the site tests view pages with:
# dygraphs 2.2.2 from the npm registry, checked against the registry's
# sha512 integrity, unpacked so that $PONDSQL_DYGRAPHS (default
# ~/.cache/pondsql/dygraphs-2.2.2/package/dist) holds dygraph.min.js.
# It is not part of this repository.
# Safe to run concurrently (the site tests call it on first use).
set -euo pipefail
dist="${PONDSQL_DYGRAPHS:-$HOME/.cache/pondsql/dygraphs-2.2.2/package/dist}"
[ -f "$dist/dygraph.min.js" ] && exit 0
root="$(dirname "$(dirname "$dist")")"
mkdir -p "$root"
exec 9>"$root.lock"
flock 9
[ -f "$dist/dygraph.min.js" ] && exit 0
tarball="$root/dygraphs-2.2.2.tgz"
curl -sSfL -o "$tarball" https://registry.npmjs.org/dygraphs/-/dygraphs-2.2.2.tgz
echo "f5597731e01fb8bd76b8c54d40b1985862820e6744c6ee9aeba302819280928ed60047eff2fb8018ae7636b4e783e27ab11498abf2754d1ffff54df8fc7dd9a9  $tarball" | sha512sum -c --quiet
tar -xzf "$tarball" -C "$root"
rm "$tarball"
test -f "$dist/dygraph.min.js"
