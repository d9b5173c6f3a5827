"""security (issue 12, "Security checks in the same table"): secrets, local files, FFmpeg's protocols, size caps.

- secrets: `serve` on S3 (SeaweedFS, its secret key), with an API key, a voice token and a (fake) OpenAI key, every
  provider pointed at a hostile server of ours that fails by echoing the credentials it was sent, as real APIs do.
  Work that fails in many ways (wrong keys, bad input, missing objects and buckets, every provider failing); then
  every log line, reply, job record (`GET /v1/jobs`, `jobs list`, `jobs show`), `config check` and stored object is
  searched for each secret, raw, base64 and URL-encoded.
- local files: network jobs naming `file:///etc/passwd`, `/etc/passwd`, `../../etc/passwd`, and symbolic links in the
  file store pointing out of it (at /etc/passwd, and at a real WAV no provider may ever be sent), are refused or fail
  without reading: no provider request, no line of /etc/passwd in any output.
- ffmpeg protocols: an HLS playlist, an ffconcat list, a concat `.txt` and an SDP file naming a TCP and a UDP
  listener of ours (and file:///etc/passwd) are uploaded as media: the listeners see nothing, the jobs die cleanly.
- size caps: the local Whisper provider answers with a 4 GB body, an endless chunked stream, and an endless error
  body: serve's RSS stays bounded and each job fails with a reason.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import shutil
import socket
import threading
import time
import traceback
import urllib.parse

import requests

from .common import (FIXTURES, SECRET_KEY, Row, S3Server, Serve, cli, proc_status, worker_config, worker_env)

API_KEY = "sk-sec-api/KEY+5590=zq"
VOICE_TOKEN = "vt-sec/token+8812=qq"
OPENAI_KEY = "sk-openai-fake/3141+pq"
SECRETS = {"API key": API_KEY, "voice token": VOICE_TOKEN, "OpenAI key": OPENAI_KEY, "S3 secret": SECRET_KEY}


def secret_forms(secret: str) -> list[str]:
    """The secret as it may leak: raw, its first 12 characters (a truncated message), URL-encoded, and base64
    (standard and URL-safe, padded or not, and of the `user:secret` pair Basic auth would carry)."""
    forms = {secret, secret[:12], urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    for data in (secret.encode(), b"user:" + secret.encode()):
        for encoded in (base64.b64encode(data), base64.urlsafe_b64encode(data)):
            forms |= {encoded.decode(), encoded.decode().rstrip("=")}
    return sorted(forms)


class HostileProvider:
    """An OpenAI-shaped provider on 127.0.0.1 that misbehaves by the first segment of its path:
    `echo` fails with 401 and an error echoing every credential header it got; `huge` answers 200 with a 4 GB
    Content-Length and streams it; `endless` streams a chunked 200 forever; `error-stream` a chunked 500 forever."""

    def __init__(self):
        self.requests = {}  # mode -> count
        self.sent = {}  # mode -> the most bytes one response managed to send
        self.credentials = set()  # every Authorization value received
        self.lock = threading.Lock()
        provider = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def read_body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        self.rfile.read(size + 2)
                        if size == 0:
                            return
                self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def stream(self, mode, status, chunked, length=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(length))
                self.end_headers()
                piece = b'{"text": "' + b"a" * (1 << 20)
                sent = 0
                try:
                    while sent < (length or 1 << 62):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                        sent += len(piece)
                except OSError:
                    pass  # the worker hung up: what we want
                finally:
                    with provider.lock:
                        provider.sent[mode] = max(provider.sent.get(mode, 0), sent)
                    self.close_connection = True

            def do_POST(self):
                mode = self.path.strip("/").split("/")[0]
                with provider.lock:
                    provider.requests[mode] = provider.requests.get(mode, 0) + 1
                    provider.credentials.add(self.headers.get("Authorization"))
                self.read_body()
                if mode == "huge":
                    return self.stream(mode, 200, False, 4 << 30)
                if mode == "endless":
                    return self.stream(mode, 200, True)
                if mode == "error-stream":
                    return self.stream(mode, 500, True)
                # echo: the credentials back in the error, as a careless API does.
                credentials = {name: value for name, value in self.headers.items()
                               if name.lower() in ("authorization", "x-api-key", "xi-api-key", "api-key")}
                body = json.dumps({"error": {"message": "Incorrect API key provided: %s (headers %s)" % (
                    self.headers.get("Authorization"), credentials), "type": "invalid_request_error",
                    "code": "invalid_api_key"}}).encode()
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_PUT = do_POST

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def base(self, mode: str) -> str:
        return "http://127.0.0.1:%d/%s/v1" % (self.port, mode)

    def count(self) -> int:
        with self.lock:
            return sum(self.requests.values())

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Listener:
    """A TCP and a UDP socket on one loopback port that count whatever reaches them."""

    def __init__(self):
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.tcp.listen(16)
        self.tcp.settimeout(0.2)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.udp.settimeout(0.2)
        self.connections = 0
        self.datagrams = 0
        self.running = True
        self.threads = [threading.Thread(target=self.accept, daemon=True),
                        threading.Thread(target=self.receive, daemon=True)]
        for thread in self.threads:
            thread.start()

    def accept(self):
        while self.running:
            try:
                connection, _ = self.tcp.accept()
                self.connections += 1
                connection.close()
            except OSError:
                pass

    def receive(self):
        while self.running:
            try:
                self.udp.recv(65536)
                self.datagrams += 1
            except OSError:
                pass

    def stop(self):
        self.running = False
        for thread in self.threads:
            thread.join(timeout=2)
        self.tcp.close()
        self.udp.close()


class API:
    """requests against one serve, every reply kept (for the secrets search)."""

    def __init__(self, port: int, key: str | None):
        self.base = "http://127.0.0.1:%d" % port
        self.key = key
        self.replies = []

    def call(self, method: str, path: str, auth: bool = True, headers=None, timeout: float = 120, **kwargs):
        headers = dict(headers or {})
        if auth and self.key:
            headers.setdefault("Authorization", "Bearer " + self.key)
        reply = requests.request(method, self.base + path, headers=headers, timeout=timeout, **kwargs)
        self.replies.append("%s %s -> %d %s\n%s" % (method, path, reply.status_code, dict(reply.headers),
                                                    reply.content.decode("utf-8", "replace")))
        return reply

    def wait(self, job_id: str, timeout: float = 180) -> dict:
        """The job once it is dead, cancelled or succeeded (a job still moving after `timeout` is returned as is)."""
        deadline = time.monotonic() + timeout
        job = {}
        while time.monotonic() < deadline:
            job = self.call("GET", "/v1/jobs/" + job_id, timeout=30).json()
            if job.get("status") in ("dead", "succeeded", "cancelled"):
                break
            time.sleep(0.25)
        return job


def upload_job(api: API, name: str, data: bytes) -> requests.Response:
    return api.call("POST", "/v1/jobs", files={"file": (name, data, "application/octet-stream")},
                    data={"formats": "json"})


def stop_checked(serve: Serve, row: Row) -> None:
    """Stops serve (SIGTERM); a crash before it, or an unclean exit, is a failed check (and a crash counted)."""
    crashed = serve.crashed()
    code = serve.stop()
    if crashed or code != 0:
        row.crashes += int(crashed)
        row.check(False, "serve %s (exit %s): %s" % ("crashed" if crashed else "did not stop cleanly on SIGTERM",
                                                      serve.process.returncode, open(serve.log_path).read()[-1500:]))


# --- secrets ---------------------------------------------------------------------------------------------------


def secrets(ctx, row: Row) -> None:
    s3 = S3Server(ctx)
    hostile = HostileProvider()
    serve = None
    base = ctx.scratch("secrets")
    data = os.path.join(base, "data")
    os.makedirs(data)
    config = worker_config(ctx, base, max_attempts=1, retry_base_s=1)
    env = worker_env(None, AUDIO_WORKER_API_KEY=API_KEY, AUDIO_WORKER_VOICE_TOKEN=VOICE_TOKEN,
                     OPENAI_API_KEY=OPENAI_KEY, **s3.env())
    for model, provider in (("whisper_small_local", "local"), ("kokoro_local", "local"),
                            ("openai_whisper", "openai"), ("openai_tts", "openai")):
        env["AUDIO_WORKER_API_BASE__%s__%s" % (model, provider)] = hostile.base("echo")
    outputs = []  # (where, text)
    try:
        s3.client().upload_file(os.path.join(FIXTURES, "speech.wav"), "assets", "sec/talk.wav")
        s3.client().upload_file(os.path.join(FIXTURES, "not-media.txt"), "assets", "sec/not-media.wav")
        serve = Serve(ctx, config, data, env, listen="127.0.0.1:0")
        api = API(serve.port, API_KEY)
        with open(os.path.join(FIXTURES, "speech.wav"), "rb") as handle:
            wav = handle.read()
        # Wrong and missing credentials, a secret as the wrong credential's neighbour.
        for headers in ({}, {"Authorization": "Bearer " + API_KEY + "x"}, {"X-API-Key": VOICE_TOKEN},
                        {"Authorization": "Basic " + base64.b64encode(b"u:" + API_KEY.encode()).decode()}):
            api.call("GET", "/v1/jobs", auth=False, headers=headers)
        api.call("POST", "/synthesize", auth=False, headers={"X-Kokoro-Token": "wrong"}, json={"text": "Hi."})
        # Work that fails: every provider echoes the credentials in its error.
        api.call("POST", "/synthesize", auth=False, headers={"X-Kokoro-Token": VOICE_TOKEN},
                 json={"text": "Hello there, this will fail."})
        api.call("POST", "/v1/audio/speech", json={"input": "Hello there.", "voice": "alloy"})
        api.call("POST", "/transcribe", json={"bucket": "assets", "key": "sec/talk.wav"}, timeout=300)
        api.call("POST", "/transcribe", json={"bucket": "assets", "key": "sec/missing.wav"})
        api.call("POST", "/transcribe", json={"bucket": "nosuchbucket", "key": "sec/talk.wav"})
        api.call("POST", "/transcribe", json={"bucket": "assets", "key": "sec/not-media.wav"})
        api.call("POST", "/transcribe_file", files={"audio": ("a.wav", wav, "audio/wav")}, timeout=300)
        api.call("POST", "/v1/audio/transcriptions", files={"file": ("a.wav", wav, "audio/wav")},
                 data={"model": "whisper-1", "response_format": "verbose_json"}, timeout=300)
        api.call("POST", "/v1/audio/transcriptions", files={"file": ("a.wav", wav, "audio/wav")},
                 data={"model": "whisper-1", "stream": "true"}, timeout=300)
        ids = []
        for body in ({"transcription": {"bucket": "assets", "key": "sec/talk.wav", "formats": ["json", "srt"]}},
                     {"transcription": {"bucket": "nosuchbucket", "key": "x.wav"}},
                     {"transcription": {"key": "sec/missing.wav"}},
                     {"synthesis": {"text": "Hello again.", "format": "mp3"}}):
            reply = api.call("POST", "/v1/jobs", json=body)
            if reply.status_code in (200, 202):
                ids.append(reply.json()["id"])
        for job_id in ids:
            api.wait(job_id)
            api.call("GET", "/v1/jobs/%s/events" % job_id, timeout=60)
            api.call("POST", "/v1/jobs/%s/retry" % job_id)
        api.call("GET", "/v1/jobs?limit=1000")
        api.call("GET", "/metrics", auth=False)
        api.call("GET", "/healthz", auth=False)
        outputs += [("reply", text) for text in api.replies]
        for args in (["jobs", "list", "--limit", "1000"], ["jobs", "dead-letters"], ["config", "check", "--offline"],
                     ["config", "check"]):
            code, out, err = cli(ctx, args, env, config, data, check=False)
            outputs.append((" ".join(args), "exit %d\n%s\n%s" % (code, out, err)))
        for job_id in ids:
            code, out, err = cli(ctx, ["jobs", "show", job_id], env, config, data, check=False)
            outputs.append(("jobs show", out + err))
        # A one-off CLI transcription through the same failing providers.
        code, out, err = cli(ctx, ["transcribe", os.path.join(FIXTURES, "speech.wav"), "--output-dir",
                                   ctx.scratch("cli-out")], env, config, data, check=False, timeout=300)
        outputs.append(("transcribe", out + err))
        client = s3.client()
        for item in client.list_objects_v2(Bucket="assets").get("Contents", []):
            body = client.get_object(Bucket="assets", Key=item["Key"])["Body"].read()
            outputs.append(("object " + item["Key"], body.decode("utf-8", "replace")))
        stop_checked(serve, row)
        with open(serve.log_path) as handle:
            outputs += [("log", line) for line in handle]
        for directory, _, files in os.walk(data):
            for name in files:
                if name.endswith((".sqlite", ".sqlite-wal", ".log")):
                    with open(os.path.join(directory, name), "rb") as handle:
                        outputs.append((name, handle.read().decode("latin-1")))
        # The hostile server must really have been sent the OpenAI key, or the redaction was never put to a test.
        echoed = [text for _, text in outputs if "Incorrect API key" in text]
        row.runs += 1
        if row.check("Bearer " + OPENAI_KEY in hostile.credentials and echoed,
                     "the key did not reach the failing provider or its echo was never seen (%s requests, %d "
                     "echoes)" % (hostile.requests, len(echoed))):
            row.passed += 1
        if echoed:
            at = echoed[0].find("Incorrect API key")
            ctx.log("an echoed provider error as the worker passed it on: %s" % echoed[0][at:at + 160])
        for label, secret in SECRETS.items():
            forms = secret_forms(secret)
            leaks = [(where, form, text[max(0, text.find(form) - 80):text.find(form) + 40])
                     for where, text in outputs for form in forms if form in text]
            row.runs += 1
            if row.check(not leaks, "the %s appears in %d places, e.g. %r" % (label, len(leaks), leaks[:3])):
                row.passed += 1
        row.worst = "%d outputs searched (%d log lines), %d provider errors echoing keys" % (
            len(outputs), sum(1 for where, _ in outputs if where == "log"), hostile.requests.get("echo", 0))
    finally:
        try:
            if serve is not None and not serve.log.closed:  # not stopped yet
                stop_checked(serve, row)
        finally:
            hostile.stop()
            s3.stop()


# --- local files, FFmpeg protocols and size caps, on one file-store serve ----------------------------------------


def file_store_checks(ctx, rows: dict) -> None:
    hostile = HostileProvider()
    listener = Listener()
    serve = None
    base = ctx.scratch("files")
    data = os.path.join(base, "data")
    store = os.path.join(data, "store", "assets")
    os.makedirs(store)
    # Outside the store: a real WAV no job may ever send, and /etc/passwd.
    outside = os.path.join(base, "outside")
    os.makedirs(outside)
    shutil.copy(os.path.join(FIXTURES, "speech.wav"), os.path.join(outside, "private.wav"))
    os.symlink(os.path.join(outside, "private.wav"), os.path.join(store, "link.wav"))
    os.symlink("/etc/passwd", os.path.join(store, "passwd.wav"))
    os.symlink(outside, os.path.join(store, "linkdir"))
    os.symlink("/etc", os.path.join(store, "etc"))
    shutil.copy(os.path.join(FIXTURES, "speech.wav"), os.path.join(store, "talk.wav"))
    with open("/etc/passwd") as handle:
        passwd_lines = [line.strip() for line in handle if line.count(":") >= 6][:5]
    config = worker_config(ctx, base, max_attempts=1, retry_base_s=1)
    env = worker_env(None, AUDIO_WORKER_API_KEY=API_KEY)
    env["AUDIO_WORKER_API_BASE__whisper_small_local__local"] = hostile.base("echo")
    try:
        serve = Serve(ctx, config, data, env, listen="127.0.0.1:0")
        api = API(serve.port, API_KEY)
        local_files(api, hostile, passwd_lines, rows["local files"])
        ffmpeg_protocols(ctx, api, hostile, listener, serve, rows["ffmpeg protocols"])
        stop_checked(serve, rows["ffmpeg protocols"])
        # The size caps need the provider to be the hostile streamer: a serve per mode, on the same store.
        for mode in ("huge", "endless", "error-stream"):
            env["AUDIO_WORKER_API_BASE__whisper_small_local__local"] = hostile.base(mode)
            serve = Serve(ctx, config, data, env, listen="127.0.0.1:0")
            size_cap(ctx, API(serve.port, API_KEY), hostile, serve, mode, rows["size caps"])
            stop_checked(serve, rows["size caps"])
        rows["size caps"].worst = "most sent in one reply before the worker hung up: %s" % ", ".join(
            "%s %.0f MB" % (mode, sent / 1e6) for mode, sent in sorted(hostile.sent.items()))
    finally:
        try:
            if serve is not None and not serve.log.closed:  # not stopped yet
                stop_checked(serve, rows["local files"])
        finally:
            listener.stop()
            hostile.stop()


def local_files(api: API, hostile: HostileProvider, passwd_lines: list, row: Row) -> None:
    """Network jobs cannot name local files, and links in the store cannot lead out of it."""
    named = ["file:///etc/passwd", "/etc/passwd", "../../etc/passwd", "file://localhost/etc/passwd",
             "file:/etc/passwd", "assets/../../../etc/passwd"]
    linked = ["link.wav", "passwd.wav", "linkdir/private.wav", "etc/passwd"]
    seen = []
    before = hostile.count()
    for key in named + linked:
        for route, body in (("/transcribe", {"bucket": "assets", "key": key}),
                            ("/v1/jobs", {"transcription": {"bucket": "assets", "key": key}}),
                            ("/v1/jobs", {"transcription": {"input": key}})):
            reply = api.call("POST", route, json=body, timeout=120)
            seen.append(reply.text)
            row.runs += 1
            ok = True
            if key in named:
                ok = row.check(reply.status_code == 400, "%s %r: %d %s" % (route, key, reply.status_code,
                                                                          reply.text[:200]))
            elif reply.status_code in (200, 202) and route == "/v1/jobs":
                job = api.wait(reply.json()["id"])
                seen.append(json.dumps(job))
                ok = row.check(job.get("status") == "dead" and job.get("error"),
                               "job for the link %r: %s" % (key, json.dumps(job)[:300]))
            else:
                # A refused link: 400 (leads outside) or 404 (no such object), never 200.
                ok = row.check(reply.status_code in (400, 404), "%s the link %r: %d %s" % (
                    route, key, reply.status_code, reply.text[:200]))
            if ok:
                row.passed += 1
    row.runs += 1
    leaked = [line for line in passwd_lines if any(line in text for text in seen)]
    if row.check(not leaked and hostile.count() == before, "a local file was read: %d provider requests, "
                 "passwd lines seen %s" % (hostile.count() - before, leaked[:2])):
        row.passed += 1
    row.worst = "%d requests naming local files or links out of the store" % (len(named + linked) * 3)


def ffmpeg_protocols(ctx, api: API, hostile: HostileProvider, listener: Listener, serve: Serve, row: Row) -> None:
    """Media that names other files and URLs: nothing is opened, the job dies as bad input."""
    at = "127.0.0.1:%d" % listener.port
    media = {
        "playlist.m3u8": "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
                         "#EXTINF:10.0,\nhttp://%s/seg0.ts\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n" % at,
        "disguised.wav": "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nhttp://%s/seg0.aac\n#EXT-X-ENDLIST\n" % at,
        "list.ffconcat": "ffconcat version 1.0\nfile 'http://%s/a.wav'\nfile '/etc/passwd'\n" % at,
        "concat.txt": "file 'http://%s/a.wav'\nfile 'file:/etc/passwd'\n" % at,
        "concat.mp3": "ffconcat version 1.0\nfile 'tcp://%s'\n" % at,
        "stream.sdp": "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=trial\nc=IN IP4 127.0.0.1\nt=0 0\n"
                      "m=audio %d RTP/AVP 0\na=rtpmap:0 PCMU/8000\n" % listener.port,
        "rtsp.m3u8": "#EXTM3U\n#EXTINF:10.0,\nrtsp://%s/x\n#EXT-X-ENDLIST\n" % at,
    }
    before = hostile.count()
    reasons = []
    for name, text in media.items():
        for how in ("upload", "key"):
            row.runs += 1
            if how == "upload":
                reply = upload_job(api, name, text.encode())
            else:
                with open(os.path.join(api_store(serve), "refs-" + name), "w") as handle:
                    handle.write(text)
                reply = api.call("POST", "/v1/jobs", json={"transcription": {"key": "refs-" + name}})
            if not row.check(reply.status_code in (202, 400), "%s by %s: %d %s" % (
                    name, how, reply.status_code, reply.text[:200])):
                continue
            ok = True
            if reply.status_code == 202:
                job = api.wait(reply.json()["id"], timeout=120)
                reasons.append((job.get("error") or {}).get("kind"))
                ok = row.check(job.get("status") == "dead" and job.get("error"), "%s by %s: %s" % (
                    name, how, json.dumps(job)[:300]))
            if ok:
                row.passed += 1
    time.sleep(1)  # a connection attempt in flight still lands
    row.runs += 1
    if row.check(listener.connections == 0 and listener.datagrams == 0 and hostile.count() == before,
                 "the media opened something: %d TCP connections, %d UDP datagrams, %d provider requests" % (
                     listener.connections, listener.datagrams, hostile.count() - before)):
        row.passed += 1
    row.runs += 1
    if row.check(serve.alive(), "serve died on the reference files"):
        row.passed += 1
    row.worst = "%d files; error kinds %s; %d connections seen" % (
        len(media) * 2, sorted(set(map(str, reasons))), listener.connections + listener.datagrams)


def api_store(serve: Serve) -> str:
    return os.path.join(os.path.dirname(serve.log_path), "store", "assets")


def size_cap(ctx, api: API, hostile: HostileProvider, serve: Serve, mode: str, row: Row) -> None:
    """One transcription against a provider that never stops talking: bounded RSS, a job that ends with a reason."""
    baseline = proc_status(serve.process.pid)["VmRSS"]
    reply = api.call("POST", "/v1/jobs", json={"transcription": {"key": "talk.wav", "formats": ["json"]}})
    row.runs += 1
    if not row.check(reply.status_code == 202, "%s: %d %s" % (mode, reply.status_code, reply.text[:200])):
        return
    job_id = reply.json()["id"]
    peak, job = baseline, {}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and serve.alive():
        peak = max(peak, proc_status(serve.process.pid)["VmRSS"])
        job = api.call("GET", "/v1/jobs/" + job_id, timeout=30).json()
        if job.get("status") in ("dead", "succeeded", "cancelled"):
            break
        time.sleep(0.1)
    reason = json.dumps(job.get("error"))[:300]
    ctx.log("size cap %s: %s, RSS %d -> %d kB, sent %s, reason %s" % (
        mode, job.get("status"), baseline, peak, hostile.sent.get(mode), reason))
    ok = row.check(serve.alive(), "%s: serve died: %s" % (mode, serve.process.poll()))
    ok = row.check(job.get("status") == "dead" and bool(job.get("error")),
                   "%s: the job did not fail with a reason in 240 s: %s" % (mode, json.dumps(job)[:400])) and ok
    ok = row.check(peak - baseline < 150_000, "%s: serve's RSS grew %d MB (%d -> %d kB)" % (
        mode, (peak - baseline) // 1000, baseline, peak)) and ok
    if ok:
        row.passed += 1


def run(ctx) -> list[Row]:
    rows = {name: Row(trial="security " + name) for name in ("secrets", "local files", "ffmpeg protocols",
                                                              "size caps")}
    # One part failing must not hide the other's rows: its first row carries the traceback.
    for part, row in ((lambda: secrets(ctx, rows["secrets"]), rows["secrets"]),
                      (lambda: file_store_checks(ctx, rows), rows["local files"])):
        try:
            part()
        except Exception as error:
            row.runs += 1
            row.check(False, "the trial failed: %s" % traceback.format_exc()[-1500:])
            row.worst = "the trial failed: %r" % error
    return list(rows.values())
