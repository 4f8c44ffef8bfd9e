#!/usr/bin/env bash
# WRITERS processes × N INSERTs into one table at once: wall time, rows,
# and how many oplog compactions landed (docs/storage.md cites it).
#   bash bench/writers.sh [PONDSQL_BINARY] [N] [WRITERS]
set -euo pipefail
bin="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/pondsql-target}/release/pondsql}"
n="${2:-100}"
writers="${3:-4}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pond="$dir/pond"
"$bin" init "$pond" >/dev/null
"$bin" --pond "$pond" -q -c "CREATE TABLE t (w BIGINT, i BIGINT)"
for w in $(seq 1 "$writers"); do
  for i in $(seq 1 "$n"); do echo "INSERT INTO t VALUES ($w, $i);"; done >"$dir/w$w.sql"
done
start=$(date +%s.%N)
for w in $(seq 1 "$writers"); do "$bin" --pond "$pond" -q -f "$dir/w$w.sql" & done
wait
end=$(date +%s.%N)
rows=$("$bin" --pond "$pond" --format csv -c "SELECT count(*) || ' rows, ' || count(DISTINCT w * 1000000 + i) || ' distinct' FROM t" | tail -1)
merges=$(grep -l pondOplogCompaction "$pond"/oplog/_delta_log/*.json | wc -l)
echo "$bin: $writers × $n INSERTs in $(echo "$end - $start" | bc) s; $rows; $merges oplog compactions"
