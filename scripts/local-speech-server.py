#!/usr/bin/env python3
"""Local speech server for development and tests, speaking the OpenAI audio API.

Recognition uses pocketsphinx (English only, model shipped in the PyPI
wheel); synthesis uses the `flite` command; audio conversion uses `ffmpeg`.
Run it from the venv made by scripts/setup-speech-venv:

    .venv/bin/python scripts/local-speech-server.py --port 0

Once listening it prints exactly one line ``LISTENING <port>`` to stdout.

Routes
------
GET  /health                      -> {"status":"ok"}
GET  /v1/models                   -> model list (names from --model-name)
POST /v1/audio/transcriptions     OpenAI transcription (multipart/form-data)
POST /v1/audio/speech             OpenAI speech (JSON)
POST /inference                   whisper.cpp server compatible transcription
POST /v1/text-to-speech/{voice}    ElevenLabs-compatible speech (?output_format=pcm_24000|mp3_44100_128|
                                  wav_24000...; header xi-api-key checked when --elevenlabs-key is given)
GET  /admin/faults                current fault settings and remaining budgets
POST /admin/faults                replace fault settings, reset fault budgets
GET  /admin/stats                 request/response counters
POST /admin/reset-stats           zero the counters

Fault injection
---------------
Faults apply only to the audio routes (/v1/audio/transcriptions,
/v1/audio/speech, /inference), never to /health, /v1/models or /admin/*.
The request body is always read completely before a fault is applied, then
--latency-ms is slept, then the fault (if any) is applied.

Each "first N" fault is a budget of N requests. One request counter is shared
by all audio routes, in arrival order: a speech request uses up budget just
like a transcription request does. A request takes one unit from the first
budget that is not yet used up, in this fixed order:

    drop_first, rate_limit_first, fail_first, malformed_first, garbage_first

so with ``--rate-limit-first 1 --fail-first 2`` request 1 gets 429, requests
2 and 3 get the injected failure and request 4 is served normally. Used
alone, each flag therefore affects exactly the first N requests.
``--fail-always-status`` (when set) fails every audio request and uses no
budget. POST /admin/faults replaces all settings (missing keys take their
defaults, not the command line values) and refills the budgets.

GET /admin/stats counts only the audio routes: "requests" per route,
"responses" per status code, "dropped" (connections closed without an answer:
injected drops and clients that went away mid-request), "in_flight",
"max_in_flight", "bytes_received" (request body bytes), and
"first_request_at" / "last_request_at" (Unix time an audio request arrived).

Recognition
-----------
Uploads are decoded to 16 kHz mono s16 (plain WAV with the wave module, a
part typed audio/pcm as raw s16le, anything else with ffmpeg). pocketsphinx
runs in --decoders worker processes (this script started with
--recognizer-worker; pocketsphinx holds the GIL, so threads would not run in
parallel), each loading the model once. An utterance longer than 40 s is cut
into ~30 s pieces at the quietest 100 ms near each cut; pieces are recognized
in parallel.
Audio is first split into utterances at pauses of 0.3 s or more (a VAD
pre-pass, as speaches always runs), each recognized on its own.
Words are grouped into segments at pauses >= 0.3 s, or before a segment
would exceed 12 s. --echo skips recognition and answers one segment
"chunk of N.NN seconds" covering the whole audio.

Only the standard library and pocketsphinx are used.
"""

from __future__ import annotations

import argparse
import array
import concurrent.futures
import io
import ipaddress
import json
import math
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import wave
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECOGNIZER_RATE = 16000  # pocketsphinx input rate (Hz)
FRAME_RATE = 100  # pocketsphinx frames per second (default -frate)
SPEECH_RATE = 24000  # OpenAI speech output rate (Hz)

TRANSCRIPTION_PATH = "/v1/audio/transcriptions"
SPEECH_PATH = "/v1/audio/speech"
INFERENCE_PATH = "/inference"
ELEVENLABS_PATH = "/v1/text-to-speech"
AUDIO_ROUTES = (TRANSCRIPTION_PATH, SPEECH_PATH, INFERENCE_PATH, ELEVENLABS_PATH)

SEGMENT_PAUSE_S = 0.3  # start a new segment after a pause this long
SEGMENT_MAX_S = 12.0  # ... or when a segment would get longer than this
LONG_AUDIO_S = 40.0  # an utterance longer than this is decoded in pieces
UTTERANCE_PAUSE_S = 0.3  # a pause at least this long separates utterances
PIECE_TARGET_S = 30.0  # about this long each, cut at the quietest point

TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")

SPEECH_FORMATS = {
    # format: (content type, ffmpeg output arguments or None for raw/wav)
    "mp3": ("audio/mpeg", ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"]),
    "wav": ("audio/wav", None),
    "pcm": ("audio/pcm", None),
    "flac": ("audio/flac", ["-c:a", "flac", "-f", "flac"]),
    "opus": ("audio/ogg", ["-c:a", "libopus", "-b:a", "32k", "-f", "ogg"]),
    "aac": ("audio/aac", ["-c:a", "aac", "-b:a", "64k", "-f", "adts"]),
}

FLITE_VOICES = ("awb", "rms", "slt", "kal16")
OPENAI_VOICES = {
    "alloy": "awb",
    "echo": "rms",
    "fable": "awb",
    "onyx": "rms",
    "nova": "slt",
    "shimmer": "slt",
    "ash": "kal16",
    "ballad": "awb",
    "coral": "slt",
    "sage": "slt",
    "verse": "kal16",
}

def kokoro_voice(name):
    """Kokoro-style names (`af_heart`, `bm_george`: language, gender, name) map to a flite voice by gender."""
    if len(name) > 3 and name[0] in "abefhijpz" and name[1] in "fm" and name[2] == "_":
        return "slt" if name[1] == "f" else "rms"
    return None


FAULT_ORDER = ("drop_first", "rate_limit_first", "fail_first", "malformed_first", "garbage_first")
FAULT_DEFAULTS = {
    "latency_ms": 0,
    "fail_first": 0,
    "fail_status": 500,
    "rate_limit_first": 0,
    "retry_after": 1,
    "drop_first": 0,
    "malformed_first": 0,
    "garbage_first": 0,
    "fail_always_status": None,
}

SUBPROCESS_TIMEOUT_S = 300


# --------------------------------------------------------------------------
# small helpers


_log_lock = threading.Lock()


def log(message: str) -> None:
    with _log_lock:
        try:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


class ApiError(Exception):
    """An error answered to the client as an OpenAI-shaped JSON body."""

    def __init__(self, status, message, type_="invalid_request_error", param=None, code=None, headers=None):
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> bytes:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message, type_="invalid_request_error", param=None, code=None) -> bytes:
    return json_bytes({"error": {"message": message, "type": type_, "param": param, "code": code}})


def json_bytes(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def r2(x: float) -> float:
    return round(float(x), 2)


# --------------------------------------------------------------------------
# multipart/form-data


class Part:
    __slots__ = ("name", "filename", "content_type", "headers", "data")

    def __init__(self, name, filename, content_type, headers, data):
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self.headers = headers
        self.data = data

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def parse_header_params(value: str):
    """Parse 'main; a=1; b="x; \\"y\\""' into ('main', {'a': '1', 'b': 'x; "y"'}).

    Handles quoted strings with backslash escapes and RFC 5987 ext-values
    (name*=UTF-8''percent-encoded), which take precedence over plain ones.
    """
    items = []
    i, n = 0, len(value)
    cur = []
    while i < n:
        c = value[i]
        if c == '"':
            # copy the quoted string verbatim (with its quotes) for later
            j = i + 1
            cur.append(c)
            while j < n:
                d = value[j]
                if d == "\\" and j + 1 < n:
                    cur.append(value[j:j + 2])
                    j += 2
                    continue
                cur.append(d)
                j += 1
                if d == '"':
                    break
            i = j
            continue
        if c == ";":
            items.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    items.append("".join(cur))

    main = items[0].strip().lower()
    params = {}
    extended = {}
    for item in items[1:]:
        if "=" not in item:
            continue
        key, _, val = item.partition("=")
        key = key.strip().lower()
        val = val.strip()
        if len(val) >= 2 and val[0] == '"' and val[-1] == '"':
            val = re.sub(r"\\(.)", r"\1", val[1:-1])
        if key.endswith("*"):
            charset, sep, rest = val.partition("'")
            if sep:
                _lang, _, encoded = rest.partition("'")
                try:
                    val = urllib.parse.unquote(encoded, encoding=charset or "utf-8", errors="replace")
                except LookupError:
                    val = urllib.parse.unquote(encoded)
            extended[key[:-1]] = val
        else:
            params[key] = val
    params.update(extended)
    return main, params


def _is_delimiter_end(body: bytes, end: int) -> bool:
    """A delimiter is followed by '--', or by optional padding and a line break."""
    if body.startswith(b"--", end):
        return True
    while end < len(body) and body[end] in b" \t":
        end += 1
    return end >= len(body) or body[end] in b"\r\n"


def _find_delimiter(body: bytes, delim: bytes, start: int):
    """Return (end of part data, start of the delimiter) for the next real delimiter.

    Prefers CRLF-delimiters; accepts bare-LF ones from sloppy clients.
    """
    for lead in (b"\r\n", b"\n"):
        needle = lead + delim
        i = body.find(needle, start)
        while i >= 0:
            if _is_delimiter_end(body, i + len(needle)):
                return i, i + len(lead)
            i = body.find(needle, i + 1)
    raise ApiError(400, "malformed multipart body: closing boundary missing")


def parse_multipart(body: bytes, content_type: str) -> list:
    main, params = parse_header_params(content_type)
    if main != "multipart/form-data":
        raise ApiError(400, "expected a multipart/form-data request body (got %r)" % (main or "nothing"))
    boundary = params.get("boundary")
    if not boundary or len(boundary) > 200:
        raise ApiError(400, "multipart/form-data without a valid boundary")
    delim = b"--" + boundary.encode("latin-1", "replace")

    # the first delimiter: at the very start, or after a line break
    if body.startswith(delim) and _is_delimiter_end(body, len(delim)):
        pos = 0
    else:
        try:
            pos = _find_delimiter(body, delim, 0)[1]
        except ApiError:
            raise ApiError(400, "malformed multipart body: boundary not found")
    parts = []
    while True:
        pos += len(delim)
        if body.startswith(b"--", pos):
            break  # closing delimiter
        # skip transport padding and the line break after the delimiter
        eol = body.find(b"\n", pos)
        if eol < 0:
            raise ApiError(400, "malformed multipart body: truncated after boundary")
        pos = eol + 1
        # part headers end at an empty line
        hdr_end = body.find(b"\r\n\r\n", pos)
        sep_len = 4
        lf_end = body.find(b"\n\n", pos)
        if lf_end >= 0 and (hdr_end < 0 or lf_end < hdr_end):
            hdr_end, sep_len = lf_end, 2
        if body.startswith(b"\r\n", pos):
            hdr_end, sep_len = pos, 2  # part with no headers at all
        elif body.startswith(b"\n", pos):
            hdr_end, sep_len = pos, 1
        if hdr_end < 0:
            raise ApiError(400, "malformed multipart body: part headers not terminated")
        raw_headers = body[pos:hdr_end].decode("utf-8", "replace")
        data_start = hdr_end + sep_len
        data_end, pos = _find_delimiter(body, delim, data_start)

        headers = {}
        for line in re.split(r"\r?\n", raw_headers):
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        _disp, dparams = parse_header_params(headers.get("content-disposition", ""))
        ctype = headers.get("content-type", "")
        parts.append(Part(dparams.get("name"), dparams.get("filename"), ctype, headers, body[data_start:data_end]))
    return parts


# --------------------------------------------------------------------------
# audio decoding


def run_tool(args, input_bytes=None, what="ffmpeg"):
    try:
        proc = subprocess.run(
            args,
            input=input_bytes,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=SUBPROCESS_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise ApiError(500, "%s is not installed" % what, "server_error", None, "tool_missing")
    except subprocess.TimeoutExpired:
        raise ApiError(500, "%s timed out" % what, "server_error", None, "timeout")
    return proc


def _ffmpeg_error(proc) -> str:
    lines = [ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return "; ".join(lines[-3:]) or "ffmpeg exited with status %d" % proc.returncode


def invalid_audio(reason: str) -> ApiError:
    return ApiError(400, "could not decode audio: %s" % reason, "invalid_request_error", "file", "invalid_audio")


def empty_audio() -> ApiError:
    return ApiError(400, "audio file is empty (no samples)", "invalid_request_error", "file", "empty_audio")


def ffmpeg_to_s16(data: bytes, input_args=()) -> bytes:
    """Decode anything ffmpeg knows into 16 kHz mono s16le.

    The upload goes through a temporary file rather than a pipe so that
    containers that need seeking (mp4/m4a with the index at the end) work.
    """
    with tempfile.NamedTemporaryFile(prefix="speech-in-", suffix=".bin") as tmp:
        tmp.write(data)
        tmp.flush()
        proc = run_tool(
            ["ffmpeg", "-nostdin", "-v", "error", *input_args, "-i", tmp.name,
             "-vn", "-ac", "1", "-ar", str(RECOGNIZER_RATE), "-f", "s16le", "pipe:1"]
        )
        if proc.returncode != 0:
            raise invalid_audio(_ffmpeg_error(proc).replace(tmp.name, "upload"))
    return proc.stdout


def _read_plain_wav(data: bytes):
    """Return the wave reader for a RIFF/WAVE upload, or None if not WAV/unreadable."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    try:
        return wave.open(io.BytesIO(data), "rb")
    except (wave.Error, EOFError, ValueError, struct.error):
        return None


def wav_data_offset(data: bytes) -> int:
    """Byte offset of the samples in a RIFF/WAVE file (44 when not found)."""
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        if cid == b"data":
            return pos + 8
        pos += 8 + size + (size & 1)
    return 44


def is_raw_pcm(part: Part) -> bool:
    main, _ = parse_header_params(part.content_type or "")
    return main in ("audio/pcm", "audio/l16")


def decode_upload(part: Part) -> bytes:
    """Return 16 kHz mono s16le PCM for an uploaded file part."""
    data = part.data
    if not data:
        raise empty_audio()
    if is_raw_pcm(part):
        _, params = parse_header_params(part.content_type)
        rate = params.get("rate")
        if rate and rate.isdigit() and int(rate) != RECOGNIZER_RATE:
            pcm = ffmpeg_to_s16(data, ["-f", "s16le", "-ar", rate, "-ac", params.get("channels", "1")])
        else:
            pcm = data[: len(data) - (len(data) % 2)]
    else:
        w = _read_plain_wav(data)
        pcm = None
        if w is not None:
            with w:
                if (w.getnchannels() == 1 and w.getsampwidth() == 2 and w.getframerate() == RECOGNIZER_RATE
                        and w.getcomptype() == "NONE"):
                    pcm = w.readframes(w.getnframes())
        if pcm is None:
            pcm = ffmpeg_to_s16(data)
    if len(pcm) < 2:
        raise empty_audio()
    return pcm


def upload_duration(part: Part) -> float:
    """Duration in seconds, reading only the header for WAV (used by --echo)."""
    if not is_raw_pcm(part):
        w = _read_plain_wav(part.data)
        if w is not None:
            with w:
                rate, frames = w.getframerate(), w.getnframes()
                block = max(1, w.getsampwidth() * w.getnchannels())
                available = max(0, len(part.data) - wav_data_offset(part.data)) // block
                frames = min(frames, available)  # streamed WAVs may claim 0xFFFFFFFF
            if rate > 0:
                if frames <= 0:
                    raise empty_audio()
                return frames / rate
    return len(decode_upload(part)) / 2 / RECOGNIZER_RATE


# --------------------------------------------------------------------------
# recognition


class RecognizerWorker:
    """One pocketsphinx decoder in a child process (this script, worker mode).

    pocketsphinx holds the GIL for much of its work, so decoders in threads
    barely run in parallel; separate processes do. Protocol on the child's
    stdin/stdout: an 8-byte little-endian length, then that many bytes
    (16 kHz mono s16le in; a JSON object out). The child exits on EOF, so it
    never outlives the server.
    """

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--recognizer-worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None)
        line = self.proc.stdout.readline()
        if line != b"READY\n":
            self.close()
            raise RuntimeError("recognizer worker failed to start (pocketsphinx missing?)")

    def recognize(self, pcm: bytes):
        """Return [(word, start_frame, end_frame, prob)] for one utterance."""
        self.proc.stdin.write(struct.pack("<Q", len(pcm)))
        self.proc.stdin.write(pcm)
        self.proc.stdin.flush()
        hdr = self.proc.stdout.read(8)
        if len(hdr) != 8:
            raise RuntimeError("recognizer worker died")
        n = struct.unpack("<Q", hdr)[0]
        data = self.proc.stdout.read(n)
        if len(data) != n:
            raise RuntimeError("recognizer worker died")
        res = json.loads(data)
        if "error" in res:
            raise RuntimeError("recognizer failed: %s" % res["error"])
        return [tuple(x) for x in res["segs"]]

    def close(self):
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def recognizer_worker_main() -> int:
    """Child process: load the decoder once, then serve framed requests."""
    # Ctrl-C in a terminal reaches the whole process group: let the server
    # stop us by closing the pipe instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # keep the protocol stream private: anything the C library prints to
    # stdout goes to stderr instead
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer

    from pocketsphinx import Decoder

    # Batch CMN normalizes each request over its own audio, so a result never depends on what this decoder
    # heard before (live CMN carries over between requests and made results vary with request order).
    dec = Decoder(samprate=RECOGNIZER_RATE, loglevel="FATAL", cmn="batch")
    out.write(b"READY\n")
    out.flush()
    while True:
        hdr = inp.read(8)
        if len(hdr) != 8:
            return 0
        n = struct.unpack("<Q", hdr)[0]
        pcm = inp.read(n)
        if len(pcm) != n:
            return 0
        try:
            dec.start_utt()
            dec.process_raw(pcm, False, True)
            dec.end_utt()
            res = {"segs": [[sg.word, sg.start_frame, sg.end_frame, float(sg.prob)] for sg in dec.seg()]}
        except Exception as e:  # report, and stay usable for the next request
            res = {"error": repr(e)}
            try:
                dec.end_utt()
            except Exception:
                pass
        data = json.dumps(res).encode("utf-8")
        try:
            out.write(struct.pack("<Q", len(data)) + data)
            out.flush()
        except (BrokenPipeError, OSError):
            return 0


class RecognizerPool:
    """A small pool of recognizer worker processes (each loads the model, ~0.5 s).

    Workers are started lazily up to `size`; a request waits for a free one
    when all are busy. A worker that failed is closed and later replaced.
    """

    def __init__(self, size: int):
        self.size = max(1, size)
        self._free = queue.LifoQueue()
        self._lock = threading.Lock()
        self._created = 0
        self._all = set()
        self._closed = False

    def acquire(self) -> RecognizerWorker:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            create = self._created < self.size
            if create:
                self._created += 1
        if create:
            try:
                w = RecognizerWorker()
            except BaseException:
                with self._lock:
                    self._created -= 1
                raise
            with self._lock:
                self._all.add(w)
            return w
        return self._free.get()

    def release(self, w):
        self._free.put(w)

    def discard(self, w):
        with self._lock:
            self._created -= 1
            self._all.discard(w)
        w.close()

    def warm(self):
        try:
            self.release(self.acquire())
        except Exception as e:
            log("recognizer warm-up failed: %s" % e)

    def recognize(self, pcm: bytes):
        w = self.acquire()
        try:
            segs = w.recognize(pcm)
        except BaseException:
            self.discard(w)
            raise
        self.release(w)
        return segs

    def close(self):
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for w in workers:
            w.close()


class Word:
    __slots__ = ("word", "start", "end", "prob")

    def __init__(self, word, start, end, prob):
        self.word, self.start, self.end, self.prob = word, start, end, prob


_ALT_PRON = re.compile(r"\(\d+\)$")


def is_filler(word: str) -> bool:
    return not word or word[0] in "<[+" or word.startswith("++")


def frame_levels(samples, frame: int):
    """RMS level of each frame, in dBFS (floored at -100)."""
    levels = []
    for f in range(0, len(samples) - frame + 1, frame):
        chunk = samples[f:f + frame]
        energy = sum(x * x for x in chunk) / frame
        levels.append(10 * math.log10(energy / (32768.0 * 32768.0)) if energy > 0 else -100.0)
    return levels


def split_points(pcm: bytes):
    """Split audio into utterances at pauses, as Whisper servers' VAD pre-pass does (speaches always runs one).

    Pauses of at least UTTERANCE_PAUSE_S (frames below a threshold that adapts to the recording) separate
    utterances; each is cut in the middle of its pause, so the pieces are contiguous. Recognizing utterances
    separately makes a result independent of how much audio came with it in one request. An utterance longer
    than LONG_AUDIO_S is further cut at the quietest 100 ms near every PIECE_TARGET_S.
    """
    total = len(pcm) // 2
    rate = RECOGNIZER_RATE
    samples = array.array("h")
    samples.frombytes(pcm[: total * 2])
    if sys.byteorder != "little":
        samples.byteswap()
    frame = rate // FRAME_RATE
    levels = frame_levels(samples, frame)
    if not levels:
        return [(0, total)]
    ordered = sorted(levels)
    noise = ordered[len(ordered) // 10]
    speech = ordered[min(len(ordered) - 1, len(ordered) * 95 // 100)]
    threshold = noise - 3 if speech - noise < 15 else noise + max(6.0, (speech - noise) / 3)
    min_run = int(UTTERANCE_PAUSE_S * FRAME_RATE)
    cuts = []
    run = 0
    for i, level in enumerate(levels + [0.0]):
        if level <= threshold and i < len(levels):
            run += 1
            continue
        if run >= min_run and i - run > 0 and i < len(levels):
            cuts.append((i - run + run // 2) * frame)
        run = 0
    bounds = [0] + cuts + [total]
    pieces = []
    for start, end in zip(bounds, bounds[1:]):
        pieces.extend(split_long(samples, start, end, frame))
    return pieces


def split_long(samples, start: int, end: int, frame: int):
    """Cut [start, end) into pieces of about PIECE_TARGET_S at the quietest 100 ms near each cut."""
    rate = RECOGNIZER_RATE
    pieces = []
    pos = start
    while end - pos > LONG_AUDIO_S * rate:
        lo = pos + int((PIECE_TARGET_S - 5) * rate)
        hi = pos + int((PIECE_TARGET_S + 5) * rate)
        energies = []
        for f in range(lo, hi, frame):
            chunk = samples[f:f + frame]
            energies.append(sum(x * x for x in chunk))
        # quietest 100 ms window (10 frames)
        best, best_i = None, 0
        acc = sum(energies[:10])
        for i in range(10, len(energies)):
            if best is None or acc < best:
                best, best_i = acc, i - 10
            acc += energies[i] - energies[i - 10]
        cut = lo + (best_i + 5) * frame
        pieces.append((pos, cut))
        pos = cut
    pieces.append((pos, end))
    return pieces


def recognize(pool: RecognizerPool, pcm: bytes):
    """Return (words, fillers) with times in seconds; fillers are (start, end).

    Long audio is cut into pieces that are recognized in parallel when more
    than one worker is allowed.
    """
    pieces = split_points(pcm)
    jobs = [pcm[a * 2:b * 2] for a, b in pieces]
    if len(jobs) == 1 or pool.size == 1:
        results = [pool.recognize(j) for j in jobs]
    else:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(pool.size, len(jobs))) as ex:
            results = list(ex.map(pool.recognize, jobs))
    words, fillers = [], []
    for (start, _end), segs in zip(pieces, results):
        offset = start / RECOGNIZER_RATE
        for w, sf, ef, prob in segs:
            t0 = offset + sf / FRAME_RATE
            t1 = offset + (ef + 1) / FRAME_RATE
            if is_filler(w):
                fillers.append((t0, t1))
                continue
            w = _ALT_PRON.sub("", w)
            if not w:
                continue
            words.append(Word(w, t0, t1, float(prob)))
    return words, fillers


def group_segments(words, fillers):
    """Group words into segments at pauses >= 0.3 s or beyond ~12 s."""
    groups = []
    cur = []
    for w in words:
        if cur and (w.start - cur[-1].end >= SEGMENT_PAUSE_S or w.end - cur[0].start > SEGMENT_MAX_S):
            groups.append(cur)
            cur = []
        cur.append(w)
    if cur:
        groups.append(cur)
    segments = []
    for ws in groups:
        start, end = ws[0].start, ws[-1].end
        text = " ".join(w.word for w in ws)
        logprobs = [math.log(min(1.0, max(w.prob, 1e-10))) for w in ws]
        span = max(end - start, 1e-6)
        silent = sum(max(0.0, min(e, end) - max(s, start)) for s, e in fillers)
        segments.append({
            "words": ws,
            "start": start,
            "end": end,
            "text": text,
            "avg_logprob": sum(logprobs) / len(logprobs),
            "no_speech_prob": min(1.0, silent / span),
        })
    return segments


def compression_ratio(text: str) -> float:
    b = text.encode("utf-8")
    if not b:
        return 0.0
    return len(b) / len(zlib.compress(b))


class Transcript:
    def __init__(self, duration, segments, temperature):
        self.duration = duration
        self.segments = segments
        self.temperature = temperature

    @property
    def text(self) -> str:
        return " ".join(s["text"] for s in self.segments).strip()

    def words(self):
        return [w for s in self.segments for w in s["words"]]

    def clamp(self):
        # word and segment ends never pass the audio's end
        for s in self.segments:
            s["end"] = min(s["end"], self.duration)
            for w in s["words"]:
                w.end = min(w.end, self.duration)
                w.start = min(w.start, w.end)
        return self


def echo_transcript(duration: float, temperature: float) -> Transcript:
    text = "chunk of %.2f seconds" % duration
    tokens = text.split()
    step = duration / len(tokens)
    words = [Word(t, i * step, (i + 1) * step, 1.0) for i, t in enumerate(tokens)]
    seg = {"words": words, "start": 0.0, "end": duration, "text": text, "avg_logprob": 0.0, "no_speech_prob": 0.0}
    return Transcript(duration, [seg], temperature)


# --------------------------------------------------------------------------
# response rendering


def _ts(seconds: float, sep: str) -> str:
    ms = int(round(max(0.0, seconds) * 1000))
    h, ms = divmod(ms, 3600000)
    m, ms = divmod(ms, 60000)
    s, ms = divmod(ms, 1000)
    return "%02d:%02d:%02d%s%03d" % (h, m, s, sep, ms)


def render_srt(tr: Transcript) -> str:
    out = []
    for i, s in enumerate(tr.segments, 1):
        out.append("%d\n%s --> %s\n%s\n" % (i, _ts(s["start"], ","), _ts(s["end"], ","), s["text"]))
    return "\n".join(out)


def render_vtt(tr: Transcript) -> str:
    out = ["WEBVTT\n"]
    for s in tr.segments:
        out.append("%s --> %s\n%s\n" % (_ts(s["start"], "."), _ts(s["end"], "."), s["text"]))
    return "\n".join(out)


def openai_verbose(tr: Transcript, want_words: bool) -> dict:
    segments = []
    for i, s in enumerate(tr.segments):
        text = " " + s["text"]
        segments.append({
            "id": i,
            "seek": 0,
            "start": r2(s["start"]),
            "end": r2(s["end"]),
            "text": text,
            "tokens": [],
            "temperature": tr.temperature,
            "avg_logprob": round(s["avg_logprob"], 4),
            "compression_ratio": round(compression_ratio(text), 4),
            "no_speech_prob": round(s["no_speech_prob"], 4),
        })
    out = {
        "task": "transcribe",
        "language": "english",
        "duration": r2(tr.duration),
        "text": tr.text,
        "segments": segments,
    }
    if want_words:
        out["words"] = [{"word": w.word, "start": r2(w.start), "end": r2(w.end)} for w in tr.words()]
    out["usage"] = {"type": "duration", "seconds": int(math.ceil(tr.duration))}
    return out


def whispercpp_verbose(tr: Transcript) -> dict:
    segments = []
    for i, s in enumerate(tr.segments):
        segments.append({
            "id": i,
            "text": " " + s["text"],
            "start": r2(s["start"]),
            "end": r2(s["end"]),
            "tokens": [],
            "words": [
                {"word": " " + w.word, "start": r2(w.start), "end": r2(w.end), "t_dtw": -1,
                 "probability": round(w.prob, 4)}
                for w in s["words"]
            ],
            "temperature": tr.temperature,
            "avg_logprob": round(s["avg_logprob"], 4),
            "no_speech_prob": round(s["no_speech_prob"], 4),
        })
    return {
        "task": "transcribe",
        "language": "english",
        "duration": r2(tr.duration),
        "text": tr.text,
        "segments": segments,
        "detected_language": "english",
        "detected_language_probability": 1.0,
        "language_probabilities": {"en": 1.0},
    }


# --------------------------------------------------------------------------
# faults and statistics


class Faults:
    def __init__(self, settings: dict):
        self._lock = threading.Lock()
        self.replace(settings)

    @staticmethod
    def validate(obj) -> dict:
        if not isinstance(obj, dict):
            raise ApiError(400, "fault settings must be a JSON object")
        unknown = sorted(set(obj) - set(FAULT_DEFAULTS))
        if unknown:
            raise ApiError(400, "unknown fault setting(s): %s" % ", ".join(unknown), param=unknown[0])
        out = dict(FAULT_DEFAULTS)
        for key, val in obj.items():
            if key == "fail_always_status" and val is None:
                out[key] = None
                continue
            if isinstance(val, bool) or not isinstance(val, (int, float)) or val != val or val < 0:
                raise ApiError(400, "%s must be a non-negative number" % key, param=key)
            if not float(val).is_integer():
                raise ApiError(400, "%s must be an integer" % key, param=key)
            out[key] = int(val)
            if key in ("fail_status", "fail_always_status") and not 400 <= out[key] <= 599:
                raise ApiError(400, "%s must be an HTTP error status (400-599)" % key, param=key)
        return out

    def replace(self, settings: dict):
        with self._lock:
            self.settings = dict(settings)
            self.remaining = {k: self.settings[k] for k in FAULT_ORDER}
            self.served = {k: 0 for k in FAULT_ORDER}

    def take(self):
        """Return (latency seconds, fault name or None, settings snapshot)."""
        with self._lock:
            s = self.settings
            if s["fail_always_status"] is not None:
                return s["latency_ms"] / 1000.0, "fail_always", dict(s)
            for k in FAULT_ORDER:
                if self.remaining[k] > 0:
                    self.remaining[k] -= 1
                    self.served[k] += 1
                    return s["latency_ms"] / 1000.0, k, dict(s)
            return s["latency_ms"] / 1000.0, None, dict(s)

    def snapshot(self) -> dict:
        with self._lock:
            return {"settings": dict(self.settings), "remaining": dict(self.remaining), "served": dict(self.served)}


class Stats:
    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self.requests = {p: 0 for p in AUDIO_ROUTES}
            self.responses = {}
            self.dropped = 0
            self.in_flight_now = getattr(self, "in_flight_now", 0)
            self.max_in_flight = self.in_flight_now
            self.bytes_received = 0
            self.first_request_at = None
            self.last_request_at = None

    def begin(self, path):
        with self._lock:
            now = time.time()
            if self.first_request_at is None:
                self.first_request_at = now
            self.last_request_at = now
            self.requests[path] = self.requests.get(path, 0) + 1
            self.in_flight_now += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight_now)

    def received(self, n):
        with self._lock:
            self.bytes_received += n

    def end(self, status):
        with self._lock:
            self.in_flight_now = max(0, self.in_flight_now - 1)
            if status is None:
                self.dropped += 1
            else:
                key = str(status)
                self.responses[key] = self.responses.get(key, 0) + 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "responses": dict(self.responses),
                "dropped": self.dropped,
                "in_flight": self.in_flight_now,
                "max_in_flight": self.max_in_flight,
                "first_request_at": self.first_request_at,
                "last_request_at": self.last_request_at,
                "bytes_received": self.bytes_received,
            }


# --------------------------------------------------------------------------
# the HTTP server


class DropConnection(Exception):
    pass


class SpeechServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address, handler, options, family=socket.AF_INET):
        self.address_family = family
        super().__init__(address, handler)
        self.options = options
        self.faults = Faults(options.initial_faults)
        self.stats = Stats()
        self.pool = RecognizerPool(options.decoders)
        self.flite_voices = available_flite_voices()


def available_flite_voices():
    try:
        proc = subprocess.run(["flite", "-lv"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return set()
    text = proc.stdout.decode("utf-8", "replace")
    text = text.split(":", 1)[-1]
    return set(text.split())


class Handler(BaseHTTPRequestHandler):
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

    def _finish_log(self, path):
        ms = (time.monotonic() - self._t0) * 1000.0
        status = self._status if self._status is not None else "DROP"
        log("%s %s %s %s %.1fms" % (self.client_address[0], self.command, path, status, ms))

    def send_bytes(self, status, body: bytes, content_type: str, headers=None):
        self._status = status
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
            self.send_json(200, srv.stats.snapshot())
        elif path == "/admin/reset-stats":
            self._method("POST")
            self.read_body()
            srv.stats.reset()
            self.send_json(200, srv.stats.snapshot())
        else:
            self.read_body()
            raise ApiError(404, "no route for %s %s" % (self.command, path), code="not_found")

    def _audio_route(self, path):
        srv = self.server
        srv.stats.begin(path)
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
            srv.stats.end(self._status)

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
        temperature = 0.0
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

        opts = self.server.options
        if opts.echo:
            duration = upload_duration(file_part)
            tr = echo_transcript(duration, temperature)
        else:
            pcm = decode_upload(file_part)
            duration = len(pcm) / 2 / RECOGNIZER_RATE
            words, fillers = recognize(self.server.pool, pcm)
            tr = Transcript(duration, group_segments(words, fillers), temperature).clamp()

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

    def _speech(self):
        opts = self.server.options
        req = self._json_body()
        self._check_model(req.get("model"))
        text = req.get("input")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "'input' is required and must be a non-empty string", param="input",
                           code="invalid_value")
        if len(text) > opts.max_input_chars:
            raise ApiError(400, "'input' is too long: %d characters, the maximum is %d characters"
                           % (len(text), opts.max_input_chars), param="input", code="string_above_max_length")
        voice_name = req.get("voice", "alloy")
        if not isinstance(voice_name, str):
            raise ApiError(400, "'voice' must be a string", param="voice", code="invalid_value")
        voice = (OPENAI_VOICES.get(voice_name.lower()) or (voice_name if voice_name in FLITE_VOICES else None)
                 or kokoro_voice(voice_name))
        if voice is None:
            raise ApiError(400, "unknown voice '%s'; use one of %s" % (
                voice_name, ", ".join(list(OPENAI_VOICES) + list(FLITE_VOICES))), param="voice",
                code="invalid_value")
        if self.server.flite_voices and voice not in self.server.flite_voices:
            raise ApiError(500, "flite voice '%s' is not installed" % voice, "server_error", "voice")
        fmt = req.get("response_format") or "mp3"
        if fmt not in SPEECH_FORMATS:
            raise ApiError(400, "response_format must be one of %s" % ", ".join(SPEECH_FORMATS),
                           param="response_format", code="invalid_value")
        speed = req.get("speed", 1.0)
        if speed is None:
            speed = 1.0
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
            raise ApiError(400, "speed must be a number between 0.25 and 4.0", param="speed", code="invalid_value")

        audio = synthesize(text, voice, float(speed), fmt)
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
        match = re.fullmatch(r"(mp3|pcm|wav)_(\d+)(?:_\d+)?", output)
        if not match:
            raise ApiError(422, "unsupported output_format '%s'" % output, param="output_format", code="invalid_value")
        codec, rate = match.group(1), int(match.group(2))
        pcm24 = synthesize(text, "rms", 1.0, "pcm")
        if codec == "pcm" and rate == SPEECH_RATE:
            audio, ctype = pcm24, "audio/pcm"
        else:
            container = {"pcm": ["-f", "s16le"], "wav": ["-f", "wav"], "mp3": ["-c:a", "libmp3lame", "-f", "mp3"]}
            proc = run_tool(["ffmpeg", "-nostdin", "-v", "error", "-f", "s16le", "-ar", str(SPEECH_RATE), "-ac", "1",
                             "-i", "pipe:0", "-ar", str(rate), *container[codec], "pipe:1"], input_bytes=pcm24)
            if proc.returncode != 0:
                raise ApiError(500, "ffmpeg failed: %s" % _ffmpeg_error(proc), "server_error")
            audio = proc.stdout
            ctype = {"pcm": "audio/pcm", "wav": "audio/wav", "mp3": "audio/mpeg"}[codec]
        self.send_bytes(200, audio, ctype)


def synthesize(text: str, voice: str, speed: float, fmt: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="speech-tts-") as tmp:
        txt = os.path.join(tmp, "input.txt")
        raw_wav = os.path.join(tmp, "flite.wav")
        with open(txt, "w", encoding="utf-8") as f:
            f.write(text)
        args = ["flite", "-voice", voice]
        if abs(speed - 1.0) > 1e-9:
            args += ["--setf", "duration_stretch=%.6f" % (1.0 / speed)]
        args += ["-f", txt, "-o", raw_wav]
        proc = run_tool(args, what="flite")
        if proc.returncode != 0 or not os.path.exists(raw_wav):
            raise ApiError(500, "flite failed: %s" % proc.stderr.decode("utf-8", "replace").strip()[-300:],
                           "server_error")
        # resample to 24 kHz mono s16le
        proc = run_tool(["ffmpeg", "-nostdin", "-v", "error", "-i", raw_wav, "-ac", "1", "-ar", str(SPEECH_RATE),
                         "-f", "s16le", "pipe:1"])
        if proc.returncode != 0:
            raise ApiError(500, "ffmpeg failed: %s" % _ffmpeg_error(proc), "server_error")
        pcm = proc.stdout
        if fmt == "pcm":
            return pcm
        if fmt == "wav":
            out = io.BytesIO()
            with wave.open(out, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(SPEECH_RATE)
                w.writeframes(pcm)
            return out.getvalue()
        encoded = os.path.join(tmp, "out." + fmt)
        proc = run_tool(["ffmpeg", "-nostdin", "-v", "error", "-f", "s16le", "-ar", str(SPEECH_RATE), "-ac", "1",
                         "-i", "pipe:0", "-map_metadata", "-1", *SPEECH_FORMATS[fmt][1], "-y", encoded],
                        input_bytes=pcm)
        if proc.returncode != 0:
            raise ApiError(500, "ffmpeg failed to encode %s: %s" % (fmt, _ffmpeg_error(proc)), "server_error")
        with open(encoded, "rb") as f:
            return f.read()


# --------------------------------------------------------------------------
# entry point


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def write_port_file(path: str, port: int):
    path = os.path.abspath(path)
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".port-", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Local OpenAI-compatible speech server (pocketsphinx + flite) for development and tests.",
        epilog="Fault budgets are shared by all audio routes in arrival order and consumed in the order "
               "drop, rate-limit, fail, malformed, garbage; see the module docstring.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, required=True, help="port to bind; 0 picks a free port")
    p.add_argument("--port-file", help="write the bound port to this file (atomically)")
    p.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback host")
    p.add_argument("--echo", action="store_true",
                   help="skip recognition: answer 'chunk of N seconds' covering the whole audio")
    p.add_argument("--model-name", dest="model_names", action="append", default=[],
                   help="only accept this model (repeatable); other 'model' values get 404")
    p.add_argument("--max-input-chars", type=int, default=4096, help="speech input limit (default 4096)")
    p.add_argument("--elevenlabs-key", default=None,
                   help="require this xi-api-key on the ElevenLabs-compatible route (default: accept any)")
    p.add_argument("--max-body-bytes", type=int, default=100 * 1024 * 1024,
                   help="largest request body accepted (default 100 MiB)")
    p.add_argument("--decoders", type=int, default=2,
                   help="recognizer worker processes, one pocketsphinx decoder each (default 2)")
    p.add_argument("--no-preload", action="store_true",
                   help="do not start a recognizer worker in the background at start")
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-status", type=int, default=500)
    p.add_argument("--rate-limit-first", type=int, default=0)
    p.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds (integer) for --rate-limit-first")
    p.add_argument("--drop-first", type=int, default=0)
    p.add_argument("--malformed-first", type=int, default=0)
    p.add_argument("--garbage-first", type=int, default=0)
    p.add_argument("--fail-always-status", type=int, default=None)
    args = p.parse_args(argv)
    try:
        args.initial_faults = Faults.validate({k: getattr(args, k) for k in FAULT_DEFAULTS})
    except ApiError as e:
        p.error(e.message)
    if not args.allow_remote and not is_loopback(args.host):
        p.error("refusing to bind non-loopback host %r (use --allow-remote)" % args.host)
    if not 0 <= args.port <= 65535:
        p.error("--port must be 0..65535")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--recognizer-worker"]:
        return recognizer_worker_main()
    args = parse_args(argv)
    if not args.echo:
        try:
            import pocketsphinx  # noqa: F401
        except ImportError:
            sys.stderr.write("pocketsphinx is not installed; run scripts/setup-speech-venv and use its python\n")
            return 2
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    server = SpeechServer((args.host, args.port), Handler, args, family)
    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    sys.stdout.write("LISTENING %d\n" % port)
    sys.stdout.flush()
    log("local-speech-server listening on %s:%d%s" % (args.host, port, " (echo mode)" if args.echo else ""))
    if not args.echo and not args.no_preload:
        threading.Thread(target=server.pool.warm, name="decoder-warmup", daemon=True).start()

    def stop(signum, _frame):
        raise KeyboardInterrupt

    # A parent may start us with SIGTERM blocked (threads of a Swift or Dispatch process block it, and the mask
    # survives exec); unblock it so `terminate()` stops the server.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.pool.close()
        log("local-speech-server stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
