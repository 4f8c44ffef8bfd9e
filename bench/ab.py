"""Two pondsql builds side by side on the same ponds, runs alternating.

    python bench/ab.py grow EXE DIR N
    python bench/ab.py open OLD NEW LEVEL=POND[,LEVEL=POND…] [RUNS]
    python bench/ab.py commit OLD NEW LEVEL=DIR[,LEVEL=DIR…] [RUNS]
    python bench/ab.py refresh OLD NEW DAYS=DIR[,DAYS=DIR…] [RUNS]

`open`: pond opened + `SELECT name FROM ls('/')` (from --timing) and the
whole process, as bench/harness.py's `open@N`. `grow` makes DIR/base, a
pond of N transactions (pond.system.transactions: its creation, the table
/log and 100-row INSERTs, as the harness's `commit@N` grows it). `commit`: each run copies DIR/base and
times one more 100-row INSERT (the statement, and the whole process), so
every run commits at exactly N prior transactions. `refresh`: DIR holds `base`
(a pond with the /year_1h materialized view of harness.py's `refresh` case)
and `day.sql` (the next day's INSERTs); each run copies `base`, appends the
day and times the incremental REFRESH. For a change whose effect the
full harness cannot isolate (it rebuilds its ponds with one binary)."""
import re
import shutil
import statistics
import subprocess
import sys
import time


def timed(exe, pond, sql):
    start = time.perf_counter()
    out = subprocess.run([exe, "--pond", pond, "--rc", "/dev/null", "--timing", "--format", "csv", "-c", sql],
                         capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - start
    lines = out.strip().splitlines()
    opened = float(re.fullmatch(r"pond opened in ([0-9.]+) s", lines[0]).group(1))
    statement = float(re.fullmatch(r"\d+ row\(s\) in ([0-9.]+) s", lines[-2]).group(1))
    return opened, statement, wall


def insert_sql(n):
    """The harness's commit@N statement: 100 rows after the n-th batch."""
    base = 1_704_067_200 + n * 6000
    values = ", ".join(f"(to_timestamp({base + 60 * i}), 'st01', {i}.5)" for i in range(100))
    return f'INSERT INTO "/log" VALUES {values}'


def grow(exe, directory, transactions):
    pond = f"{directory}/base"
    shutil.rmtree(pond, ignore_errors=True)
    subprocess.run([exe, "init", pond], check=True, capture_output=True)
    script = f"{directory}/grow.sql"
    with open(script, "w") as f:
        f.write('CREATE TABLE "/log" ("timestamp" TIMESTAMP, station VARCHAR, value DOUBLE);\n')
        # init and CREATE TABLE are two of them (pond.system.transactions).
        for n in range(transactions - 2):
            f.write(insert_sql(n) + ";\n")
    subprocess.run([exe, "--pond", pond, "--rc", "/dev/null", "-q", "-f", script], check=True)


def main():
    if sys.argv[1] == "grow":
        grow(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    case, old, new, targets = sys.argv[1:5]
    runs = int(sys.argv[5]) if len(sys.argv) > 5 else 11
    builds = {"old": old, "new": new}
    for level, path in (t.split("=", 1) for t in targets.split(",")):
        samples = {name: ([], []) for name in builds}
        for run in range(runs):
            order = list(builds.items())[:: -1 if run % 2 else 1]
            for name, exe in order:
                if case == "open":
                    opened, statement, wall = timed(exe, path, "SELECT name FROM ls('/')")
                    samples[name][0].append(opened + statement)
                    samples[name][1].append(wall)
                elif case == "commit":
                    pond = f"{path}/run"
                    shutil.rmtree(pond, ignore_errors=True)
                    shutil.copytree(f"{path}/base", pond)
                    _, statement, wall = timed(exe, pond, insert_sql(1_000_000 + run))
                    samples[name][0].append(statement)
                    samples[name][1].append(wall)
                else:
                    pond = f"{path}/run"
                    shutil.rmtree(pond, ignore_errors=True)
                    shutil.copytree(f"{path}/base", pond)
                    subprocess.run([exe, "--pond", pond, "--rc", "/dev/null", "-q", "-f", f"{path}/day.sql"], check=True)
                    _, statement, _ = timed(exe, pond, 'REFRESH MATERIALIZED VIEW "/year_1h"')
                    samples[name][0].append(statement)
        for name, (first, process) in samples.items():
            line = f"{case}@{level} {name}: median {statistics.median(first) * 1000:.1f} ms"
            if process:
                line += f", whole process {statistics.median(process) * 1000:.1f} ms"
            print(line, flush=True)
        if case in ("refresh", "commit"):
            shutil.rmtree(f"{path}/run", ignore_errors=True)


if __name__ == "__main__":
    main()
