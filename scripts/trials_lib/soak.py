"""Soak (issue 12 item 6): eight hours of audio through one `serve` with an instant provider (the echo speech
server); resident memory flat from hour 1 to hour 8 (growth <= 2 MB), no file descriptor or thread growth.

The audio is generated, not stored: two inputs of half an "hour" each, made with ffmpeg's lavfi (a FLAC of tones
and an Opus of pink noise, both with a pause every few seconds so the chunker cuts at silences). Every hour is the
same work, one job of each, so the hour-1 reading comes after both decoders and every path a job takes have run
once (an order such as A B B A made hour 2 the Opus decoder's first use: +1.9 MB of one-time growth counted as if
it were a leak). One job runs at a time: after hour N's second job has succeeded and serve has been idle for a
moment, the process's VmRSS, threads and open descriptors are read (the median of a few readings), so the eight
readings are of the same state. A background sampler also records the peak.

Full mode: hours of 3,600 s (8 h in all); the growth from the end of hour 1 to the end of hour 8 must be at most
2,048 kB. Quick mode: "hours" of 240 s (32 minutes in all), same checks, but the RSS bound is 4,096 kB: at the
target's rate (2 MB over 7 h) the 28 minutes between the quick readings would grow ~140 kB, far below what one
reading varies by, so quick mode can only catch gross leaks; 4 MB in 28 minutes is a leak of >= 8.7 MB an hour
(or >= 290 kB a job), which it does catch. Descriptors and threads may end at most 2 above hour 1's: libcurl's
connection cache to the speech server and the SQLite WAL/shm handles can each be open or not at an instant, and
Dispatch may keep one more worker thread parked; growth with the audio would be far more than 2.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import threading
import time
import urllib.request

from .common import Row, SpeechServer, Serve, cli, proc_status, worker_config, worker_env

HOURS = 8
FD_ALLOWANCE = 2
THREAD_ALLOWANCE = 2


def generate(directory: str, seconds: int) -> list:
    """The two inputs, each `seconds` long: tones with pauses (FLAC) and pink noise with pauses (Opus)."""
    a = os.path.join(directory, "tones.flac")
    b = os.path.join(directory, "noise.opus")
    ff = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
    # 5.6 s of a tone whose pitch steps every 7 s, then 1.4 s of silence.
    subprocess.run(ff + ["-i", "aevalsrc='0.3*sin(2*PI*(300+40*mod(floor(t/7),5))*t)*lt(mod(t,7),5.6)'"
                         ":s=16000:d=%d" % seconds, "-c:a", "flac", "-sample_fmt", "s16", a], check=True)
    # 7.3 s of pink noise, then 1.7 s of silence.
    subprocess.run(ff + ["-i", "anoisesrc=c=pink:r=16000:a=0.2:d=%d:seed=7" % seconds,
                         "-af", "volume='lt(mod(t,9),7.3)':eval=frame", "-c:a", "libopus", "-b:a", "12k", b],
                   check=True)
    return [a, b]


class Sampler(threading.Thread):
    """Reads the process's status every two seconds; keeps the peak RSS."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_rss, self.samples = pid, 0, 0
        self.done = threading.Event()

    def run(self):
        while not self.done.wait(2):
            try:
                status = proc_status(self.pid)
            except OSError:
                return
            self.samples += 1
            self.peak_rss = max(self.peak_rss, status["VmRSS"])

    def stop(self):
        self.done.set()
        self.join(timeout=10)


def idle_reading(pid: int) -> dict:
    """The median of five readings over a second, taken once the worker has been idle for two."""
    time.sleep(2)
    readings = []
    for _ in range(5):
        readings.append(proc_status(pid))
        time.sleep(0.25)
    return {key: int(statistics.median(r[key] for r in readings)) for key in ("VmRSS", "Threads", "fds")}


def get_job(port: int, job_id: str) -> dict:
    with urllib.request.urlopen("http://127.0.0.1:%d/v1/jobs/%s" % (port, job_id), timeout=10) as reply:
        return json.load(reply)


def work_one(ctx, row: Row, serve: Serve, env, config, data_dir, path: str, hour: int, seconds: int, ok: bool):
    """Enqueues one input and waits for its job: (whether it reached a final state, ok so far)."""
    out = cli(ctx, ["enqueue", "transcribe", path], env, config, data_dir)[1]
    job_id = json.loads(out)["id"]
    # A job of `seconds` takes about seconds/60 s here (debug build, busy machine); ten times that is a hang.
    deadline = max(60, seconds / 6)
    began = time.monotonic()
    job = {}
    while time.monotonic() - began < deadline and serve.alive():
        try:
            job = get_job(serve.port, job_id)
        except OSError:
            job = {}
        if job.get("status") in ("succeeded", "dead", "cancelled"):
            break
        time.sleep(0.5)
    took = time.monotonic() - began
    status, name = job.get("status"), os.path.basename(path)
    if status not in ("succeeded", "dead", "cancelled"):
        row.lost += 1
        row.check(False, "hour %d (%s): job %s still %s after %.0f s" % (hour, name, job_id, status, took))
        return False, False
    duration = (job.get("result") or {}).get("duration")
    ok = row.check(status == "succeeded" and duration is not None and abs(duration - seconds) < 1,
                   "hour %d (%s): %s, %s s of audio (want %d): %s" % (
                       hour, name, status, duration, seconds, json.dumps(job.get("error"))[:300])) and ok
    ctx.log("soak: hour %d %s %s in %.1f s, %d chunks" % (hour, name, status, took,
                                                         (job.get("progress") or {}).get("done", 0)))
    return True, ok


def run(ctx) -> list[Row]:
    row = Row("soak", runs=1)
    unit = 240 if ctx.quick else 3600
    rss_bound = 4096 if ctx.quick else 2048
    directory, data_dir = ctx.scratch("soak-audio"), ctx.scratch("soak-data")
    inputs = generate(directory, unit // 2)
    speech = SpeechServer(ctx)
    config = worker_config(ctx, data_dir, max_attempts=1)
    env = worker_env(speech)
    serve = Serve(ctx, config, data_dir, env, listen="127.0.0.1:0")
    sampler = Sampler(serve.process.pid)
    sampler.start()
    readings = []
    ok = True
    try:
        start = idle_reading(serve.process.pid)
        ctx.log("soak: serve idle before any audio: %s" % start)
        finished = True
        for hour in range(1, HOURS + 1):
            for path in inputs:
                finished, ok = work_one(ctx, row, serve, env, config, data_dir, path, hour, unit // 2, ok)
                if not finished:
                    break
            if not finished:   # a job that never ended: the hours after it would measure a stuck worker
                break
            reading = idle_reading(serve.process.pid)
            readings.append(reading)
            ctx.log("soak: hour %d done; idle %s" % (hour, reading))
        alive = serve.alive()
        row.crashes += 0 if alive else 1
        ok = row.check(alive, "serve died (exit %s) during the soak; log %s" % (serve.process.poll(),
                                                                              serve.log_path)) and ok
        sent = speech.requests("/v1/audio/transcriptions")
        # Every hour is cut into chunks of at most 30 s, so at least unit/30 requests each.
        ok = row.check(sent >= len(readings) * unit / 30, "the provider got %d requests for %d hours of %d s" % (
            sent, len(readings), unit)) and ok
        if len(readings) == HOURS:
            first, last = readings[0], readings[-1]
            growth = last["VmRSS"] - first["VmRSS"]
            row.worst = "RSS hour1 %.1f MB -> hour8 %.1f MB (%+d kB), fds %d->%d, threads %d->%d; peak %.1f MB" % (
                first["VmRSS"] / 1024, last["VmRSS"] / 1024, growth, first["fds"], last["fds"], first["Threads"],
                last["Threads"], sampler.peak_rss / 1024)
            if ctx.quick:
                row.worst += " (quick: %d-s hours)" % unit
            ok = row.check(growth <= rss_bound, "RSS grew %d kB from hour 1 to hour 8 (bound %d kB); hourly: %s" % (
                growth, rss_bound, [r["VmRSS"] for r in readings])) and ok
            ok = row.check(last["fds"] <= first["fds"] + FD_ALLOWANCE, "fds %d at hour 1, %d at hour 8; hourly: %s"
                           % (first["fds"], last["fds"], [r["fds"] for r in readings])) and ok
            ok = row.check(last["Threads"] <= first["Threads"] + THREAD_ALLOWANCE,
                           "threads %d at hour 1, %d at hour 8; hourly: %s" % (
                               first["Threads"], last["Threads"], [r["Threads"] for r in readings])) and ok
        else:
            ok = row.check(False, "only %d of %d hours finished" % (len(readings), HOURS)) and ok
            row.worst = "only %d of %d hours finished" % (len(readings), HOURS)
    finally:
        sampler.stop()
        code = serve.stop()
        speech.stop()
    if code != 0 and row.crashes == 0:
        ok = row.check(False, "serve exited %s on SIGTERM after the soak" % code) and ok
    if serve.crashed():
        row.crashes = max(row.crashes, 1)
    row.passed = 1 if ok else 0
    return [row]
