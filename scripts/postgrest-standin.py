#!/usr/bin/env python3
"""A stand-in for PostgREST's `segments` table and media-audio's `/ingest-transcript`, for the worker's tests.

PostgREST (a Haskell server) installs from neither Debian nor PyPI, so the tests talk to this instead. It keeps
PostgREST's rules for what the worker sends: `POST /rest/v1/<table>` with a JSON array of rows (201, nothing back
under `Prefer: return=minimal`), `DELETE` and `GET` filtered by `column=eq.value` or `meta->>field=eq.value`, the
`apikey` header and a matching bearer token (401 with PostgREST's JSON error otherwise), JSON bodies only (415),
rows whose columns all exist (400, code PGRST204 otherwise). Rows get an id and the table's default namespace.

Faults for tests, set by flags or by `POST /_faults` with `{"fail": N, "status": S, "stall": seconds}`: the next N
writes answer S (503 by default) or stall first.

  postgrest-standin.py [--key KEY] [--fail N] [--status S]
Prints `LISTENING <port>` once it serves on 127.0.0.1.
"""
import argparse
import json
import signal
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COLUMNS = {"id", "namespace", "video_id", "label", "score", "ts_start", "ts_end", "uri", "meta", "created_at"}


class State:
    def __init__(self, key, fail, status):
        self.lock = threading.Lock()
        self.key = key
        self.rows = []
        self.next_id = 1
        self.fail = fail
        self.status = status
        self.stall = 0.0
        self.forwards = []
        self.forward_status = 200
        self.requests = []


def matches(row, filters):
    for column, value in filters:
        if "->>" in column:
            outer, inner = column.split("->>", 1)
            actual = (row.get(outer) or {}).get(inner)
        else:
            actual = row.get(column)
        if not value.startswith("eq.") or actual is None or str(actual) != value[3:]:
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, *args):
        pass

    def reply(self, status, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message):
        self.reply(status, {"code": code, "message": message, "details": None, "hint": None})

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def route(self):
        parsed = urllib.parse.urlsplit(self.path)
        filters = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
        return parsed.path, filters

    def authorized(self):
        state = self.state
        if self.headers.get("apikey") != state.key or self.headers.get("Authorization") != "Bearer " + state.key:
            self.error(401, "PGRST301", "JWSError JWSInvalidSignature")
            return False
        return True

    def fault(self):
        with self.state.lock:
            if self.state.fail <= 0:
                return None
            self.state.fail -= 1
            return self.state.status, self.state.stall

    def do_GET(self):
        path, filters = self.route()
        if path == "/_forwards":
            with self.state.lock:
                return self.reply(200, self.state.forwards)
        if path == "/_requests":
            with self.state.lock:
                return self.reply(200, self.state.requests)
        if not path.startswith("/rest/v1/") or not self.authorized():
            return None if path.startswith("/rest/v1/") else self.error(404, "PGRST125", "not found")
        with self.state.lock:
            return self.reply(200, [row for row in self.state.rows if matches(row, filters)])

    def do_DELETE(self):
        path, filters = self.route()
        self.body()
        with self.state.lock:
            self.state.requests.append({"method": "DELETE", "path": self.path})
        if not path.startswith("/rest/v1/"):
            return self.error(404, "PGRST125", "not found")
        if not self.authorized():
            return None
        if not filters:
            return self.error(400, "21000", "DELETE requires a WHERE clause")
        fault = self.fault()
        if fault:
            time.sleep(fault[1])
            return self.error(fault[0], "PGRST000", "injected fault")
        with self.state.lock:
            self.state.rows = [row for row in self.state.rows if not matches(row, filters)]
        self.reply(204)

    def do_POST(self):
        path, _ = self.route()
        data = self.body()
        if path == "/_faults":
            spec = json.loads(data or b"{}")
            with self.state.lock:
                self.state.fail = int(spec.get("fail", 0))
                self.state.status = int(spec.get("status", 503))
                self.state.stall = float(spec.get("stall", 0))
                self.state.forward_status = int(spec.get("forward_status", self.state.forward_status))
            return self.reply(200, {"ok": True})
        if path == "/ingest-transcript":
            with self.state.lock:
                status = self.state.forward_status
                if status == 200:
                    self.state.forwards.append(json.loads(data))
            return self.reply(status, {"ok": status == 200})
        with self.state.lock:
            self.state.requests.append({"method": "POST", "path": self.path, "bytes": len(data)})
        if not path.startswith("/rest/v1/"):
            return self.error(404, "PGRST125", "not found")
        if not self.authorized():
            return None
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            return self.error(415, "PGRST102", "Content-Type not acceptable")
        try:
            rows = json.loads(data)
        except ValueError:
            return self.error(400, "PGRST102", "Empty or invalid json")
        rows = rows if isinstance(rows, list) else [rows]
        for row in rows:
            if not isinstance(row, dict):
                return self.error(400, "PGRST102", "rows must be JSON objects")
            unknown = set(row) - COLUMNS
            if unknown:
                return self.error(400, "PGRST204", f"Could not find the '{sorted(unknown)[0]}' column")
        fault = self.fault()
        if fault:
            time.sleep(fault[1])
            return self.error(fault[0], "PGRST000", "injected fault")
        with self.state.lock:
            for row in rows:
                stored = {"namespace": "pmoves", "label": None, "score": None, **row, "id": self.state.next_id}
                self.state.next_id += 1
                self.state.rows.append(stored)
        prefer = self.headers.get("Prefer") or ""
        self.reply(201, None if "return=minimal" in prefer else rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", default="service-role-key")
    parser.add_argument("--fail", type=int, default=0)
    parser.add_argument("--status", type=int, default=503)
    args = parser.parse_args()
    Handler.state = State(args.key, args.fail, args.status)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # A Swift test's threads block signals, and the mask is inherited across exec: unblock, or SIGTERM never
    # arrives. Stop on either signal.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    print(f"LISTENING {server.server_address[1]}", flush=True)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
