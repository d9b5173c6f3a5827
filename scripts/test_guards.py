"""The transcript guards against the real Whisper: silence, noise, music-like tones and speech with long pauses.

Inputs are made at run time with sox (silence, white/pink/brown noise, chords, a sweep, a beat) and Piper (known
sentences, through the speech server's /v1/audio/speech), each a few seconds to under a minute. Each goes through
`audio-worker transcribe` against the local speech server (faster-whisper, Whisper tiny.en) on 127.0.0.1. A small
recording proxy between the two keeps what Whisper answered for every chunk, so that each case prints a
`figure:` line with the raw Whisper text beside what the guards removed (the result's `warnings`) and kept.

    cd scripts && ../.venv/bin/python -m unittest test_guards -v

Needs sox and ffmpeg on PATH, the venv made by scripts/setup-speech-venv, and a built audio-worker (the debug
build, or AUDIO_WORKER_BINARY). Whisper's temperature fallback samples at random, so over music the raw text
differs from run to run; the assertions hold for whatever it says.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SERVER = os.path.join(HERE, "local-speech-server.py")
# The shipped configuration (AUDIO_WORKER_CONFIG to try another build against its own).
CONFIG = os.environ.get("AUDIO_WORKER_CONFIG") or os.path.join(ROOT, "config", "audio-worker.toml")
RATE = 16000
START_TIMEOUT_S = 60
RUN_TIMEOUT_S = 300

SENTENCES = [
    "The weekly meeting starts at nine o'clock in the small conference room.",
    "Please bring the quarterly report and your notes from the last review.",
    "We will discuss the budget for the new warehouse and the delivery schedule.",
]
# Short utterances that are also on the list of known hallucinations: said aloud, they must stay.
SHORT_PHRASES = ["Thank you.", "Okay.", "Yes.", "Bye bye."]
NUMBERS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six", "7": "seven",
           "8": "eight", "9": "nine", "10": "ten", "ok": "okay"}


def binary() -> str:
    explicit = os.environ.get("AUDIO_WORKER_BINARY")
    if explicit:
        return explicit
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True)
    return os.path.join(out.stdout.strip(), "audio-worker")


def words(text: str) -> list:
    """Lowercased words without punctuation, digits spelled out, hyphenated words split ("bye-bye")."""
    out = []
    for token in re.findall(r"[\w']+", text.lower().replace("-", " ")):
        token = token.replace("'", "")
        out.extend(NUMBERS.get(token, token).split())
    return out


def recall(said: str, heard: str) -> float:
    """The share of the words of `said` found in `heard` (as a multiset)."""
    pool = {}
    for word in words(heard):
        pool[word] = pool.get(word, 0) + 1
    found = 0
    for word in words(said):
        if pool.get(word, 0) > 0:
            pool[word] -= 1
            found += 1
    return found / max(len(words(said)), 1)


def sox(*args):
    subprocess.run(["sox", *map(str, args)], check=True, capture_output=True)


def duration(path: str) -> float:
    with wave.open(path) as w:
        return w.getnframes() / w.getframerate()


class SpeechServer:
    """The local speech server as a subprocess on a free port; stopped by `stop`."""

    def __init__(self):
        self.log = tempfile.TemporaryFile()
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        self.proc = subprocess.Popen([sys.executable, SERVER, "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=self.log, stdin=subprocess.DEVNULL, env=env)
        timer = threading.Timer(START_TIMEOUT_S, self.proc.kill)
        timer.start()
        try:
            line = self.proc.stdout.readline().decode("utf-8", "replace")
        finally:
            timer.cancel()
        match = re.fullmatch(r"LISTENING (\d+)\n", line)
        if not match:
            self.stop()
            raise RuntimeError("speech server did not start (%r)" % line)
        self.port = int(match.group(1))

    def speak(self, text: str, path: str):
        """Piper's speech of `text` as 16 kHz mono WAV at `path`."""
        body = json.dumps({"model": "tts-1", "input": text, "voice": "alloy", "response_format": "wav"}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=RUN_TIMEOUT_S)
        try:
            conn.request("POST", "/v1/audio/speech", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise RuntimeError("speech failed: %d %r" % (resp.status, data[:200]))
        raw = path + ".24k.wav"
        with open(raw, "wb") as f:
            f.write(data)
        sox(raw, "-r", RATE, "-c", 1, "-b", 16, path)
        os.remove(raw)

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


class RecordingProxy:
    """Forwards requests to the speech server and keeps every transcription reply, in arrival order."""

    def __init__(self, upstream: int):
        replies = self.replies = []
        lock = self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=RUN_TIMEOUT_S)
                try:
                    conn.request("POST", self.path, body, headers)
                    resp = conn.getresponse()
                    data = resp.read()
                finally:
                    conn.close()
                if resp.status == 200 and self.path.endswith("/audio/transcriptions"):
                    with lock:
                        replies.append(json.loads(data))
                self.send_response(resp.status)
                for key, value in resp.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self) -> list:
        with self.lock:
            taken = list(self.replies)
            self.replies.clear()
        return taken

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class GuardsOnRealWhisperTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("sox", "ffmpeg"):
            if shutil.which(tool) is None:
                raise unittest.SkipTest("%s is not on PATH" % tool)
        cls.binary = binary()
        if not os.path.exists(cls.binary):
            raise unittest.SkipTest("no audio-worker at %s (swift build)" % cls.binary)
        cls.work = tempfile.mkdtemp(prefix="audio-worker-guards-")
        cls.speech = SpeechServer()
        cls.proxy = RecordingProxy(cls.speech.port)
        cls.figures = []
        cls.t0 = time.monotonic()

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.speech.stop()
        if os.environ.get("GUARDS_KEEP_INPUTS"):
            print("inputs and outputs kept in %s" % cls.work)
        else:
            shutil.rmtree(cls.work, ignore_errors=True)
        print("\nguards on real Whisper: %d cases in %.1f s" % (len(cls.figures), time.monotonic() - cls.t0))

    # ---- inputs

    def path(self, name: str) -> str:
        return os.path.join(self.work, name + ".wav")

    def silence(self, name: str, seconds: float) -> str:
        sox("-n", "-r", RATE, "-c", 1, "-b", 16, self.path(name), "trim", 0, seconds)
        return self.path(name)

    def noise(self, name: str, color: str, seconds: float, volume: float) -> str:
        sox("-n", "-r", RATE, "-c", 1, "-b", 16, self.path(name), "synth", seconds, color + "noise", "vol", volume)
        return self.path(name)

    def sentence(self, index: int, text: str) -> str:
        path = self.path("said%d_%s" % (index, re.sub(r"\W+", "_", text)[:20]))
        if not os.path.exists(path):
            self.speech.speak(text, path)
        return path

    def joined(self, name: str, parts: list) -> tuple:
        """`parts` (file paths) back to back; returns the file and the (start, end) of each part."""
        times, at = [], 0.0
        for part in parts:
            length = duration(part)
            times.append((at, at + length))
            at += length
        sox(*parts, self.path(name))
        return self.path(name), times

    # ---- running

    def transcribe(self, name: str, path: str) -> dict:
        out = os.path.join(self.work, "out")
        env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
        env["AUDIO_WORKER_API_BASE__whisper_small_local__local"] = "http://127.0.0.1:%d/v1" % self.proxy.port
        self.proxy.take()
        run = subprocess.run(
            [self.binary, "transcribe", path, "--config", CONFIG,
             "--data-dir", os.path.join(self.work, "data"), "--output-dir", out, "--formats", "json",
             "--concurrency", "1"],
            cwd=self.work, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
        self.assertEqual(run.returncode, 0, "transcribe %s failed:\n%s" % (name, run.stderr))
        summary = json.loads(run.stdout)
        with open(os.path.join(out, os.path.basename(path)[:-4] + ".json")) as f:
            document = json.load(f)
        # Per chunk sent, Whisper's segments: chunk-relative times, no-speech probability, mean log-probability.
        raw = [["%.1f-%.1f nsp=%.2f lp=%.2f %s" % (s["start"], s["end"], s.get("no_speech_prob", 0),
                                                 s.get("avg_logprob", 0), s["text"].strip())
                for s in reply.get("segments", [])] for reply in self.proxy.take()]
        figure = {"case": name, "seconds": round(duration(path), 1),
                  "chunks": len(document["chunks"]), "sent": sum(not c["skipped"] for c in document["chunks"]),
                  "removed": summary.get("warnings", []), "raw": raw, "kept": document["text"]}
        print("figure: %s" % json.dumps(figure, ensure_ascii=False))
        self.figures.append(figure)
        document["raw"] = raw
        return document

    def assertNothingHeard(self, name: str, path: str):
        document = self.transcribe(name, path)
        self.assertEqual(words(document["text"]), [],
                         "%s: hallucinated %r (Whisper said %r)" % (name, document["text"], document["raw"]))
        self.assertEqual([s["text"] for s in document["segments"]], [], "%s: segments without words" % name)

    def assertSpeechKept(self, name: str, path: str, said: list):
        """Every part of `said` ((text, start, end), in order) is in the transcript, and nothing else is."""
        document = self.transcribe(name, path)
        for text, _, _ in said:
            self.assertGreaterEqual(recall(text, document["text"]), 0.8,
                                    "%s: lost %r from %r" % (name, text, document["text"]))
        spoken = sum(len(words(text)) for text, _, _ in said)
        self.assertLessEqual(len(words(document["text"])), spoken + 2,
                             "%s: more words than were said: %r" % (name, document["text"]))
        # After a long pause tiny.en places a short utterance up to about 3 s late: a segment more than 4 s from
        # every spoken part lies in a pause.
        for segment in document["segments"]:
            near = any(segment["start"] < end + 4 and segment["end"] > start - 4 for _, start, end in said)
            self.assertTrue(near, "%s: %r at %.1f-%.1f s is in a pause" % (
                name, segment["text"], segment["start"], segment["end"]))

    # ---- non-speech: the transcript must be empty

    def test_digital_silence(self):
        self.assertNothingHeard("silence", self.silence("silence", 15))

    def test_noise(self):
        for color in ("white", "pink", "brown"):
            for level, volume in (("low", 0.003), ("loud", 0.5)):
                name = "%s_noise_%s" % (color, level)
                with self.subTest(name):
                    self.assertNothingHeard(name, self.noise(name, color, 12, volume))

    def test_chords(self):
        # C, Am, F, G, 2.5 s each, twice: a chord progression, where tiny.en guesses YouTube outros.
        chords = []
        for i, notes in enumerate(((261.63, 329.63, 392.0), (220.0, 261.63, 329.63), (174.61, 220.0, 261.63),
                                   (196.0, 246.94, 293.66))):
            chord = self.path("chord%d" % i)
            sox("-r", RATE, "-c", 3, "-n", "-c", 1, "-b", 16, chord, "synth", 2.5,
                *sum((["sine", n] for n in notes), []), "remix", "1-3", "vol", 0.3, "fade", 0.02, 2.5, 0.3)
            chords.append(chord)
        path, _ = self.joined("chords", chords * 2)
        self.assertNothingHeard("chords", path)

    def test_sweep_and_beat(self):
        sweep = self.path("sweep")
        sox("-n", "-r", RATE, "-c", 1, "-b", 16, sweep, "synth", 3, "sine", "200-2000", "vol", 0.3, "repeat", 3)
        self.assertNothingHeard("sweep", sweep)
        # 120 bpm: a falling kick, then two hi-hats.
        kick, hat, bar, beat = (self.path(n) for n in ("kick", "hat", "bar", "beat"))
        sox("-n", "-r", RATE, "-c", 1, "-b", 16, kick, "synth", 0.15, "sine", "150-40", "fade", 0, 0.15, 0.12,
            "vol", 0.8, "pad", 0, 0.35)
        sox("-n", "-r", RATE, "-c", 1, "-b", 16, hat, "synth", 0.05, "whitenoise", "fade", 0, 0.05, 0.04,
            "vol", 0.2, "pad", 0, 0.2)
        sox(kick, hat, hat, bar)
        sox(bar, beat, "repeat", 11)
        self.assertNothingHeard("beat", beat)

    # ---- speech: every sentence stays, the pauses add nothing

    def test_speech_with_long_silent_pauses(self):
        parts = [self.sentence(0, SENTENCES[0]), self.silence("pause15", 15), self.sentence(1, SENTENCES[1]),
                 self.silence("pause25", 25), self.sentence(2, SENTENCES[2])]
        path, times = self.joined("speech_silent_pauses", parts)
        said = [(SENTENCES[i], *times[2 * i]) for i in range(3)]
        self.assertSpeechKept("speech_silent_pauses", path, said)

    def test_speech_with_long_noise_pauses(self):
        parts = [self.sentence(0, SENTENCES[0]), self.noise("pink_pause", "pink", 12, 0.02),
                 self.sentence(1, SENTENCES[1]), self.noise("brown_pause", "brown", 20, 0.05),
                 self.sentence(2, SENTENCES[2])]
        path, times = self.joined("speech_noise_pauses", parts)
        said = [(SENTENCES[i], *times[2 * i]) for i in range(3)]
        self.assertSpeechKept("speech_noise_pauses", path, said)

    def test_speech_then_a_long_silence(self):
        parts = [self.sentence(0, SENTENCES[0]), self.sentence(1, SENTENCES[1]), self.silence("tail30", 30)]
        path, times = self.joined("speech_silence_tail", parts)
        said = [(SENTENCES[0], *times[0]), (SENTENCES[1], *times[1])]
        self.assertSpeechKept("speech_silence_tail", path, said)

    def test_spoken_known_phrases_between_pauses(self):
        # "Thank you.", "Okay.", "Yes.", "Bye bye." are what Whisper makes up in silence; said aloud they stay.
        pause = self.silence("pause8", 8)
        parts = [self.sentence(0, SENTENCES[0]), pause]
        for i, phrase in enumerate(SHORT_PHRASES):
            parts += [self.sentence(10 + i, phrase), pause]
        path, times = self.joined("spoken_known_phrases", parts)
        said = [(text, *times[2 * i]) for i, text in enumerate([SENTENCES[0]] + SHORT_PHRASES)]
        self.assertSpeechKept("spoken_known_phrases", path, said)


if __name__ == "__main__":
    unittest.main()
