"""Tests for scripts/local-speech-server.py.

They start the real server as a subprocess on a free port (``--port 0``,
synchronising on its ``LISTENING <port>`` line) and talk to it with
http.client only. Run with the python of the venv made by
scripts/setup-speech-venv, from the repository root:

    .venv/bin/python -m unittest discover -s scripts -p 'test_local_speech_server.py' -v

or from scripts/:  ../.venv/bin/python -m unittest test_local_speech_server -v

Needs flite and ffmpeg on PATH (the server needs them too).
"""

from __future__ import annotations

import http.client
import importlib.util
import io
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVER = HERE / "local-speech-server.py"
START_TIMEOUT_S = 20
REQUEST_TIMEOUT_S = 60

HELLO = "hello world this is a test"
THREE_SENTENCES = (
    "The quick brown fox jumps over the lazy dog. "
    "Please remember to buy milk, bread and eggs on your way home. "
    "The train to the city leaves every hour from platform two."
)


def load_server_module():
    spec = importlib.util.spec_from_file_location("local_speech_server", SERVER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------
# helpers


class Server:
    """The server as a subprocess; stderr goes to a temp file shown on failure."""

    def __init__(self, *args):
        self.args = [sys.executable, str(SERVER), "--port", "0", *args]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL)
        timer = threading.Timer(START_TIMEOUT_S, self.proc.kill)  # never hang on a broken server
        timer.start()
        try:
            line = self.proc.stdout.readline().decode("utf-8", "replace")
        finally:
            timer.cancel()
        m = re.fullmatch(r"LISTENING (\d+)\n", line)
        if not m:
            self.stop()
            raise RuntimeError("server did not start (%r); stderr:\n%s" % (line, self.stderr()))
        self.port = int(m.group(1))

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)

    def request(self, method, path, body=None, headers=None, conn=None):
        own = conn is None
        c = conn or self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            resp = c.getresponse()
            data = resp.read()
            return resp.status, resp, data
        finally:
            if own:
                c.close()

    def json(self, method, path, obj=None):
        body = None if obj is None else json.dumps(obj).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        status, resp, data = self.request(method, path, body, headers)
        return status, resp, data

    def speech(self, text=HELLO, **fields):
        obj = {"model": "tts-1", "input": text, "voice": "awb"}
        obj.update(fields)
        return self.json("POST", "/v1/audio/speech", obj)

    def transcribe(self, audio, filename="audio.wav", content_type="audio/wav", path="/v1/audio/transcriptions",
                   fields=None, conn=None):
        body, ctype = multipart(fields or [], [("file", filename, content_type, audio)])
        return self.request("POST", path, body, {"Content-Type": ctype}, conn=conn)


def multipart(fields, files, boundary=None):
    """Encode form fields [(name, value)] and files [(name, filename, type, bytes)]."""
    boundary = boundary or "----test" + uuid.uuid4().hex
    out = io.BytesIO()
    for name, value in fields:
        out.write(b"--%s\r\n" % boundary.encode())
        out.write(b'Content-Disposition: form-data; name="%s"\r\n\r\n' % name.encode())
        out.write(str(value).encode() + b"\r\n")
    for name, filename, ctype, data in files:
        quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
        out.write(b"--%s\r\n" % boundary.encode())
        out.write(b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n' % (name.encode(),
                                                                                    quoted.encode()))
        out.write(b"Content-Type: %s\r\n\r\n" % ctype.encode())
        out.write(data + b"\r\n")
    out.write(b"--%s--\r\n" % boundary.encode())
    return out.getvalue(), "multipart/form-data; boundary=%s" % boundary


def make_wav(seconds, rate=16000, tone=False):
    n = int(seconds * rate)
    if tone:
        frames = b"".join(int(3000 * math.sin(2 * math.pi * 440 * i / rate)).to_bytes(2, "little", signed=True)
                          for i in range(n))
    else:
        frames = b"\x00\x00" * n
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return out.getvalue()


def words(text):
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def wer(ref, hyp):
    r, h = words(ref), words(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d = d, [i] + [0] * len(h)
        for j in range(1, len(h) + 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
    return d[len(h)] / max(1, len(r))


def wav_info(data):
    with wave.open(io.BytesIO(data), "rb") as w:
        return w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()


# --------------------------------------------------------------------------
# recognition and synthesis against one real server


class RealServerTests(unittest.TestCase):
    srv: Server
    hello_wav: bytes

    @classmethod
    def setUpClass(cls):
        if importlib.util.find_spec("pocketsphinx") is None:
            raise RuntimeError("pocketsphinx is not installed for %s; run scripts/setup-speech-venv and use "
                               "the venv's python" % sys.executable)
        cls.srv = Server("--decoders", "2")
        status, resp, data = cls.srv.speech(HELLO, response_format="wav")
        if status != 200:
            cls.srv.stop()
            raise RuntimeError("speech failed: %s %r" % (status, data[:300]))
        cls.hello_wav = data

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        status, _, body = self.srv.json("POST", "/admin/faults", {})
        self.assertEqual(status, 200, body)

    def verbose(self, audio, grans=(), **kw):
        fields = [("model", "whisper-1"), ("response_format", "verbose_json")]
        fields += [("timestamp_granularities[]", g) for g in grans]
        status, resp, data = self.srv.transcribe(audio, fields=fields, **kw)
        self.assertEqual(status, 200, data)
        self.assertEqual(resp.getheader("Content-Type"), "application/json")
        return json.loads(data)

    def test_health(self):
        status, resp, data = self.srv.request("GET", "/health")
        self.assertEqual((status, json.loads(data)), (200, {"status": "ok"}))

    def test_speech_wav_is_24k_mono_s16(self):
        status, resp, data = self.srv.speech(HELLO, response_format="wav")
        self.assertEqual(status, 200)
        self.assertEqual(resp.getheader("Content-Type"), "audio/wav")
        self.assertEqual(resp.getheader("X-Sample-Rate"), "24000")
        ch, width, rate, frames = wav_info(data)
        self.assertEqual((ch, width, rate), (1, 2, 24000))
        self.assertGreater(frames / rate, 1.0)

    def test_roundtrip_hello_world(self):
        status, resp, data = self.srv.transcribe(self.hello_wav, fields=[("model", "whisper-1")])
        self.assertEqual(status, 200, data)
        got = words(json.loads(data)["text"])
        expected = words(HELLO)
        matched = sum(1 for w in expected if w in got)
        self.assertGreaterEqual(matched, 5, "recognized %r" % got)

    def test_verbose_json_segments_and_words(self):
        out = self.verbose(self.hello_wav, grans=("word", "segment"))
        self.assertEqual(out["task"], "transcribe")
        self.assertEqual(out["language"], "english")
        duration = out["duration"]
        _, _, rate, frames = wav_info(self.hello_wav)
        self.assertAlmostEqual(duration, frames / rate, delta=0.02)
        self.assertEqual(out["usage"], {"type": "duration", "seconds": math.ceil(duration)})
        self.assertTrue(out["segments"])
        last_end = 0.0
        for i, seg in enumerate(out["segments"]):
            self.assertEqual(seg["id"], i)
            self.assertLess(seg["start"], seg["end"])
            self.assertGreaterEqual(seg["start"], last_end)
            self.assertLessEqual(seg["end"], duration)
            last_end = seg["end"]
            for key in ("seek", "tokens", "temperature", "avg_logprob", "compression_ratio", "no_speech_prob"):
                self.assertIn(key, seg)
            self.assertTrue(seg["text"].startswith(" "))
        self.assertEqual(out["text"], " ".join(s["text"].strip() for s in out["segments"]))
        self.assertGreaterEqual(len(out["words"]), 5)
        prev = 0.0
        for w in out["words"]:
            self.assertLessEqual(prev, w["start"])
            self.assertLessEqual(w["start"], w["end"])
            self.assertLessEqual(w["end"], duration)
            self.assertNotIn("(", w["word"])
            prev = w["start"]
        self.assertEqual(" ".join(w["word"] for w in out["words"]), out["text"])

    def test_words_only_when_requested(self):
        out = self.verbose(self.hello_wav)
        self.assertNotIn("words", out)
        self.assertTrue(out["segments"])

    def test_three_sentences_wer_and_segments(self):
        status, _, wav = self.srv.speech(THREE_SENTENCES, response_format="wav")
        self.assertEqual(status, 200)
        out = self.verbose(wav, grans=("word",))
        rate = wer(THREE_SENTENCES, out["text"])
        self.assertLessEqual(rate, 0.3, "WER %.2f: %r" % (rate, out["text"]))
        ends = [s["end"] for s in out["segments"]]
        self.assertEqual(ends, sorted(ends))
        for s in out["segments"]:
            self.assertLessEqual(s["end"] - s["start"], 12.5)

    def test_text_srt_vtt_formats(self):
        status, resp, data = self.srv.transcribe(self.hello_wav, fields=[("response_format", "text")])
        self.assertEqual(status, 200)
        self.assertTrue(resp.getheader("Content-Type").startswith("text/plain"))
        self.assertGreaterEqual(len(words(data.decode())), 4)
        status, _, data = self.srv.transcribe(self.hello_wav, fields=[("response_format", "srt")])
        self.assertEqual(status, 200)
        self.assertRegex(data.decode(), r"^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n\S")
        status, resp, data = self.srv.transcribe(self.hello_wav, fields=[("response_format", "vtt")])
        self.assertEqual(status, 200)
        self.assertRegex(data.decode(), r"^WEBVTT\n\n\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}\n\S")
        status, _, data = self.srv.transcribe(self.hello_wav, fields=[("response_format", "xml")])
        self.assertEqual(status, 400)

    def test_other_language_still_reports_english(self):
        fields = [("response_format", "verbose_json"), ("language", "de"), ("temperature", "0.2")]
        status, _, data = self.srv.transcribe(self.hello_wav, fields=fields)
        self.assertEqual(status, 200)
        out = json.loads(data)
        self.assertEqual(out["language"], "english")
        self.assertEqual(out["segments"][0]["temperature"], 0.2)

    def test_inference_whisper_cpp_shape(self):
        status, _, data = self.srv.transcribe(self.hello_wav, path="/inference",
                                              fields=[("response_format", "verbose_json")])
        self.assertEqual(status, 200, data)
        out = json.loads(data)
        self.assertEqual(out["detected_language"], "english")
        self.assertIn("detected_language_probability", out)
        seg = out["segments"][0]
        self.assertNotIn("seek", seg)
        self.assertNotIn("compression_ratio", seg)
        self.assertTrue(seg["words"])
        for w in seg["words"]:
            self.assertEqual(set(w), {"word", "start", "end", "t_dtw", "probability"})
            self.assertEqual(w["t_dtw"], -1)
        status, _, data = self.srv.transcribe(self.hello_wav, path="/inference")
        self.assertEqual(set(json.loads(data)), {"text"})

    def test_other_containers_and_raw_pcm_upload(self):
        status, _, mp3 = self.srv.speech(HELLO, response_format="mp3")
        self.assertEqual(status, 200)
        status, _, data = self.srv.transcribe(mp3, filename="a b \"quoted\".mp3", content_type="audio/mpeg")
        self.assertEqual(status, 200, data)
        self.assertGreaterEqual(sum(w in words(json.loads(data)["text"]) for w in words(HELLO)), 4)
        # raw 16 kHz s16le with content type audio/pcm
        with wave.open(io.BytesIO(self.hello_wav)) as w:
            pcm24 = w.readframes(w.getnframes())
        status, _, data = self.srv.transcribe(pcm24, filename="x.pcm", content_type="audio/pcm;rate=24000")
        self.assertEqual(status, 200, data)
        self.assertGreaterEqual(sum(w in words(json.loads(data)["text"]) for w in words(HELLO)), 4)
        fields = [("response_format", "verbose_json")]
        status, _, data = self.srv.transcribe(b"\x00\x00" * 16000, content_type="audio/pcm", fields=fields)
        self.assertEqual(status, 200, data)
        self.assertAlmostEqual(json.loads(data)["duration"], 1.0, delta=0.01)

    def test_bad_missing_and_empty_audio(self):
        status, _, data = self.srv.transcribe(b"this is not audio at all" * 50, content_type="audio/wav")
        self.assertEqual(status, 400)
        err = json.loads(data)["error"]
        self.assertTrue(err["message"].startswith("could not decode audio: "), err)
        self.assertEqual((err["type"], err["param"], err["code"]), ("invalid_request_error", "file", "invalid_audio"))
        body, ctype = multipart([("model", "whisper-1")], [])
        status, _, data = self.srv.request("POST", "/v1/audio/transcriptions", body, {"Content-Type": ctype})
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(data)["error"]["param"], "file")
        status, _, data = self.srv.transcribe(b"")
        self.assertEqual(status, 400)
        status, _, data = self.srv.transcribe(make_wav(0))
        self.assertEqual(status, 400)
        status, _, data = self.srv.request("POST", "/v1/audio/transcriptions", b"{}",
                                           {"Content-Type": "application/json"})
        self.assertEqual(status, 400)

    def test_speech_validation(self):
        status, _, data = self.srv.speech("x" * 4097, response_format="pcm")
        self.assertEqual(status, 400)
        err = json.loads(data)["error"]
        self.assertIn("4096", err["message"])
        self.assertEqual(err["param"], "input")
        for bad in ({"input": ""}, {"voice": "nobody"}, {"speed": 5}, {"speed": 0.1}, {"response_format": "ogg"}):
            status, _, data = self.srv.speech(**bad)
            self.assertEqual(status, 400, bad)
            self.assertIn("error", json.loads(data))
        status, _, data = self.srv.request("POST", "/v1/audio/speech", b"{not json",
                                           {"Content-Type": "application/json"})
        self.assertEqual(status, 400)

    def test_pcm_length_matches_duration(self):
        status, resp, pcm = self.srv.speech(HELLO, response_format="pcm")
        self.assertEqual(status, 200)
        self.assertEqual(resp.getheader("Content-Type"), "audio/pcm")
        # independent reference: flite's own rendering of the same text
        with tempfile.TemporaryDirectory() as tmp:
            ref = os.path.join(tmp, "ref.wav")
            subprocess.run(["flite", "-voice", "awb", "-t", HELLO, "-o", ref], check=True)
            with wave.open(ref) as w:
                duration = w.getnframes() / w.getframerate()
        self.assertAlmostEqual(len(pcm) / (2 * 24000 * duration), 1.0, delta=0.05)

    def test_speed_two_is_shorter(self):
        _, _, normal = self.srv.speech(HELLO, response_format="pcm")
        status, _, fast = self.srv.speech(HELLO, response_format="pcm", speed=2.0)
        self.assertEqual(status, 200)
        self.assertLess(len(fast), 0.75 * len(normal))
        status, _, slow = self.srv.speech(HELLO, response_format="pcm", speed=0.5)
        self.assertGreater(len(slow), 1.5 * len(normal))

    def test_encoded_formats_and_voices(self):
        magic = {
            "mp3": ("audio/mpeg", lambda b: b[:3] == b"ID3" or (b[0] == 0xFF and b[1] & 0xE0 == 0xE0)),
            "flac": ("audio/flac", lambda b: b[:4] == b"fLaC"),
            "opus": ("audio/ogg", lambda b: b[:4] == b"OggS" and b"OpusHead" in b[:200]),
            "aac": ("audio/aac", lambda b: b[0] == 0xFF and b[1] & 0xF0 == 0xF0),
        }
        for fmt, (ctype, check) in magic.items():
            status, resp, data = self.srv.speech("format test", response_format=fmt, voice="nova")
            self.assertEqual(status, 200, fmt)
            self.assertEqual(resp.getheader("Content-Type"), ctype)
            self.assertEqual(resp.getheader("X-Sample-Rate"), "24000")
            self.assertTrue(check(data), fmt)
        status, resp, data = self.srv.json("POST", "/v1/audio/speech", {"model": "tts-1", "input": "hi",
                                                                          "voice": "alloy"})
        self.assertEqual((status, resp.getheader("Content-Type")), (200, "audio/mpeg"))
        for voice in ("rms", "slt", "kal16", "echo", "verse"):
            status, _, _ = self.srv.speech("hi", voice=voice, response_format="pcm")
            self.assertEqual(status, 200, voice)

    def test_keep_alive_many_requests_one_connection(self):
        conn = self.srv.conn()
        try:
            for _ in range(3):
                conn.request("GET", "/health")
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                self.assertEqual(int(resp.getheader("Content-Length")), len(resp.read()))
            status, _, data = self.srv.transcribe(self.hello_wav, conn=conn)
            self.assertEqual(status, 200)
            conn.request("GET", "/health")
            self.assertEqual(conn.getresponse().read(), b'{"status": "ok"}')
        finally:
            conn.close()

    def test_admin_faults_at_runtime(self):
        status, _, data = self.srv.json("POST", "/admin/faults", {"fail_first": 2, "fail_status": 503,
                                                                  "rate_limit_first": 1, "retry_after": 3})
        self.assertEqual(status, 200, data)
        self.assertEqual(json.loads(data)["settings"]["fail_first"], 2)
        statuses = []
        for _ in range(4):
            status, resp, data = self.srv.speech("hi", response_format="pcm")
            statuses.append(status)
            if status == 429:
                self.assertEqual(resp.getheader("Retry-After"), "3")
        self.assertEqual(statuses, [429, 503, 503, 200])
        # admin and health routes never get faults
        self.srv.json("POST", "/admin/faults", {"fail_always_status": 502})
        self.assertEqual(self.srv.request("GET", "/health")[0], 200)
        self.assertEqual(self.srv.request("GET", "/admin/stats")[0], 200)
        self.assertEqual(self.srv.speech("hi")[0], 502)
        status, _, _ = self.srv.json("POST", "/admin/faults", {"nonsense": 1})
        self.assertEqual(status, 400)
        status, _, _ = self.srv.json("POST", "/admin/faults", {"fail_first": -1})
        self.assertEqual(status, 400)

    def test_admin_stats(self):
        status, _, data = self.srv.json("POST", "/admin/reset-stats", {})
        self.assertEqual(status, 200)
        self.srv.json("POST", "/admin/faults", {"latency_ms": 400})
        body, ctype = multipart([], [("file", "s.pcm", "audio/pcm", b"\x00\x00" * 8000)])
        results = []

        def one():
            results.append(self.srv.request("POST", "/v1/audio/transcriptions", body,
                                            {"Content-Type": ctype})[0])

        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.srv.json("POST", "/admin/faults", {"fail_first": 1, "fail_status": 503})
        self.srv.speech("x" * 5000)  # 503 (fault comes before validation)
        self.srv.speech("x" * 5000)  # 400
        status, _, data = self.srv.request("GET", "/admin/stats")
        self.assertEqual(status, 200)
        stats = json.loads(data)
        self.assertEqual(results, [200, 200])
        self.assertEqual(stats["requests"], {"/v1/audio/transcriptions": 2, "/v1/audio/speech": 2, "/inference": 0,
                                             "/v1/text-to-speech": 0})
        self.assertEqual(stats["responses"], {"200": 2, "503": 1, "400": 1})
        self.assertEqual(stats["in_flight"], 0)
        self.assertEqual(stats["max_in_flight"], 2)
        self.assertGreaterEqual(stats["bytes_received"], 2 * len(body) + 10000)
        self.srv.json("POST", "/admin/reset-stats", {})
        stats = json.loads(self.srv.request("GET", "/admin/stats")[2])
        self.assertEqual(stats["responses"], {})
        self.assertEqual(stats["bytes_received"], 0)


# --------------------------------------------------------------------------
# command-line fault flags, echo mode and options (fast: --echo servers)


class FlagTests(unittest.TestCase):
    wav = make_wav(1.5)

    def start(self, *args):
        srv = Server("--echo", *args)
        self.addCleanup(srv.stop)
        return srv

    def test_echo_mode(self):
        srv = self.start()
        fields = [("response_format", "verbose_json"), ("timestamp_granularities[]", "word")]
        status, _, data = srv.transcribe(self.wav, fields=fields)
        self.assertEqual(status, 200, data)
        out = json.loads(data)
        self.assertEqual(out["duration"], 1.5)
        self.assertEqual(len(out["segments"]), 1)
        seg = out["segments"][0]
        self.assertEqual((seg["start"], seg["end"], seg["text"].strip()), (0.0, 1.5, "chunk of 1.50 seconds"))
        self.assertEqual(out["text"], "chunk of 1.50 seconds")
        self.assertEqual(out["usage"]["seconds"], 2)
        # non-WAV input is still decoded for its true duration
        status, _, data = srv.transcribe(b"\x00\x00" * 40000, content_type="audio/pcm",
                                         fields=[("response_format", "verbose_json")])
        self.assertEqual(json.loads(data)["duration"], 2.5)

    def test_large_binary_body_and_chunked_upload(self):
        srv = self.start()
        rnd = random.Random(1)
        noise = bytes(rnd.getrandbits(8) for _ in range(1 << 16)) + b"\r\n--x\r\n\r\n--"
        # ~11.5 min of 16 kHz audio (22 MB) whose samples contain CRLF and dashes
        frames = noise * 340
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(frames[: len(frames) // 2 * 2])
        big = out.getvalue()
        status, _, data = srv.transcribe(big, filename='we"ird; name=x.wav',
                                         fields=[("response_format", "verbose_json")])
        self.assertEqual(status, 200, data)
        self.assertAlmostEqual(json.loads(data)["duration"], len(frames) // 2 / 16000, delta=0.01)
        body, ctype = multipart([("response_format", "json")], [("file", "a.wav", "audio/wav", self.wav)])
        conn = srv.conn()
        try:
            conn.request("POST", "/v1/audio/transcriptions", body=iter([body[:100], body[100:]]),
                         headers={"Content-Type": ctype}, encode_chunked=True)
            resp = conn.getresponse()
            self.assertEqual((resp.status, json.loads(resp.read())), (200, {"text": "chunk of 1.50 seconds"}))
        finally:
            conn.close()
        stats = json.loads(srv.request("GET", "/admin/stats")[2])
        self.assertGreater(stats["bytes_received"], len(big))

    def test_fail_first(self):
        srv = self.start("--fail-first", "2", "--fail-status", "503")
        got = [srv.transcribe(self.wav) for _ in range(3)]
        self.assertEqual([g[0] for g in got], [503, 503, 200])
        err = json.loads(got[0][2])["error"]
        self.assertEqual((err["message"], err["type"]), ("injected failure", "server_error"))
        self.assertEqual(srv.request("GET", "/health")[0], 200)

    def test_counter_shared_across_routes(self):
        srv = self.start("--fail-first", "1")
        self.assertEqual(srv.speech("hi", response_format="pcm")[0], 500)
        self.assertEqual(srv.transcribe(self.wav)[0], 200)

    def test_budgets_consumed_in_order(self):
        srv = self.start("--fail-first", "1", "--rate-limit-first", "1")
        self.assertEqual([srv.transcribe(self.wav)[0] for _ in range(3)], [429, 500, 200])

    def test_rate_limit_first(self):
        srv = self.start("--rate-limit-first", "1", "--retry-after", "7")
        status, resp, data = srv.transcribe(self.wav)
        self.assertEqual(status, 429)
        self.assertEqual(resp.getheader("Retry-After"), "7")
        self.assertEqual(json.loads(data)["error"]["code"], "rate_limit_exceeded")
        self.assertEqual(srv.transcribe(self.wav)[0], 200)

    def test_drop_first(self):
        srv = self.start("--drop-first", "1")
        with self.assertRaises((http.client.HTTPException, ConnectionError)):
            srv.transcribe(self.wav)
        self.assertEqual(srv.transcribe(self.wav)[0], 200)
        stats = json.loads(srv.request("GET", "/admin/stats")[2])
        self.assertEqual(stats["dropped"], 1)

    def test_malformed_first(self):
        srv = self.start("--malformed-first", "1")
        status, resp, data = srv.transcribe(self.wav)
        self.assertEqual(status, 200)
        self.assertEqual(resp.getheader("Content-Type"), "application/json")
        with self.assertRaises(ValueError):
            json.loads(data)
        self.assertEqual(json.loads(srv.transcribe(self.wav)[2]), {"text": "chunk of 1.50 seconds"})

    def test_garbage_first(self):
        srv = self.start("--garbage-first", "2")
        status, _, data = srv.transcribe(self.wav)
        self.assertEqual((status, json.loads(data)), (200, {"unexpected": True}))
        status, resp, data = srv.speech("hi", response_format="wav")
        self.assertEqual((status, resp.getheader("Content-Type")), (200, "audio/wav"))
        self.assertNotEqual(data[:4], b"RIFF")
        status, _, data = srv.speech("hi", response_format="wav")
        self.assertEqual((status, data[:4]), (200, b"RIFF"))

    def test_fail_always_status(self):
        srv = self.start("--fail-always-status", "503")
        self.assertEqual([srv.transcribe(self.wav)[0] for _ in range(3)], [503] * 3)
        self.assertEqual(srv.speech("hi")[0], 503)
        self.assertEqual(srv.request("GET", "/health")[0], 200)

    def test_latency(self):
        srv = self.start("--latency-ms", "300")
        t0 = time.monotonic()
        self.assertEqual(srv.transcribe(self.wav)[0], 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        t0 = time.monotonic()
        srv.request("GET", "/health")
        self.assertLess(time.monotonic() - t0, 0.3)

    def test_model_name(self):
        srv = self.start("--model-name", "whisper-1")
        status, _, data = srv.transcribe(self.wav, fields=[("model", "whisper-2")])
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(data)["error"]["message"], "model 'whisper-2' not found")
        self.assertEqual(srv.transcribe(self.wav, fields=[("model", "whisper-1")])[0], 200)

    def test_port_file_and_loopback_only(self):
        with tempfile.TemporaryDirectory() as tmp:
            port_file = os.path.join(tmp, "port")
            srv = self.start("--port-file", port_file)
            with open(port_file) as f:
                self.assertEqual(int(f.read()), srv.port)
        proc = subprocess.run([sys.executable, str(SERVER), "--port", "0", "--host", "0.0.0.0", "--echo"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        self.assertNotEqual(proc.returncode, 0)
        self.assertEqual(proc.stdout, b"")
        self.assertIn(b"non-loopback", proc.stderr)


# --------------------------------------------------------------------------
# in-process unit tests of parsing helpers


class ParserTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mod = load_server_module()

    def test_multipart_edge_cases(self):
        body = (b"preamble\r\n--XyZ\r\n"
                b'Content-Disposition: form-data; name="file"; filename="a \\"b\\"; c.wav"\r\n'
                b"Content-Type: audio/pcm\r\n\r\n"
                b"\x00\r\n--XyZnot\r\n\xff\r\n"
                b"--XyZ  \r\n"
                b"Content-Disposition: form-data; name=\"timestamp_granularities[]\"\r\n\r\nword\r\n"
                b"--XyZ\r\n"
                b"Content-Disposition: form-data; name=\"x\"; filename*=UTF-8''%C3%A9t%C3%A9.wav\r\n\r\n"
                b"\r\n"
                b"--XyZ--\r\nepilogue")
        parts = self.mod.parse_multipart(body, 'multipart/form-data; boundary="XyZ"')
        self.assertEqual([p.name for p in parts], ["file", "timestamp_granularities[]", "x"])
        self.assertEqual(parts[0].filename, 'a "b"; c.wav')
        self.assertEqual(parts[0].content_type, "audio/pcm")
        self.assertEqual(parts[0].data, b"\x00\r\n--XyZnot\r\n\xff")
        self.assertEqual(parts[1].text(), "word")
        self.assertEqual(parts[2].filename, "été.wav")
        self.assertEqual(parts[2].data, b"")
        # bare LF line endings
        lf = b'--b\nContent-Disposition: form-data; name="model"\n\nwhisper-1\n--b--\n'
        self.assertEqual(self.mod.parse_multipart(lf, "multipart/form-data; boundary=b")[0].text(), "whisper-1")
        with self.assertRaises(self.mod.ApiError):
            self.mod.parse_multipart(b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
                                     "multipart/form-data; boundary=b")

    def test_long_audio_is_cut_at_quiet_points(self):
        rate = 16000
        loud = (b"\x00\x10\x00\xf0" * (rate // 2))  # 1 s of loud square wave
        quiet_at = 28
        pcm = b"".join(b"\x00\x00" * rate if s == quiet_at else loud for s in range(70))
        pieces = self.mod.split_points(pcm)
        self.assertEqual(pieces[0][0], 0)
        self.assertEqual(pieces[-1][1], len(pcm) // 2)
        for (a, b), (c, _) in zip(pieces, pieces[1:]):
            self.assertEqual(b, c)
        cut = pieces[0][1] / rate
        self.assertTrue(quiet_at <= cut <= quiet_at + 1, cut)
        self.assertEqual(self.mod.split_points(b"\x00\x00" * rate * 10), [(0, rate * 10)])

    def test_segment_grouping(self):
        W = self.mod.Word
        ws = [W("a", 0.0, 0.5, 1.0), W("b", 0.5, 1.0, 0.5), W("c", 1.4, 2.0, 0.9)]
        segs = self.mod.group_segments(ws, [(1.0, 1.4)])
        self.assertEqual([s["text"] for s in segs], ["a b", "c"])
        long_ws = [W("w%d" % i, i * 0.5, i * 0.5 + 0.5, 1.0) for i in range(60)]
        segs = self.mod.group_segments(long_ws, [])
        self.assertGreater(len(segs), 2)
        self.assertTrue(all(s["end"] - s["start"] <= 12.0 for s in segs))


if __name__ == "__main__":
    unittest.main()
