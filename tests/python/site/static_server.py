"""A static web server for the site tests: serves DIR on 127.0.0.1 (any
free port), prints "http://127.0.0.1:PORT" on its first line, and appends
each requested path to LOG (one per line). Standard library only.

usage: static_server.py DIR LOG
"""
import functools
import http.server
import sys

root, log = sys.argv[1:3]


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        with open(log, "a") as out:
            out.write(self.path + "\n")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
