"""Storage (issue 12 item 4): S3 stopped mid-job and restarted, wrong S3 credentials, a full disk during an output
write, and the SQLite queue locked by another process. In every case no job is lost, none hangs, serve stays up.

- `storage s3 restart`: a three-chunk transcription from SeaweedFS with a slow echo provider; S3 is stopped as soon as
  the first chunk is sent and started again (same port, same data) seconds later. The job must succeed on a retry
  with complete outputs in S3, and its finished chunks (checkpointed) must not be sent again.
- `storage s3 wrong creds`: serve with a wrong MINIO_SECRET_KEY; a transcription (reads S3) and a synthesis (writes
  S3) must both end dead with a storage error that names neither secret, and serve must still answer.
- `storage disk full`: the data directory is a small tmpfs; a ballast file leaves too little room for a synthesis's
  output, so the write fails: the job is failed with a retry scheduled and nothing (not even a temporary file) is
  left under the store; with the ballast removed its retry succeeds with the whole file.
- `storage sqlite locked`: another process holds `BEGIN EXCLUSIVE` on DATA/queue.sqlite while serve works jobs and
  `enqueue` runs; the enqueue must wait and succeed or fail with a clear error, and every job must complete, once,
  after the lock goes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import wave

from .common import (BUCKET, FIXTURES, SECRET_KEY, Row, S3Server, Serve, SpeechServer, cli, cli_json, worker_config,
                     worker_env)

FINAL = ("succeeded", "dead", "cancelled")


def long_wav(path: str, copies: int) -> float:
    """speech.wav repeated `copies` times (about 10.5 s each, with its pauses); returns the duration."""
    with wave.open(os.path.join(FIXTURES, "speech.wav")) as source:
        params, frames = source.getparams(), source.readframes(source.getnframes())
    with wave.open(path, "wb") as out:
        out.setparams(params)
        for _ in range(copies):
            out.writeframes(frames)
    return copies * len(frames) / (params.sampwidth * params.nchannels) / params.framerate


def error_text(job: dict) -> str:
    error = job.get("error")
    if error is None:
        return ""
    return error if isinstance(error, str) else json.dumps(error)


def get_job(port: int, job_id: str) -> dict:
    import requests
    return requests.get("http://127.0.0.1:%d/v1/jobs/%s" % (port, job_id), timeout=30).json()


def post_job(port: int, body: dict) -> dict:
    import requests
    answer = requests.post("http://127.0.0.1:%d/v1/jobs" % port, json=body, timeout=30)
    if answer.status_code != 202:
        raise RuntimeError("POST /v1/jobs answered %d: %s" % (answer.status_code, answer.text[:500]))
    return answer.json()


def wait_final(fetch, deadline_s: float, serve: Serve, seen=None) -> dict:
    """Polls `fetch()` until the job is final, serve dies or the deadline passes; `seen` collects its statuses."""
    deadline = time.monotonic() + deadline_s
    job = fetch()
    while job["status"] not in FINAL and time.monotonic() < deadline and serve.alive():
        time.sleep(0.2)
        job = fetch()
        if seen is not None:
            seen.add(job["status"])
    return job


# The severity of the case each row's `worst` names (a longer outage, a longer lock, less free space is worse).
_WORST: dict[str, float] = {}


def finish(row: Row, failures: list, serve: Serve | None, what: str, lost: int = 0, twice: int = 0,
           severity: float = 0):
    """Stops serve and counts the run into `row`; `worst` names a failed run, else the most severe one."""
    if serve is not None:
        alive = serve.alive()
        serve.stop()
        if not alive or serve.crashed():
            row.crashes += 1
            failures.append("serve died: " + open(serve.log_path).read()[-1500:])
    row.lost += lost
    row.done_twice += twice
    row.tally(failures)
    if failures:
        severity = float("inf")
    if not row.worst or severity >= _WORST.get(row.trial, float("-inf")):
        row.worst, _WORST[row.trial] = what, severity


# --- S3 stopped mid-job ---------------------------------------------------------------------------------------------

def s3_restart(ctx, row: Row, s3: S3Server, down_s: float):
    directory = ctx.scratch("s3-restart")
    speech = SpeechServer(ctx, args=["--latency-ms", "1500"])
    serve, failures, lost, twice, what = None, [], 0, 0, ""
    key = "in/long-%d.wav" % time.time_ns()
    try:
        duration = long_wav(os.path.join(directory, "long.wav"), 6)
        s3.client().upload_file(os.path.join(directory, "long.wav"), BUCKET, key)
        config = worker_config(ctx, directory, retry_base_s=1, retry_max_s=4, max_attempts=10)
        serve = Serve(ctx, config, directory, worker_env(speech, **s3.env()), listen="127.0.0.1:0")
        job = post_job(serve.port, {"transcription": {"key": key, "formats": ["json", "txt"]}})
        # The input is read from S3 before the first chunk goes out; stop S3 then, while chunks are being sent.
        deadline = time.monotonic() + 60
        while speech.requests("/v1/audio/transcriptions") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        s3.stop()
        stopped = time.monotonic()
        time.sleep(down_s)
        s3.start()
        ctx.log("s3 down for %.1f s" % (time.monotonic() - stopped))
        job = wait_final(lambda: get_job(serve.port, job["id"]), 180, serve)
        sent = speech.requests("/v1/audio/transcriptions")
        chunks = (job.get("result") or {}).get("chunks") or []
        what = "S3 down %.1f s mid-job: %s after %d attempts, %d chunks, %d chunk requests" % (
            down_s, job["status"], job["attempts"], len(chunks), sent)
        if job["status"] not in FINAL:
            lost = 1
            failures.append("job still %s after S3 came back: %s" % (job["status"], error_text(job)))
        elif not row.check(job["status"] == "succeeded", "job %s: %s" % (job["status"], error_text(job))):
            failures.append("job did not succeed after S3 came back")
        # The outage must have reached the job (a failed attempt), or the run tested nothing.
        failed = [r for r in serve.records() if r.get("msg") == "job failed"]
        if not (job["attempts"] >= 2 and failed):
            failures.append("the S3 outage never failed an attempt (attempts %d): the run tested nothing" %
                            job["attempts"])
        if job["status"] == "succeeded":
            client = s3.client()
            base = "transcripts/" + key
            transcript = json.loads(client.get_object(Bucket=BUCKET, Key=base + ".json")["Body"].read())
            text = client.get_object(Bucket=BUCKET, Key=base + ".txt")["Body"].read().decode()
            if len(chunks) < 2:
                failures.append("only %d chunks: the input was meant to need several" % len(chunks))
            if abs(transcript.get("duration", 0) - duration) > 0.1:
                failures.append("stored transcript's duration %s, input %.2f" % (transcript.get("duration"),
                                                                                 duration))
            # Echo answers one segment per chunk: every chunk's text must be in both outputs.
            if len(transcript.get("segments", [])) != len(chunks):
                failures.append("stored transcript has %d segments for %d chunks" % (
                    len(transcript.get("segments", [])), len(chunks)))
            if transcript.get("text", "").split() != text.split():
                failures.append("the stored .txt is not the .json's text")
            # Checkpointed chunks are not sent again by the retry.
            if sent > len(chunks):
                twice = 1
                failures.append("%d chunk requests for %d chunks: finished chunks were sent again" % (
                    sent, len(chunks)))
    except Exception as error:
        failures.append("s3 restart: %r" % error)
        if s3.process.poll() is not None:
            s3.start()
    finally:
        finish(row, failures, serve, what or "s3 restart: see failures", lost, twice, down_s)
        speech.stop()


# --- wrong credentials ---------------------------------------------------------------------------------------------

def s3_wrong_creds(ctx, row: Row, s3: S3Server):
    directory = ctx.scratch("s3-creds")
    speech = SpeechServer(ctx)
    wrong = "sk-wrong-secret-%d-trials" % ctx.rng.randrange(10 ** 9)
    serve, failures, lost, what = None, [], 0, ""
    key = "in/creds-%d.wav" % time.time_ns()
    try:
        s3.client().upload_file(os.path.join(FIXTURES, "speech.wav"), BUCKET, key)
        config = worker_config(ctx, directory, retry_base_s=1, max_attempts=2)
        env = worker_env(speech, **dict(s3.env(), MINIO_SECRET_KEY=wrong))
        serve = Serve(ctx, config, directory, env, listen="127.0.0.1:0")
        jobs = {"transcription (reads S3)": post_job(serve.port, {"transcription": {"key": key}}),
                "synthesis (writes S3)": post_job(serve.port, {"synthesis": {"text": "Wrong credentials, %d." %
                                                                                    ctx.rng.randrange(10 ** 6)}})}
        seen = []
        for name, job in jobs.items():
            job = wait_final(lambda: get_job(serve.port, job["id"]), 120, serve)
            message = error_text(job)
            seen.append("%s %s" % (name.split()[0], job["status"]))
            if job["status"] not in FINAL:
                lost += 1
                failures.append("%s still %s after 120 s" % (name, job["status"]))
                continue
            if job["status"] != "dead":
                failures.append("%s ended %s, expected dead" % (name, job["status"]))
            kind = (job.get("error") or {}).get("kind") if isinstance(job.get("error"), dict) else None
            if kind != "storage":
                failures.append("%s: error kind %s, expected storage: %s" % (name, kind, message[:300]))
            lowered = message.lower()
            if not any(word in lowered for word in ("403", "denied", "signature", "credential", "forbidden")):
                failures.append("%s: the error does not say the credentials were refused: %s" % (name, message[:300]))
            ctx.log(name, job["status"], message[:300])
        log = open(serve.log_path).read()
        for secret in (wrong, SECRET_KEY):
            for name, job in jobs.items():
                if secret in json.dumps(get_job(serve.port, job["id"])):
                    failures.append("a secret appears in the %s job's record" % name)
            if secret in log:
                failures.append("a secret appears in serve's log")
        import requests
        health = requests.get("http://127.0.0.1:%d/healthz" % serve.port, timeout=10)
        if health.status_code != 200:
            failures.append("/healthz answered %d after the storage errors" % health.status_code)
        what = "wrong secret: " + ", ".join(seen)
    except Exception as error:
        failures.append("wrong creds: %r" % error)
    finally:
        finish(row, failures, serve, what or "wrong creds: see failures", lost)
        speech.stop()


# --- disk full --------------------------------------------------------------------------------------------------

def disk_full(ctx, row: Row, size_mb: int, free_kb: int):
    mount_point = ctx.scratch("tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dM" % size_mb, "tmpfs", mount_point],
                          capture_output=True, text=True)
    if done.returncode != 0:
        row.worst = "skipped: mount -t tmpfs failed: %s" % (done.stderr.strip() or done.returncode)
        return False
    speech = SpeechServer(ctx)
    serve, failures, lost, what = None, [], 0, ""
    try:
        config = worker_config(ctx, ctx.scratch("disk-config"), retry_base_s=1, retry_max_s=2, max_attempts=8)
        serve = Serve(ctx, config, mount_point, worker_env(speech), listen="127.0.0.1:0")
        # A long text: about 30 s of echo speech, 1.4 MB of 24 kHz WAV, more than the room left below.
        text = " ".join("Sentence number %d fills the little disk." % i for i in range(12))
        ballast = os.path.join(mount_point, "ballast")
        with open(ballast, "wb") as handle:
            stat = os.statvfs(mount_point)
            handle.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - free_kb * 1024))
        job = post_job(serve.port, {"synthesis": {"text": text}})
        final_key = os.path.join(mount_point, "store", BUCKET, job["payload"]["synthesis"]["output_key"])
        # Wait for an attempt to fail with a retry scheduled.
        deadline = time.monotonic() + 60
        while job["status"] != "failed" and job["status"] not in FINAL and time.monotonic() < deadline:
            time.sleep(0.05)
            job = get_job(serve.port, job["id"])
        failed_with = error_text(job)
        failed_message = job["error"].get("message", "") if isinstance(job.get("error"), dict) else failed_with
        ctx.log("disk full:", job["status"], failed_with[:300])
        if job["status"] != "failed":
            failures.append("the job did not fail on the full disk (status %s): %s" % (job["status"], failed_with))
        elif not any(w in failed_with.lower() for w in ("space", "enospc", "full", "quota")):
            failures.append("the failure does not say the disk is full: %s" % failed_with[:300])
        if os.path.exists(final_key):
            failures.append("a file is at the final key after the failed write (%d bytes)" %
                            os.path.getsize(final_key))
        os.remove(ballast)
        job = wait_final(lambda: get_job(serve.port, job["id"]), 120, serve)
        if job["status"] not in FINAL:
            lost = 1
            failures.append("job still %s after the disk was freed" % job["status"])
        elif job["status"] != "succeeded":
            failures.append("job %s after the disk was freed: %s" % (job["status"], error_text(job)))
        else:
            result = job["result"]
            with wave.open(final_key) as out:
                seconds = out.getnframes() / out.getframerate()
            if abs(seconds - result["duration"]) > 0.05 or os.path.getsize(final_key) != result["bytes"]:
                failures.append("stored WAV is %.2f s / %d bytes, the result says %.2f s / %d bytes" % (
                    seconds, os.path.getsize(final_key), result["duration"], result["bytes"]))
        leftovers = [os.path.join(d, f) for d, _, files in os.walk(os.path.join(mount_point, "store")) for f in files
                     if f.startswith(".audio-worker-tmp-")]
        if leftovers:
            failures.append("temporary files left in the store: %s" % leftovers[:3])
        reason = failed_message.rpartition("failed: ")[2][-60:]
        what = "%d MB tmpfs, %d kB free: failed (%s), then %s on attempt %d" % (
            size_mb, free_kb, reason, job["status"], job["attempts"])
    except Exception as error:
        failures.append("disk full: %r" % error)
    finally:
        finish(row, failures, serve, what or "disk full: see failures", lost, severity=-free_kb)
        speech.stop()
        subprocess.run(["umount", mount_point], capture_output=True)
    return True


# --- SQLite locked --------------------------------------------------------------------------------------------------

LOCKER = r"""
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN EXCLUSIVE")
print("LOCKED", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
print("RELEASED", flush=True)
"""


def sqlite_locked(ctx, row: Row, hold_s: float):
    directory = ctx.scratch("sqlite-locked")
    speech = SpeechServer(ctx, args=["--latency-ms", "700"])
    serve, failures, lost, twice, what = None, [], 0, 0, ""
    locker = None
    try:
        config = worker_config(ctx, directory, retry_base_s=1, max_attempts=5, lease_s=4, heartbeat_s=1)
        env = worker_env(speech)
        ids = [cli_json(ctx, ["enqueue", "synthesize", "Queued before the lock, number %d." % i], env, config,
                        directory)["id"] for i in range(3)]
        serve = Serve(ctx, config, directory, env, listen=None)
        # Lock while the first job is with the provider.
        deadline = time.monotonic() + 30
        while speech.requests("/v1/audio/speech") == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, os.path.join(directory, "queue.sqlite"),
                                   str(hold_s)], stdout=subprocess.PIPE, text=True)
        if locker.stdout.readline().strip() != "LOCKED":
            raise RuntimeError("the locker could not lock the database")
        started = time.monotonic()
        code, out, err = cli(ctx, ["enqueue", "synthesize", "Enqueued during the lock."], env, config, directory,
                             timeout=120, check=False)
        waited = time.monotonic() - started
        if code == 0:
            ids.append(json.loads(out)["id"])
            enqueue = "enqueue waited %.1f s and succeeded" % waited
        else:
            enqueue = "enqueue failed after %.1f s (%s)" % (waited, err.strip().rpartition(": ")[2][:60])
            if not any(w in err.lower() for w in ("locked", "busy")):
                failures.append("enqueue under the lock failed without saying why: exit %d: %s" % (code, err[-500:]))
        ctx.log(enqueue)
        locker.wait(timeout=hold_s + 60)
        # After the lock: every job completes (the one enqueued during it too, if it was taken).
        for job_id in ids:
            job = wait_final(lambda: cli_json(ctx, ["jobs", "show", job_id], env, config, directory), 120, serve)
            if job["status"] not in FINAL:
                lost += 1
                failures.append("job %s still %s after the lock went" % (job_id, job["status"]))
            elif job["status"] != "succeeded":
                failures.append("job %s %s: %s" % (job_id, job["status"], error_text(job)))
        sent = speech.requests("/v1/audio/speech")
        if sent > len(ids):
            twice = sent - len(ids)
            failures.append("%d speech requests for %d one-piece jobs: work was done again" % (sent, len(ids)))
        problems = [r for r in serve.records() if r.get("level") in ("error", "critical")]
        what = "lock held %.0f s: %s; %d jobs, %d requests; error logs: %s" % (
            hold_s, enqueue, len(ids), sent, ", ".join(sorted({str(r.get("msg")) for r in problems})) or "none")
    except Exception as error:
        failures.append("sqlite locked: %r" % error)
    finally:
        if locker is not None and locker.poll() is None:
            locker.kill()
            locker.wait()
        finish(row, failures, serve, what or "sqlite locked: see failures", lost, twice, hold_s)
        speech.stop()


def run(ctx) -> list[Row]:
    restart, creds = Row(trial="storage s3 restart"), Row(trial="storage s3 wrong creds")
    full, locked = Row(trial="storage disk full"), Row(trial="storage sqlite locked")
    runs = 1 if ctx.quick else 3
    s3 = S3Server(ctx)
    try:
        for i in range(runs):
            s3_restart(ctx, restart, s3, 6 if ctx.quick else ctx.rng.uniform(4, 15))
        for i in range(runs):
            s3_wrong_creds(ctx, creds, s3)
    finally:
        s3.stop()
    for i in range(runs):
        if not disk_full(ctx, full, 16, ctx.rng.choice([200, 400, 800])):
            break
    holds = [3.0, 8.0] if ctx.quick else [3.0, 8.0, 3.0, 12.0, ctx.rng.uniform(1, 15)]
    for hold in holds:
        sqlite_locked(ctx, locked, hold)
    return [restart, creds, full, locked]
