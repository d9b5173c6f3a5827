"""Audio in and out: uploads decoded to 16 kHz mono s16le, speech encoded into the response formats.

Both directions use the `ffmpeg` command except where the standard library suffices (plain 16 kHz WAV and raw PCM
in, raw PCM and WAV out at the engine's own rate), so an --echo server needs no third-party package.
"""

from __future__ import annotations

import io
import struct
import subprocess
import tempfile
import wave

from .errors import empty_audio, invalid_audio, server_error
from .multipart import Part, parse_header_params

RECOGNIZER_RATE = 16000  # what Whisper listens at (Hz)
SPEECH_RATE = 24000  # what OpenAI's speech route answers at (Hz)
SUBPROCESS_TIMEOUT_S = 300

SPEECH_FORMATS = {
    # format: (content type, ffmpeg output arguments; None when written without ffmpeg)
    "mp3": ("audio/mpeg", ["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"]),
    "wav": ("audio/wav", None),
    "pcm": ("audio/pcm", None),
    "flac": ("audio/flac", ["-c:a", "flac", "-f", "flac"]),
    "opus": ("audio/ogg", ["-c:a", "libopus", "-b:a", "32k", "-f", "ogg"]),
    "aac": ("audio/aac", ["-c:a", "aac", "-b:a", "64k", "-f", "adts"]),
}


def run_tool(args, input_bytes=None, what="ffmpeg"):
    try:
        return subprocess.run(args, input=input_bytes, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=SUBPROCESS_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise server_error("%s is not installed" % what, "tool_missing")
    except subprocess.TimeoutExpired:
        raise server_error("%s timed out" % what, "timeout")


def ffmpeg_error(proc) -> str:
    lines = [ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return "; ".join(lines[-3:]) or "ffmpeg exited with status %d" % proc.returncode


# --------------------------------------------------------------------------
# decoding uploads


def ffmpeg_to_s16(data: bytes, input_args=()) -> bytes:
    """Decode anything ffmpeg knows into 16 kHz mono s16le.

    The upload goes through a temporary file rather than a pipe so that containers that need seeking (mp4/m4a
    with the index at the end) work.
    """
    with tempfile.NamedTemporaryFile(prefix="speech-in-", suffix=".bin") as tmp:
        tmp.write(data)
        tmp.flush()
        proc = run_tool(["ffmpeg", "-nostdin", "-v", "error", *input_args, "-i", tmp.name,
                         "-vn", "-ac", "1", "-ar", str(RECOGNIZER_RATE), "-f", "s16le", "pipe:1"])
        if proc.returncode != 0:
            raise invalid_audio(ffmpeg_error(proc).replace(tmp.name, "upload"))
    return proc.stdout


def _read_plain_wav(data: bytes):
    """The wave reader for a RIFF/WAVE upload, or None if it is not WAV or not readable by `wave`."""
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
    """16 kHz mono s16le PCM of an uploaded file part; ApiError 400 when it has no samples or cannot be decoded.

    A part typed audio/pcm is raw s16le, 16 kHz mono unless its `rate` (and `channels`) parameters say otherwise.
    """
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
    """Duration in seconds, reading only the header for WAV (what --echo answers about)."""
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
# encoding speech


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def _ffmpeg_from_pcm(pcm: bytes, rate: int, output_args) -> bytes:
    """Run ffmpeg on mono s16le input at `rate`; the output goes to a seekable file so that headers that carry
    the length (FLAC's STREAMINFO, MP3's Xing frame) are filled in."""
    with tempfile.TemporaryDirectory(prefix="speech-out-") as tmp:
        out = tmp + "/out"
        proc = run_tool(["ffmpeg", "-nostdin", "-v", "error", "-f", "s16le", "-ar", str(rate), "-ac", "1",
                         "-i", "pipe:0", "-map_metadata", "-1", *output_args, "-y", out], input_bytes=pcm)
        if proc.returncode != 0:
            raise server_error("ffmpeg failed to encode speech: %s" % ffmpeg_error(proc))
        with open(out, "rb") as f:
            return f.read()


def encode_speech(pcm: bytes, rate: int, fmt: str, out_rate: int = SPEECH_RATE, output_args=None) -> bytes:
    """Mono s16le speech at `rate` Hz as a `fmt` file (a key of SPEECH_FORMATS) at `out_rate` Hz.

    `output_args` replaces the format's ffmpeg codec arguments (the ElevenLabs route picks its own bitrate).
    """
    resample = [] if rate == out_rate else ["-ar", str(out_rate)]
    if fmt in ("pcm", "wav"):
        if resample:
            pcm = _ffmpeg_from_pcm(pcm, rate, resample + ["-f", "s16le"])
        return pcm if fmt == "pcm" else wav_bytes(pcm, out_rate)
    return _ffmpeg_from_pcm(pcm, rate, resample + list(output_args or SPEECH_FORMATS[fmt][1]))
