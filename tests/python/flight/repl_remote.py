"""The REPL against a server (pondsql --connect), in a pseudo-terminal.

Usage: repl_remote.py URI PONDSQL USER PASSWORD
Checks completion from the server's metadata, a query, Ctrl-C cancelling a
long query on the server, a backslash command. Exits non-zero on failure.
"""
import sys
import time

import pexpect

uri, pondsql, user, password = sys.argv[1:5]
env = {"TERM": "xterm", "NO_COLOR": "1", "PONDSQL_HISTORY": "/dev/null", "HOME": "/nonexistent",
       "PATH": "/usr/bin:/bin", "PONDSQL_PASSWORD": password}
PROMPT = "pond> "
child = pexpect.spawn(pondsql, ["--connect", uri, "--user", user], env=env, encoding="utf-8", timeout=60, dimensions=(40, 200))
child.logfile_read = sys.stdout
child.expect_exact(PROMPT)

# Pond paths and columns complete from what the server lists.
child.send('SELECT valu\t')
child.expect_exact("value")
child.send(' AS v FROM "/s/\t')
child.expect_exact('"/s/t')
child.send('" ORDER BY v DESC LIMIT 1;\r')
child.expect(r"\|\s+2\.5\s+\|")
child.expect_exact(PROMPT)

# Ctrl-C cancels a long query on the server; the session goes on.
child.send("SELECT count(*) FROM generate_series(1, 100000000000);\r")
time.sleep(1.5)
child.sendintr()
child.expect_exact("cancelled")
child.expect_exact(PROMPT)
child.send("SELECT 'still here' AS status;\r")
child.expect_exact("still here")
child.expect_exact(PROMPT)

child.send("\\l /s\r")
child.expect(r"\|\s+t\s+\|\s+table")
child.expect_exact(PROMPT)
child.send("\\q\r")
child.expect(pexpect.EOF)
