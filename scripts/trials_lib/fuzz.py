"""Fuzzed media (issue 12 item 2): files derived from every fixture, each through `decode`, `probe` and a queued
transcription. Every one must end as a clean error or a clean result: no signal, no Swift fatal error, no hang past
the limit, and the one `serve` working the queue stays alive and answers /healthz throughout.

The files are of two kinds, both made here from fixtures/audio and nothing else:

- the "lying header" family, a fixed list: headers rewritten to declare what no real file does (sample rates of 0,
  1, 7 and 2^31 - 1 Hz, 65,535 channels, data sizes of 0xFFFFFFFF, MP4 and Matroska durations of years, FLAC and
  Opus stream headers out of range, absurd box and entry counts). Those whose lie the README promises to refuse
  (a sample rate outside 4-768 kHz, more than max_channels channels, a declared duration over max_duration_s) are
  marked `refuse`: decode must fail and the job must be dead as bad input.
- random mutations drawn from `ctx.rng`: truncations, byte flips, zeroed and shuffled headers, spliced and
  concatenated containers, duplicated or dropped stretches, absurd size fields.

Full mode: the family plus 1,000 random files; quick: the family's promised refusals, a random half of the rest
and ten random files (about 60). Every fixture also goes through unchanged, first.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import struct
import subprocess
import threading
import time
import urllib.request

from .common import FIXTURES, Row, SpeechServer, Serve, cli, worker_config, worker_env

DECODE_TIMEOUT_S = 30   # a decode or probe of one of these (at most a few hundred kB) past this is a hang
RATE = 16000            # [media] sample_rate: what decode writes


# ---- the lying-header family ------------------------------------------------------------------------------------

def le16(v): return struct.pack("<H", v & 0xFFFF)
def le32(v): return struct.pack("<I", v & 0xFFFFFFFF)
def be32(v): return struct.pack(">I", v & 0xFFFFFFFF)
def be64(v): return struct.pack(">Q", v & 0xFFFFFFFFFFFFFFFF)


def put(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value):]


def riff_chunks(data: bytes) -> dict:
    """Offsets of a WAV's chunks (of their 4-byte ids), walking from byte 12."""
    out, at = {}, 12
    while at + 8 <= len(data):
        tag = data[at:at + 4].decode("latin-1")
        out.setdefault(tag, at)
        at += 8 + struct.unpack("<I", data[at + 4:at + 8])[0]
        at += at & 1
    return out


def wav_lie(wav: bytes, rate=None, channels=None, fmt_tag=None, bits=None, byte_rate=None, align=None,
            data_size=None, riff_size=None) -> bytes:
    """speech.wav with `fmt ` fields replaced. A new rate or channel count keeps byte rate and block align consistent
    with it (truncated to the field, as LyingMedia does), so only the named lie is told."""
    chunks = riff_chunks(wav)
    f = chunks["fmt "] + 8
    cur_channels, cur_rate = struct.unpack("<HI", wav[f + 2:f + 8])
    cur_bits = struct.unpack("<H", wav[f + 14:f + 16])[0]
    ch = cur_channels if channels is None else channels
    sr = cur_rate if rate is None else rate
    bps = cur_bits if bits is None else bits
    block = ch * max(1, bps // 8)
    out = wav
    if fmt_tag is not None:
        out = put(out, f, le16(fmt_tag))
    if channels is not None or rate is not None or bits is not None:
        out = put(out, f + 2, le16(ch))
        out = put(out, f + 4, le32(sr))
        out = put(out, f + 8, le32(sr * block))
        out = put(out, f + 12, le16(block))
    if bits is not None:
        out = put(out, f + 14, le16(bps))
    if byte_rate is not None:
        out = put(out, f + 8, le32(byte_rate))
    if align is not None:
        out = put(out, f + 12, le16(align))
    if data_size is not None:
        out = put(out, chunks["data"] + 4, le32(data_size))
    if riff_size is not None:
        out = put(out, 4, le32(riff_size))
    return out


MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta", b"dinf"}


def mp4_boxes(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> list:
    """(offset, size, type) of every box, walking into the containers that hold the sample tables."""
    end = len(data) if end is None else end
    out, at = [], start
    while at + 8 <= end:
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        if size < 8 or at + size > end:
            break
        out.append((at, size, kind))
        if kind in MP4_CONTAINERS and depth < 8:
            out += mp4_boxes(data, at + 8, at + size, depth + 1)
        at += size
    return out


def mp4_edit(data: bytes, kind: bytes, offset: int, value: bytes, every: bool = True) -> bytes:
    """Writes `value` at `offset` bytes into each box of `kind` (from the box's first byte, its size field)."""
    for at, _, k in mp4_boxes(data):
        if k == kind:
            data = put(data, at + offset, value)
            if not every:
                break
    return data


def mp4_years(data: bytes, boxes=(b"mvhd", b"mdhd")) -> bytes:
    """Version-0 mvhd/mdhd with a time scale of 1 and a duration of 0xFFFFFFF0 ticks: 136 years."""
    for kind in boxes:
        data = mp4_edit(data, kind, 20, be32(1) + be32(0xFFFFFFF0))
    return data


def mp4a_entry(data: bytes) -> int:
    """Offset of the mp4a sample entry's type field."""
    for at, _, k in mp4_boxes(data):
        if k == b"stsd":
            return data.index(b"mp4a", at)
    raise ValueError("no mp4a entry")


def flac_streaminfo(flac: bytes, rate=None, channels=None, bits=None, total=None, min_block=None,
                    max_block=None) -> bytes:
    """speech.flac with STREAMINFO fields replaced: rate (20 bits), channels (3 bits, 1-8), bits per sample (5 bits,
    1-32) and total samples (36 bits), packed big-endian at byte 18."""
    packed = int.from_bytes(flac[18:26], "big")
    cur_rate, cur_ch, cur_bits, cur_total = packed >> 44, ((packed >> 41) & 7) + 1, ((packed >> 36) & 31) + 1, \
        packed & ((1 << 36) - 1)
    r = cur_rate if rate is None else rate
    c = cur_ch if channels is None else channels
    b = cur_bits if bits is None else bits
    t = cur_total if total is None else total
    packed = (r & 0xFFFFF) << 44 | ((c - 1) & 7) << 41 | ((b - 1) & 31) << 36 | (t & ((1 << 36) - 1))
    out = put(flac, 18, packed.to_bytes(8, "big"))
    if min_block is not None:
        out = put(out, 8, struct.pack(">H", min_block))
    if max_block is not None:
        out = put(out, 10, struct.pack(">H", max_block))
    return out


def _ogg_table():
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        table.append(r & 0xFFFFFFFF)
    return table


OGG_CRC = _ogg_table()


def ogg_pages(data: bytes) -> list:
    """(offset, length) of each Ogg page."""
    out, at = [], 0
    while data[at:at + 4] == b"OggS" and at + 27 <= len(data):
        segments = data[at + 26]
        length = 27 + segments + sum(data[at + 27:at + 27 + segments])
        out.append((at, length))
        at += length
    return out


def ogg_fix(data: bytes, page: tuple) -> bytes:
    """Recomputes one page's CRC, so an edited header is read rather than skipped as corrupt."""
    at, length = page
    body = bytearray(data[at:at + length])
    body[22:26] = b"\0\0\0\0"
    crc = 0
    for byte in body:
        crc = ((crc << 8) ^ OGG_CRC[((crc >> 24) ^ byte) & 0xFF]) & 0xFFFFFFFF
    return put(data, at + 22, le32(crc))


def opus_head(opus: bytes, offset: int, value: bytes) -> bytes:
    """speech.opus with bytes of its OpusHead (offset from "OpusHead") replaced, the page's CRC made right."""
    first = ogg_pages(opus)[0]
    return ogg_fix(put(opus, opus.index(b"OpusHead") + offset, value), first)


def opus_last_granule(opus: bytes, granule: int) -> bytes:
    last = ogg_pages(opus)[-1]
    return ogg_fix(put(opus, last[0] + 6, struct.pack("<Q", granule & 0xFFFFFFFFFFFFFFFF)), last)


def ebml_float(webm: bytes, element: bytes, value: float) -> bytes:
    """Replaces the first 8-byte float element `element` (its id bytes, then size 0x88) with `value`."""
    at = webm.index(element + b"\x88") + len(element) + 1
    return put(webm, at, struct.pack(">d", value))


def lying_family() -> list:
    """[(name, extension, bytes, refuse)] — `refuse` when the README promises the lie is refused before decoding."""
    read = lambda name: open(os.path.join(FIXTURES, name), "rb").read()
    wav, m4a, mp4, vid = read("speech.wav"), read("speech.m4a"), read("speech-video.mp4"), read("video-only.mp4")
    flac, opus, webm, mp3 = read("speech.flac"), read("speech.opus"), read("speech.webm"), read("speech.mp3")
    out = []

    def add(name, ext, data, refuse=False):
        out.append((name, ext, data, refuse))

    # WAV: sample rates (4-768 kHz is accepted), channel counts (max_channels 64), fields out of step, sizes.
    for rate in (0, 1, 7, 3999, 0x7FFFFFFF, 0xFFFFFFFF, 768001):
        add("wav-rate-%d" % rate, "wav", wav_lie(wav, rate=rate), refuse=True)
    for rate in (4000, 768000, 8000, 96000):
        add("wav-rate-%d" % rate, "wav", wav_lie(wav, rate=rate))
    for channels in (65, 255, 65535):
        add("wav-channels-%d" % channels, "wav", wav_lie(wav, channels=channels), refuse=True)
    for channels in (0, 2, 64):
        add("wav-channels-%d" % channels, "wav", wav_lie(wav, channels=channels))
    for tag in (0, 3, 0x11, 0x55, 0xFFFE):
        add("wav-format-%d" % tag, "wav", wav_lie(wav, fmt_tag=tag))
    for bits in (0, 1, 7, 24, 64, 0xFFFF):
        add("wav-bits-%d" % bits, "wav", wav_lie(wav, bits=bits))
    add("wav-byterate-0", "wav", wav_lie(wav, byte_rate=0))
    add("wav-byterate-1", "wav", wav_lie(wav, byte_rate=1))
    add("wav-align-0", "wav", wav_lie(wav, align=0))
    for size in (0, 1, 0x7FFFFFFF, 0xFFFFFFFF):
        add("wav-datasize-%x" % size, "wav", wav_lie(wav, data_size=size))
    for size in (0, 0xFFFFFFFF):
        add("wav-riffsize-%x" % size, "wav", wav_lie(wav, riff_size=size))
    add("wav-rate-1-datasize-ffffffff", "wav", wav_lie(wav, rate=1, data_size=0xFFFFFFFF), refuse=True)
    add("wav-rate-max-channels-max", "wav", wav_lie(wav, rate=0x7FFFFFFF, channels=65535), refuse=True)

    # MP4 / M4A: durations of years, time scale 0, entry counts and box sizes no file could have.
    add("m4a-years", "m4a", mp4_years(m4a), refuse=True)
    # mdhd alone: FFmpeg sums the track's duration from its sample table (11 s at a time scale of 1), so nothing
    # declares years and the file decodes (one 1024-tick frame, as the ffmpeg CLI does) with a truncation warning.
    add("m4a-years-mdhd", "m4a", mp4_years(m4a, (b"mdhd",)))
    add("m4a-years-mvhd", "m4a", mp4_years(m4a, (b"mvhd",)), refuse=True)
    add("mp4-video-years", "mp4", mp4_years(mp4), refuse=True)
    add("mp4-videoonly-years", "mp4", mp4_years(vid))
    add("m4a-timescale-0", "m4a", mp4_edit(m4a, b"mdhd", 20, be32(0)))
    add("m4a-duration-0", "m4a", mp4_edit(mp4_edit(m4a, b"mdhd", 24, be32(0)), b"mvhd", 24, be32(0)))
    add("m4a-mdhd-version-1", "m4a", mp4_edit(m4a, b"mdhd", 8, b"\x01"))
    entry = mp4a_entry(m4a)
    add("m4a-mp4a-channels-65535", "m4a", put(m4a, entry + 20, struct.pack(">H", 65535)))
    add("m4a-mp4a-channels-0", "m4a", put(m4a, entry + 20, struct.pack(">H", 0)))
    add("m4a-mp4a-rate-0", "m4a", put(m4a, entry + 28, be32(0)))
    add("m4a-mp4a-rate-max", "m4a", put(m4a, entry + 28, be32(0xFFFFFFFF)))
    add("m4a-stsz-count-max", "m4a", mp4_edit(m4a, b"stsz", 16, be32(0xFFFFFFFF)))
    add("m4a-stco-count-max", "m4a", mp4_edit(m4a, b"stco", 12, be32(0xFFFFFFFF)))
    add("m4a-stts-count-max", "m4a", mp4_edit(m4a, b"stts", 12, be32(0xFFFFFFFF)))
    add("m4a-stts-delta-max", "m4a", mp4_edit(m4a, b"stts", 20, be32(0xFFFFFFFF)))
    add("m4a-moov-size-max", "m4a", mp4_edit(m4a, b"moov", 0, be32(0xFFFFFFFF)))
    add("m4a-moov-size-1", "m4a", mp4_edit(m4a, b"moov", 0, be32(1)))
    add("m4a-ftyp-size-0", "m4a", mp4_edit(m4a, b"ftyp", 0, be32(0)))
    add("m4a-stsd-count-max", "m4a", mp4_edit(m4a, b"stsd", 12, be32(0xFFFFFFFF)))

    # FLAC STREAMINFO: rate (20 bits; 0 means "see the frames"), channels, bits, a total of 2^36 - 1 samples.
    # FFmpeg takes the stream's rate from the frame headers (16 kHz); the STREAMINFO rate only sets the time base,
    # so what the worker can see is a duration: 168,400 s at 1 Hz (refused), 6.7 h at 7 Hz and 0.16 s at
    # 1,048,575 Hz (both under the limit: decoded, with a truncation warning for the first).
    add("flac-rate-1", "flac", flac_streaminfo(flac, rate=1), refuse=True)
    for rate in (0, 7, 1048575):
        add("flac-rate-%d" % rate, "flac", flac_streaminfo(flac, rate=rate))
    add("flac-channels-8", "flac", flac_streaminfo(flac, channels=8))
    for bits in (4, 32):
        add("flac-bits-%d" % bits, "flac", flac_streaminfo(flac, bits=bits))
    add("flac-total-max", "flac", flac_streaminfo(flac, total=(1 << 36) - 1), refuse=True)
    add("flac-total-0", "flac", flac_streaminfo(flac, total=0))
    add("flac-blocksize-0", "flac", flac_streaminfo(flac, min_block=0, max_block=0))
    add("flac-blocksize-max", "flac", flac_streaminfo(flac, min_block=65535, max_block=65535))

    # Opus in Ogg (CRCs recomputed, so the lie is read): channels, rates, pre-skip, mapping, a final granule of
    # 2^62 samples (a duration of millennia).
    add("opus-channels-255", "opus", opus_head(opus, 9, b"\xff"))
    add("opus-channels-0", "opus", opus_head(opus, 9, b"\x00"))
    add("opus-inputrate-0", "opus", opus_head(opus, 12, le32(0)))
    add("opus-inputrate-max", "opus", opus_head(opus, 12, le32(0xFFFFFFFF)))
    add("opus-preskip-max", "opus", opus_head(opus, 10, le16(0xFFFF)))
    add("opus-mapping-255", "opus", opus_head(opus, 18, b"\xff"))
    add("opus-version-255", "opus", opus_head(opus, 8, b"\xff"))
    add("opus-granule-huge", "opus", opus_last_granule(opus, 1 << 62), refuse=True)

    # WebM: Duration (element 0x4489, in TimecodeScale units of 1 ms) of 10^15 ms; SamplingFrequency (0xB5).
    add("webm-duration-huge", "webm", ebml_float(webm, b"\x44\x89", 1e15), refuse=True)
    add("webm-duration-negative", "webm", ebml_float(webm, b"\x44\x89", -1.0))
    add("webm-duration-nan", "webm", ebml_float(webm, b"\x44\x89", float("nan")))
    for rate in (0.0, 1.0, 1e12):
        add("webm-rate-%g" % rate, "webm", ebml_float(webm, b"\xb5", rate))
    at = webm.index(b"\x9f\x81") + 2
    add("webm-channels-255", "webm", put(webm, at, b"\xff"))

    # MP3: the LAME/Xing "Info" frame count (a declared length of ~10 years) and an ID3 tag claiming 256 MB.
    info = mp3.index(b"Info")
    add("mp3-info-frames-max", "mp3", put(mp3, info + 8, be32(0xFFFFFFFF)), refuse=True)
    add("mp3-info-bytes-max", "mp3", put(mp3, info + 12, be32(0xFFFFFFFF)))
    add("mp3-id3-size-max", "mp3", put(mp3, 6, b"\x7f\x7f\x7f\x7f"))
    return out


# ---- random mutations -------------------------------------------------------------------------------------------

ABSURD32 = (0, 1, 7, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFF0)


def mutate(rng, sources: dict) -> tuple:
    """One random mutation: (family, extension, bytes), drawn from `rng` only."""
    names = sorted(sources)
    full = [n for n in names if sources[n]]
    name = rng.choice(full)
    data = bytearray(sources[name])
    ext = name.rsplit(".", 1)[-1]
    family = rng.choice(("truncate", "flip", "flip-header", "zero", "shuffle-header", "splice", "concat",
                         "header-swap", "duplicate", "drop", "size-field", "box-size", "wav-random"))
    n = len(data)
    if family == "truncate":
        # Half of the cuts fall inside the first 2 kB, where the headers are.
        cut = rng.randrange(0, min(n, 2048)) if rng.random() < 0.5 else rng.randrange(0, n)
        data = data[:cut]
    elif family in ("flip", "flip-header"):
        span = min(n, 1024) if family == "flip-header" else n
        for _ in range(rng.choice((1, 2, 4, 8, 32, 128))):
            data[rng.randrange(span)] ^= rng.randrange(1, 256)
    elif family == "zero":
        start = 0 if rng.random() < 0.5 else rng.randrange(0, min(n, 512))
        length = rng.choice((4, 16, 64, 256, 1024))
        data[start:start + length] = bytes(len(data[start:start + length]))
    elif family == "shuffle-header":
        length, block = min(n, rng.choice((16, 64, 256, 1024))), rng.choice((1, 2, 4, 8))
        pieces = [bytes(data[i:i + block]) for i in range(0, length, block)]
        rng.shuffle(pieces)
        data[:length] = b"".join(pieces)[:length]
    elif family in ("splice", "concat", "header-swap"):
        other = sources[rng.choice(full)]
        if family == "splice":       # the start of one container, the end of another
            data = data[:rng.randrange(0, n)] + other[rng.randrange(0, len(other)):]
        elif family == "concat":     # two whole containers back to back
            data = data + other
        else:                        # another container's first bytes over this one's
            k = rng.choice((4, 12, 44, 128, 512, 4096))
            data = bytearray(other[:k]) + data[k:]
    elif family == "duplicate":
        a = rng.randrange(0, n)
        b = min(n, a + rng.choice((16, 256, 4096, 65536)))
        at = rng.randrange(0, n)
        data = data[:at] + data[a:b] * rng.choice((1, 2, 16)) + data[at:]
    elif family == "drop":
        a = rng.randrange(0, n)
        data = data[:a] + data[a + rng.choice((1, 16, 256, 4096)):]
    elif family == "size-field":
        # An absurd 32-bit value, either byte order, over an aligned field of the first 2 kB.
        at = rng.randrange(0, max(1, min(n, 2048) - 4)) & ~3
        value = rng.choice(ABSURD32)
        data[at:at + 4] = struct.pack(rng.choice(("<I", ">I")), value)
    elif family == "box-size":
        # For MP4s a real box's size field; for others, any 4 bytes after a 4-letter tag.
        boxes = mp4_boxes(bytes(data)) if ext in ("mp4", "m4a") else []
        if boxes:
            at = rng.choice(boxes)[0]
        else:
            tags = [m.start() for m in re.finditer(rb"[A-Za-z ]{4}", bytes(data[:4096]))]
            at = rng.choice(tags) + 4 if tags else 0
        value = rng.choice(ABSURD32 + (rng.randrange(0, 1 << 32),))
        data[at:at + 4] = struct.pack(">I" if boxes else "<I", value)
    else:  # wav-random: speech.wav declaring a random rate and channel count
        wav = sources["speech.wav"]
        rate = rng.choice((rng.randrange(0, 16), rng.randrange(0, 1 << 32), rng.randrange(3000, 800000)))
        channels = rng.choice((rng.randrange(0, 8), rng.randrange(0, 1 << 16)))
        return family, "wav", wav_lie(wav, rate=rate, channels=channels)
    return family + "-" + name.replace(".", "_"), ext, bytes(data)


def make_files(ctx, directory: str) -> list:
    """[(path, refuse)]: the fixtures, the lying family, then random mutations."""
    sources = {}
    for name in sorted(os.listdir(FIXTURES)):
        if name != "make-fixtures":
            with open(os.path.join(FIXTURES, name), "rb") as handle:
                sources[name] = handle.read()
    # Every fixture as it is first (empty, random bytes, truncated and not-media included), then the mutations.
    originals = [("orig-" + name.replace(".", "_"), name.rsplit(".", 1)[-1], data, False)
                 for name, data in sorted(sources.items())]
    made = lying_family()
    if ctx.quick:
        # Every lie the worker promises to refuse, and a random half of the others (about 60 files in all).
        refused = [m for m in made if m[3]]
        others = [m for m in made if not m[3]]
        made = refused + ctx.rng.sample(others, len(others) // 2)
    made = originals + made
    for _ in range(10 if ctx.quick else 1000):
        family, ext, data = mutate(ctx.rng, sources)
        made.append((family, ext, data, False))
    files = []
    for index, (name, ext, data, refuse) in enumerate(made):
        path = os.path.join(directory, "%04d-%s.%s" % (index, name, ext))
        with open(path, "wb") as handle:
            handle.write(data)
        files.append((path, refuse))
    return files


# ---- the checks -------------------------------------------------------------------------------------------------

FATAL = re.compile(r"Fatal error|Stack dump|Segmentation|Assertion|Illegal instruction|SIGSEGV|SIGABRT|"
                   r"Current stack trace|core dumped|Trace/breakpoint", re.I)


def clean_refusal(code: int, stderr: str, path: str) -> str | None:
    """Why an exit is not a clean refusal (exit 1, one line on stderr naming the input), or None."""
    lines = [l for l in stderr.splitlines() if l.strip()]
    if code != 1:
        return "exit %d" % code
    if len(lines) != 1:
        return "%d lines on stderr: %r" % (len(lines), stderr[-300:])
    if FATAL.search(stderr):
        return "fatal text on stderr: %r" % lines[0][:200]
    if os.path.basename(path) not in lines[0]:
        return "the message does not name the input: %r" % lines[0][:200]
    return None


def wav_problem(path: str, reported: dict) -> str | None:
    """Why decode's output is not a valid 16 kHz mono 16-bit WAV matching what decode reported, or None."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        return "no output: %s" % error
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return "not a RIFF/WAVE file (%d bytes)" % len(data)
    chunks = riff_chunks(data)
    if "fmt " not in chunks or "data" not in chunks:
        return "chunks %s" % sorted(chunks)
    f = chunks["fmt "] + 8
    tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[f:f + 16])
    if (tag, channels, rate, bits) != (1, 1, RATE, 16):
        return "format %d, %d channels, %d Hz, %d bits" % (tag, channels, rate, bits)
    d = chunks["data"]
    size = struct.unpack("<I", data[d + 4:d + 8])[0]
    if size != len(data) - d - 8 or size % 2:
        return "data size %d but %d bytes follow" % (size, len(data) - d - 8)
    if reported.get("bytes") != len(data):
        return "reported %s bytes, wrote %d" % (reported.get("bytes"), len(data))
    seconds = size / 2 / RATE
    if abs(float(reported.get("duration", -1)) - seconds) > 0.01:
        return "reported %s s, wrote %.3f s" % (reported.get("duration"), seconds)
    return None


def run_tool(ctx, args, env, config, data_dir):
    """(code or None on timeout, stdout, stderr, seconds)."""
    started = time.monotonic()
    try:
        code, out, err = cli(ctx, args, env, config, data_dir, timeout=DECODE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return None, "", "", time.monotonic() - started
    return code, out, err, time.monotonic() - started


def decode_and_probe(ctx, files, env, config, data_dir, out_dir, decode: Row, probe: Row) -> dict:
    """Runs decode and probe on every file; returns {path: decoded ok} for the queued pass's comparison."""
    slowest = (0.0, "")
    decoded = {}
    for path, refuse in files:
        name = os.path.basename(path)
        output = os.path.join(out_dir, "out.wav")
        if os.path.exists(output):
            os.remove(output)
        decode.runs += 1
        code, out, err, seconds = run_tool(ctx, ["decode", path, "-o", output], env, config, data_dir)
        slowest = max(slowest, (seconds, name))
        ok = True
        if code is None:
            decode.crashes += 1
            ok = decode.check(False, "%s: decode still running after %d s (killed)" % (name, DECODE_TIMEOUT_S))
        elif code < 0:
            decode.crashes += 1
            ok = decode.check(False, "%s: decode killed by signal %d: %r" % (name, -code, err[-300:]))
        elif code == 0:
            try:
                problem = wav_problem(output, json.loads(out))
            except ValueError:
                problem = "stdout is not JSON: %r" % out[:200]
            ok = decode.check(problem is None, "%s: exit 0 but %s" % (name, problem))
            ok = decode.check(not FATAL.search(err), "%s: fatal text on stderr: %r" % (name, err[-300:])) and ok
            ok = decode.check(not refuse, "%s: decoded, but its header is a lie the worker promises to refuse"
                              % name) and ok
        else:
            problem = clean_refusal(code, err, path)
            ok = decode.check(problem is None, "%s: decode failed uncleanly: %s" % (name, problem))
        decode.passed += ok
        decoded[path] = code == 0
        ctx.log("decode %s: exit %s in %.2f s %s" % (name, code, seconds, (err.strip().splitlines() or [""])[-1][:150]))

        probe.runs += 1
        code, out, err, seconds = run_tool(ctx, ["probe", path], env, config, data_dir)
        ok = True
        if code is None or code < 0:
            probe.crashes += 1
            ok = probe.check(False, "%s: probe %s" % (name, "hung" if code is None else "signal %d" % -code))
        elif code == 0:
            try:
                shape = json.loads(out)
                ok = probe.check(isinstance(shape.get("streams"), list) and "format" in shape,
                                 "%s: probe's JSON lacks format/streams: %r" % (name, out[:200]))
            except ValueError:
                ok = probe.check(False, "%s: probe exit 0, stdout not JSON: %r" % (name, out[:200]))
        else:
            problem = clean_refusal(code, err, path)
            ok = probe.check(problem is None, "%s: probe failed uncleanly: %s" % (name, problem))
        probe.passed += ok
    decode.worst = "slowest %s %.2f s" % (slowest[1], slowest[0])
    if decode.failures:
        decode.worst = "first failure: " + decode.failures[0][:120]
    probe.worst = "clean on %d of %d" % (probe.passed, probe.runs) if not probe.failures else \
        "first failure: " + probe.failures[0][:120]
    return decoded


def http_get(port: int, path: str, timeout: float = 10):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as reply:
        return reply.status, reply.read()


class HealthWatch(threading.Thread):
    """Asks /healthz every half second while the queue is worked; counts the answers that were not 200 ok."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.port, self.asked, self.bad, self.first_bad = port, 0, 0, None
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(0.5):
            self.asked += 1
            try:
                status, body = http_get(self.port, "/healthz", timeout=5)
                good = status == 200 and json.loads(body).get("ok") is True
            except Exception as error:  # noqa: BLE001 - any failure to answer is what is counted
                good, body = False, repr(error)
            if not good:
                self.bad += 1
                self.first_bad = self.first_bad or body

    def stop(self):
        self.done.set()
        self.join(timeout=10)


def job_seconds(job: dict) -> float:
    """From enqueue to the last update (the final state), by the ledger's own clock."""
    stamp = lambda text: datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    return stamp(job["updated_at"]) - stamp(job["created_at"])


def queued(ctx, files, speech, data_dir, row: Row, decoded: dict) -> None:
    """One serve works a transcription of every file; each job must end succeeded or dead with a reason."""
    config = worker_config(ctx, data_dir, max_attempts=1, lease_s=10, heartbeat_s=2, retry_base_s=1)
    env = worker_env(speech)
    serve = Serve(ctx, config, data_dir, env, listen="127.0.0.1:0")
    health = HealthWatch(serve.port)
    health.start()
    jobs = {}            # job id -> (path, refuse)
    results = {}         # path -> (job, seconds from enqueue to final)
    refused_at_enqueue = 0
    alive = True
    try:
        for path, refuse in files:
            name = os.path.basename(path)
            code, out, err = cli(ctx, ["enqueue", "transcribe", path], env, config, data_dir, timeout=60, check=False)
            if code == 0:
                jobs[json.loads(out)["id"]] = (path, refuse)
            else:
                # A refusal by enqueue itself (an empty file, say) is a final answer too, if it is a clean one.
                refused_at_enqueue += 1
                row.runs += 1
                problem = clean_refusal(code, err, path)
                row.passed += row.check(problem is None and not (code < 0),
                                        "%s: enqueue failed uncleanly: %s" % (name, problem))
        # Every job is small (a few hundred kB at most): a minute, plus a little per job for a busy machine.
        deadline = time.monotonic() + 60 + 0.5 * len(jobs)
        pending = set(jobs)
        while pending and time.monotonic() < deadline and serve.alive():
            for job_id in sorted(pending):
                try:
                    _, body = http_get(serve.port, "/v1/jobs/" + job_id)
                except Exception:  # noqa: BLE001 - a failed poll is retried; /healthz counts unanswered requests
                    continue
                job = json.loads(body)
                if job.get("status") in ("succeeded", "dead", "cancelled"):
                    pending.discard(job_id)
                    path = jobs[job_id][0]
                    results[path] = (job, job_seconds(job))
            if pending:
                time.sleep(0.5)
        alive = serve.alive()
        slowest = (0.0, "")
        disagree = 0
        for job_id, (path, refuse) in sorted(jobs.items(), key=lambda item: item[1][0]):
            name = os.path.basename(path)
            row.runs += 1
            if path not in results:
                row.lost += 1
                row.check(False, "%s: job %s never reached a final state" % (name, job_id))
                continue
            job, seconds = results[path]
            slowest = max(slowest, (seconds, name))
            status, error = job.get("status"), job.get("error") or {}
            if status == "succeeded":
                result = job.get("result") or {}
                ok = row.check(bool(job.get("outputs")) and result.get("ok") is True,
                               "%s: succeeded without outputs or result.ok: %r" % (name, job)[:300])
                ok = row.check(not refuse, "%s: succeeded, but its header is a lie the worker promises to refuse"
                               % name) and ok
            elif status == "dead":
                ok = row.check(bool(str(error.get("message", "")).strip()),
                               "%s: dead without an error message: %r" % (name, job)[:300])
                if refuse:
                    ok = row.check(error.get("kind") == "bad_input" and error.get("permanent") is True,
                                   "%s: refused lie dead as %r, not permanent bad_input" % (name, error)) and ok
            else:
                ok = row.check(False, "%s: ended %s" % (name, status))
            row.passed += ok
            disagree += decoded.get(path) != (status == "succeeded")
        row.crashes += 0 if alive else 1
        row.check(alive, "serve died (exit %s) during the fuzzed jobs; log %s" % (serve.process.poll(),
                                                                                   serve.log_path))
        health.stop()
        row.check(health.bad == 0, "/healthz failed %d of %d times, first: %r" % (health.bad, health.asked,
                                                                                  health.first_bad))
        if alive:
            status, _ = http_get(serve.port, "/metrics")
            row.check(status == 200, "/metrics answered %d after the fuzzed jobs" % status)
        succeeded = sum(1 for job, _ in results.values() if job.get("status") == "succeeded")
        row.worst = "slowest %s %.1f s; %d succeeded, %d dead, %d refused by enqueue; %d differ from decode" % (
            slowest[1], slowest[0], succeeded, len(results) - succeeded, refused_at_enqueue, disagree)
        if row.failures:
            row.worst = "first failure: " + row.failures[0][:120]
    finally:
        health.stop()
        code = serve.stop()
        row.check(code == 0 or not alive, "serve exited %s on SIGTERM after the fuzzed jobs" % code)
        if serve.crashed():
            row.crashes = max(row.crashes, 1)


def run(ctx) -> list[Row]:
    decode, probe, queue = Row("fuzz decode"), Row("fuzz probe"), Row("fuzz queued")
    files_dir, data_dir, out_dir = ctx.scratch("fuzz-files"), ctx.scratch("fuzz-data"), ctx.scratch("fuzz-out")
    files = make_files(ctx, files_dir)
    ctx.log("fuzz: %d files (%d lying headers promised refusal)" % (len(files), sum(r for _, r in files)))
    speech = SpeechServer(ctx)
    try:
        tools_config = worker_config(ctx, out_dir)
        decoded = decode_and_probe(ctx, files, worker_env(speech), tools_config, out_dir, out_dir, decode, probe)
        queued(ctx, files, speech, data_dir, queue, decoded)
    finally:
        speech.stop()
    return [decode, probe, queue]
