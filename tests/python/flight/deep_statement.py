"""Deep statements through ADBC: answered up to the documented limit,
refused in one line beyond it, and the server serves a second connection
afterwards (a deep statement once aborted `pondsql serve` for everyone).

Usage: deep_statement.py URI
Prints one line per check; the Rust test compares them.
"""
import sys
import warnings

import adbc_driver_flightsql.dbapi as flightsql

warnings.simplefilter("ignore")
uri = sys.argv[1]


def attempt(what, call):
    try:
        print(what, call())
    except Exception as e:  # the driver's error classes vary by version
        print(what, "refused |", str(e).splitlines()[0])


def run(conn, text, parameters=None):
    cur = conn.cursor()
    cur.execute(text, parameters=parameters)
    return cur.fetchall()


first = flightsql.connect(uri)
answered = "SELECT " + " + ".join(["1"] * 2000) + " AS s"
too_deep = "SELECT " + " + ".join(["1"] * 100_000) + " AS s"
attempt("2000 terms", lambda: run(first, answered))
attempt("100000 terms", lambda: run(first, too_deep))
# The prepared path parses and describes the statement before it runs.
attempt("100000 terms prepared", lambda: run(first, too_deep + " WHERE ? > 0", (1,)))
second = flightsql.connect(uri)
attempt("second connection", lambda: run(second, "SELECT 41 + 1 AS n"))
