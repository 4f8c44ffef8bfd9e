"""A fake HydroVu API for pondsql's tests, on 127.0.0.1.

It serves the endpoints pondsql calls, as HydroVu documents them:
  POST /public-api/oauth/token               OAuth2 client credentials (HTTP Basic)
  GET  /public-api/v1/sispec/friendlynames   {"parameters": {...}, "units": {...}}
  GET  /public-api/v1/locations/list         paged
  GET  /public-api/v1/locations/{id}/data    ?startTime=&endTime= (unix s), paged
Paging: a response's x-isi-next-page header, sent back as x-isi-start-page.

What it holds is a JSON state file the test rewrites between statements
(read at every request): credentials, friendly names, locations, each
location's series {parameterId, unitId, readings: [[unix_s, value], ...]},
page sizes, token lifetime, and faults to inject. Every request is
appended to a JSON-lines log the test reads.

Usage: fake_hydrovu.py STATE.json LOG.jsonl   (prints "PORT <n>" when ready)
"""

import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

STATE, LOG = sys.argv[1], sys.argv[2]
lock = threading.Lock()
tokens = {}  # token -> uses so far
fired = {}  # fault id -> times fired
issued = [0]


def state():
    with open(STATE) as f:
        return json.load(f)


def log(entry):
    with lock, open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")


def page_of(items, size, start_token):
    """The slice of items a page token points at, and the next token."""
    offset = int(base64.urlsafe_b64decode(start_token).decode()) if start_token else 0
    end = offset + size
    nxt = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[offset:end], nxt


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=None, headers=()):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def fault(self, s, entry):
        for fault in s.get("faults", []):
            if fault.get("method", "GET") != self.command:
                continue
            if not self.path.startswith(fault["path_prefix"]):
                continue
            if fault.get("on_start_page") and fault["on_start_page"] != entry["start_page_no"]:
                continue
            with lock:
                n = fired.get(fault["id"], 0)
                if fault.get("times", 1) >= 0 and n >= fault.get("times", 1):
                    continue
                fired[fault["id"]] = n + 1
            headers = []
            if "retry_after" in fault:
                headers.append(("Retry-After", str(fault["retry_after"])))
            entry["status"] = fault["status"]
            log(entry)
            self.reply(fault["status"], {"error": "injected fault " + fault["id"]}, headers)
            return True
        return False

    def do_POST(self):
        s = state()
        length = int(self.headers.get("Content-Length", 0))
        form = parse_qs(self.rfile.read(length).decode())
        entry = {"method": "POST", "path": self.path, "start_page_no": None}
        if self.fault(s, entry):
            return
        if self.path != "/public-api/oauth/token":
            entry["status"] = 404
            log(entry)
            return self.reply(404, {"error": "no such endpoint"})
        auth = self.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(
            f"{s['client_id']}:{s['client_secret']}".encode()).decode()
        ok = (auth == expected and form.get("grant_type") == ["client_credentials"]
              and form.get("scope") == ["read:locations read:data"])
        entry["status"] = 200 if ok else 401
        log(entry)
        if not ok:
            return self.reply(401, {"error": "invalid_client"})
        with lock:
            issued[0] += 1
            token = f"token-{issued[0]}"
            tokens[token] = 0
        self.reply(200, {"access_token": token, "token_type": "bearer",
                         "expires_in": s.get("token_lifetime", 3600)})

    def do_GET(self):
        s = state()
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        start_page = self.headers.get("x-isi-start-page")
        entry = {"method": "GET", "path": url.path, "query": query,
                 "start_page": start_page,
                 "start_page_no": (int(base64.urlsafe_b64decode(start_page).decode())
                                   if start_page else 0)}
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        with lock:
            valid = token in tokens and tokens[token] < s.get("token_max_uses", 1 << 30)
            if valid:
                tokens[token] += 1
        if not valid:
            entry["status"] = 401
            log(entry)
            return self.reply(401, {"error": "invalid_token"})
        if self.fault(s, entry):
            return
        entry["status"] = 200
        if url.path == "/public-api/v1/sispec/friendlynames":
            log(entry)
            return self.reply(200, s["friendly"])
        if url.path == "/public-api/v1/locations/list":
            items, nxt = page_of(s["locations"], s.get("location_page_size", 1000), start_page)
            log(entry)
            return self.reply(200, items, [("x-isi-next-page", nxt)] if nxt else [])
        parts = url.path.split("/")
        if len(parts) == 6 and parts[:4] == ["", "public-api", "v1", "locations"] and parts[5] == "data":
            location = parts[4]
            if location not in s["data"]:
                entry["status"] = 404
                log(entry)
                return self.reply(404, {"error": f"no location {location}"})
            start = int(query.get("startTime", 0))
            end = int(query["endTime"]) if "endTime" in query else None
            # Parameter-major: one series' readings run over several pages.
            flat = []
            for i, series in enumerate(s["data"][location]):
                for ts, value in series["readings"]:
                    if ts >= start and (end is None or ts <= end):
                        flat.append((i, ts, value))
            items, nxt = page_of(flat, s.get("page_size", 1000), start_page)
            parameters = []
            for i, ts, value in items:
                if not parameters or parameters[-1]["_i"] != i:
                    series = s["data"][location][i]
                    parameters.append({"_i": i, "parameterId": series["parameterId"],
                                       "unitId": series["unitId"],
                                       "customParameter": series.get("customParameter", False),
                                       "readings": []})
                parameters[-1]["readings"].append({"timestamp": ts, "value": value})
            for p in parameters:
                del p["_i"]
            entry["readings"] = len(items)
            log(entry)
            return self.reply(200, {"locationId": int(location), "parameters": parameters},
                              [("x-isi-next-page", nxt)] if nxt else [])
        entry["status"] = 404
        log(entry)
        self.reply(404, {"error": "no such endpoint"})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
