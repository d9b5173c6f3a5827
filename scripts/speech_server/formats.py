"""The transcript model both recognizers produce, and the response shapes rendered from it.

Segment and word texts keep Whisper's convention: they start with the space that separates them from what
came before (" The quick brown fox"), so joining them gives the transcript's text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# Whisper's language codes and the names OpenAI's API reports for them ("language": "english").
LANGUAGE_NAMES = {
    "en": "english", "zh": "chinese", "de": "german", "es": "spanish", "ru": "russian", "ko": "korean",
    "fr": "french", "ja": "japanese", "pt": "portuguese", "tr": "turkish", "pl": "polish", "ca": "catalan",
    "nl": "dutch", "ar": "arabic", "sv": "swedish", "it": "italian", "id": "indonesian", "hi": "hindi",
    "fi": "finnish", "vi": "vietnamese", "he": "hebrew", "uk": "ukrainian", "el": "greek", "ms": "malay",
    "cs": "czech", "ro": "romanian", "da": "danish", "hu": "hungarian", "ta": "tamil", "no": "norwegian",
    "th": "thai", "ur": "urdu", "hr": "croatian", "bg": "bulgarian", "lt": "lithuanian", "la": "latin",
    "mi": "maori", "ml": "malayalam", "cy": "welsh", "sk": "slovak", "te": "telugu", "fa": "persian",
    "lv": "latvian", "bn": "bengali", "sr": "serbian", "az": "azerbaijani", "sl": "slovenian", "kn": "kannada",
    "et": "estonian", "mk": "macedonian", "br": "breton", "eu": "basque", "is": "icelandic", "hy": "armenian",
    "ne": "nepali", "mn": "mongolian", "bs": "bosnian", "kk": "kazakh", "sq": "albanian", "sw": "swahili",
    "gl": "galician", "mr": "marathi", "pa": "punjabi", "si": "sinhala", "km": "khmer", "sn": "shona",
    "yo": "yoruba", "so": "somali", "af": "afrikaans", "oc": "occitan", "ka": "georgian", "be": "belarusian",
    "tg": "tajik", "sd": "sindhi", "gu": "gujarati", "am": "amharic", "yi": "yiddish", "lo": "lao",
    "uz": "uzbek", "fo": "faroese", "ht": "haitian creole", "ps": "pashto", "tk": "turkmen", "nn": "nynorsk",
    "mt": "maltese", "sa": "sanskrit", "lb": "luxembourgish", "my": "myanmar", "bo": "tibetan",
    "tl": "tagalog", "mg": "malagasy", "as": "assamese", "tt": "tatar", "haw": "hawaiian", "ln": "lingala",
    "ha": "hausa", "ba": "bashkir", "jw": "javanese", "su": "sundanese", "yue": "cantonese",
}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


@dataclass
class Word:
    word: str
    start: float
    end: float
    probability: float


@dataclass
class Segment:
    """One decoded window of audio, with Whisper's per-segment figures (seek in 10 ms frames)."""

    seek: int
    start: float
    end: float
    text: str
    tokens: list
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: list = field(default_factory=list)


@dataclass
class Transcript:
    """What a recognizer heard in one upload; times in seconds from its start, never past `duration`."""

    duration: float
    language: str  # a code, as the model reports it ("en")
    language_probability: float
    segments: list
    language_probabilities: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments).strip()

    def words(self) -> list:
        return [w for s in self.segments for w in s.words]

    def clamped(self) -> Transcript:
        """The same transcript with every time inside [0, duration] and each start at or before its end."""
        for s in self.segments:
            s.end = min(s.end, self.duration)
            s.start = min(max(0.0, s.start), s.end)
            for w in s.words:
                w.end = min(w.end, self.duration)
                w.start = min(max(0.0, w.start), w.end)
        return self


def r2(x: float) -> float:
    return round(float(x), 2)


def _timestamp(seconds: float, sep: str) -> str:
    ms = int(round(max(0.0, seconds) * 1000))
    h, ms = divmod(ms, 3600000)
    m, ms = divmod(ms, 60000)
    s, ms = divmod(ms, 1000)
    return "%02d:%02d:%02d%s%03d" % (h, m, s, sep, ms)


def render_srt(tr: Transcript) -> str:
    out = []
    for i, s in enumerate(tr.segments, 1):
        out.append("%d\n%s --> %s\n%s\n" % (i, _timestamp(s.start, ","), _timestamp(s.end, ","), s.text.strip()))
    return "\n".join(out)


def render_vtt(tr: Transcript) -> str:
    out = ["WEBVTT\n"]
    for s in tr.segments:
        out.append("%s --> %s\n%s\n" % (_timestamp(s.start, "."), _timestamp(s.end, "."), s.text.strip()))
    return "\n".join(out)


def openai_verbose(tr: Transcript, want_words: bool) -> dict:
    """OpenAI's verbose_json: segment ids count from 0, top-level `words` only when word timestamps were asked."""
    segments = [{
        "id": i,
        "seek": int(s.seek),
        "start": r2(s.start),
        "end": r2(s.end),
        "text": s.text,
        "tokens": [int(t) for t in s.tokens],
        "temperature": float(s.temperature),
        "avg_logprob": float(s.avg_logprob),
        "compression_ratio": float(s.compression_ratio),
        "no_speech_prob": float(s.no_speech_prob),
    } for i, s in enumerate(tr.segments)]
    out = {
        "task": "transcribe",
        "language": language_name(tr.language),
        "duration": r2(tr.duration),
        "text": tr.text,
        "segments": segments,
    }
    if want_words:
        out["words"] = [{"word": w.word.strip(), "start": r2(w.start), "end": r2(w.end)} for w in tr.words()]
    out["usage"] = {"type": "duration", "seconds": int(math.ceil(tr.duration))}
    return out


def whispercpp_verbose(tr: Transcript) -> dict:
    """whisper.cpp server's verbose_json: words inside each segment (with their leading space), no seek."""
    segments = [{
        "id": i,
        "text": s.text,
        "start": r2(s.start),
        "end": r2(s.end),
        "tokens": [int(t) for t in s.tokens],
        "words": [{"word": w.word, "start": r2(w.start), "end": r2(w.end), "t_dtw": -1,
                   "probability": float(w.probability)} for w in s.words],
        "temperature": float(s.temperature),
        "avg_logprob": float(s.avg_logprob),
        "no_speech_prob": float(s.no_speech_prob),
    } for i, s in enumerate(tr.segments)]
    name = language_name(tr.language)
    return {
        "task": "transcribe",
        "language": name,
        "duration": r2(tr.duration),
        "text": tr.text,
        "segments": segments,
        "detected_language": name,
        "detected_language_probability": float(tr.language_probability),
        "language_probabilities": dict(tr.language_probabilities) or {tr.language: float(tr.language_probability)},
    }
