"""The server's memory limit is one bound for all sessions: joins parked
unfetched by separate calls (each call without a token is its own session)
exhaust it together, and what they held comes back once they are done.

Usage: shared_memory.py URI
Prints one line per check; the Rust test compares them.
"""
import sys

import pyarrow as pa
import pyarrow.flight as flight
from google.protobuf import any_pb2

import flightsql.flightsql_pb2 as sql

client = flight.FlightClient(sys.argv[1])
# A hash join whose build side alone fits the test server's limit.
JOIN = ("SELECT a.v + {i} AS x FROM generate_series(1, 1000000) a(v) "
        "JOIN generate_series(1, 1000000) b(w) ON a.v = b.w")


def command(text):
    wrapped = any_pb2.Any()
    wrapped.Pack(sql.CommandStatementQuery(query=text))
    return flight.FlightDescriptor.for_command(wrapped.SerializeToString())


def run(info):
    try:
        return client.do_get(info.endpoints[0].ticket).read_all().num_rows
    except (flight.FlightError, pa.ArrowException) as e:
        return str(e).split(". gRPC client debug context")[0]


parked = [client.get_flight_info(command(JOIN.format(i=i))) for i in range(6)]
outcomes = [run(info) for info in parked]
refusals = [o for o in outcomes if isinstance(o, str)]
print("refused", len(refusals) > 0)
print("every refusal says why", all(
    "resource exhausted" in r and "out of memory for this query" in r
    and "shared by all sessions" in r for r in refusals), refusals[:1])
print("alone afterwards", run(client.get_flight_info(command(JOIN.format(i=0)))))
