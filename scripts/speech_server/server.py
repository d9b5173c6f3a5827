"""The HTTP server: routing, request validation, fault application, and the calls into the engines.

One thread per connection (ThreadingHTTPServer); the engines' pools, not the HTTP layer, decide how many requests
are recognized or synthesized at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .audio import SPEECH_FORMATS, SPEECH_RATE, decode_upload, encode_speech, upload_duration
from .engines import EnginePool, PiperSynthesizer, Recognition, WhisperRecognizer, echo_speech, echo_transcript
from .errors import ApiError, json_bytes, log, server_error
from .faults import Faults, Stats
from .formats import openai_verbose, render_srt, render_vtt, whispercpp_verbose
from .multipart import parse_multipart

TRANSCRIPTION_PATH = "/v1/audio/transcriptions"
SPEECH_PATH = "/v1/audio/speech"
INFERENCE_PATH = "/inference"
ELEVENLABS_PATH = "/v1/text-to-speech"
AUDIO_ROUTES = (TRANSCRIPTION_PATH, SPEECH_PATH, INFERENCE_PATH, ELEVENLABS_PATH)

TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")

# There is one voice; these names all speak with it. The OpenAI voices, the flite names and Kokoro-style names
# (`af_heart`: language, gender, name) are what the worker's configurations and tests ask for.
OPENAI_VOICES = ("alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage",
                 "shimmer", "verse")
FLITE_VOICES = ("awb", "rms", "slt", "kal16")


def is_kokoro_voice(name: str) -> bool:
    return len(name) > 3 and name[0] in "abefhijpz" and name[1] in "fm" and name[2] == "_"


class DropConnection(Exception):
    """Close the connection without an answer: an injected drop, or a client that went away mid-body."""


class SpeechServer(ThreadingHTTPServer):
    """The listening socket and what every request shares: options, faults, statistics and the engine pools."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, handler, options, family=socket.AF_INET):
        self.address_family = family
        super().__init__(address, handler)
        self.options = options
        self.faults = Faults(options.initial_faults)
        self.stats = Stats(AUDIO_ROUTES)
        if options.echo:
            self.recognizers = self.synthesizers = None
        else:
            self.recognizers = EnginePool(
                "recognizer", lambda: WhisperRecognizer(options.whisper_model, options.cpu_threads, options.vad),
                options.decoders)
            self.synthesizers = EnginePool(
                "synthesizer", lambda: PiperSynthesizer(options.voice, options.cpu_threads), options.decoders)
        self.voice_names = set(OPENAI_VOICES + FLITE_VOICES)
        if options.voice:
            # Piper names its voices language-name-quality: en_US-joe-medium answers to "joe" as well.
            stem = os.path.basename(options.voice).removesuffix(".onnx").lower()
            parts = stem.split("-")
            self.voice_names |= {stem, parts[1] if len(parts) == 3 else stem}

    def pools(self):
        return [p for p in (self.recognizers, self.synthesizers) if p is not None]

    def preload(self):
        for pool in self.pools():
            try:
                pool.preload()
            except Exception as e:  # the first request will try again and answer the error
                log("%s preload failed: %r" % (pool.kind, e))

    def stats_snapshot(self) -> dict:
        out = self.stats.snapshot()
        out["engines"] = {p.kind: p.snapshot() for p in self.pools()}
        return out

    def reset_stats(self):
        self.stats.reset()
        for pool in self.pools():
            pool.reset_counters()


class Handler(BaseHTTPRequestHandler):
    """One connection (HTTP/1.1 keep-alive); every answer has a Content-Length."""

    protocol_version = "HTTP/1.1"
    server_version = "local-speech-server/1.0"
    sys_version = ""
    timeout = 120  # idle keep-alive connections are closed after this

    # ---- plumbing

    def version_string(self):
        return self.server_version

    def setup(self):
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's
        # algorithm and the client's delayed ACK add ~40 ms to each answer
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_request(self, code="-", size="-"):
        pass  # one line per request is written by _finish_log

    def log_message(self, format, *args):
        log("%s %s" % (self.client_address[0], format % args))

    def _begin(self):
        self._t0 = time.monotonic()
        self._status = None
        self._body_cache = None
        self._counted = True  # False while an audio request's outcome is not yet in the statistics

    def _finish_log(self, path):
        ms = (time.monotonic() - self._t0) * 1000.0
        status = self._status if self._status is not None else "DROP"
        log("%s %s %s %s %.1fms" % (self.client_address[0], self.command, path, status, ms))

    def send_bytes(self, status, body: bytes, content_type: str, headers=None):
        self._status = status
        self._count(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj, headers=None):
        self.send_bytes(status, json_bytes(obj), "application/json", headers)

    def send_api_error(self, err: ApiError):
        self.send_bytes(err.status, err.body(), "application/json", err.headers)

    def read_body(self) -> bytes:
        """Read the whole request body (Content-Length or chunked)."""
        if self._body_cache is not None:
            return self._body_cache
        limit = self.server.options.max_body_bytes
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise DropConnection()
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > limit:
                    self.close_connection = True
                    raise ApiError(413, "request body is larger than %d bytes" % limit, code="payload_too_large")
                chunks.append(self._read_exact(size))
                self.rfile.readline(65537)
            body = b"".join(chunks)
        else:
            length = self.headers.get("Content-Length")
            if length is None:
                body = b""
            else:
                try:
                    n = int(length)
                    if n < 0:
                        raise ValueError
                except ValueError:
                    self.close_connection = True
                    raise ApiError(400, "invalid Content-Length")
                if n > limit:
                    self.close_connection = True
                    raise ApiError(413, "request body is larger than %d bytes" % limit, code="payload_too_large")
                body = self._read_exact(n)
        self._body_cache = body
        return body

    def _read_exact(self, n) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.rfile.read(min(n - len(buf), 1 << 20))
            if not chunk:
                raise DropConnection()
            buf += chunk
        return bytes(buf)

    def _drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # ---- dispatch

    def do_GET(self):
        self._dispatch()

    def do_POST(self):
        self._dispatch()

    def do_PUT(self):
        self._dispatch()

    def do_DELETE(self):
        self._dispatch()

    def do_HEAD(self):
        self._dispatch()

    def _dispatch(self):
        self._begin()
        path = urllib.parse.urlsplit(self.path).path
        if len(path) > 1:
            path = path.rstrip("/")
        try:
            if path.startswith(ELEVENLABS_PATH + "/"):
                self._audio_route(ELEVENLABS_PATH)
            elif path in AUDIO_ROUTES:
                self._audio_route(path)
            else:
                try:
                    self._plain_route(path)
                except ApiError as e:
                    self.send_api_error(e)
        except DropConnection:
            self._drop()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception as e:  # never leave a client hanging
            log("internal error on %s: %r" % (path, e))
            if self._status is None:
                try:
                    self.close_connection = True
                    self.send_api_error(ApiError(500, "internal error: %s" % e, "server_error"))
                except OSError:
                    pass
        finally:
            self._finish_log(path)

    def _method(self, *allowed):
        if self.command not in allowed:
            self.read_body()
            raise ApiError(405, "method %s not allowed on %s" % (self.command, self.path), code="method_not_allowed",
                           headers={"Allow": ", ".join(allowed)})

    def _json_body(self):
        body = self.read_body()
        if not body.strip():
            raise ApiError(400, "request body must be a JSON object")
        try:
            obj = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ApiError(400, "invalid JSON body: %s" % e)
        if not isinstance(obj, dict):
            raise ApiError(400, "request body must be a JSON object")
        return obj

    def _plain_route(self, path):
        srv = self.server
        if path == "/health":
            self._method("GET", "HEAD")
            self.read_body()
            self.send_json(200, {"status": "ok"})
        elif path == "/v1/models":
            self._method("GET")
            self.read_body()
            names = srv.options.model_names or ["whisper-1", "tts-1"]
            self.send_json(200, {"object": "list", "data": [
                {"id": n, "object": "model", "created": 0, "owned_by": "local"} for n in names]})
        elif path == "/admin/faults":
            self._method("GET", "POST")
            if self.command == "GET":
                self.read_body()
                self.send_json(200, srv.faults.snapshot())
            else:
                settings = Faults.validate(self._json_body())
                srv.faults.replace(settings)
                self.send_json(200, srv.faults.snapshot())
        elif path == "/admin/stats":
            self._method("GET")
            self.read_body()
            self.send_json(200, srv.stats_snapshot())
        elif path == "/admin/requests":
            self._method("GET")
            self.read_body()
            self.send_json(200, {"requests": srv.stats.carried_snapshot()})
        elif path == "/admin/reset-stats":
            self._method("POST")
            self.read_body()
            srv.reset_stats()
            self.send_json(200, srv.stats_snapshot())
        else:
            self.read_body()
            raise ApiError(404, "no route for %s %s" % (self.command, path), code="not_found")

    def _audio_route(self, path):
        srv = self.server
        self._arrived = srv.stats.begin(path)
        self._counted = False
        try:
            try:
                self._method("POST")
                body = self.read_body()
            finally:
                if self._body_cache is not None:
                    srv.stats.received(len(self._body_cache))
            latency, fault, settings = srv.faults.take()
            if latency > 0:
                time.sleep(latency)
            if fault is not None:
                self._apply_fault(path, fault, settings, body)
            elif path == SPEECH_PATH:
                self._speech()
            elif path == ELEVENLABS_PATH:
                self._elevenlabs_speech()
            else:
                self._transcription(path)
        except ApiError as e:
            if self._status is None:
                self.send_api_error(e)
        except DropConnection:
            self._drop()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception as e:
            log("internal error on %s: %r" % (path, e))
            if self._status is None:
                self.close_connection = True
                self.send_api_error(ApiError(500, "internal error: %s" % e, "server_error"))
        finally:
            self._count(self._status)

    def _count(self, status):
        # Counted before the answer is written: a client that reads /admin/stats right after its answer sees it.
        if not self._counted:
            self._counted = True
            self.server.stats.end(status)

    def _apply_fault(self, path, fault, settings, body):
        if fault == "drop_first":
            raise DropConnection()
        if fault == "fail_always":
            raise ApiError(settings["fail_always_status"], "injected failure (fail_always_status)", "server_error",
                           None, "injected_failure")
        if fault == "fail_first":
            raise ApiError(settings["fail_status"], "injected failure", "server_error", None, "injected_failure")
        if fault == "rate_limit_first":
            ra = settings["retry_after"]
            raise ApiError(429, "Rate limit reached (injected); please try again in %ss" % ra, "requests", None,
                           "rate_limit_exceeded", headers={"Retry-After": ra})
        if fault == "malformed_first":
            self.send_bytes(200, b'{"text": "trunc', "application/json")
            return
        if fault == "garbage_first":
            if path == SPEECH_PATH:
                fmt = "mp3"
                try:
                    obj = json.loads(body.decode("utf-8"))
                    if isinstance(obj, dict) and obj.get("response_format") in SPEECH_FORMATS:
                        fmt = obj["response_format"]
                except (UnicodeDecodeError, ValueError):
                    pass
                self.send_bytes(200, b"this is not audio, it is injected garbage\n", SPEECH_FORMATS[fmt][0],
                                {"X-Sample-Rate": SPEECH_RATE})
            else:
                self.send_json(200, {"unexpected": True})
            return
        raise AssertionError(fault)

    def _check_model(self, model):
        names = self.server.options.model_names
        if names and model is not None and model not in names:
            raise ApiError(404, "model '%s' not found" % model, "invalid_request_error", "model", "model_not_found")

    # ---- transcription

    def _transcription(self, path):
        whispercpp = path == INFERENCE_PATH
        parts = parse_multipart(self.read_body(), self.headers.get("Content-Type", ""))
        fields = {}
        grans = []
        file_part = None
        for p in parts:
            if p.name == "file" and file_part is None:
                file_part = p
            elif p.name in ("timestamp_granularities[]", "timestamp_granularities"):
                grans.extend(g.strip() for g in p.text().split(",") if g.strip())
            elif p.name:
                fields[p.name] = p.text().strip()
        self._check_model(fields.get("model"))
        fmt = fields.get("response_format") or "json"
        if fmt not in TRANSCRIPTION_FORMATS:
            raise ApiError(400, "response_format must be one of %s" % ", ".join(TRANSCRIPTION_FORMATS),
                           param="response_format", code="invalid_value")
        for g in grans:
            if g not in ("word", "segment"):
                raise ApiError(400, "timestamp_granularities[] values must be word or segment",
                               param="timestamp_granularities", code="invalid_value")
        temperature = None
        if fields.get("temperature"):
            try:
                temperature = float(fields["temperature"])
                if not 0.0 <= temperature <= 1.0:
                    raise ValueError
            except ValueError:
                raise ApiError(400, "temperature must be a number between 0 and 1", param="temperature",
                               code="invalid_value")
        if file_part is None:
            raise ApiError(400, "the 'file' field is required", param="file", code="missing_file")
        self.server.stats.carry(path, self._arrived, hashlib.sha256(file_part.data).hexdigest())
        # whisper.cpp's server takes "auto" for "detect it"; OpenAI's API leaves the field out.
        language = fields.get("language", "").lower()
        if language in ("", "auto"):
            language = None
        # Word timings cost a second alignment pass: only when the answer carries them.
        want_words = fmt == "verbose_json" and (whispercpp or "word" in grans)

        srv = self.server
        if srv.options.echo:
            tr = echo_transcript(upload_duration(file_part), temperature or 0.0)
        else:
            pcm = decode_upload(file_part)
            request = Recognition(language=language, prompt=fields.get("prompt") or None, temperature=temperature,
                                  word_timestamps=want_words)
            try:
                with srv.recognizers.use() as recognizer:
                    tr = recognizer.transcribe(pcm, request)
            except ApiError:
                raise
            except Exception as e:  # a model that failed to load, or failed on this audio
                log("recognition failed: %r" % e)
                raise server_error("recognition failed: %s" % e, "recognition_failed")

        if fmt == "json":
            self.send_json(200, {"text": tr.text})
        elif fmt == "text":
            self.send_bytes(200, (tr.text + "\n").encode("utf-8"), "text/plain; charset=utf-8")
        elif fmt == "srt":
            self.send_bytes(200, render_srt(tr).encode("utf-8"), "text/plain; charset=utf-8")
        elif fmt == "vtt":
            self.send_bytes(200, render_vtt(tr).encode("utf-8"), "text/vtt; charset=utf-8")
        elif whispercpp:
            self.send_json(200, whispercpp_verbose(tr))
        else:
            self.send_json(200, openai_verbose(tr, "word" in grans))

    # ---- speech

    def _synthesize(self, text: str, speed: float):
        """(mono s16le PCM, its rate in Hz) for `text`."""
        srv = self.server
        if srv.options.echo:
            return echo_speech(text, speed), SPEECH_RATE
        try:
            with srv.synthesizers.use() as synthesizer:
                return synthesizer.synthesize(text, speed), synthesizer.sample_rate
        except Exception as e:  # a voice that failed to load, or failed on this text
            log("synthesis failed: %r" % e)
            raise server_error("speech synthesis failed: %s" % e, "synthesis_failed")

    def _speech(self):
        opts = self.server.options
        req = self._json_body()
        self._check_model(req.get("model"))
        text = req.get("input")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "'input' is required and must be a non-empty string", param="input",
                           code="invalid_value")
        self.server.stats.carry(SPEECH_PATH, self._arrived, hashlib.sha256(text.encode("utf-8")).hexdigest())
        if len(text) > opts.max_input_chars:
            raise ApiError(400, "'input' is too long: %d characters, the maximum is %d characters"
                           % (len(text), opts.max_input_chars), param="input", code="string_above_max_length")
        voice = req.get("voice", "alloy")
        if not isinstance(voice, str):
            raise ApiError(400, "'voice' must be a string", param="voice", code="invalid_value")
        if voice.lower() not in self.server.voice_names and not is_kokoro_voice(voice):
            raise ApiError(400, "unknown voice '%s'; use one of %s" % (
                voice, ", ".join(sorted(self.server.voice_names))), param="voice", code="invalid_value")
        fmt = req.get("response_format") or "mp3"
        if fmt not in SPEECH_FORMATS:
            raise ApiError(400, "response_format must be one of %s" % ", ".join(SPEECH_FORMATS),
                           param="response_format", code="invalid_value")
        speed = req.get("speed", 1.0)
        if speed is None:
            speed = 1.0
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
            raise ApiError(400, "speed must be a number between 0.25 and 4.0", param="speed", code="invalid_value")

        pcm, rate = self._synthesize(text, float(speed))
        audio = encode_speech(pcm, rate, fmt, SPEECH_RATE)
        self.send_bytes(200, audio, SPEECH_FORMATS[fmt][0], {"X-Sample-Rate": SPEECH_RATE})

    def _elevenlabs_speech(self):
        """ElevenLabs' shape: voice id in the path, output_format in the query, xi-api-key header."""
        opts = self.server.options
        if opts.elevenlabs_key is not None and self.headers.get("xi-api-key") != opts.elevenlabs_key:
            raise ApiError(401, "invalid api key", "authentication_error", None, "invalid_api_key")
        req = self._json_body()
        text = req.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(422, "text is required", param="text", code="invalid_value")
        if len(text) > opts.max_input_chars:
            raise ApiError(400, "text is too long: %d characters" % len(text), param="text", code="text_too_long")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        output = (query.get("output_format") or ["mp3_44100_128"])[0]
        match = re.fullmatch(r"(mp3|pcm|wav)_(\d+)(?:_(\d+))?", output)
        if not match or not 8000 <= int(match.group(2)) <= 192000:
            raise ApiError(422, "unsupported output_format '%s'" % output, param="output_format", code="invalid_value")
        codec, rate, kbps = match.group(1), int(match.group(2)), match.group(3)
        pcm, native_rate = self._synthesize(text, 1.0)
        mp3 = ["-c:a", "libmp3lame", "-b:a", "%sk" % (kbps or 128), "-f", "mp3"]
        audio = encode_speech(pcm, native_rate, codec, rate, mp3 if codec == "mp3" else None)
        self.send_bytes(200, audio, {"pcm": "audio/pcm", "wav": "audio/wav", "mp3": "audio/mpeg"}[codec])
