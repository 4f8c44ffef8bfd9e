"""Bad credentials, refused writes and files, malformed requests: each a
clear error with the right code, and the server keeps serving.

Usage: bad_requests.py URI
"""
import sys

import pyarrow as pa
import pyarrow.flight as flight
from google.protobuf import any_pb2

import flightsql.flightsql_pb2 as sql

uri = sys.argv[1]
client = flight.FlightClient(uri)


def attempt(what, call):
    try:
        call()
        print(what, "accepted")
    except (flight.FlightError, pa.ArrowException, OSError) as e:
        message = str(e).split(". gRPC client debug context")[0].split(". Detail:")[0]
        print(what, type(e).__name__, "|", message)


def command(message):
    wrapped = any_pb2.Any()
    wrapped.Pack(message)
    return flight.FlightDescriptor.for_command(wrapped.SerializeToString())


def as_user(user, password):
    return flight.FlightCallOptions(headers=[client.authenticate_basic_token(user, password)])


def query(options, text):
    info = client.get_flight_info(command(sql.CommandStatementQuery(query=text)), options)
    return client.do_get(info.endpoints[0].ticket, options).read_all()


attempt("wrong password", lambda: client.authenticate_basic_token("alice", "nope"))
attempt("unknown user", lambda: client.authenticate_basic_token("mallory", "alice-pw"))
attempt("no credentials", lambda: client.get_flight_info(command(sql.CommandStatementQuery(query="SELECT 1"))))
attempt("bad token", lambda: query(flight.FlightCallOptions(headers=[(b"authorization", b"Bearer 1234")]), "SELECT 1"))
# Every call authenticates before anything else reads it, implemented or not.
attempt("no credentials: list flights", lambda: list(client.list_flights()))
attempt("no credentials: list actions", lambda: client.list_actions())
attempt("no credentials: get schema", lambda: client.get_schema(command(sql.CommandStatementQuery(query="SELECT 1"))))
attempt("no credentials: garbage ticket", lambda: client.do_get(flight.Ticket(b"\x00garbage")).read_all())

alice = as_user("alice", "alice-pw")
bob = as_user("bob", "bob-pw")
attempt("read user inserts", lambda: query(bob, 'INSERT INTO "/s/t" VALUES (TIMESTAMP \'2024-01-03 00:00\', 1.0, \'x\')'))
attempt("read user creates", lambda: query(bob, "CREATE DIRECTORY '/bob'"))
print("read user reads", query(bob, 'SELECT count(*) AS n FROM "/s/t"').to_pylist())
attempt("host file", lambda: query(alice, "SELECT * FROM '/etc/passwd'"))
attempt("host csv", lambda: query(alice, "SELECT * FROM '/etc/x.csv'"))
attempt("read_csv", lambda: query(alice, "SELECT * FROM read_csv('/etc/passwd')"))
attempt("api source", lambda: query(alice, "SELECT * FROM hydrovu_locations()"))
attempt("copy to", lambda: query(alice, "COPY (SELECT 1) TO '/tmp/pondsql-flight-x.csv'"))
attempt("bad sql", lambda: query(alice, "SELEC 1"))
attempt("drop missing", lambda: query(alice, 'DROP TABLE "/nope"'))
attempt("create existing", lambda: query(alice, "CREATE DIRECTORY '/s'"))
attempt("garbage ticket", lambda: client.do_get(flight.Ticket(b"\x00garbage"), alice).read_all())
attempt("stale ticket", lambda: client.do_get(flight.Ticket(
    any_pb2.Any(type_url="type.googleapis.com/arrow.flight.protocol.sql.TicketStatementQuery",
                value=sql.TicketStatementQuery(statement_handle=b"nope").SerializeToString()).SerializeToString()), alice).read_all())
attempt("unknown command", lambda: client.get_flight_info(flight.FlightDescriptor.for_command(b"\x0a\x03abc"), alice))
attempt("unknown action", lambda: list(client.do_action(flight.Action("Explode", b""), alice)))


def prepared(options, text):
    wrapped = any_pb2.Any()
    wrapped.Pack(sql.ActionCreatePreparedStatementRequest(query=text))
    result = next(iter(client.do_action(flight.Action("CreatePreparedStatement", wrapped.SerializeToString()), options)))
    answer = any_pb2.Any()
    answer.ParseFromString(result.body.to_pybytes())
    created = sql.ActionCreatePreparedStatementResult()
    answer.Unpack(created)
    return created


def bind_and_run(options, created, batch):
    descriptor = command(sql.CommandPreparedStatementQuery(prepared_statement_handle=created.prepared_statement_handle))
    writer, reader = client.do_put(descriptor, batch.schema, options)
    writer.write(batch)
    writer.done_writing()
    reader.read()
    writer.close()
    info = client.get_flight_info(descriptor, options)
    return client.do_get(info.endpoints[0].ticket, options).read_all()


created = prepared(alice, 'SELECT name FROM "/s/t" WHERE value > $1 AND name <> $2 ORDER BY name')
parameters = pa.ipc.read_schema(pa.py_buffer(created.parameter_schema))
dataset = pa.ipc.read_schema(pa.py_buffer(created.dataset_schema))
print("prepared", [(f.name, str(f.type)) for f in parameters], dataset.names)
attempt("too few parameters", lambda: bind_and_run(alice, created, pa.record_batch({"a": [2.0]})))
attempt("unbindable parameter", lambda: bind_and_run(alice, created, pa.record_batch({"a": [[1]], "b": ["x"]})))
attempt("wrong parameter type", lambda: bind_and_run(alice, created, pa.record_batch({"a": ["many"], "b": ["x"]})))
print("bound", bind_and_run(alice, created, pa.record_batch({"a": [2.0], "b": ["x"]})).to_pylist())
attempt("unbound", lambda: client.get_flight_info(command(sql.CommandPreparedStatementQuery(prepared_statement_handle=prepared(alice, "SELECT $1").prepared_statement_handle)), alice))


def cancel(options, flight_info):
    body = flight_info.serialize()
    size, length = bytearray(), len(body)
    while True:  # CancelFlightInfoRequest { info = 1 }: tag, varint length, FlightInfo
        size.append((length & 0x7F) | (0x80 if length > 0x7F else 0))
        length >>= 7
        if not length:
            break
    result = next(iter(client.do_action(flight.Action("CancelFlightInfo", b"\x0a" + bytes(size) + body), options)))
    return result.body.to_pybytes()


endless = client.get_flight_info(command(sql.CommandStatementQuery(query="SELECT count(*) FROM generate_series(1, 1000000000000)")), alice)
print("cancel", cancel(alice, endless).hex(), "again", cancel(alice, endless).hex())
attempt("fetch cancelled", lambda: client.do_get(endless.endpoints[0].ticket, alice).read_all())
print("still serving", query(alice, "SELECT 1 AS one").to_pylist())
