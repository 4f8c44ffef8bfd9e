"""Runs bench/'s cases side by side and reports medians and ratios.

Every measured run is a fresh process. Systems time their own work (the
clock starts after the process has started and, except in `open`, after the
pond or table is open), so interpreter start-up does not count against the
Python peers; `open` also reports pondsql's whole process. Peak RSS is the
process's (wait4). Runs alternate systems: run r starts with system r mod n.

Called by bench/run.sh; see docs/benchmarks.md.
"""

import argparse
import csv
import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PEERS = os.path.join(HERE, "peers.py")
CASES = ["import", "scan_agg", "range", "view", "glob", "refresh", "flight", "backup", "block", "commit", "open"]
TXN_LEVELS = [10, 1000, 10000]

# One aggregate, every system: per station, parameter and day, min/avg/max
# and count, folded into one row so that results can be compared (and no
# optimizer can drop an unused aggregate).
AGGREGATE = """SELECT count(*) AS groups, round(sum(lo), 3) AS lo, round(sum(mean), 6) AS mean,
  round(sum(hi), 3) AS hi, sum(n) AS n FROM (
  SELECT station, parameter, date_trunc('day', "timestamp") AS day,
         min(value) AS lo, avg(value) AS mean, max(value) AS hi, count(*) AS n
  FROM {source} {where}
  GROUP BY station, parameter, date_trunc('day', "timestamp")) AS per_day"""
RANGE_WHERE = """WHERE station = 'st03' AND "timestamp" >= TIMESTAMP '{day} 00:00:00'
  AND "timestamp" < TIMESTAMP '{day} 00:00:00' + INTERVAL '1 day'"""


class Failed(Exception):
    pass


class Result:
    """One measured run: seconds of the measured part, peak RSS, result rows."""

    def __init__(self, seconds, rss_kb, rows, wall):
        self.seconds, self.rss_kb, self.rows, self.wall = seconds, rss_kb, rows, wall


def run(cmd, cwd=None, env=None):
    """Runs cmd; returns (stdout, peak RSS in KB, wall seconds)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        shown = " ".join(c if len(c) < 200 else c[:200] + "…" for c in cmd)
        raise Failed(f"exit {process.returncode}: {shown}\n{stderr.strip()}\n{stdout.strip()[-2000:]}")
    return stdout, usage.ru_maxrss, wall


def parse_rows(lines):
    return [row for row in csv.reader(io.StringIO("\n".join(lines))) if row][1:]


def peer_result(stdout, rss, wall):
    """A peer's output: CSV rows, then `elapsed <seconds>`."""
    lines = stdout.strip().splitlines()
    match = re.fullmatch(r"elapsed ([0-9.]+)", lines[-1])
    if not match:
        raise Failed(f"no elapsed line in: {stdout[-500:]}")
    return Result(float(match.group(1)), rss, parse_rows(lines[:-1]), wall)


def pondsql_result(stdout, rss, wall):
    """pondsql --timing --format csv -c SQL: `pond opened in S s`, the rows,
    `N row(s) in S s`, then the script's `-c: S s`."""
    lines = stdout.strip().splitlines()
    opened = re.fullmatch(r"pond opened in ([0-9.]+) s", lines[0]) if lines else None
    timed = re.fullmatch(r"\d+ row\(s\) in ([0-9.]+) s", lines[-2]) if len(lines) > 1 else None
    if not (opened and timed):
        raise Failed(f"unexpected --timing output: {stdout[-500:]}")
    result = Result(float(timed.group(1)), rss, parse_rows(lines[1:-2]), wall)
    result.open_seconds = float(opened.group(1))
    return result


class Bench:
    def __init__(self, args):
        self.args = args
        self.data = args.data
        with open(os.path.join(self.data, "manifest.json")) as f:
            self.manifest = json.load(f)
        self.work = args.work
        os.makedirs(self.work, exist_ok=True)
        self.rows = []  # (case, system, [Result], extra columns)
        self.csv = os.path.join(self.data, "readings.csv")
        self.parquet = os.path.join(self.data, "readings.parquet")
        self.glob_dir = os.path.join(self.data, "glob")

    # -- the systems -------------------------------------------------------

    def pondsql(self, pond, sql, timed=True):
        cmd = [self.args.pondsql, "--pond", pond, "--rc", "/dev/null", "--format", "csv"]
        if timed:
            cmd.append("--timing")
        cmd += ["-c", sql]
        out, rss, wall = run(cmd)
        return pondsql_result(out, rss, wall) if timed else out

    def pondsql_script(self, pond, path):
        run([self.args.pondsql, "--pond", pond, "--rc", "/dev/null", "-q", "-f", path])

    def pondsql_init(self, pond):
        shutil.rmtree(pond, ignore_errors=True)
        run([self.args.pondsql, "init", pond])

    def peer(self, *args):
        return peer_result(*run([self.args.python, PEERS, *args]))

    def datafusion(self, *statements):
        return peer_result(*run([self.args.datafusion, *statements]))

    # -- measuring ---------------------------------------------------------

    def measure(self, case, systems, check=True, extra=None, runs=None):
        """Runs each system `runs` (default --runs) times, alternating; records the results."""
        names = list(systems)
        results = {name: [] for name in names}
        for r in range(runs or self.args.runs):
            for i in range(len(names)):
                name = names[(r + i) % len(names)]
                results[name].append(systems[name]())
        if check:
            expected = results[names[0]][0].rows
            for name in names:
                for result in results[name]:
                    if not same_rows(expected, result.rows):
                        raise Failed(f"{case}: {name} returned {result.rows}, {names[0]} {expected}")
        for name in names:
            self.rows.append((case, name, results[name], extra(results[name]) if extra else ""))
            summary = summarize(results[name])
            print(f"  {case:<14} {name:<22} median {summary['median']:.4f} s "
                  f"(min {summary['min']:.4f}, max {summary['max']:.4f}){'  ' + extra(results[name]) if extra else ''}",
                  flush=True)
        return results

    # -- cases -------------------------------------------------------------

    def case_import(self):
        rows = self.manifest["rows"]
        out = os.path.join(self.work, "import")

        def fresh():
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)

        def pondsql():
            fresh()
            pond = os.path.join(out, "pond")
            self.pondsql_init(pond)
            return self.pondsql(pond, f"CREATE TABLE \"/readings\" AS SELECT * FROM '{self.csv}'")

        def duckdb():
            fresh()
            return self.peer("duckdb-import", self.csv, os.path.join(out, "readings.parquet"))

        def deltalake():
            fresh()
            return self.peer("deltalake-import", self.csv, os.path.join(out, "delta"))

        def extra(results):
            seconds = statistics.median(r.seconds for r in results)
            rss = statistics.median(r.rss_kb for r in results)
            return f"{rows / seconds / 1e6:.2f} M rows/s, peak RSS {rss / 1024:.0f} MiB"

        self.measure("import", {"pondsql": pondsql, "duckdb": duckdb, "deltalake": deltalake},
                     check=False, extra=extra)
        shutil.rmtree(out, ignore_errors=True)

    def readings_pond(self):
        pond = os.path.join(self.work, "readings-pond")
        if not os.path.exists(pond):
            self.pondsql_init(pond)
            self.pondsql(pond, f"CREATE TABLE \"/readings\" AS SELECT * FROM '{self.parquet}'", timed=False)
        return pond

    def query_case(self, case, where=""):
        pond = self.readings_pond()
        parquet = self.parquet
        self.measure(case, {
            "pondsql": lambda: self.pondsql(pond, AGGREGATE.format(source='"/readings"', where=where)),
            "datafusion": lambda: self.datafusion(
                f"CREATE EXTERNAL TABLE readings STORED AS PARQUET LOCATION '{parquet}'",
                AGGREGATE.format(source="readings", where=where)),
            "duckdb": lambda: self.peer("duckdb-query", AGGREGATE.format(
                source=f"read_parquet('{parquet}')", where=where)),
        })

    def case_scan_agg(self):
        self.query_case("scan_agg")

    def case_range(self):
        self.query_case("range", RANGE_WHERE.format(day=self.range_day()))

    def case_view(self):
        """The `range` query through a view of the table, against the table:
        the filter has to reach the scan under the view."""
        pond = self.readings_pond()
        self.pondsql(pond, 'CREATE OR REPLACE VIEW "/readings_view" AS SELECT * FROM "/readings"', timed=False)
        where = RANGE_WHERE.format(day=self.range_day())
        self.measure("view", {
            "pondsql": lambda: self.pondsql(pond, AGGREGATE.format(source='"/readings_view"', where=where)),
            "pondsql (table)": lambda: self.pondsql(pond, AGGREGATE.format(source='"/readings"', where=where)),
        })

    def case_block(self):
        """N one-row INSERTs in one BEGIN … COMMIT, against the same N as
        separate statements (N commits), each a `pondsql -f` process on a new
        pond (wall time): a block must cost no more than linear in N."""
        out = os.path.join(self.work, "block")
        for n in self.args.txn_levels:
            inserts = [f"INSERT INTO \"/log\" VALUES (to_timestamp({1_704_067_200 + 60 * i}), 'st01', {i}.5);\n"
                       for i in range(n)]
            scripts = {"block": ["BEGIN;\n", *inserts, "COMMIT;\n"], "separate": inserts}
            for name, lines in scripts.items():
                with open(os.path.join(self.work, f"block-{name}.sql"), "w") as f:
                    f.writelines(lines)

            def timed_script(name):
                pond = os.path.join(out, "pond")
                self.pondsql_init(pond)
                self.pondsql(pond, 'CREATE TABLE "/log" ("timestamp" TIMESTAMP, station VARCHAR, value DOUBLE)',
                             timed=False)
                _, rss, wall = run([self.args.pondsql, "--pond", pond, "--rc", "/dev/null", "-q", "-f",
                                    os.path.join(self.work, f"block-{name}.sql")])
                rows = self.pondsql(pond, 'SELECT count(*), sum(value) FROM "/log"', timed=False)
                return Result(wall, rss, parse_rows(rows.strip().splitlines()), wall)

            # Once above 1,000: 10,000 separate statements alone take minutes.
            self.measure(f"block@{n}", {
                "pondsql": lambda: timed_script("block"),
                "pondsql (separate)": lambda: timed_script("separate"),
            }, extra=lambda rs: f"{n:,} INSERTs", runs=1 if n > 1000 else None)
        shutil.rmtree(out, ignore_errors=True)

    def range_day(self):
        first = date.fromisoformat(self.manifest["first_day"])
        return date.fromordinal(first.toordinal() + self.manifest["days"] // 2).isoformat()

    def glob_pond(self):
        """One pond table per station, parameter and day: /sensors/st01/temp/d2024_01_01."""
        pond = os.path.join(self.work, "glob-pond")
        if os.path.exists(pond):
            return pond
        self.pondsql_init(pond)
        # One walk of glob/station=…/parameter=…/day=…: directories first,
        # then the tables in blocks of 500 (one commit per block).
        directories, tables = ["/sensors"], []
        for station_dir in sorted(os.listdir(self.glob_dir)):
            station = station_dir.split("=", 1)[1]
            directories.append(f"/sensors/{station}")
            for parameter_dir in sorted(os.listdir(os.path.join(self.glob_dir, station_dir))):
                parameter = parameter_dir.split("=", 1)[1]
                directories.append(f"/sensors/{station}/{parameter}")
                for day_dir in sorted(os.listdir(os.path.join(self.glob_dir, station_dir, parameter_dir))):
                    day = "d" + day_dir.split("=", 1)[1].replace("-", "_")
                    path = os.path.join(self.glob_dir, station_dir, parameter_dir, day_dir, "data.parquet")
                    tables.append(f"CREATE TABLE \"/sensors/{station}/{parameter}/{day}\" AS SELECT * FROM '{path}';")
        script = os.path.join(self.work, "glob-setup.sql")
        with open(script, "w") as f:
            f.writelines(f"CREATE DIRECTORY '{d}';\n" for d in directories)
            for start in range(0, len(tables), 500):
                f.write("BEGIN;\n" + "\n".join(tables[start:start + 500]) + "\nCOMMIT;\n")
        self.pondsql_script(pond, script)
        return pond

    def case_glob(self):
        pond = self.glob_pond()
        hive = self.glob_dir
        self.measure("glob", {
            "pondsql": lambda: self.pondsql(pond, AGGREGATE.format(
                source="glob('/sensors/{station}/{parameter}/*')", where="")),
            "datafusion": lambda: self.datafusion(
                "CREATE EXTERNAL TABLE readings STORED AS PARQUET "
                f"PARTITIONED BY (station, parameter, day) LOCATION '{hive}/'",
                AGGREGATE.format(source="readings", where="")),
            "duckdb": lambda: self.peer("duckdb-query", AGGREGATE.format(
                source=f"read_parquet('{hive}/**/*.parquet', hive_partitioning = true)", where="")),
        })

    def case_commit_and_open(self, cases):
        """Grows a pond and a delta-rs table to each level of prior
        transactions, then measures a 100-row commit and/or opening."""
        pond = os.path.join(self.work, "commit-pond")
        delta = os.path.join(self.work, "commit-delta")
        shutil.rmtree(delta, ignore_errors=True)
        self.pondsql_init(pond)
        self.pondsql(pond, 'CREATE TABLE "/log" ("timestamp" TIMESTAMP, station VARCHAR, value DOUBLE)', timed=False)
        inserted = 0

        def insert_sql(n):
            base = 1_704_067_200 + n * 6000
            values = ", ".join(f"(to_timestamp({base + 60 * i}), 'st01', {i}.5)" for i in range(100))
            return f'INSERT INTO "/log" VALUES {values}'

        def pond_txns():
            out = self.pondsql(pond, "SELECT count(*) FROM pond.system.transactions", timed=False)
            return int(out.strip().splitlines()[-1])

        for level in self.args.txn_levels:
            script = os.path.join(self.work, "grow.sql")
            missing = level - pond_txns()
            with open(script, "w") as f:
                for _ in range(max(missing, 0)):
                    f.write(insert_sql(inserted) + ";\n")
                    inserted += 1
            # Both grow at once: neither is being measured yet. delta-rs from
            # Rust (bench_datafusion): Python's appends took half an hour to 10,000.
            grow_delta = subprocess.Popen([self.args.datafusion, "--grow-delta", delta, str(level)],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.pondsql_script(pond, script)
            if grow_delta.wait() != 0:
                raise Failed(f"--grow-delta {level}: {grow_delta.stderr.read().decode()}")
            print(f"  ({level} prior transactions: pond {pond_txns()}, delta-rs table grown)", flush=True)

            if "commit" in cases:
                def pondsql_commit():
                    nonlocal inserted
                    inserted += 1
                    return self.pondsql(pond, insert_sql(inserted))

                self.measure(f"commit@{level}", {
                    "pondsql": pondsql_commit,
                    "deltalake": lambda: self.peer("deltalake-commit", delta),
                }, check=False)
            if "open" in cases:
                def pondsql_open():
                    result = self.pondsql(pond, "SELECT name FROM ls('/')")
                    result.seconds += result.open_seconds
                    return result

                def pondsql_process():
                    result = self.pondsql(pond, "SELECT name FROM ls('/')")
                    result.seconds = result.wall
                    return result

                self.measure(f"open@{level}", {
                    "pondsql": pondsql_open,
                    "pondsql (process)": pondsql_process,
                    "deltalake": lambda: self.peer("deltalake-open", delta),
                    "deltalake (pond oplog)": lambda: self.peer("deltalake-open", os.path.join(pond, "oplog")),
                }, check=False)

    # -- refresh: one new day on a year of minute readings ------------------

    REFRESH_STATIONS = 4

    def case_flight(self):
        """Fetching a whole table through `pondsql serve` and ADBC, against
        the same query in one pondsql process (rows collected, not printed)."""
        rows = 10_000_000 if self.args.profile == "release" else 200_000
        pond = os.path.join(self.work, "flight-pond")
        self.pondsql_init(pond)
        wide = ", ".join(f"CAST(value AS DOUBLE) * {i} AS c{i:02}" for i in range(1, 21))
        for name, columns in (("one", "CAST(value AS DOUBLE) AS v"), ("wide", wide)):
            self.pondsql(pond, f'CREATE TABLE "/{name}" AS SELECT {columns} FROM generate_series(1, {rows}) AS t(value)',
                         timed=False)
        server, uri = start_server(self.args.pondsql, pond)
        try:
            time.sleep(1)
            idle = rss_kb(server.pid)
            for name, label in (("one", "1 column"), ("wide", "20 columns")):
                sql = f'SELECT * FROM "/{name}"'

                def in_process():
                    out, rss, wall = run([self.args.pondsql, "--pond", pond, "--rc", "/dev/null", "--timing",
                                          "--maxrows", "1", "-c", sql])
                    timed = re.search(r"(\d+) row\(s\) in ([0-9.]+) s", out)
                    if not timed or int(timed.group(1)) != rows:
                        raise Failed(f"flight: pondsql returned {out[-300:]}")
                    return Result(float(timed.group(2)), rss, [[timed.group(1)]], wall)

                def through_adbc():
                    result = self.peer("adbc-fetch", uri, sql)
                    if result.rows != [[str(rows)]]:
                        raise Failed(f"flight: ADBC fetched {result.rows}")
                    return result

                def extra(results):
                    seconds = statistics.median(r.seconds for r in results)
                    return f"{rows / seconds / 1e6:.2f} M rows/s"

                self.measure(f"flight {label}", {"pondsql": in_process, "pondsql serve + ADBC": through_adbc},
                             extra=extra)
            self.rows.append(("flight idle", "pondsql serve", [Result(0.0, idle, [], 0.0)],
                              f"idle server RSS {idle / 1024:.0f} MiB (after start, before any client)"))
            print(f"  idle server RSS {idle / 1024:.0f} MiB", flush=True)
        finally:
            server.terminate()
            server.wait()

    def refresh_days(self):
        # A year at small, five at large: refresh must cost the same on both.
        # A debug build (the CI smoke run) gets a month: it checks the harness only.
        if self.args.profile != "release":
            return 30
        return 5 * 365 if self.manifest["size"] == "large" else 365

    def refresh_rows_sql(self, station, first_minute, minutes):
        """Minute readings of one station, generated in SQL (same values for every system)."""
        return (f"SELECT CAST(to_timestamp_seconds(1704067200 + value * 60) AS TIMESTAMP) AS ts, "
                f"round(10 + 5 * sin(value / 229.0 + {station}), 2) AS temp "
                f"FROM range({first_minute}, {first_minute + minutes})")

    def refresh_setup(self):
        """A pond with a year of readings per station and a 1-hour downsample
        view over them; a script that appends the next day; and the same
        year plus day as one Parquet file for DuckDB."""
        base = os.path.join(self.work, "refresh-pond")
        new_day = os.path.join(self.work, "refresh-new-day.sql")
        parquet = os.path.join(self.work, "refresh-year.parquet")
        if os.path.exists(base):
            return base, new_day, parquet
        minutes = self.refresh_days() * 1440
        stations = range(1, self.REFRESH_STATIONS + 1)
        setup = os.path.join(self.work, "refresh-setup.sql")
        with open(setup, "w") as f:
            for n in stations:
                f.write(f"CREATE DIRECTORY '/year/s{n}';\n")
                f.write(f"CREATE TABLE \"/year/s{n}/temp\" AS {self.refresh_rows_sql(n, 0, minutes)};\n")
            f.write("CREATE MATERIALIZED VIEW \"/year_1h\" AS "
                    "SELECT * FROM downsample('/year/{station}/temp', INTERVAL '1 hour');\n")
        with open(new_day, "w") as f:
            for n in stations:
                f.write(f"INSERT INTO \"/year/s{n}/temp\" {self.refresh_rows_sql(n, minutes, 1440)};\n")
        self.pondsql_init(base)
        self.pondsql_script(base, setup)
        with_day = os.path.join(self.work, "refresh-with-day")
        shutil.copytree(base, with_day)
        self.pondsql_script(with_day, new_day)
        self.pondsql(with_day, f"COPY (SELECT station, ts, temp FROM glob('/year/{{station}}/temp')) TO '{parquet}'",
                     timed=False)
        shutil.rmtree(with_day)
        return base, new_day, parquet

    # -- backup: the readings pond to a local S3 server, against rclone ----

    def case_backup(self):
        """BACKUP of the readings pond to an S3 server on 127.0.0.1 (moto),
        first in full and then after one small INSERT, against `rclone copy`
        of the pond directory to the same server; and a pond that lives on
        that server beside a local one (the aggregate, and one INSERT)."""
        if not shutil.which("rclone"):
            raise Failed("backup: rclone is not installed (apt-get install rclone)")
        server, endpoint = start_s3(self.args.python)
        # Only this server's settings (this machine sets AWS_CA_BUNDLE, which rclone refuses for http).
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
        env = dict(inherited, AWS_ENDPOINT_URL=endpoint, AWS_ALLOW_HTTP="true", AWS_ACCESS_KEY_ID="bench",
                   AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1", RCLONE_S3_PROVIDER="Other",
                   RCLONE_S3_ENDPOINT=endpoint, RCLONE_S3_ACCESS_KEY_ID="bench",
                   RCLONE_S3_SECRET_ACCESS_KEY="bench", RCLONE_S3_REGION="us-east-1")
        counter = iter(range(1_000_000))
        try:
            base = self.readings_pond()
            scratch = os.path.join(self.work, "backup-pond")

            def fresh_pond():
                shutil.rmtree(scratch, ignore_errors=True)
                shutil.copytree(base, scratch)
                return scratch

            def one_insert(pond):
                run([self.args.pondsql, "--pond", pond, "--rc", "/dev/null", "-q", "-c",
                     'INSERT INTO "/readings" SELECT * FROM "/readings" LIMIT 1000'], env=env)

            def pondsql_backup(pond, target):
                _, rss, wall = run([self.args.pondsql, "backup", "--pond", pond, target], env=env)
                return Result(wall, rss, [], wall)

            def rclone(pond, target):
                _, rss, wall = run(["rclone", "copy", "--transfers", "4", pond, f":s3:{target}"], env=env)
                return Result(wall, rss, [], wall)

            def full(tool):
                def measured():
                    target = f"bench/{tool.__name__}-{next(counter)}"
                    url = f"s3://{target}" if tool is pondsql_backup else target
                    return tool(fresh_pond(), url)
                return measured

            def incremental(tool):
                def measured():
                    target = f"bench/{tool.__name__}-{next(counter)}"
                    url = f"s3://{target}" if tool is pondsql_backup else target
                    pond = fresh_pond()
                    tool(pond, url)
                    one_insert(pond)
                    return tool(pond, url)
                return measured

            size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(base) for f in fs)
            note = lambda rs: f"pond of {size / 1e6:.0f} MB, {size / statistics.median(r.seconds for r in rs) / 1e6:.1f} MB/s"
            self.measure("backup full", {"pondsql": full(pondsql_backup), "rclone copy": full(rclone)},
                         check=False, extra=note)
            self.measure("backup incremental", {"pondsql": incremental(pondsql_backup),
                                                "rclone copy": incremental(rclone)},
                         check=False, extra=lambda rs: "after one 1,000-row INSERT")

            s3_pond = f"s3://bench/readings-pond-{next(counter)}"
            run([self.args.pondsql, "init", s3_pond], env=env)
            run([self.args.pondsql, "--pond", s3_pond, "--rc", "/dev/null", "-q", "-c",
                 f"CREATE TABLE \"/readings\" AS SELECT * FROM '{self.parquet}'"], env=env)

            def query(pond):
                cmd = [self.args.pondsql, "--pond", pond, "--rc", "/dev/null", "--format", "csv", "--timing",
                       "-c", AGGREGATE.format(source='"/readings"', where="")]
                return pondsql_result(*run(cmd, env=env))

            self.measure("s3 scan_agg", {"pondsql": lambda: query(base),
                                         "pondsql (s3 pond)": lambda: query(s3_pond)})
            commit_local = fresh_pond()

            def commit(pond):
                cmd = [self.args.pondsql, "--pond", pond, "--rc", "/dev/null", "--format", "csv", "--timing",
                       "-c", 'INSERT INTO "/readings" SELECT * FROM "/readings" LIMIT 1']
                return pondsql_result(*run(cmd, env=env))

            self.measure("s3 commit", {"pondsql": lambda: commit(commit_local),
                                       "pondsql (s3 pond)": lambda: commit(s3_pond)}, check=False)
            shutil.rmtree(scratch, ignore_errors=True)
        finally:
            server.terminate()
            server.wait()

    def case_refresh(self):
        base, new_day, parquet = self.refresh_setup()
        scratch = os.path.join(self.work, "refresh-run")

        def appended():
            """A fresh copy of the pond with the new day appended, not yet refreshed."""
            shutil.rmtree(scratch, ignore_errors=True)
            shutil.copytree(base, scratch)
            self.pondsql_script(scratch, new_day)
            return scratch

        out = os.path.join(self.work, "refresh-duckdb.parquet")
        duckdb_sql = (f"COPY (SELECT station, time_bucket(INTERVAL '1 hour', ts) AS ts, count(*), "
                      f"min(temp), avg(temp), max(temp), count(temp), sum(temp) "
                      f"FROM read_parquet('{parquet}') GROUP BY ALL) TO '{out}' (FORMAT parquet)")
        results = self.measure("refresh", {
            "pondsql": lambda: self.pondsql(appended(), 'REFRESH MATERIALIZED VIEW "/year_1h"'),
            "pondsql FULL": lambda: self.pondsql(appended(), 'REFRESH MATERIALIZED VIEW "/year_1h" FULL'),
            "duckdb (full)": lambda: self.peer("duckdb-query", duckdb_sql),
        }, check=False, extra=lambda rs: f"{self.refresh_days()} days × {self.REFRESH_STATIONS} stations + 1 day")
        shutil.rmtree(scratch, ignore_errors=True)
        incremental = statistics.median(r.seconds for r in results["pondsql"])
        full = statistics.median(r.seconds for r in results["pondsql FULL"])
        print(f"  refresh: one new day costs {incremental / full:.3f} of a full recompute", flush=True)


def start_server(pondsql, pond):
    """`pondsql serve` on a free loopback port; returns (process, URI)."""
    process = subprocess.Popen([pondsql, "serve", "--pond", pond, "--listen", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    match = re.search(r"grpc://127\.0\.0\.1:\d+", line)
    if not match:
        process.kill()
        raise Failed(f"pondsql serve printed no address: {line!r}")
    return process, match.group(0)


def start_s3(python):
    """An S3-compatible server (moto, from the venv) on a free loopback
    port, with a bucket `bench`; returns (process, endpoint)."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    subprocess.check_call([python, os.path.join(REPO, "tests/python/s3/s3_tool.py"), endpoint, "mkbucket", "bench"])
    return process, endpoint


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1])


def same_rows(a, b):
    if len(a) != len(b):
        return False
    for row_a, row_b in zip(a, b):
        if len(row_a) != len(row_b):
            return False
        for x, y in zip(row_a, row_b):
            if x == y:
                continue
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                return False
            if abs(fx - fy) > 1e-6 * max(1.0, abs(fx), abs(fy)):
                return False
    return True


def summarize(results):
    seconds = [r.seconds for r in results]
    return dict(median=statistics.median(seconds), min=min(seconds), max=max(seconds))


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
            if names:
                cpu = names[0]
    except OSError:
        pass
    with open("/proc/meminfo") as f:
        total_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return f"{os.cpu_count()} cores ({cpu}), {total_kb / 1024 / 1024:.0f} GiB RAM, {platform.system()} {platform.release()}"


def git(*args):
    try:
        return subprocess.check_output(["git", "-C", REPO, *args], text=True, stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def versions(python):
    out = subprocess.check_output([python, "-c", "import duckdb, deltalake, pyarrow; "
                                   "print(duckdb.__version__, deltalake.__version__, pyarrow.__version__)"], text=True)
    duckdb, deltalake, pyarrow = out.split()
    return f"DuckDB {duckdb}, python deltalake {deltalake} (pyarrow {pyarrow}), DataFusion 55.2 (the one pondsql links)"


def report(bench, args):
    """The results as a Markdown section."""
    m = bench.manifest
    commit = git("rev-parse", "--short", "HEAD") + (" (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else "")
    lines = [
        f"Size `{m['size']}`: {m['rows']:,} readings ({len(m['stations'])} stations × {len(m['parameters'])} parameters × "
        f"{m['days']} days of minute values, {m['late_rows']:,} of them late), CSV {m['csv_bytes'] / 1e6:.0f} MB, "
        f"Parquet {m['parquet_bytes'] / 1e6:.1f} MB, {m['glob_files']:,} per-day files for `glob`.",
        "",
        f"Run: {date.today().isoformat()}, commit {commit}, {args.profile} build, {args.runs} runs per system "
        f"(alternating), {machine()}. Peers: {versions(args.python)}.",
        "",
        "| case | system | median s | min s | max s | × pondsql | notes |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    base = {}
    for case, system, results, extra in bench.rows:
        s = summarize(results)
        if system == "pondsql":
            base[case] = s["median"]
        ratio = s["median"] / base[case] if base.get(case) else float("nan")
        lines.append(f"| {case} | {system} | {s['median']:.4f} | {s['min']:.4f} | {s['max']:.4f} | {ratio:.2f} | {extra} |")
    return "\n".join(lines) + "\n"


def write_docs(path, size, section):
    start, end = f"<!-- bench:{size}:start -->", f"<!-- bench:{size}:end -->"
    with open(path) as f:
        text = f.read()
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = f"{before}{start}\n{section}{end}{after}"
    else:
        text = text.rstrip("\n") + f"\n\n{start}\n{section}{end}\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="generate.py's output directory")
    parser.add_argument("--work", required=True, help="scratch directory (ponds, tables)")
    parser.add_argument("--pondsql", required=True)
    parser.add_argument("--datafusion", required=True, help="the bench_datafusion example binary")
    parser.add_argument("--python", default=sys.executable, help="the venv's python, with duckdb and deltalake")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--profile", default="release")
    parser.add_argument("--txn-levels", default=",".join(map(str, TXN_LEVELS)),
                        type=lambda text: [int(n) for n in text.split(",")],
                        help="prior transactions for commit and open")
    parser.add_argument("--docs", help="write the results table into this Markdown file")
    args = parser.parse_args()
    cases = args.cases.split(",")
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown case {', '.join(sorted(unknown))}: choose from {', '.join(CASES)}")
    bench = Bench(args)
    started = time.perf_counter()
    try:
        for case in [c for c in CASES if c in cases and c not in ("commit", "open")]:
            print(f"{case}:", flush=True)
            getattr(bench, f"case_{case}")()
        if "commit" in cases or "open" in cases:
            print("commit/open:", flush=True)
            bench.case_commit_and_open(cases)
    except Failed as err:
        sys.exit(f"bench failed: {err}")
    section = report(bench, args)
    print()
    print(section)
    print(f"bench took {time.perf_counter() - started:.0f} s")
    if args.docs:
        write_docs(args.docs, bench.manifest["size"], section)
        print(f"written into {args.docs}")


if __name__ == "__main__":
    main()
