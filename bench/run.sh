#!/usr/bin/env bash
# bench/: pondsql side by side with DuckDB, plain DataFusion and delta-rs.
#
#   bench/run.sh small|large [--runs N] [--cases a,b] [--levels 10,1000] [--dev] [--no-docs]
#
# Builds pondsql and the plain-DataFusion peer in release mode (--dev: the
# debug build and 10 prior transactions instead of 10/1,000(/10,000), for a
# smoke test of the harness; figures then mean nothing),
# prepares the Python peers in a venv, generates the data once per size
# (kept in $POND_BENCH_DATA, default ~/.cache/pondsql/bench), runs every case
# and writes the table into docs/benchmarks.md (not with --dev or --no-docs).
set -euo pipefail
cd "$(dirname "$0")/.."

size="${1:-}"
case "$size" in
  # 10,000 prior transactions only for large: laying down 10,000 commits
  # of the pond (one statement each) takes minutes, too long for small.
  small) runs=5; levels=10,1000 ;;
  large) runs=3; levels=10,1000,10000 ;;
  *) echo "usage: bench/run.sh small|large [--runs N] [--cases a,b] [--dev] [--no-docs]" >&2; exit 2 ;;
esac
shift
profile=release
docs=docs/benchmarks.md
cases=import,scan_agg,range,view,glob,refresh,flight,backup,block,commit,open
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --cases) cases="$2"; shift 2 ;;
    --levels) levels="$2"; shift 2 ;;
    --dev) profile=dev; docs=""; levels=10; shift ;;
    --no-docs) docs=""; shift ;;
    *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pondsql-target}"
if [ "$profile" = release ]; then
  cargo build --release --bin pondsql --example bench_datafusion
  bin="$CARGO_TARGET_DIR/release"
else
  cargo build --bin pondsql --example bench_datafusion
  bin="$CARGO_TARGET_DIR/debug"
fi

python="$(bash tests/python/venv.sh)"

# Data: regenerated when the generator changes.
data_root="${POND_BENCH_DATA:-$HOME/.cache/pondsql/bench}"
data="$data_root/$size"
stamp="$(sha256sum bench/generate.py | cut -c1-16)"
if [ "$(cat "$data/.generator" 2>/dev/null)" != "$stamp" ]; then
  echo "generating $size data in $data …"
  rm -rf "$data"
  "$python" bench/generate.py "$size" "$data"
  echo "$stamp" > "$data/.generator"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/pondsql-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$python" bench/harness.py --data "$data" --work "$work" --runs "$runs" --cases "$cases" --txn-levels "$levels" \
  --pondsql "$bin/pondsql" --datafusion "$bin/examples/bench_datafusion" \
  --python "$python" --profile "$profile" ${docs:+--docs "$docs"}
