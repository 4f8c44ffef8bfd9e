"""The Python peers of bench/: DuckDB and delta-rs (python `deltalake`).

Each call does one measured thing in a fresh process and prints
`elapsed <seconds>` (the measured part only: imports and opening happen
before the clock starts), after any result rows as CSV.

    peers.py duckdb-query SQL
    peers.py duckdb-import CSV OUT.parquet
    peers.py deltalake-import CSV OUT_DIR
    peers.py deltalake-commit DIR
    peers.py deltalake-open DIR
    peers.py adbc-fetch URI SQL            (a pondsql serve, through ADBC Flight SQL)
"""

import os
import sys
import time


def elapsed(started):
    print(f"elapsed {time.perf_counter() - started:.6f}", flush=True)


def duckdb_query(sql):
    import duckdb
    con = duckdb.connect()
    started = time.perf_counter()
    cursor = con.execute(sql)
    rows = cursor.fetchall()
    took = time.perf_counter() - started
    print(",".join(d[0] for d in cursor.description))
    for row in rows:
        print(",".join("" if v is None else str(v) for v in row))
    print(f"elapsed {took:.6f}")


def duckdb_import(csv, out):
    import duckdb
    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM read_csv('{csv}')) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    elapsed(started)


def deltalake_import(csv, out):
    import pyarrow.csv as pcsv
    from deltalake import write_deltalake
    started = time.perf_counter()
    reader = pcsv.open_csv(csv)  # streams record batches
    write_deltalake(out, reader, mode="error")
    elapsed(started)


def hundred_rows(n):
    import pyarrow as pa
    base = 1_704_067_200_000_000 + n * 6_000_000_000
    return pa.table({
        "timestamp": pa.array([base + i * 60_000_000 for i in range(100)], pa.timestamp("us")),
        "station": pa.array(["st01"] * 100),
        "value": pa.array([float(i) for i in range(100)]),
    })


def deltalake_commit(path):
    from deltalake import DeltaTable, write_deltalake
    table = DeltaTable(path)
    data = hundred_rows(table.version() + 1)
    started = time.perf_counter()
    write_deltalake(table, data, mode="append")
    elapsed(started)


def deltalake_open(path):
    from deltalake import DeltaTable
    started = time.perf_counter()
    table = DeltaTable(path)
    files = table.file_uris()
    took = time.perf_counter() - started
    print(f"files {len(files)}")
    print(f"elapsed {took:.6f}")


def adbc_fetch(uri, sql):
    import warnings

    import adbc_driver_flightsql.dbapi as flightsql
    warnings.simplefilter("ignore")
    conn = flightsql.connect(uri)
    cursor = conn.cursor()
    started = time.perf_counter()
    cursor.execute(sql)
    table = cursor.fetch_arrow_table()
    took = time.perf_counter() - started
    print("rows")
    print(table.num_rows)
    print(f"elapsed {took:.6f}")


COMMANDS = {
    "adbc-fetch": adbc_fetch,
    "duckdb-query": duckdb_query,
    "duckdb-import": duckdb_import,
    "deltalake-import": deltalake_import,
    "deltalake-commit": deltalake_commit,
    "deltalake-open": deltalake_open,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    sys.stdout.flush()
    COMMANDS[sys.argv[1]](*sys.argv[2:])
    # python deltalake can abort in interpreter teardown after a clean run
    # (see docs/storage.md); the work is done and printed.
    sys.stdout.flush()
    os._exit(0)
