#!/usr/bin/env bash
# A directory of 10,000 tables, then 120 more CREATE TABLEs, one commit each:
# how much the oplog grows and how long `SELECT 1` (an open) takes, before
# and after. docs/storage.md cites it (directory versions store changes).
#   bash bench/big_directory.sh [PONDSQL_BINARY]
set -euo pipefail
bin="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/pondsql-target}/release/pondsql}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pond="$dir/pond"
"$bin" init "$pond" >/dev/null
"$bin" --pond "$pond" -q -c "CREATE DIRECTORY '/big'"
{
  echo "BEGIN;"
  for i in $(seq 1 10000); do echo "CREATE TABLE \"/big/t$i\" (i BIGINT);"; done
  echo "COMMIT;"
} >"$dir/bulk.sql"
"$bin" --pond "$pond" -q -f "$dir/bulk.sql"
open_seconds() { /usr/bin/time -f %e "$bin" --pond "$pond" -q -c "SELECT 1" 2>&1; }
bytes_before=$(du -sb "$pond/oplog" | cut -f1)
open_before=$(open_seconds)
for i in $(seq 1 120); do echo "CREATE TABLE \"/big/n$i\" (i BIGINT);"; done >"$dir/more.sql"
"$bin" --pond "$pond" -q -f "$dir/more.sql"
echo "$bin: oplog $bytes_before -> $(du -sb "$pond/oplog" | cut -f1) bytes; SELECT 1: $open_before s -> $(open_seconds) s"
