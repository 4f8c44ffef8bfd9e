"""Drives `pondsql serve` with the ADBC Flight SQL driver (DB-API).

Usage: adbc_client.py URI USER PASSWORD
The pond holds /s/t (time, value, name) with rows a=1.5 and b=2.5.
Prints one line per check; the Rust test compares them.
"""
import sys
import warnings

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa

warnings.simplefilter("ignore")  # "Cannot disable autocommit": BEGIN/COMMIT are SQL here
uri, user, password = sys.argv[1:4]


def connect():
    return flightsql.connect(uri, db_kwargs={"username": user, "password": password})


def txns(cur):
    cur.execute("SELECT count(*) FROM pond.system.transactions")
    return cur.fetchone()[0]


conn = connect()
cur = conn.cursor()

# Queries keep their Arrow types.
cur.execute('SELECT * FROM "/s/t" ORDER BY time')
table = cur.fetch_arrow_table()
print("schema", [(f.name, str(f.type)) for f in table.schema])
print("rows", table.to_pylist()[0]["value"], table.to_pylist()[1]["name"])

# Parameters, `?` and `$n`, through the prepared path.
cur.execute('SELECT value FROM "/s/t" WHERE name = ?', parameters=("b",))
print("param text", cur.fetchall())
cur.execute("SELECT $1 * 2 AS twice, $2 AS quoted", parameters=(21, "it's"))
print("param numbers", cur.fetchall())

# A prepared INSERT really runs; many rows of parameters are one commit.
before = txns(cur)
cur.execute('INSERT INTO "/s/t" VALUES (?, ?, ?)', parameters=("2024-01-01 00:20", 3.5, "c"))
cur.executemany(
    'INSERT INTO "/s/t" VALUES (?, ?, ?)',
    [("2024-01-01 00:30", 4.5, "d"), ("2024-01-01 00:40", 5.5, "e"), ("2024-01-01 00:50", 6.5, "f")],
)
print("commits for 4 inserted rows", txns(cur) - before)
cur.execute('SELECT name FROM "/s/t" ORDER BY time')
print("names", "".join(r[0] for r in cur.fetchall()))

# DDL through the update path.
cur.execute('CREATE VIEW "/s/high" AS SELECT * FROM "/s/t" WHERE value > 3')
cur.execute('CREATE MATERIALIZED VIEW "/s/daily" AS SELECT date_trunc(\'day\', time) AS day, avg(value) AS v FROM "/s/t" GROUP BY 1')

# Bulk ingest: create, append, replace.
batch = pa.table({"time": pa.array([1704067200000000, 1704067260000000], pa.timestamp("us")), "level": [0.5, 0.75]})
print("ingest create", cur.adbc_ingest("levels", batch, mode="create", db_schema_name="/s"))
print("ingest append", cur.adbc_ingest("levels", batch, mode="append", db_schema_name="/s"))
cur.execute('SELECT count(*), sum(level) FROM "/s/levels"')
print("ingested", cur.fetchone())
try:
    cur.adbc_ingest("levels", batch, mode="create", db_schema_name="/s")
    print("ingest create again: accepted")
except Exception as e:  # noqa: BLE001
    print("ingest create again:", type(e).__name__, "exists" in str(e))
print("ingest replace", cur.adbc_ingest("levels", batch.slice(0, 1), mode="replace", db_schema_name="/s"))

# Browsing, as a navigator does.
objects = conn.adbc_get_objects(depth="all").read_all().to_pylist()
for catalog in objects:
    for schema in catalog["catalog_db_schemas"]:
        for t in schema["db_schema_tables"] or []:
            if schema["db_schema_name"] in ("/s",) or t["table_name"] == "transactions":
                columns = [c["column_name"] for c in t["table_columns"] or []]
                print("object", catalog["catalog_name"], schema["db_schema_name"], t["table_name"], t["table_type"], columns)
print("table schema", conn.adbc_get_table_schema("t", db_schema_filter="/s").names)
print("table types", sorted(conn.adbc_get_table_types()))

# BEGIN … COMMIT spans statements of one connection; others see it at COMMIT.
other = connect().cursor()
cur.execute("BEGIN")
cur.execute('INSERT INTO "/s/t" VALUES (TIMESTAMP \'2024-01-01 01:00\', 7.5, \'g\')')
other.execute('SELECT count(*) FROM "/s/t"')
print("other sees during block", other.fetchone()[0])
cur.execute("COMMIT")
other.execute('SELECT count(*) FROM "/s/t"')
print("other sees after commit", other.fetchone()[0])
cur.execute("BEGIN")
cur.execute('DELETE FROM "/s/t" WHERE name = \'g\'')
cur.execute("ROLLBACK")
other.execute('SELECT count(*) FROM "/s/t"')
print("after rollback", other.fetchone()[0])
