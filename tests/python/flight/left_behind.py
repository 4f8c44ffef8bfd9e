"""A client that goes away leaving a result unfetched and a prepared
statement open, as a crashed program or a closed laptop does.

Usage: left_behind.py URI
"""
import sys

import pyarrow.flight as flight
from google.protobuf import any_pb2

import flightsql.flightsql_pb2 as sql

client = flight.FlightClient(sys.argv[1])


def command(message):
    wrapped = any_pb2.Any()
    wrapped.Pack(message)
    return flight.FlightDescriptor.for_command(wrapped.SerializeToString())


client.get_flight_info(command(sql.CommandStatementQuery(query="SELECT 42 AS left_unfetched")))
wrapped = any_pb2.Any()
wrapped.Pack(sql.ActionCreatePreparedStatementRequest(query="SELECT 7 AS left_prepared"))
list(client.do_action(flight.Action("CreatePreparedStatement", wrapped.SerializeToString())))
print("left")
