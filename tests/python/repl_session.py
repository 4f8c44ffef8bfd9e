"""Drives the real pondsql REPL in a pseudo-terminal (pexpect).

Also checks the progress line of a long statement.

usage: repl_session.py PONDSQL POND HISTORY_FILE

Checks completion of a pond path and a column name, a multi-line statement,
Ctrl-C cancelling a long query while the session goes on, backslash
commands (\\chart among them), and history kept across two sessions. Exits non-zero on failure.
"""
import sys
import time

import pexpect

pondsql, pond, history = sys.argv[1:4]
env = {"TERM": "xterm", "NO_COLOR": "1", "PONDSQL_HISTORY": history, "HOME": "/nonexistent", "PATH": "/usr/bin:/bin"}
PROMPT = "pond> "


def start():
    child = pexpect.spawn(pondsql, ["--pond", pond], env=env, encoding="utf-8", timeout=60, dimensions=(40, 200))
    child.logfile_read = sys.stdout
    child.expect_exact(PROMPT)
    return child


child = start()

# A pond path completes inside double quotes, segment by segment.
child.send('SELECT count(*) AS n FROM "/sen')
child.send("\t")
child.expect_exact('"/sensors/')
child.send("st\t")
child.expect_exact('"/sensors/station1/')
child.send("te\t")
child.expect_exact('"/sensors/station1/temp')
child.send('";\r')
child.expect(r"\|\s+3\s+\|")
child.expect_exact(PROMPT)

# A column name completes from the tables in the pond.
child.send("SELECT conduc\t")
child.expect_exact("conductivity")
child.send(' FROM "/sensors/station1/temp" ORDER BY conductivity LIMIT 1;\r')
child.expect(r"\|\s+400\s+\|")
child.expect_exact(PROMPT)

# A statement may span lines: nothing runs until the ';'.
child.send("SELECT 40 +\r")
time.sleep(0.5)
child.send("2 AS answer;\r")
child.expect(r"\|\s+42\s+\|")
child.expect_exact(PROMPT)

# Ctrl-C cancels a long query and keeps the session.
child.send("SELECT count(*) FROM generate_series(1, 100000000000);\r")
# After a second, a long statement shows its progress on the terminal.
child.expect(r"\d+ rows, .*\d+\.\d s \(Ctrl-C cancels\)", timeout=15)
child.sendintr()
child.expect_exact("cancelled")
child.expect_exact(PROMPT)
child.send("SELECT 'still here' AS status;\r")
child.expect_exact("still here")
child.expect_exact(PROMPT)

# Backslash commands.
child.send('\\d "/sensors/station1/temp"\r')
child.expect_exact("conductivity")
child.expect_exact(PROMPT)
# \chart draws a query into a temp PNG and prints its path (no viewer here: no DISPLAY).
child.send('\\chart SELECT ts, temp_c FROM "/sensors/station1/temp";\r')
child.expect(r"wrote (\S+\.png) \(3 rows\)")
with open(child.match.group(1), "rb") as picture:
    assert picture.read(8) == b"\x89PNG\r\n\x1a\n", "\\chart did not write a PNG"
child.expect_exact(PROMPT)
child.send('\\chart SELECT 1 AS a;\r')
child.expect_exact("no timestamp column")
child.expect_exact(PROMPT)
child.send("\\format csv\r")
child.expect_exact("format is csv")
child.send("SELECT 1 AS a, 2 AS b;\r")
child.expect_exact("a,b")
child.expect_exact(PROMPT)
child.send("\\q\r")
child.expect(pexpect.EOF)

# History persists: a second session recalls the last statement with Up.
child = start()
child.send("\x1b[A\x1b[A")  # the newest entry is \\q
child.expect_exact("SELECT 1 AS a, 2 AS b;")
child.send("\r")
child.expect(r"\|\s+1\s+\|\s+2\s+\|")
child.expect_exact(PROMPT)
child.sendeof()
child.expect(pexpect.EOF)
print("\nREPL session OK")
