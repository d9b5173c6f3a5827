"""Providers (issue 12 item 3): hostile speech providers, each case handled as designed and no job lost.

A small hostile provider (raw sockets in threads on 127.0.0.1) answers the OpenAI routes
`POST .../v1/audio/transcriptions` and `POST .../v1/audio/speech`. Each case has its own path prefix
(`/s/<case>/v1`), so one listener serves every case: a case answers its first N requests (or all of them) badly, with
a status, a `Retry-After`, a broken body or framing, a reset, a stall, a one-byte drip, a redirect, an oversized
body or speech that is not audio, and answers well after that, so "retry, then succeed" can be seen.

Every case runs one job through its own `audio-worker serve`: the local providers (whisper_small_local/local,
kokoro_local/local) point at the case's path, the cloud fallbacks (openai_whisper/openai, openai_tts/openai, with a
dummy OPENAI_API_KEY) at an echo SpeechServer. What the case must come to is read from the worker's design
(ProviderFailure.disposition, FallbackChain, GatewayError; README "What moves on"):

- connection errors, timeouts, 408, 429 and 5xx, and replies that are not what the API promises: retried on the
  same provider (the local variant has num_retries = 2: three requests), then the cloud fallback serves;
- 3xx (never followed), 401, 403, 404, other 4xx, 413 and 429 with a quota code: the next provider at once (one
  local request);
- a 400 that says the audio or text itself is bad: the job is dead with the provider's reason, no fallback;
- a `Retry-After` (seconds, or an HTTP date) is waited for at least; one over `[gateway] max_retry_after_s` (60)
  skips the provider for the request; one that is neither (negative, non-numeric) is ignored.

Each case checks the job's final state, its error, which provider served its chunk (or speech piece), how many
requests each provider received (retries bounded), and for a redirect that its target saw no connection.
"""

from __future__ import annotations

import concurrent.futures
import email.utils
import json
import os
import re
import shutil
import socket
import struct
import threading
import time
import urllib.request

from .common import FIXTURES, GATEWAY, Row, Serve, SpeechServer, free_port, worker_config, worker_env

# The local providers' request timeout in the trial's copy of the gateway file (120 s in config/tensorzero.toml),
# so that a stall or a drip ends in seconds.
LOCAL_TIMEOUT_MS = 3000
# Marks the trial's own speech requests; /healthz's probe ("Ready.") also reaches the local voice, and is neither
# counted nor given a bad answer.
MARKER = "Hostile provider trial sentence."
LOCAL_STT, CLOUD_STT = "whisper_small_local/local", "openai_whisper/openai"
LOCAL_TTS, CLOUD_TTS = "kokoro_local/local", "openai_tts/openai"
GOOD_TEXT = "hostile provider good answer"


# --- good answers -------------------------------------------------------------------------------------------------

def good_transcription() -> bytes:
    return json.dumps({"text": GOOD_TEXT, "language": "english", "duration": 10.5,
                       "segments": [{"id": 0, "start": 0.0, "end": 2.0, "text": GOOD_TEXT}]}).encode()


def wav_bytes(seconds: float = 1.0, rate: int = 24000) -> bytes:
    """A mono PCM16 WAV of a quiet 440 Hz square-ish tone."""
    count = int(seconds * rate)
    samples = b"".join(struct.pack("<h", 3000 if (i * 440 * 2 // rate) % 2 else -3000) for i in range(count))
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", len(samples))
    return header + samples


GOOD_WAV = wav_bytes()


def reply(status: str, headers: list, body: bytes) -> bytes:
    head = "HTTP/1.1 %s\r\n" % status + "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
    return head.encode("latin-1") + body


def good_reply(kind: str) -> bytes:
    if kind == "stt":
        body, kind_type = good_transcription(), "application/json"
    else:
        body, kind_type = GOOD_WAV, "audio/wav"
    return reply("200 OK", [("Content-Type", kind_type), ("Content-Length", len(body)), ("Connection", "close")],
                 body)


# --- bad answers: each is action(conn, kind, server) and writes what it likes to the socket -----------------------

def status(code: int, text: str = "Nope", body: bytes | None = None, headers=(), content_type="application/json"):
    payload = body if body is not None else json.dumps({"error": {"message": "trial says %d" % code}}).encode()

    def action(conn, kind, server):
        conn.sendall(reply("%d %s" % (code, text), [("Content-Type", content_type),
                                                    ("Content-Length", len(payload)), *headers], payload))
    return action


def retry_after(value, code: int = 429):
    """A `code` answer with `Retry-After: value`; a callable value is evaluated when the answer is sent."""
    def action(conn, kind, server):
        text = value() if callable(value) else value
        status(code, "Too Many Requests", headers=[("Retry-After", text)])(conn, kind, server)
    return action


def http_date(seconds_ahead: float) -> str:
    return email.utils.formatdate(time.time() + seconds_ahead, usegmt=True)


def raw(data: bytes):
    def action(conn, kind, server):
        conn.sendall(data)
    return action


def body_200(body: bytes, content_type="application/json"):
    return raw(reply("200 OK", [("Content-Type", content_type), ("Content-Length", len(body))], body))


def redirect(code: int):
    def action(conn, kind, server):
        where = "http://127.0.0.1:%d/v1/audio/elsewhere" % server.redirect_port
        conn.sendall(reply("%d Moved" % code, [("Location", where), ("Content-Length", 0)], b""))
    return action


def informational_then(code: int, then_good: bool):
    """A 1xx interim answer, then the real answer (or nothing: the connection closes)."""
    def action(conn, kind, server):
        conn.sendall(("HTTP/1.1 %d Interim\r\n\r\n" % code).encode())
        if then_good:
            conn.sendall(good_reply(kind))
    return action


def reset(after_reading: bool = True):
    """An RST instead of an answer (SO_LINGER 0, then close)."""
    def action(conn, kind, server):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return action


def close_silently(conn, kind, server):
    pass


def stall(head: bool = False):
    """No answer (or only a head promising a body) until the worker gives up; bounded by the server's stop."""
    def action(conn, kind, server):
        if head:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"te")
        server.stopping.wait(120)
    return action


def drip(conn, kind, server):
    """A good answer, one byte at a time, 0.1 s apart (about 30 s for a transcription reply)."""
    for byte in good_reply(kind):
        if server.stopping.wait(0.1):
            return
        conn.sendall(bytes([byte]))


def oversized(megabytes: int, declared: bool, content_type="application/json"):
    """A body of `megabytes` MB (random-looking, not JSON), with or without a Content-Length saying so."""
    def action(conn, kind, server):
        headers = [("Content-Type", content_type)]
        if declared:
            headers.append(("Content-Length", megabytes << 20))
        conn.sendall(reply("200 OK", headers, b""))
        block = os.urandom(1 << 20)
        for _ in range(megabytes):
            conn.sendall(block)
    return action


def chunked(pieces: list[bytes], content_type="application/json"):
    def action(conn, kind, server):
        conn.sendall(reply("200 OK", [("Content-Type", content_type), ("Transfer-Encoding", "chunked")], b""))
        for piece in pieces:
            conn.sendall(piece)
    return action


# --- the hostile server -------------------------------------------------------------------------------------------

class Case:
    """One scenario: `bad` answers the first `first` requests (all of them when None), then good answers."""

    def __init__(self, name, kind, bad, first=None, expect=None, cloud_closed=False):
        self.name, self.kind, self.bad, self.first, self.expect = name, kind, bad, first, expect
        self.cloud_closed = cloud_closed  # the cloud fallback points at a port nothing listens on
        self.hits: list[float] = []  # arrival times of the trial's own requests
        self.lock = threading.Lock()


class HostileProvider:
    """Raw-socket OpenAI audio provider on 127.0.0.1 whose answers follow the case named in the request path."""

    def __init__(self):
        self.cases: dict[str, Case] = {}
        self.stopping = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        # The redirect target: it only counts connections; nothing should ever reach it.
        self.redirect_listener = socket.create_server(("127.0.0.1", 0))
        self.redirect_port = self.redirect_listener.getsockname()[1]
        self.redirect_connections = 0
        self.errors: list[str] = []
        threading.Thread(target=self.accept, daemon=True).start()
        threading.Thread(target=self.accept_redirects, daemon=True).start()

    def base(self, case: Case) -> str:
        return "http://127.0.0.1:%d/s/%s/v1" % (self.port, case.name)

    def accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def accept_redirects(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.redirect_listener.accept()
            except OSError:
                return
            self.redirect_connections += 1
            conn.close()

    def handle(self, conn: socket.socket):
        try:
            conn.settimeout(60)
            path, body = self.read_request(conn)
            match = re.match(r"^/s/([^/]+)/v1/audio/(transcriptions|speech)$", path or "")
            case = self.cases.get(match.group(1)) if match else None
            if case is None:
                conn.sendall(reply("404 Not Found", [("Content-Length", 0)], b""))
                return
            kind = "stt" if match.group(2) == "transcriptions" else "tts"
            if kind == "tts" and MARKER.encode() not in body:
                conn.sendall(good_reply(kind))  # the health probe's "Ready."
                return
            with case.lock:
                index = len(case.hits)
                case.hits.append(time.monotonic())
            if case.first is None or index < case.first:
                case.bad(conn, kind, self)
            else:
                conn.sendall(good_reply(kind))
        except OSError:
            pass  # the worker hung up (a timeout, a refused oversized body): that is the point of several cases
        except Exception as error:  # a bug in the trial's server, reported as a failed check
            self.errors.append(repr(error))
        finally:
            try:
                conn.close()
            except OSError:
                pass

    @staticmethod
    def read_request(conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            body += chunk
        return path, body

    def stop(self):
        self.stopping.set()
        for listener in (self.listener, self.redirect_listener):
            listener.close()


# --- the cases ----------------------------------------------------------------------------------------------------

def expect(state="succeeded", served="local", local=1, cloud=0, error=None, min_gap=None):
    return dict(state=state, served=served, local=local, cloud=cloud, error=error, min_gap=min_gap)


RETRIED_THEN_CLOUD = dict(served="cloud", local=3, cloud=1)   # three local requests, then the fallback
NEXT_AT_ONCE = dict(served="cloud", local=1, cloud=1)         # one local request, then the fallback
RETRIED_THEN_LOCAL = dict(served="local", local=2, cloud=0)   # one bad answer, the retry succeeds


def status_cases(ctx) -> list[Case]:
    cases = [
        Case("s500", "stt", status(500, "Internal Server Error"), None, expect(**RETRIED_THEN_CLOUD)),
        Case("s503once", "stt", status(503, "Unavailable"), 1, expect(**RETRIED_THEN_LOCAL)),
        Case("s408", "stt", status(408, "Request Timeout"), None, expect(**RETRIED_THEN_CLOUD)),
        Case("s429twice", "stt", status(429, "Too Many"), 2, expect(served="local", local=3)),
        Case("s429quota", "stt", status(429, "Too Many", json.dumps(
            {"error": {"message": "You exceeded your quota", "code": "insufficient_quota"}}).encode()), None,
            expect(**NEXT_AT_ONCE)),
        Case("s400param", "stt", status(400, "Bad Request", json.dumps(
            {"error": {"message": "Unknown parameter: 'temperature'", "param": "temperature"}}).encode()), None,
            expect(**NEXT_AT_ONCE)),
        Case("s400audio", "stt", status(400, "Bad Request", json.dumps(
            {"error": {"message": "Could not decode audio file", "code": "invalid_audio"}}).encode()), None,
            expect(state="dead", served=None, local=1, cloud=0, error="rejected the input: Could not decode audio")),
        Case("s401", "stt", status(401, "Unauthorized"), None, expect(**NEXT_AT_ONCE)),
        Case("s302", "stt", redirect(302), None, expect(**NEXT_AT_ONCE)),
        Case("s100good", "stt", informational_then(100, True), None, expect(served="local", local=1)),
        Case("s103close", "stt", informational_then(103, False), None, expect(**RETRIED_THEN_CLOUD)),
        Case("s204", "stt", raw(reply("204 No Content", [], b"")), None, expect(**RETRIED_THEN_CLOUD)),
        Case("tts500", "tts", status(500), None, expect(**RETRIED_THEN_CLOUD)),
        Case("tts403", "tts", status(403, "Forbidden"), None, expect(**NEXT_AT_ONCE)),
        Case("tts400text", "tts", status(400, "Bad Request", json.dumps(
            {"error": {"message": "input is empty", "code": "empty_input"}}).encode()), None,
            expect(state="dead", served=None, local=1, cloud=0, error="rejected the input: input is empty")),
        # Every provider fails (the cloud's port is closed): the attempt fails with each reason and is retried
        # once (max_attempts = 2), then the job is dead. Three local requests in the first attempt, two in the
        # second: the fifth consecutive failure opens the local circuit ([gateway] circuit_failures = 5).
        Case("all_fail", "stt", status(500, body=b'{"error":{"message":"local engine on fire"}}'), None,
             expect(state="dead", served=None, local=5, cloud=0, error="local engine on fire"), cloud_closed=True),
    ]
    # The other classes: a few picked at random per quick run, every one in full mode.
    more = [(c, "retry") for c in (502, 504, 507, 599)] + [(c, "next") for c in (402, 404, 405, 409, 410, 413,
                                                                                  418, 422, 451)]
    more += [(c, "redirect") for c in (301, 303, 307, 308)]
    if ctx.quick:
        more = ctx.rng.sample(more, 3)
    for code, how in more:
        bad = redirect(code) if how == "redirect" else status(code)
        outcome = RETRIED_THEN_CLOUD if how == "retry" else NEXT_AT_ONCE
        cases.append(Case("s%d" % code, ctx.rng.choice(["stt", "tts"]), bad, None, expect(**outcome)))
    return cases


def retry_after_cases(ctx) -> list[Case]:
    # One 429 (or 503) with the header, then good answers. A honoured wait shows as the gap between the two
    # requests (a lower bound only: a busy machine makes gaps longer, never shorter).
    return [
        Case("ra2", "stt", retry_after("2"), 1, expect(served="local", local=2, min_gap=1.95)),
        Case("ra503date", "stt", retry_after(lambda: http_date(3.5), 503), 1,
             expect(served="local", local=2, min_gap=1.9)),
        Case("ra_tts2", "tts", retry_after("2"), 1, expect(served="local", local=2, min_gap=1.95)),
        # Over max_retry_after_s (60): the provider is skipped for this request, the fallback serves at once.
        Case("ra120", "stt", retry_after("120"), None, expect(**NEXT_AT_ONCE)),
        Case("ra_huge", "stt", retry_after("99999999999999999999"), None, expect(**NEXT_AT_ONCE)),
        Case("ra_far_date", "stt", retry_after(lambda: http_date(86400 * 400)), None, expect(**NEXT_AT_ONCE)),
        # ProviderFailure.parseRetryAfter's contract: "an absurd number (1e30) is a day, which the chain treats as
        # too long to wait".
        Case("ra1e30", "stt", retry_after("1e30"), None, expect(**NEXT_AT_ONCE)),
        # A 5,000-digit number is as absurd: a day, too long to wait.
        Case("ra_long", "stt", retry_after("9" * 5000), None, expect(**NEXT_AT_ONCE)),
        # Neither seconds nor a date: ignored; the ordinary backoff, then the retry succeeds.
        Case("ra_negative", "stt", retry_after("-5"), 1, expect(served="local", local=2)),
        Case("ra_word", "stt", retry_after("soon, maybe"), 1, expect(served="local", local=2)),
        Case("ra_zero", "stt", retry_after("0"), 1, expect(served="local", local=2)),
        Case("ra_past_date", "stt", retry_after("Thu, 01 Jan 1970 00:00:00 GMT"), 1, expect(served="local", local=2)),
    ]


def bodies_cases(ctx) -> list[Case]:
    nested = b"[" * 200000 + b"]" * 200000
    good = good_transcription()
    cases = [
        Case("garbage", "stt", body_200(os.urandom(4096)), None, expect(**RETRIED_THEN_CLOUD)),
        Case("garbage_once", "stt", body_200(b"<<<not json>>>"), 1, expect(**RETRIED_THEN_LOCAL)),
        Case("json_array", "stt", body_200(b"[1,2,3]"), None, expect(**RETRIED_THEN_CLOUD)),
        Case("json_wrong_shape", "stt", body_200(b'{"segments":"nope","text":5}'), None,
             expect(**RETRIED_THEN_CLOUD)),
        Case("json_no_text", "stt", body_200(b'{"result":{"text":"hi"}}'), None, expect(**RETRIED_THEN_CLOUD)),
        Case("json_bad_words", "stt", body_200(b'{"text":"x","words":[{"word":1,"start":"a"}]}'), None,
             expect(**RETRIED_THEN_CLOUD)),
        Case("json_nested_deep", "stt", body_200(nested), None, expect(**RETRIED_THEN_CLOUD)),
        Case("json_nested_obj", "stt", body_200(b'{"text":"x","segments":' + nested + b"}"), None,
             expect(**RETRIED_THEN_CLOUD)),
        # Hostile but valid: absurd times are clamped into the audio, the local answer stands.
        Case("json_absurd_times", "stt", body_200(json.dumps({"text": GOOD_TEXT, "segments": [
            {"start": -1e308, "end": 1e308, "text": GOOD_TEXT}]}).encode()), None, expect(served="local", local=1)),
        Case("truncated_json", "stt", body_200(good[:len(good) // 2]), None, expect(**RETRIED_THEN_CLOUD)),
        Case("chunked_cut", "stt", chunked([b"400\r\n", good[:20]]), None, expect(**RETRIED_THEN_CLOUD)),
        Case("chunked_bad_size", "stt", chunked([b"zz\r\n", good, b"\r\n0\r\n\r\n"]), None,
             expect(**RETRIED_THEN_CLOUD)),
        Case("chunked_ok", "stt", chunked([b"%x\r\n" % len(good), good, b"\r\n0\r\n\r\n"]), None,
             expect(served="local", local=1)),
        Case("length_too_long", "stt", raw(reply("200 OK", [("Content-Type", "application/json"),
                                                              ("Content-Length", len(good) + 500)], good)), None,
             expect(**RETRIED_THEN_CLOUD)),
        Case("length_too_short", "stt", raw(reply("200 OK", [("Content-Type", "application/json"),
                                                               ("Content-Length", 10)], good)), None,
             expect(**RETRIED_THEN_CLOUD)),
        Case("length_negative", "stt", raw(reply("200 OK", [("Content-Length", -1)], good)), None,
             expect(**RETRIED_THEN_CLOUD)),
        Case("length_and_chunked", "stt", raw(reply("200 OK", [("Content-Length", 5), (
            "Transfer-Encoding", "chunked")], b"%x\r\n" % len(good) + good + b"\r\n0\r\n\r\n")), None,
            expect(served="local", local=1)),
        Case("no_status_line", "stt", raw(good), None, expect(**RETRIED_THEN_CLOUD)),
        Case("garbage_status", "stt", raw(b"HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\n{}"), None,
             expect(**RETRIED_THEN_CLOUD)),
        Case("header_flood", "stt", raw(reply("200 OK", [("X-H%d" % i, "v" * 100) for i in range(2000)], good)),
             None, expect(**RETRIED_THEN_CLOUD)),
        Case("header_huge_line", "stt", raw(reply("200 OK", [("X-Big", "v" * 300000)], good)), None,
             expect(**RETRIED_THEN_CLOUD)),
        # Over the transcription reply cap (32 MB): refused on its declared length, or cut when it streams.
        Case("body_64mb_declared", "stt", oversized(64, True), None, expect(**RETRIED_THEN_CLOUD)),
        Case("body_64mb_streamed", "stt", oversized(64, False), None, expect(**RETRIED_THEN_CLOUD)),
    ]
    return cases


def network_cases(ctx) -> list[Case]:
    return [
        Case("reset", "stt", reset(), None, expect(**RETRIED_THEN_CLOUD)),
        Case("reset_once", "stt", reset(), 1, expect(**RETRIED_THEN_LOCAL)),
        Case("close_silent", "stt", close_silently, None, expect(**RETRIED_THEN_CLOUD)),
        Case("tts_reset", "tts", reset(), None, expect(**RETRIED_THEN_CLOUD)),
        Case("stall", "stt", stall(), None, expect(**RETRIED_THEN_CLOUD)),
        Case("stall_after_head", "stt", stall(head=True), 1, expect(**RETRIED_THEN_LOCAL)),
        Case("drip", "stt", drip, None, expect(**RETRIED_THEN_CLOUD)),
        Case("tts_drip_once", "tts", drip, 1, expect(**RETRIED_THEN_LOCAL)),
    ]


def speech_cases(ctx) -> list[Case]:
    empty_wav = wav_bytes(0)
    cases = [
        Case("json_reply", "tts", body_200(b'{"audio":"none","ok":true}'), None, expect(**RETRIED_THEN_CLOUD)),
        Case("json_reply_once", "tts", body_200(b'{"error":"busy"}'), 1, expect(**RETRIED_THEN_LOCAL)),
        Case("html_reply", "tts", body_200(b"<html><body>502 Bad Gateway</body></html>", "text/html"), None,
             expect(**RETRIED_THEN_CLOUD)),
        Case("random_as_mpeg", "tts", body_200(os.urandom(65536), "audio/mpeg"), None, expect(**RETRIED_THEN_CLOUD)),
        Case("random_as_octets", "tts", body_200(os.urandom(65536), "application/octet-stream"), None,
             expect(**RETRIED_THEN_CLOUD)),
        Case("empty_reply", "tts", body_200(b"", "audio/wav"), None, expect(**RETRIED_THEN_CLOUD)),
        Case("wav_no_samples", "tts", body_200(empty_wav, "audio/wav"), None, expect(**RETRIED_THEN_CLOUD)),
        Case("text_as_wav", "tts", body_200(b"Internal error, please retry later." * 50, "audio/wav"), None,
             expect(**RETRIED_THEN_CLOUD)),
    ]
    if not ctx.quick:
        cases.append(Case("random_64mb", "tts", oversized(64, True, "audio/mpeg"), None,
                          expect(**RETRIED_THEN_CLOUD)))
    return cases


# --- running a case -----------------------------------------------------------------------------------------------

def gateway_copy(directory: str) -> str:
    """config/tensorzero.toml with the local providers' request timeout cut to LOCAL_TIMEOUT_MS."""
    with open(GATEWAY) as handle:
        text = handle.read()
    for section in ("models.whisper_small_local.providers.local", "models.kokoro_local.providers.local"):
        start = text.index("[%s]" % section)
        end = text.find("\n[", start + 1)
        end = len(text) if end < 0 else end
        part, count = re.subn(r"total_ms = \d+", "total_ms = %d" % LOCAL_TIMEOUT_MS, text[start:end])
        assert count == 1, section
        text = text[:start] + part + text[end:]
    path = os.path.join(directory, "tensorzero.toml")
    with open(path, "w") as handle:
        handle.write(text)
    return path


def http_json(method: str, url: str, body=None, timeout: float = 30):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.load(answer)


FINAL = ("succeeded", "dead", "cancelled")


def run_case(ctx, case: Case, server: HostileProvider, cloud: SpeechServer, row: Row, lock: threading.Lock):
    """One job through one serve; the checks go into `row` (under `lock`: cases run in parallel)."""
    directory = ctx.scratch("case-" + case.name)
    config = worker_config(ctx, directory, retry_base_s=1, max_attempts=2)
    gateway = gateway_copy(directory)
    cloud_base = "http://127.0.0.1:%d" % free_port() if case.cloud_closed else cloud.base
    env = worker_env(None, OPENAI_API_KEY="sk-trials-dummy-key",
                     AUDIO_WORKER_API_BASE__whisper_small_local__local=server.base(case),
                     AUDIO_WORKER_API_BASE__kokoro_local__local=server.base(case),
                     AUDIO_WORKER_API_BASE__openai_whisper__openai=cloud_base + "/v1",
                     AUDIO_WORKER_API_BASE__openai_tts__openai=cloud_base + "/v1")
    cloud.reset_stats()
    cloud_route = "/v1/audio/transcriptions" if case.kind == "stt" else "/v1/audio/speech"
    failures, lost, crashed, seen = [], 0, 0, ""
    serve = Serve(ctx, config, directory, env, args=["--gateway-config", gateway], listen="127.0.0.1:0")
    try:
        base = "http://127.0.0.1:%d" % serve.port
        if case.kind == "stt":
            os.makedirs(os.path.join(directory, "store", "assets", "in"), exist_ok=True)
            shutil.copy(os.path.join(FIXTURES, "speech.wav"), os.path.join(directory, "store", "assets", "in",
                                                                           "a.wav"))
            job = http_json("POST", base + "/v1/jobs", {"transcription": {"key": "in/a.wav"}})
        else:
            job = http_json("POST", base + "/v1/jobs", {"synthesis": {"text": MARKER}})
        deadline = time.monotonic() + 120
        while job["status"] not in FINAL and time.monotonic() < deadline and serve.alive():
            time.sleep(0.2)
            job = http_json("GET", base + "/v1/jobs/" + job["id"])
        want = case.expect
        local, cloud_seen = len(case.hits), cloud.requests(cloud_route)
        if job["status"] not in FINAL:
            lost = 1
            failures.append("%s: job still %s after 120 s (local %d, cloud %d requests)" % (
                case.name, job["status"], local, cloud_seen))
        pieces = (job.get("result") or {}).get("chunks" if case.kind == "stt" else "pieces") or []
        providers = sorted({piece.get("provider") for piece in pieces})
        served = None
        if providers == [LOCAL_STT] or providers == [LOCAL_TTS]:
            served = "local"
        elif providers == [CLOUD_STT] or providers == [CLOUD_TTS]:
            served = "cloud"
        seen = "%s: %s by %s, local %d cloud %d" % (case.name, job["status"], served, local, cloud_seen)

        def check(ok, what):
            if not ok:
                failures.append("%s: %s (%s; error %s)" % (case.name, what, seen, error_text(job)[:300]))

        if job["status"] in FINAL:
            check(job["status"] == want["state"], "final state %s, expected %s" % (job["status"], want["state"]))
            check(served == want["served"], "served by %s (%s), expected %s" % (served, providers, want["served"]))
            check(local == want["local"], "%d local requests, expected %d" % (local, want["local"]))
            check(cloud_seen == want["cloud"], "%d cloud requests, expected %d" % (cloud_seen, want["cloud"]))
            if want["error"]:
                check(want["error"] in error_text(job), "error lacks %r" % want["error"])
            if want["state"] == "succeeded" and case.kind == "stt" and served == "local":
                check(GOOD_TEXT in (job["result"].get("text") or ""), "transcript is not the local answer")
        if want["min_gap"] is not None and len(case.hits) >= 2:
            gap = case.hits[1] - case.hits[0]
            seen += ", gap %.2f s" % gap
            check(gap >= want["min_gap"], "retried after %.2f s, Retry-After asked %.2f s" % (gap, want["min_gap"]))
        if server.redirect_connections:
            check(False, "the redirect target has seen %d connections" % server.redirect_connections)
    except Exception as error:
        failures.append("%s: %r" % (case.name, error))
    finally:
        alive = serve.alive()
        code = serve.stop()
        if not alive or serve.crashed():
            crashed = 1
            failures.append("%s: serve died (exit %s): %s" % (case.name, code, tail(serve.log_path)))
    with lock:
        row.lost += lost
        row.crashes += crashed
        row.tally(failures)
        if failures and not row.worst:
            row.worst = seen or failures[0][:120]
        ctx.log(seen or case.name, "FAILED" if failures else "ok")


def error_text(job: dict) -> str:
    """The job's error as text (the API gives an object with the message and kind)."""
    error = job.get("error")
    if error is None:
        return ""
    return error if isinstance(error, str) else json.dumps(error)


def tail(path: str, lines: int = 5) -> str:
    with open(path) as handle:
        return " | ".join(handle.read().splitlines()[-lines:])[-1500:]


def run(ctx) -> list[Row]:
    groups = [("providers status", status_cases), ("providers retry-after", retry_after_cases),
              ("providers bodies/framing", bodies_cases), ("providers network", network_cases),
              ("providers speech not audio", speech_cases)]
    repeats = 1 if ctx.quick else 3
    # Serves at once (the cases mostly wait: backoffs, stalls); each slot has its own echo cloud, so that the cloud's
    # request count is the case's own.
    slots = 4
    server = HostileProvider()
    clouds = [SpeechServer(ctx) for _ in range(slots)]
    rows = []
    lock = threading.Lock()
    try:
        work = []
        for title, make in groups:
            row = Row(trial=title)
            rows.append(row)
            for repeat in range(repeats):
                for case in make(ctx):
                    case.name = "%s-%d" % (case.name, repeat)
                    server.cases[case.name] = case
                    work.append((case, row))
        free = list(clouds)
        free_lock = threading.Lock()

        def one(item):
            case, row = item
            with free_lock:
                cloud = free.pop()
            try:
                run_case(ctx, case, server, cloud, row, lock)
            finally:
                with free_lock:
                    free.append(cloud)

        with concurrent.futures.ThreadPoolExecutor(slots) as pool:
            list(pool.map(one, work))
        for row in rows:
            if server.errors:
                row.check(False, "the hostile server itself failed: %s" % server.errors[:3])
            if not row.worst:
                row.worst = "every case as designed (%d runs)" % row.runs
    finally:
        server.stop()
        for cloud in clouds:
            cloud.stop()
    return rows
