"""flightsql-dbapi: the ad-hoc path (CommandStatementQuery, CommandStatementUpdate).

Usage: dbapi_adhoc.py URI USER PASSWORD
"""
import sys
from urllib.parse import urlparse

from flightsql import FlightSQLClient, connect

uri, user, password = sys.argv[1:4]
address = urlparse(uri)
client = FlightSQLClient(host=address.hostname, port=address.port, insecure=True, user=user, password=password)
conn = connect(client)
cur = conn.cursor()

cur.execute('SELECT name, value FROM "/s/t" ORDER BY name')
print("rows", cur.fetchall())
print("description", [d[0] for d in cur.description])
print("update count", client.execute_update('INSERT INTO "/s/t" VALUES (TIMESTAMP \'2024-01-02 00:00\', 9.25, \'z\'), (TIMESTAMP \'2024-01-02 00:10\', 9.5, \'y\')'))
print("ddl count", client.execute_update('CREATE TABLE "/s/copy" AS SELECT * FROM "/s/t"'))
cur.execute('SELECT count(*) FROM "/s/copy"')
print("copied", cur.fetchall())
print("schemas", sorted(conn.flightsql_get_schema_names()))
print("tables in /s", sorted(conn.flightsql_get_table_names("/s")))
