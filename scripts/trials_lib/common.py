"""What every trial shares: the processes it starts on 127.0.0.1, the worker's configuration, and the table.

Each trial module has `run(ctx) -> list[Row]`. A trial starts the real servers it needs (the local speech server in
echo mode or with its faults, nats-server with JetStream, SeaweedFS for S3, `audio-worker serve`) through the classes
here, all bound to 127.0.0.1 and stopped when the trial ends, and counts what it saw into Rows.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "fixtures", "audio")
ACCESS_KEY = "AKTRIALS"
SECRET_KEY = "sk-trials-secret-do-not-log-0451"
BUCKET = "assets"


@dataclasses.dataclass
class Row:
    """One line of the table. `passed` counts runs whose every check held; `worst` names the worst case seen."""
    trial: str
    runs: int = 0
    passed: int = 0
    lost: int = 0
    done_twice: int = 0
    crashes: int = 0
    worst: str = ""
    failures: list = dataclasses.field(default_factory=list)

    def tally(self, failures: list) -> bool:
        """Counts one run, passed when `failures` (messages of the checks that failed) is empty."""
        self.runs += 1
        self.passed += int(not failures)
        for failure in failures:
            self.check(False, failure)
        return not failures

    def check(self, ok: bool, what: str) -> bool:
        """Records a failed check (the first few in full) and returns `ok`."""
        if not ok and len(self.failures) < 20:
            self.failures.append(what)
        return ok


@dataclasses.dataclass
class Context:
    binary: str
    work: str
    quick: bool
    rng: random.Random
    verbose: bool = False

    def log(self, *parts):
        if self.verbose:
            print("  ..", *parts, file=sys.stderr, flush=True)

    def scratch(self, name: str) -> str:
        return tempfile.mkdtemp(prefix=name + "-", dir=self.work)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on 127.0.0.1:%d after %d s" % (port, timeout))


def read_listening(process: subprocess.Popen, what: str, timeout: float = 120) -> int:
    """Reads `LISTENING <port>` from a child's stdout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("%s exited before listening" % what)
        if line.startswith("LISTENING "):
            return int(line.split()[1])
    raise RuntimeError("%s did not start in %d s" % (what, timeout))


def python() -> str:
    venv = os.path.join(ROOT, ".venv", "bin", "python")
    return venv if os.path.exists(venv) else sys.executable


class SpeechServer:
    """scripts/local-speech-server.py on a free loopback port: echo mode unless `real`, with optional fault flags."""

    def __init__(self, ctx: Context, real: bool = False, args=()):
        command = [python(), os.path.join(HERE, "local-speech-server.py"), "--port", "0"]
        if not real:
            command.append("--echo")
        self.process = subprocess.Popen(command + list(args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True)
        self.port = read_listening(self.process, "the speech server")
        self.base = "http://127.0.0.1:%d" % self.port

    def admin(self, method: str, path: str, body=None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.load(reply)

    def faults(self, **settings) -> None:
        self.admin("POST", "/admin/faults", settings)

    def stats(self) -> dict:
        return self.admin("GET", "/admin/stats")

    def reset_stats(self) -> None:
        self.admin("POST", "/admin/reset-stats", {})

    def requests(self, route: str) -> int:
        return int(self.stats()["requests"].get(route, 0))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.process.stdout.close()


class NATSServer:
    """`nats-server -js` on a loopback port with its store in `store`; stop() and start() again keep both."""

    def __init__(self, ctx: Context):
        self.port = free_port()
        self.store = ctx.scratch("nats")
        self.process = None
        self.start()

    @property
    def url(self) -> str:
        return "nats://127.0.0.1:%d" % self.port

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", self.store],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.store, ignore_errors=True)


class S3Server:
    """SeaweedFS through scripts/s3-server, credentials enforced, bucket `assets`; stop() and start() keep data."""

    def __init__(self, ctx: Context, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY):
        self.data = ctx.scratch("s3")
        self.access_key, self.secret_key = access_key, secret_key
        self.port = 0
        self.process = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [python(), os.path.join(HERE, "s3-server"), "--access-key", self.access_key, "--secret-key",
             self.secret_key, "--bucket", BUCKET, "--data", self.data, "--port", str(self.port),
             "--stop-on-stdin-eof"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.port = read_listening(self.process, "the S3 server")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)
            self.process.stdout.close()

    def env(self) -> dict:
        return {"MINIO_ENDPOINT": "127.0.0.1:%d" % self.port, "MINIO_ACCESS_KEY": self.access_key,
                "MINIO_SECRET_KEY": self.secret_key}

    def client(self):
        import boto3
        return boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % self.port, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name="us-east-1")


def worker_env(speech: SpeechServer | None, **extra) -> dict:
    """The environment of a worker whose local providers are `speech` and whose cloud providers have no key."""
    env = dict(os.environ, OPENAI_API_KEY="", ELEVENLABS_API_KEY="", AUDIO_WORKER_API_KEY="")
    for name in ("MINIO_ENDPOINT", "AUDIO_WORKER_QUEUE", "NATS_URL", "AUDIO_WORKER_LISTEN"):
        env.pop(name, None)
    if speech is not None:
        env["AUDIO_WORKER_API_BASE__whisper_small_local__local"] = speech.base + "/v1"
        env["AUDIO_WORKER_API_BASE__kokoro_local__local"] = speech.base + "/v1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def worker_config(ctx: Context, directory: str, **settings) -> str:
    """config/audio-worker.toml with `key = value` lines replaced (each key must occur exactly once; a key that
    several tables have is named with its table, `**{"worker.concurrency": 1}`), written to `directory`; values are
    TOML literals. Returns the path."""
    with open(os.path.join(ROOT, "config", "audio-worker.toml")) as defaults:
        text = defaults.read()
    for key, value in settings.items():
        section, _, name = key.rpartition(".")
        pattern = r"^%s = [^#\n]*" % re.escape(name)
        if section:
            # "worker.concurrency": the key within its [worker] table only.
            head = re.search(r"^\[%s\][^\n]*\n" % re.escape(section), text, flags=re.MULTILINE)
            end = re.search(r"^\[", text[head.end():], flags=re.MULTILINE) if head else None
            stop = head.end() + end.start() if end else len(text)
            body, count = re.subn(pattern, "%s = %s " % (name, value), text[head.end():stop] if head else "",
                                  flags=re.MULTILINE)
            if head:
                text = text[:head.end()] + body + text[stop:]
        else:
            text, count = re.subn(pattern, "%s = %s " % (name, value), text, flags=re.MULTILINE)
        if count != 1:
            raise ValueError("config key %s occurs %d times" % (key, count))
    path = os.path.join(directory, "worker.toml")
    with open(path, "w") as handle:
        handle.write(text)
    return path


GATEWAY = os.path.join(ROOT, "config", "tensorzero.toml")


def cli(ctx: Context, args, env: dict, config: str, data_dir: str, timeout: float = 120, check: bool = True):
    """Runs one audio-worker command; returns (exit code, stdout, stderr)."""
    command = [ctx.binary, *args, "--config", config, "--gateway-config", GATEWAY, "--data-dir", data_dir]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (" ".join(args[:2]), done.returncode, done.stderr[-2000:]))
    return done.returncode, done.stdout, done.stderr


def cli_json(ctx: Context, args, env: dict, config: str, data_dir: str, timeout: float = 120):
    return json.loads(cli(ctx, args, env, config, data_dir, timeout)[1])


class Serve:
    """`audio-worker serve`, its JSON log kept in `log_path`. `listen` None runs it with --no-api."""

    def __init__(self, ctx: Context, config: str, data_dir: str, env: dict, args=(), listen: str | None = None,
                 log_path: str | None = None, wait_ready: bool = True, wrap=None):
        if log_path is None:
            os.makedirs(data_dir, exist_ok=True)
        self.log_path = log_path or os.path.join(data_dir, "serve-%d.log" % time.time_ns())
        self.log = open(self.log_path, "a")
        command = [ctx.binary, "serve", "--config", config, "--gateway-config", GATEWAY, "--data-dir", data_dir,
                   "--log", "json"]
        command += ["--listen", listen] if listen else ["--no-api"]
        self.started = time.monotonic()
        command += list(args)
        # `wrap` runs it elsewhere (in a network namespace); the process is still the worker itself.
        self.process = subprocess.Popen(wrap(command) if wrap else command, env=env, cwd=ROOT,
                                        stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = None
        if wait_ready:
            self.wait_ready(listen is not None)

    def records(self) -> list[dict]:
        out = []
        with open(self.log_path) as handle:
            for line in handle:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"msg": "unparsed", "line": line})
        return out

    def wait_ready(self, http: bool, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for record in self.records():
                if http and record.get("msg") == "http listening":
                    self.port = int(record["port"])
                    return
                if not http and record.get("msg") == "worker started":
                    return
            if self.process.poll() is not None:
                raise RuntimeError("serve exited %s: %s" % (self.process.returncode, open(self.log_path).read()[-3000:]))
            time.sleep(0.02)
        raise RuntimeError("serve did not start in %d s" % timeout)

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.log.close()

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None when it is still running after `timeout` (then it is killed)."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        self.log.close()
        return code

    def stop(self, timeout: float = 60) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def alive(self) -> bool:
        return self.process.poll() is None

    def crashed(self) -> bool:
        """Ended by a signal it did not ask for (a trap, an abort) rather than by exiting."""
        code = self.process.poll()
        return code is not None and code < 0 and -code not in (signal.SIGKILL, signal.SIGTERM)


def proc_status(pid: int) -> dict:
    """VmRSS (kB), Threads and open file descriptors of a process, from /proc."""
    out = {}
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "Threads"):
                out[name] = int(value.split()[0])
    out["fds"] = len(os.listdir("/proc/%d/fd" % pid))
    return out


def percentile(values, p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[index]


def print_table(rows: list[Row], out=sys.stdout) -> None:
    headers = ("trial", "runs", "passed", "lost", "done twice", "crashes", "worst case seen")
    cells = [(r.trial, str(r.runs), str(r.passed), str(r.lost), str(r.done_twice), str(r.crashes), r.worst)
             for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |"
    print(line, file=out)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|", file=out)
    for c in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(c, widths)) + " |", file=out)
    for r in rows:
        for failure in r.failures:
            print("FAILED %s: %s" % (r.trial, failure), file=out)
