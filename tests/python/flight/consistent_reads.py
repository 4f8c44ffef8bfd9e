"""Four clients query in a loop while a cron job commits batches of 10
rows: every result holds whole commits only.

Usage: consistent_reads.py URI USER PASSWORD STOP_FILE
Runs until STOP_FILE exists, then prints totals.
"""
import os
import sys
import threading
import warnings

import adbc_driver_flightsql.dbapi as flightsql

warnings.simplefilter("ignore")
uri, user, password, stop = sys.argv[1:5]
results = []
lock = threading.Lock()


def client():
    conn = flightsql.connect(uri, db_kwargs={"username": user, "password": password})
    cur = conn.cursor()
    queries, torn, seen = 0, 0, 0
    last_seen = -1
    while True:
        finished = os.path.exists(stop)
        cur.execute('SELECT batch, count(*) AS n FROM "/r/readings" GROUP BY batch')
        rows = cur.fetchall()
        queries += 1
        torn += sum(1 for _, n in rows if n != 10)
        total = sum(n for _, n in rows)
        # Commits never disappear: each result has at least the last one's rows.
        torn += total < last_seen
        last_seen = total
        seen = max(seen, len(rows))
        if finished:
            break
    with lock:
        results.append((queries, torn, seen))
    conn.close()


threads = [threading.Thread(target=client) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("clients", len(results))
print("torn", sum(r[1] for r in results))
print("every client queried", all(r[0] > 1 for r in results))
print("batches seen at the end", sorted({r[2] for r in results}))
