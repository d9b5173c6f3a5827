"""abuse (issue 12 item 5): the HTTP API under hostile clients, all at once, while /healthz is timed.

One `serve` (SQLite, the echo speech server, an API key, small limits: 8 MB bodies, a 2 s head, a 3 s body) takes,
at the same time: 500 open connections (most idle, some asking again and again on keep-alive), slow-header and
slow-body clients, oversized bodies, malformed requests, path traversal in every field that names a key, and wrong
or missing API keys. Every request is a raw socket exchange, so what the server sent is judged byte for byte.
Meanwhile a separate process GETs /healthz every ~20 ms on a fresh connection; its p99 is the issue's target
(< 50 ms, enforced in full mode only: this machine is shared). Afterwards serve must be alive and still do work, and
no file may have appeared outside its data directory.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import time
import urllib.parse

from .common import (FIXTURES, Row, Serve, SpeechServer, percentile, proc_status, python, worker_config,
                     worker_env)

API_KEY = "sk-abuse-trial-key-7731"
AUTH = b"Authorization: Bearer " + API_KEY.encode() + b"\r\n"
MAX_BODY_MB = 8
HEADER_TIMEOUT_S = 2
BODY_TIMEOUT_S = 3
HEALTH_TARGET_MS = 50.0

# The probe runs in its own interpreter so the load generator's event loop cannot delay its measurements.
PROBE = r"""
import socket, sys, time, select
port = int(sys.argv[1])
request = b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"
while not select.select([sys.stdin], [], [], 0.02)[0]:
    started = time.perf_counter()
    status = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(request)
            reply = b""
            while True:
                piece = connection.recv(4096)
                if not piece:
                    break
                reply += piece
        status = int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else -1
    except OSError:
        status = -2
    print("%.3f %d" % ((time.perf_counter() - started) * 1000, status), flush=True)
"""


class HealthProbe:
    """GET /healthz every ~20 ms, each on a new connection, from a child process; stop() returns (ms, status)s."""

    def __init__(self, port: int):
        self.process = subprocess.Popen([python(), "-c", PROBE, str(port)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)

    def stop(self) -> list[tuple[float, int]]:
        out, _ = self.process.communicate(input="", timeout=30)  # EOF on its stdin ends it
        return [(float(ms), int(status)) for ms, status in (line.split() for line in out.splitlines())]


class Reply:
    """What came back on one connection: the first response's status, headers and body, and anything after it."""

    def __init__(self):
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""
        self.extra = b""  # bytes after the first response on a connection the server closed
        self.closed = False  # the server closed (or reset) the connection
        self.elapsed = 0.0

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def is_json_error(self) -> bool:
        """An error body as the README promises: `{"detail": ...}` or OpenAI's `{"error": {...}}`."""
        document = self.json()
        return (self.headers.get("content-type", "").startswith("application/json") and isinstance(document, dict)
                and ("detail" in document or isinstance(document.get("error"), dict)))

    def __repr__(self):
        return "status %s, %d body bytes %r%s%s" % (self.status, len(self.body), self.body[:120],
                                                     ", then %d more bytes %r" % (len(self.extra), self.extra[:80])
                                                     if self.extra else "", ", closed" if self.closed else "")


async def read_reply(reader: asyncio.StreamReader, reply: Reply, until_close: bool) -> None:
    """Reads one response; with `until_close` also whatever follows it until the server closes."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as error:
        reply.closed = True
        reply.extra = error.partial
        return
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) >= 2 and parts[0].startswith("HTTP/") and parts[1].isdigit():
        reply.status = int(parts[1])
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            reply.headers[name.strip().lower()] = value.strip()
    if "content-length" in reply.headers:
        reply.body = await reader.readexactly(int(reply.headers["content-length"]))
    elif reply.headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            reply.body += (await reader.readexactly(size + 2))[:size]
            if size == 0:
                break
    else:
        reply.body = await reader.read()
        reply.closed = True
        return
    if until_close:
        reply.extra = await reader.read()
        reply.closed = True


async def exchange(port: int, data: bytes | list, timeout: float = 20, pause: float = 0,
                   until_close: bool = True) -> Reply:
    """Sends `data` (or its pieces, `pause` s apart, while watching for an early answer) on a new connection and
    reads the answer, all within `timeout` s. A connection the server closes or resets before answering gives
    status None, closed; one still open at the deadline gives status None, not closed."""
    reply = Reply()
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        pieces = [data] if isinstance(data, bytes) else list(data)
        answer = asyncio.ensure_future(read_reply(reader, reply, until_close))
        deadline = started + timeout
        try:
            for piece in pieces:
                if answer.done() or time.monotonic() > deadline:
                    break
                writer.write(piece)
                await writer.drain()
                if pause:
                    await asyncio.wait([answer], timeout=pause)
        except (ConnectionError, OSError):
            pass  # the server answered (or gave up) before the client was done sending: read what it said
        try:
            await asyncio.wait_for(answer, max(0.1, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            pass
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError):
            reply.closed = True
    finally:
        writer.close()
        reply.elapsed = time.monotonic() - started
    return reply


def request(method: str, path: str, body: bytes = b"", content_type: str | None = "application/json",
            auth: bool = True, extra: bytes = b"") -> bytes:
    head = "%s %s HTTP/1.1\r\nHost: abuse\r\nConnection: close\r\n" % (method, path)
    if content_type:
        head += "Content-Type: %s\r\n" % content_type
    if body or method in ("POST", "PUT"):
        head += "Content-Length: %d\r\n" % len(body)
    return head.encode() + (AUTH if auth else b"") + extra + b"\r\n" + body


def json_request(path: str, document, method: str = "POST", auth: bool = True) -> bytes:
    return request(method, path, json.dumps(document).encode(), auth=auth)


def multipart(fields: dict, files: dict, boundary: str = "abuseBOUNDARY") -> tuple[bytes, str]:
    body = b""
    for name, value in fields.items():
        body += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (boundary, name, value)).encode()
    for name, (filename, data, kind) in files.items():
        body += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\nContent-Type: %s\r\n\r\n"
                 % (boundary, name, filename, kind)).encode("utf-8", "surrogateescape") + data + b"\r\n"
    body += ("--%s--\r\n" % boundary).encode()
    return body, "multipart/form-data; boundary=" + boundary


def well_formed(reply: Reply) -> bool:
    """One response and nothing after it (a second response head in the same stream is a framing bug)."""
    return reply.status is not None and not reply.extra


# --- the categories --------------------------------------------------------------------------------------------


async def connections(port: int, count: int, active: int, stop: asyncio.Event, row: Row) -> None:
    """`count` connections held open at once; `active` of them ask again and again on keep-alive until `stop`,
    the others stay idle and then, still open, must each answer one request."""
    rotation = [b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n", b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n",
                b"GET /v1/jobs?limit=3 HTTP/1.1\r\nHost: a\r\n" + AUTH + b"\r\n",
                b"GET /v1/models HTTP/1.1\r\nHost: a\r\n" + AUTH + b"\r\n"]
    opened = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
                                    for _ in range(count)), return_exceptions=True)
    held = [pair for pair in opened if not isinstance(pair, BaseException)]
    row.runs += 1
    if row.check(len(held) == count, "only %d of %d connections opened: %r" % (
            len(held), count, [o for o in opened if isinstance(o, BaseException)][:3])):
        row.passed += 1

    async def one(index: int, reader, writer) -> None:
        row.runs += 1
        ok, asked = True, 0
        try:
            if index < active:
                while not stop.is_set():
                    writer.write(rotation[asked % len(rotation)])
                    await writer.drain()
                    reply = Reply()
                    await asyncio.wait_for(read_reply(reader, reply, until_close=False), 30)
                    ok = row.check(reply.status == 200, "keep-alive request %d on connection %d: %r"
                                   % (asked, index, reply)) and ok
                    asked += 1
                    await asyncio.sleep(0.2)
            else:
                await stop.wait()
                writer.write(rotation[index % len(rotation)])
                await writer.drain()
                reply = Reply()
                await asyncio.wait_for(read_reply(reader, reply, until_close=False), 30)
                ok = row.check(reply.status == 200, "idle connection %d, asked at the end: %r" % (index, reply))
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as error:
            ok = row.check(False, "connection %d (%s, %d asked): %r" % (
                index, "active" if index < active else "idle", asked, error))
        finally:
            writer.close()
        if ok:
            row.passed += 1

    await asyncio.gather(*(one(i, r, w) for i, (r, w) in enumerate(held)))


async def slow_clients(port: int, rounds: int, row: Row, worst: list) -> None:
    """Heads and bodies sent a byte at a time: a slow head is dropped after header_timeout_s, a slow body gets 408
    (or is dropped) after body_timeout_s. The client would go on for minutes; the server must end it first."""
    head_limit = HEADER_TIMEOUT_S * 3 + 5
    body_limit = BODY_TIMEOUT_S * 3 + 5
    line = b"GET /healthz HTTP/1.1\r\n"
    slow_head = [line] + [bytes([b]) for b in b"Host: x\r\nX-Slow: " + b"a" * 300]
    body_head = (b"POST /transcribe_file HTTP/1.1\r\nHost: x\r\n" + AUTH +
                 b"Content-Type: multipart/form-data; boundary=B\r\nContent-Length: 100000\r\n\r\n")
    slow_body = [body_head] + [b"x"] * 300
    chunked_head = (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\n" + AUTH +
                    b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    slow_chunked = [chunked_head] + [b"1\r\n \r\n"] * 300
    cases = []
    for _ in range(rounds):
        cases += [("slow head", slow_head, 1.0, head_limit, (None,)),
                  ("slow request line", [bytes([b]) for b in b"GET /healthz" + b"a" * 300], 1.0, head_limit, (None,)),
                  ("slow head, 4 bytes/s", [line] + [b"X-A:"] * 300, 0.25, head_limit, (None,)),
                  ("slow body", slow_body, 0.5, body_limit, (408, None)),
                  ("slow chunked body", slow_chunked, 0.5, body_limit, (408, None))]

    async def one(name, pieces, pause, limit, statuses):
        reply = await exchange(port, pieces, timeout=limit, pause=pause)
        row.runs += 1
        dropped = reply.closed or reply.status is not None
        worst.append((reply.elapsed, name))
        ok = row.check(dropped and reply.elapsed < limit, "%s not ended by the server within %d s: %r after %.1f s"
                       % (name, limit, reply, reply.elapsed))
        # A dropped head may be answered with 408 first; anything else is a wrong answer.
        allowed = statuses + ((408,) if None in statuses else ())
        ok = row.check(reply.status in allowed, "%s: %r (expected one of %s)" % (name, reply, allowed)) and ok
        if reply.status == 408:
            ok = row.check(reply.is_json_error(), "%s: a 408 without a JSON error: %r" % (name, reply)) and ok
        if ok:
            row.passed += 1

    await asyncio.gather(*(one(*case) for case in cases))


# Requests libmicrohttpd's own parser refuses before any route sees them (a head over its memory pool, framing it
# cannot parse, a missing Host under its strict parsing, a version it does not speak). It answers them itself with
# its HTML error page and closes the connection; the routes' JSON errors cannot reach them. For a bad Content-Length
# or a missing Host, libmicrohttpd 0.9.75 (Debian 12) even writes its status line and headers twice: a 15-line C
# server using libmicrohttpd alone, with default options, does the same. For these the trial checks the status and
# that the connection is closed after it, and counts the library's own pages in the worst case.
PARSER_REFUSED = {"huge header", "3000 headers", "Content-Length not a number", "negative Content-Length",
                  "bad chunk size", "HTTP/1.1 without Host", "HTTP/2.0 request line", "request line without a version"}


def malformed_cases() -> list[tuple[str, bytes, tuple]]:
    """(name, raw request, accepted statuses; None: closed without an answer)."""
    k = AUTH
    json_type = b"Content-Type: application/json\r\n"
    without_file = multipart({"language": "en"}, {"other": ("x.txt", b"hello", "text/plain")})
    truncated = b"--XYZ\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"a.wav\"\r\n\r\nRIFF...."
    return [
        ("bad JSON", request("POST", "/transcribe", b"{not json"), (422,)),
        ("JSON array", request("POST", "/transcribe", b"[1, 2]"), (422,)),
        ("JSON string", request("POST", "/v1/audio/speech", b"\"text\""), (422,)),
        ("job with neither kind", request("POST", "/v1/jobs", b"{\"a\": 1}"), (400,)),
        ("wrong JSON types", json_request("/v1/audio/speech", {"input": 5, "voice": []}), (400, 422)),
        ("wrong content type", request("POST", "/v1/audio/speech", b"hello", "text/plain"), (422,)),
        ("XML job", request("POST", "/v1/jobs", b"<a></a>", "application/xml"), (422,)),
        ("JSON to the OpenAI upload route", request("POST", "/v1/audio/transcriptions", b"{}"), (400,)),
        ("multipart without a boundary", request("POST", "/transcribe_file", b"hello", "multipart/form-data"), (422,)),
        ("truncated multipart", request("POST", "/transcribe_file", truncated, "multipart/form-data; boundary=XYZ"),
         (400,)),
        ("multipart without the file", request("POST", "/transcribe_file", *without_file), (400,)),
        ("DELETE /healthz", request("DELETE", "/healthz", content_type=None, auth=False), (405,)),
        ("PUT /transcribe", request("PUT", "/transcribe", b"{}"), (405,)),
        ("unknown method", request("FROB", "/healthz", content_type=None, auth=False), (405, 400, 501)),
        ("no such route", request("GET", "/nowhere", content_type=None), (404,)),
        ("huge header", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", (431,)),
        ("3000 headers", b"GET /healthz HTTP/1.1\r\nHost: x\r\n" +
         b"".join(b"X-H%d: v\r\n" % i for i in range(3000)) + b"\r\n", (431,)),
        ("Content-Length not a number", b"POST /transcribe HTTP/1.1\r\nHost: x\r\n" + k + json_type +
         b"Content-Length: abc\r\nConnection: close\r\n\r\n{}", (400,)),
        ("negative Content-Length", b"POST /transcribe HTTP/1.1\r\nHost: x\r\n" + k + json_type +
         b"Content-Length: -5\r\nConnection: close\r\n\r\n{}", (400,)),
        # RFC 9112 6.3: differing Content-Length values are unrecoverable framing errors (request smuggling).
        # (The first length frames a request that would succeed, so a server that picks one value is seen.)
        ("two different Content-Lengths", b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\n" + k + json_type +
         b"Content-Length: 19\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{\"input\": \"Hello.\"}", (400,)),
        ("Content-Length and chunked", b"POST /transcribe HTTP/1.1\r\nHost: x\r\n" + k + json_type +
         b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{}", (400,)),
        ("bad chunk size", b"POST /transcribe HTTP/1.1\r\nHost: x\r\n" + k + json_type +
         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", (400,)),
        ("unknown transfer coding", b"POST /transcribe HTTP/1.1\r\nHost: x\r\n" + k + json_type +
         b"Transfer-Encoding: gzip\r\nConnection: close\r\n\r\n{}", (501,)),
        ("HTTP/1.1 without Host", b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", (400,)),
        ("HTTP/2.0 request line", b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", (505,)),
        ("request line without a version", b"GET /healthz\r\n\r\n", (400,)),
        ("garbage request line", b"GARBAGE\r\n\r\n", (400, None)),
        ("NUL in the path", b"GET /v1/jobs/a\x00b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + k + b"\r\n",
         (400, 404)),
    ]


async def malformed(port: int, rounds: int, row: Row, failed: set, library_pages: set) -> None:
    """Bad JSON, bad multipart, wrong content types and methods, huge heads, bad framing: each gets its 4xx as a
    JSON error, in one well-formed response (or, refused by libmicrohttpd's parser, its status and a close). The
    names of the cases that failed go into `failed`; those answered by the library's own page into
    `library_pages`."""

    async def one(name, raw, statuses):
        reply = await exchange(port, raw, timeout=15)
        row.runs += 1
        ok = row.check(reply.status in statuses, "%s: %r (expected %s)" % (name, reply, statuses))
        if name in PARSER_REFUSED:
            ok = row.check(reply.closed, "%s: libmicrohttpd answered %s but kept the connection open: %r" % (
                name, reply.status, reply)) and ok
            if not reply.is_json_error():
                library_pages.add(name)
        elif reply.status is not None:
            ok = row.check(reply.is_json_error(), "%s: the %s is not a JSON error: %r" % (
                name, reply.status, reply)) and ok
            ok = row.check(well_formed(reply), "%s: more than one response in the stream: %r" % (name, reply)) and ok
        if ok:
            row.passed += 1
        else:
            failed.add(name)

    for _ in range(rounds):
        await asyncio.gather(*(one(*case) for case in malformed_cases()))


async def oversized(port: int, rounds: int, row: Row) -> None:
    """Bodies over max_body_mb: 413 before the body is read when Content-Length says so, and as soon as a chunked
    body passes the cap; a text over the synthesis limit is 413 too."""
    big = 300 << 20
    cap = MAX_BODY_MB << 20

    def declared(path, content_type):
        return ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (
            path, content_type, big)).encode() + AUTH + b"\r\n"

    def chunked(path, content_type):
        head = ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n" % (
            path, content_type)).encode() + AUTH + b"\r\n"
        piece = b"%x\r\n" % (1 << 20) + b"a" * (1 << 20) + b"\r\n"
        return [head] + [piece] * (cap // (1 << 20) + 2) + [b"0\r\n\r\n"]

    form = "multipart/form-data; boundary=B"
    cases = [("declared 300 MB to " + p, declared(p, t)) for p, t in (
        ("/transcribe", "application/json"), ("/transcribe_file", form), ("/v1/audio/speech", "application/json"),
        ("/v1/audio/transcriptions", form), ("/v1/jobs", "application/json"), ("/synthesize", "application/json"))]
    cases += [("chunked past the cap to " + p, chunked(p, t)) for p, t in (
        ("/transcribe_file", form), ("/v1/jobs", "application/json"))]
    cases.append(("a 200,001-character text", json_request("/synthesize", {"text": "x" * 200001})))

    async def one(name, raw):
        reply = await exchange(port, raw, timeout=30)
        row.runs += 1
        ok = row.check(reply.status == 413, "%s: %r" % (name, reply))
        ok = row.check(reply.is_json_error(), "%s: not a JSON error: %r" % (name, reply)) and ok
        if ok:
            row.passed += 1

    for _ in range(rounds):
        await asyncio.gather(*(one(*case) for case in cases))


def traversal_payloads(token: str) -> tuple[list, list, list]:
    """(keys that must be refused, keys that are literal names and may be taken, bucket names to refuse).
    Each names a file `token` could land in outside the store, so the check afterwards can find it."""
    refused = ["../../../%s" % token, "../" * 20 + "tmp/" + token, "/tmp/" + token, "file:///tmp/" + token,
               "..\\..\\..\\" + token, "in/../../../../" + token, "in/\x00/" + token, "in/./" + token,
               "in//" + token, "..", "./" + token, "in\\..\\..\\" + token]
    # Keys are object names, never percent-decoded: '%2e%2e' is a directory called '%2e%2e' inside the bucket.
    literal = ["%2e%2e/%2e%2e/%2e%2e/" + token, "%2e%2e%2f%2e%2e%2f" + token, "..%2f..%2f" + token]
    buckets = ["..", "../../tmp", "/tmp", "a\\b", "%2e%2e", "assets/../..", "assets\x00x", "ASSETS/..", "assets/x"]
    return refused, literal, buckets


async def traversal(port: int, rounds: int, token: str, row: Row) -> None:
    """Every key-carrying field, every traversal form: 400 (a literal '%2e%2e' name may also be taken, inside the
    store); job ids with traversal in the URL are 404; an upload's file name is made safe."""
    refused, literal, buckets = traversal_payloads(token)
    cases = []  # (name, raw request, accepted statuses)
    good = "in/talk.wav"
    with open(os.path.join(FIXTURES, "speech.wav"), "rb") as handle:
        wav = handle.read()
    for key in refused + literal:
        ok = (400,) if key in refused else (400, 404, 200, 202)
        ok_out = (400,) if key in refused else (400, 200, 202)
        cases += [
            ("/transcribe key %r" % key, json_request("/transcribe", {"bucket": "assets", "key": key}), ok),
            ("/transcribe out_audio_key %r" % key, json_request(
                "/transcribe", {"bucket": "assets", "key": good, "out_audio_key": key}), ok_out),
            ("job key %r" % key, json_request("/v1/jobs", {"transcription": {"bucket": "assets", "key": key}}), ok),
            ("job input %r" % key, json_request("/v1/jobs", {"transcription": {"input": key}}), ok),
            ("job out_audio_key %r" % key, json_request(
                "/v1/jobs", {"transcription": {"key": good, "out_audio_key": key}}), ok_out),
            ("job output_prefix %r" % key, json_request(
                "/v1/jobs", {"transcription": {"key": good, "output_prefix": key}}), ok_out),
            ("synthesis output_key %r" % key, json_request(
                "/v1/jobs", {"synthesis": {"text": "Hello there.", "output_key": key}}), ok_out),
            ("job id %r in the URL" % key, request("GET", "/v1/jobs/" + urllib.parse.quote(key, safe="/%"),
                                                   content_type=None), (400, 404)),
        ]
        body, kind = multipart({"language": "en"}, {"file": (key.replace("\x00", "_"), wav, "audio/wav")})
        # An upload's file name is only the last part of its key, made safe: the job is taken.
        cases.append(("upload named %r" % key, request("POST", "/v1/jobs", body, kind), (202,)))
    for bucket in buckets:
        cases += [
            ("/transcribe bucket %r" % bucket, json_request("/transcribe", {"bucket": bucket, "key": good}), (400,)),
            ("job bucket %r" % bucket, json_request("/v1/jobs", {"transcription": {"bucket": bucket, "key": good}}),
             (400,)),
            ("synthesis bucket %r" % bucket, json_request(
                "/v1/jobs", {"synthesis": {"text": "Hello.", "bucket": bucket}}), (400,)),
        ]
    for path in ("/v1/jobs/../../etc/passwd", "/v1/jobs/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/v1/jobs/..%5c..%5cx",
                 "/../../etc/passwd", "/v1/jobs/%00"):
        cases.append(("GET " + path, request("GET", path, content_type=None), (400, 404)))

    async def one(name, raw, statuses, gate):
        async with gate:
            reply = await exchange(port, raw, timeout=60)
        row.runs += 1
        ok = row.check(reply.status in statuses, "%s: %r (expected %s)" % (name, reply, statuses))
        if reply.status is not None and reply.status >= 400:
            ok = row.check(reply.is_json_error(), "%s: not a JSON error: %r" % (name, reply)) and ok
        if ok:
            row.passed += 1

    # The synchronous /transcribe calls that are taken wait for their job: a few at a time.
    gate = asyncio.Semaphore(16)
    for _ in range(rounds):
        await asyncio.gather(*(one(*case, gate) for case in cases))


async def wrong_keys(port: int, rounds: int, token: str, row: Row) -> None:
    """Every protected route with every wrong or missing credential: 401 as a JSON error, before the body counts
    (no job appears for a refused POST). The right key, and the open routes, are the controls."""
    wrong = [b"", b"Authorization: Bearer wrong\r\n", b"Authorization: Bearer " + API_KEY.encode() + b"x\r\n",
             b"Authorization: Bearer " + API_KEY[:-1].encode() + b"\r\n", b"Authorization: Bearer \r\n",
             b"Authorization: " + API_KEY.encode() + b"\r\n",
             b"Authorization: Basic " + base64.b64encode(b"user:" + API_KEY.encode()) + b"\r\n",
             b"X-API-Key: wrong\r\n", b"X-API-Key: " + API_KEY.upper().encode() + b"\r\n", b"X-API-Key:\r\n"]
    marker = "refused-" + token[::-1]  # not `token`, which the traversal jobs carry
    job_body = json.dumps({"synthesis": {"text": marker}, "idempotency_key": marker}).encode()
    upload, form = multipart({"language": "en"}, {"file": ("a.wav", b"RIFF0000WAVE", "audio/wav")})
    routes = [("GET", "/v1/jobs", b"", None), ("POST", "/v1/jobs", job_body, "application/json"),
              ("GET", "/v1/jobs/job_x", b"", None), ("DELETE", "/v1/jobs/job_x", b"", None),
              ("POST", "/v1/jobs/job_x/retry", b"", None), ("GET", "/v1/jobs/job_x/events", b"", None),
              ("GET", "/v1/models", b"", None),
              ("POST", "/transcribe", b"{\"bucket\": \"assets\", \"key\": \"in/talk.wav\"}", "application/json"),
              ("POST", "/transcribe_file", upload, form), ("POST", "/v1/audio/transcriptions", upload, form),
              ("POST", "/v1/audio/speech", json.dumps({"input": marker}).encode(), "application/json"),
              ("POST", "/synthesize", json.dumps({"text": marker}).encode(), "application/json")]

    async def one(method, path, body, kind, credential):
        raw = request(method, path, body, kind, auth=False, extra=credential)
        reply = await exchange(port, raw, timeout=20)
        row.runs += 1
        ok = row.check(reply.status == 401, "%s %s with %r: %r" % (method, path, credential, reply))
        ok = row.check(reply.is_json_error(), "%s %s: not a JSON error: %r" % (method, path, reply)) and ok
        if ok:
            row.passed += 1

    async def control(method, path, credential, statuses):
        reply = await exchange(port, request(method, path, content_type=None, auth=False, extra=credential))
        row.runs += 1
        if row.check(reply.status in statuses, "control %s %s with %r: %r" % (method, path, credential, reply)):
            row.passed += 1

    for _ in range(rounds):
        await asyncio.gather(*(one(m, p, b, k, c) for m, p, b, k in routes for c in wrong))
        await asyncio.gather(
            control("GET", "/v1/jobs?limit=1", AUTH, (200,)),
            control("GET", "/v1/models", b"X-API-Key: " + API_KEY.encode() + b"\r\n", (200,)),
            control("GET", "/healthz", b"", (200,)), control("GET", "/metrics", b"", (200,)))
    # No refused POST made a job.
    reply = await exchange(port, request("GET", "/v1/jobs?limit=10000", content_type=None))
    listed = (reply.json() or {}).get("data", [])
    row.runs += 1
    if row.check(reply.status == 200 and not [job for job in listed if marker in json.dumps(job)],
                 "a job exists from a request refused 401: %r" % reply):
        row.passed += 1


# --- the trial -------------------------------------------------------------------------------------------------


def outside_files(root: str, data: str) -> set[str]:
    """Every path under `root` but outside `data`."""
    found = set()
    for directory, subdirectories, files in os.walk(root):
        if os.path.abspath(directory) == os.path.abspath(data):
            subdirectories[:] = []
            continue
        found.update(os.path.join(directory, name) for name in subdirectories + files)
    return found


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(ctx) -> list[Row]:
    rows = {name: Row(trial="abuse " + name) for name in (
        "connections", "slow clients", "oversized", "malformed", "traversal", "auth")}
    rounds = 1 if ctx.quick else 5
    count, active = 500, 100
    token = "awtrav-%08x" % ctx.rng.getrandbits(32)
    base = ctx.scratch("abuse")
    data = os.path.join(base, "data")
    seeded = os.path.join(data, "store", "assets", "in")
    os.makedirs(seeded)
    shutil.copy(os.path.join(FIXTURES, "speech.wav"), os.path.join(seeded, "talk.wav"))
    config = worker_config(ctx, base, max_body_mb=MAX_BODY_MB, header_timeout_s=HEADER_TIMEOUT_S,
                           body_timeout_s=BODY_TIMEOUT_S, idle_timeout_s=300)
    before = outside_files(ctx.work, data)
    speech = SpeechServer(ctx)
    serve = probe = None
    try:
        serve = Serve(ctx, config, data, worker_env(speech, AUDIO_WORKER_API_KEY=API_KEY), listen="127.0.0.1:0")
        baseline = proc_status(serve.process.pid)
        ctx.log("serve on port %d, %s; token %s" % (serve.port, baseline, token))
        # /healthz at rest first, for comparison with the figure under abuse.
        probe = HealthProbe(serve.port)
        time.sleep(3)
        resting = [ms for ms, status in probe.stop()]
        probe = HealthProbe(serve.port)
        slow_times, failed_malformed, library_pages = [], set(), set()

        async def abuse():
            stop = asyncio.Event()
            held = asyncio.ensure_future(connections(serve.port, count, active, stop, rows["connections"]))
            await asyncio.sleep(2)  # the 500 are open before the rest begins
            peak = proc_status(serve.process.pid)
            await asyncio.gather(
                slow_clients(serve.port, rounds, rows["slow clients"], slow_times),
                oversized(serve.port, rounds, rows["oversized"]),
                malformed(serve.port, rounds, rows["malformed"], failed_malformed, library_pages),
                traversal(serve.port, rounds, token, rows["traversal"]),
                wrong_keys(serve.port, rounds, token, rows["auth"]))
            stop.set()
            await held
            return peak

        started, cpu_before = time.monotonic(), cpu_seconds(serve.process.pid)
        peak = asyncio.run(abuse())
        busy = (cpu_seconds(serve.process.pid) - cpu_before, time.monotonic() - started)
        ctx.log("abuse done in %.0f s; serve during: %s" % (time.monotonic() - started, peak))
        health = probe.stop()
        probe = None

        # After it all: alive, healthy, still working, and nothing written outside the data directory.
        after = rows["connections"]
        after.runs += 1
        ok = after.check(serve.alive(), "serve is not running after the abuse: exit %s" % serve.process.poll())
        if ok:
            status = asyncio.run(exchange(serve.port, request("GET", "/healthz", content_type=None, auth=False)))
            ok = after.check(status.status == 200 and (status.json() or {}).get("ok") is True,
                             "/healthz after the abuse: %r" % status) and ok
            with open(os.path.join(FIXTURES, "speech.wav"), "rb") as handle:
                body, kind = multipart({"language": "en"}, {"audio": ("talk.wav", handle.read(), "audio/wav")})
            work = asyncio.run(exchange(serve.port, request("POST", "/transcribe_file", body, kind), timeout=120))
            ok = after.check(work.status == 200 and (work.json() or {}).get("text", "").strip() != "",
                             "a normal /transcribe_file after the abuse: %r" % work) and ok
            # The 500 connections are closed: their descriptors go back (within 10 s).
            deadline = time.monotonic() + 10
            while proc_status(serve.process.pid)["fds"] > baseline["fds"] + 50 and time.monotonic() < deadline:
                time.sleep(0.2)
            fds = proc_status(serve.process.pid)["fds"]
            ok = after.check(fds <= baseline["fds"] + 50, "serve holds %d descriptors after the clients left "
                             "(%d before, %d with 500 open)" % (fds, baseline["fds"], peak["fds"])) and ok
        if ok:
            after.passed += 1

        escaped = outside_files(ctx.work, data) - before - {serve.log_path}
        escaped |= {os.path.join(d, n) for d in ("/tmp", "/", os.path.dirname(ctx.work)) for n in os.listdir(d)
                    if token in n}
        trav = rows["traversal"]
        trav.runs += 1
        if trav.check(not escaped, "files appeared outside the data directory: %s" % sorted(escaped)[:10]):
            trav.passed += 1

        latencies = [ms for ms, status in health]
        bad = [(ms, status) for ms, status in health if status != 200]
        p99, worst = percentile(latencies, 99), max(latencies) if latencies else float("nan")
        after.runs += 1
        ok = after.check(len(health) >= 20 and not bad, "/healthz probes failed: %d of %d, e.g. %s" % (
            len(bad), len(health), bad[:5]))
        if not ctx.quick:
            ok = after.check(p99 < HEALTH_TARGET_MS, "/healthz p99 %.1f ms over %d probes (target %.0f ms)" % (
                p99, len(health), HEALTH_TARGET_MS)) and ok
        if ok:
            after.passed += 1
        after.worst = "%d conns; /healthz p99 %.1f ms, max %.0f ms (%d probes; %.1f ms at rest; serve CPU %.0f s " \
            "in %.0f s)%s" % (count, p99, worst, len(health), percentile(resting, 99), *busy,
            "; over the 50 ms target" if p99 >= HEALTH_TARGET_MS else "")
        if failed_malformed:
            rows["malformed"].worst = "failed: " + "; ".join(sorted(failed_malformed))
        elif library_pages:
            rows["malformed"].worst = ("%d kinds refused by libmicrohttpd's parser get its own HTML page, not JSON: %s"
                                       % (len(library_pages), "; ".join(sorted(library_pages))))
        if slow_times:
            seconds, name = max(slow_times)
            rows["slow clients"].worst = "longest held: %s %.1f s" % (name, seconds)
        for name, row in rows.items():
            if not row.worst:
                row.worst = "%d failed of %d" % (row.runs - row.passed, row.runs) if row.runs != row.passed else ""
    finally:
        try:
            if probe is not None:
                probe.process.kill()
                probe.process.wait(timeout=30)
        finally:
            try:
                if serve is not None:
                    crashed = serve.crashed() or not serve.alive()
                    code = serve.stop()
                    if crashed or code != 0:
                        rows["connections"].crashes += int(crashed)
                        rows["connections"].check(False, "serve %s (exit %s): %s" % (
                            "crashed" if crashed else "did not stop cleanly on SIGTERM", serve.process.returncode,
                            open(serve.log_path).read()[-2000:]))
            finally:
                speech.stop()
    return list(rows.values())
