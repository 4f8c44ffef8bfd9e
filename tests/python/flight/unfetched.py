"""Results executed but never fetched, and prepared statements never
closed, are bounded per user: the oldest unfetched result goes when a
17th arrives, and a 257th open prepared statement is refused.

Usage: unfetched.py URI
Prints one line per check; the Rust test compares them.
"""
import sys

import pyarrow as pa
import pyarrow.flight as flight
from google.protobuf import any_pb2

import flightsql.flightsql_pb2 as sql

client = flight.FlightClient(sys.argv[1])


def command(message):
    wrapped = any_pb2.Any()
    wrapped.Pack(message)
    return flight.FlightDescriptor.for_command(wrapped.SerializeToString())


def attempt(what, call):
    try:
        print(what, call())
    except (flight.FlightError, pa.ArrowException) as e:
        message = str(e).split(". gRPC client debug context")[0].split(". Detail:")[0]
        print(what, type(e).__name__, "|", message)


# Each a sort of 200,000 rows: it holds its rows until fetched.
infos = [
    client.get_flight_info(command(sql.CommandStatementQuery(
        query=f"SELECT v FROM generate_series(1, 200000) t(v) ORDER BY v DESC LIMIT 200000 OFFSET {i}")))
    for i in range(20)
]
fetch = lambda info: client.do_get(info.endpoints[0].ticket).read_all().num_rows
attempt("oldest", lambda: fetch(infos[0]))
attempt("fourth", lambda: fetch(infos[3]))
attempt("fifth", lambda: fetch(infos[4]))
attempt("newest", lambda: fetch(infos[19]))


def create(text):
    wrapped = any_pb2.Any()
    wrapped.Pack(sql.ActionCreatePreparedStatementRequest(query=text))
    result = next(iter(client.do_action(flight.Action("CreatePreparedStatement", wrapped.SerializeToString()))))
    answer = any_pb2.Any()
    answer.ParseFromString(result.body.to_pybytes())
    created = sql.ActionCreatePreparedStatementResult()
    answer.Unpack(created)
    return created.prepared_statement_handle


def close(handle):
    wrapped = any_pb2.Any()
    wrapped.Pack(sql.ActionClosePreparedStatementRequest(prepared_statement_handle=handle))
    list(client.do_action(flight.Action("ClosePreparedStatement", wrapped.SerializeToString())))


handles = [create(f"SELECT {i} AS n") for i in range(256)]
print("open", len(set(handles)))
attempt("one more", lambda: create("SELECT 0 AS n"))
close(handles[0])
attempt("after closing one", lambda: len(create("SELECT 0 AS n")) > 0)
