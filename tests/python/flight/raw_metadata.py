"""The metadata calls a JDBC navigator (DBeaver) makes, in its order, over
pyarrow.flight with the Flight SQL messages from flightsql-dbapi's protobufs.

Usage: raw_metadata.py URI USER PASSWORD
"""
import sys

import pyarrow.flight as flight
from google.protobuf import any_pb2

import flightsql.flightsql_pb2 as sql

uri, user, password = sys.argv[1:4]
client = flight.FlightClient(uri)
token = client.authenticate_basic_token(user, password)
options = flight.FlightCallOptions(headers=[token])


def info(command):
    wrapped = any_pb2.Any()
    wrapped.Pack(command)
    return client.get_flight_info(flight.FlightDescriptor.for_command(wrapped.SerializeToString()), options)


def rows(command):
    flight_info = info(command)
    table = client.do_get(flight_info.endpoints[0].ticket, options).read_all()
    # What FlightInfo promised is what the stream has, nullability included.
    assert flight_info.schema == table.schema, (flight_info.schema, table.schema)
    return table.to_pylist()


sql_info = {r["info_name"]: r["value"] for r in rows(sql.CommandGetSqlInfo(info=[0, 1, 3, 4, 504, 508]))}
print("server", sql_info[0], sql_info[3], sql_info[4], repr(sql_info[504]), "GLOB" in sql_info[508])
print("catalogs", rows(sql.CommandGetCatalogs()))
print("schemas", [r["db_schema_name"] for r in rows(sql.CommandGetDbSchemas(catalog="pond", db_schema_filter_pattern="/%"))])
tables = rows(sql.CommandGetTables(catalog="pond", db_schema_filter_pattern="/s", table_name_filter_pattern="%", include_schema=True))
import pyarrow as pa

for t in tables:
    schema = pa.ipc.read_schema(pa.py_buffer(t["table_schema"]))
    print("table", t["db_schema_name"], t["table_name"], t["table_type"], [(f.name, str(f.type), f.nullable) for f in schema])
print("system tables", len(rows(sql.CommandGetTables(db_schema_filter_pattern="system", table_types=["SYSTEM TABLE"]))))
print("views only", rows(sql.CommandGetTables(table_types=["VIEW"])))
types = rows(sql.CommandGetXdbcTypeInfo())
print("types", [t["type_name"] for t in types])
print("primary keys", rows(sql.CommandGetPrimaryKeys(catalog="pond", db_schema="/s", table="t")))
print("imported keys", rows(sql.CommandGetImportedKeys(catalog="pond", db_schema="/s", table="t")))
print("table types", [r["table_type"] for r in rows(sql.CommandGetTableTypes())])

# A query's FlightInfo schema is the stream's, nullability included.
result = rows(sql.CommandStatementQuery(query='SELECT time, value, name, count(*) OVER () AS n FROM "/s/t" ORDER BY time LIMIT 1'))
print("query", result)
