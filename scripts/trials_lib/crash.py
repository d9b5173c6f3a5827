"""Crash anywhere (issue 12, item 1): `kill -9` of `serve` at a random moment, then a restart, on both backends.

Every run starts from an empty queue (a fresh SQLite data directory, or a fresh nats-server with JetStream) and
enqueues the same five jobs: three transcriptions of a 94 s recording (WAV with its 16 kHz copy uploaded, MP3, Opus;
every transcript format) and two syntheses of about 2,000 characters. Inputs and outputs live on SeaweedFS (S3).
The provider is the local speech server in echo mode with 120 ms of latency, so a run spends its time in decode,
provider waits, checkpoint writes, uploads and settles, as a real one does. `serve` is killed at a moment drawn
uniformly over the length of a clean run; then:

- at the kill, every object already under a job's output keys must equal the clean run's (nothing partial visible);
- the checkpoints each job holds are read from the ledger (`jobs show`), and the provider's counters reset;
- a second `serve --drain` finishes the work. Every job must end succeeded ("lost" counts those that did not), no
  job may be settled twice ("done twice": two "job succeeded" log lines), the provider must receive exactly the
  chunks that were not checkpointed (a checkpointed chunk sent again shows as one request too many) and the pieces
  of every synthesis not finished at the kill, and every output must equal the clean run's.

Outputs are compared byte for byte after two substitutions: the run's own key prefix (runs/rN/) stands for the clean
run's, and the per-chunk `latency_ms` of the JSON transcript (how long the provider took, which differs in every run)
is dropped. Everything else, including each chunk's attempts, provider and times, must match exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import time

from .common import FIXTURES, NATSServer, Row, S3Server, Serve, SpeechServer, cli_json, worker_config, worker_env

# Two texts of numbered sentences: no two pieces of a synthesis carry the same text, so a trial that identifies a
# piece by its text's digest (the cluster trial) can tell every one apart.
TEXT_A = " ".join("Sentence %d of the archive note: %s" % (i + 1, line) for i, line in enumerate([
    "The archive holds ten thousand hours of lectures, interviews and field recordings.",
    "Each one is decoded, cut at its pauses and sent to the local recognizer first.",
    "When the local recognizer is busy or down, the cloud takes the chunk instead.",
    "Nothing is sent twice, and nothing is lost when a machine goes away mid-job.",
] * 5))
TEXT_B = " ".join("Item %d of the news: %s" % (i + 1, line) for i, line in enumerate([
    "Good evening, and welcome to the late news.",
    "Heavy rain is expected overnight in the north, with clearer skies by morning.",
    "The council will meet on Thursday to discuss the new bridge across the river.",
    "In sport, the home team won its third match in a row on Saturday afternoon.",
] * 5))


def make_inputs(ctx, s3) -> dict:
    """A 94 s recording (the speech fixture eight times, with pauses of different lengths and a faint noise floor,
    so that no two chunks are the same audio) as WAV, MP3 and Opus, uploaded under inputs/."""
    directory = ctx.scratch("inputs")
    wav = os.path.join(directory, "long.wav")
    parts = []
    for _ in range(8):
        parts += ["-i", os.path.join(FIXTURES, "speech.wav")]
    graph = "".join("[%d:a]apad=pad_dur=%.2f[p%d];" % (i, 0.9 + 0.1 * i, i) for i in range(8))
    graph += "".join("[p%d]" % i for i in range(8)) + "concat=n=8:v=0:a=1[speech];"
    graph += "anoisesrc=color=pink:amplitude=0.002:seed=7:sample_rate=16000[noise];"
    graph += "[speech][noise]amix=inputs=2:duration=first:normalize=0[out]"
    subprocess.run(["ffmpeg", "-v", "error", "-y", *parts, "-filter_complex", graph, "-map", "[out]", "-ac", "1",
                    "-ar", "16000", wav], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", wav, "-ar", "44100", "-ac", "2", "-b:a", "96k",
                    os.path.join(directory, "long.mp3")], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", wav, "-c:a", "libopus", "-b:a", "32k",
                    os.path.join(directory, "long.opus")], check=True)
    client = s3.client()
    keys = {}
    for name in ("long.wav", "long.mp3", "long.opus"):
        key = "inputs/" + name
        client.upload_file(os.path.join(directory, name), "assets", key)
        keys[name] = key
    return keys


def jobs_for(run: str, inputs: dict) -> list[tuple[str, list[str]]]:
    """The five jobs of one run, as (name, `enqueue` arguments), kinds alternating so that a transcription and a
    synthesis run side by side; every key they write is under runs/RUN/."""
    prefix = "runs/%s/" % run
    return [
        ("wav", ["transcribe", inputs["long.wav"], "--output-prefix", prefix + "wav", "--formats", "json,srt,vtt,txt",
                 "--out-audio-key", prefix + "wav.16k.wav", "--idempotency-key", run + "-wav"]),
        ("speech-a", ["synthesize", TEXT_A, "--output-key", prefix + "a.wav", "--idempotency-key", run + "-a"]),
        ("mp3", ["transcribe", inputs["long.mp3"], "--output-prefix", prefix + "mp3", "--formats", "json,txt",
                 "--idempotency-key", run + "-mp3"]),
        ("speech-b", ["synthesize", TEXT_B, "--output-key", prefix + "b.flac", "--format", "flac",
                      "--idempotency-key", run + "-b"]),
        ("opus", ["transcribe", inputs["long.opus"], "--output-prefix", prefix + "opus", "--formats", "json,srt",
                  "--idempotency-key", run + "-opus"]),
    ]


def normalized(data: bytes, run: str, key: str) -> bytes:
    data = data.replace(("runs/%s/" % run).encode(), b"runs/rX/")
    if key.endswith(".json"):
        document = json.loads(data)
        for chunk in document.get("chunks", []):
            chunk.pop("latency_ms", None)
        data = json.dumps(document, sort_keys=True).encode()
    return data


def objects(client, run: str) -> dict:
    """Every object under runs/RUN/, by key, with its bytes."""
    out = {}
    listing = client.list_objects_v2(Bucket="assets", Prefix="runs/%s/" % run)
    for item in listing.get("Contents", []):
        out[item["Key"]] = client.get_object(Bucket="assets", Key=item["Key"])["Body"].read()
    return out


def log_records(path: str) -> list[dict]:
    """Every JSON line of a `serve` log."""
    out = []
    with open(path) as handle:
        for line in handle:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def settles(logs: list[str]) -> dict:
    """Job id -> "job succeeded" lines over every log."""
    counts = {}
    for path in logs:
        for record in log_records(path):
            if record.get("msg") == "job succeeded":
                counts[record["job"]] = counts.get(record["job"], 0) + 1
    return counts


class Backend:
    """One run's queue: a SQLite data directory, or that plus a fresh nats-server holding the queue and ledger."""

    def __init__(self, ctx, kind: str, speech, s3, lease_s: int = 3, nats_url: str | None = None, **env):
        self.kind = kind
        self.dir = ctx.scratch("run")
        self.data = os.path.join(self.dir, "data")
        self.nats = NATSServer(ctx) if kind == "jetstream" and nats_url is None else None
        extra = dict(s3.env(), **env)
        if kind == "jetstream":
            extra.update(AUDIO_WORKER_QUEUE="jetstream", NATS_URL=nats_url or self.nats.url)
        self.env = worker_env(speech, **extra)
        self.config = worker_config(ctx, self.dir, lease_s=lease_s, heartbeat_s=1, **{"worker.concurrency": 2})

    def close(self):
        if self.nats:
            self.nats.destroy()


def enqueue(ctx, backend: Backend, run: str, inputs: dict) -> dict:
    ids = {}
    for name, args in jobs_for(run, inputs):
        ids[name] = cli_json(ctx, ["enqueue", *args], backend.env, backend.config, backend.data)["id"]
    return ids


def show(ctx, backend: Backend, job_id: str) -> dict:
    return cli_json(ctx, ["jobs", "show", job_id], backend.env, backend.config, backend.data)


def final_states(ctx, row, backend, ids: dict, counts: dict, label: str) -> tuple[int, bool]:
    """Counts the jobs that did not succeed (lost) and those settled more than once (done twice, into the row);
    returns (lost, whether none was settled twice)."""
    lost, once = 0, True
    for name, job_id in ids.items():
        job = show(ctx, backend, job_id)
        if job["status"] != "succeeded":
            lost += 1
            row.check(False, "%s: job %s ended %s: %s" % (label, name, job["status"], job.get("error")))
        if counts.get(job_id, 0) > 1:
            row.done_twice += 1
            once = row.check(False, "%s: job %s settled %d times" % (label, name, counts[job_id]))
    return lost, once


def compare_outputs(row, s3, run, reference, label) -> bool:
    final = {key.replace("runs/%s/" % run, ""): normalized(data, run, key)
             for key, data in objects(s3.client(), run).items()}
    ok = row.check(set(final) == set(reference), "%s: outputs %s, the reference has %s"
                   % (label, sorted(final), sorted(reference)))
    for key in sorted(set(final) & set(reference)):
        ok &= row.check(final[key] == reference[key], "%s: %s differs from the reference" % (label, key))
    return ok


def clean_run(ctx, kind: str, speech, s3, inputs: dict):
    """The reference: the five jobs run to the end with no fault. Returns (seconds, outputs, work per job)."""
    backend = Backend(ctx, kind, speech, s3)
    try:
        ids = enqueue(ctx, backend, "r0", inputs)
        serve = Serve(ctx, backend.config, backend.data, backend.env, ["--drain"], wait_ready=False)
        code = serve.wait(300)
        seconds = time.monotonic() - serve.started
        if code != 0:
            raise RuntimeError("the clean run's serve exited %s: %s" % (code, open(serve.log_path).read()[-2000:]))
        work = {}
        for name, job_id in ids.items():
            job = show(ctx, backend, job_id)
            if job["status"] != "succeeded":
                raise RuntimeError("clean run: job %s is %s: %s" % (name, job["status"], job.get("error")))
            result = job["result"]
            work[name] = len(result["chunks"]) if "chunks" in result else len(result["pieces"])
        reference = {key.replace("runs/r0/", ""): normalized(data, "r0", key)
                     for key, data in objects(s3.client(), "r0").items()}
        return seconds, reference, work
    finally:
        backend.close()


def crash_run(ctx, row: Row, kind: str, run: str, speech, s3, inputs, clean_seconds, reference, work) -> dict:
    """One kill and restart; returns what the run saw, for the table's worst case."""
    backend = Backend(ctx, kind, speech, s3)
    client = s3.client()
    seen = {"run": run}
    ok = True
    try:
        ids = enqueue(ctx, backend, run, inputs)
        speech.reset_stats()
        first = Serve(ctx, backend.config, backend.data, backend.env, ["--drain"], wait_ready=False)
        delay = ctx.rng.uniform(0, clean_seconds)
        time.sleep(max(0.0, delay - (time.monotonic() - first.started)))
        in_flight = speech.stats()["in_flight"]
        finished_before = not first.alive()
        if first.crashed():
            row.crashes += 1
            ok = row.check(False, "%s %s: serve died by signal %d before the kill" % (kind, run, -first.process.poll()))
        if not finished_before:
            first.kill9()
        seen.update(at=round(delay, 2), of=round(clean_seconds, 2), in_flight=in_flight)

        # What a reader sees at the moment of the kill: every visible output is complete.
        for key, data in objects(client, run).items():
            short = key.replace("runs/%s/" % run, "")
            if short.startswith("inputs/"):
                continue
            ok &= row.check(normalized(data, run, key) == reference.get(short),
                            "%s %s: %s is visible after the kill but differs from the clean run's (%d bytes)"
                            % (kind, run, short, len(data)))

        # What the ledger holds: finished jobs and checkpointed chunks, which the restart must not send again.
        expected = {"transcribe": 0, "synthesize": 0}
        states, checkpointed = {}, 0
        for name, job_id in ids.items():
            job = show(ctx, backend, job_id)
            states[name] = job["status"]
            if job["status"] == "succeeded":
                continue
            if job["kind"] == "transcribe":
                checkpointed += job["checkpoints"]
                expected["transcribe"] += work[name] - job["checkpoints"]
            else:
                expected["synthesize"] += work[name]
        seen.update(running=sum(1 for s in states.values() if s == "running"),
                    finished=sum(1 for s in states.values() if s == "succeeded"), checkpointed=checkpointed)
        speech.reset_stats()

        second = Serve(ctx, backend.config, backend.data, backend.env, ["--drain"], wait_ready=False)
        code = second.wait(180)
        if code is None or code != 0:
            row.crashes += int(code is not None and code < 0)
            ok = row.check(False, "%s %s: the restarted serve exited %s" % (kind, run, code))
        sent = {"transcribe": speech.requests("/v1/audio/transcriptions"),
                "synthesize": speech.requests("/v1/audio/speech")}
        seen["resent"] = sent
        for what in ("transcribe", "synthesize"):
            ok &= row.check(sent[what] == expected[what],
                            "%s %s: after the restart the provider got %d %s requests, expected %d (jobs at the kill: "
                            "%s, %d chunks checkpointed)" % (kind, run, sent[what], what, expected[what], states,
                                                             checkpointed))

        counts = settles([second.log_path] + ([] if finished_before else [first.log_path]))
        lost, once = final_states(ctx, row, backend, ids, counts, "%s %s" % (kind, run))
        row.lost += lost
        ok &= once and lost == 0
        ok &= compare_outputs(row, s3, run, reference, "%s %s" % (kind, run))
        row.runs += 1
        row.passed += int(ok)
        return seen
    finally:
        backend.close()


def run(ctx) -> list[Row]:
    runs = 3 if ctx.quick else 100
    rows = []
    speech = SpeechServer(ctx, args=["--latency-ms", "120"])
    s3 = S3Server(ctx)
    try:
        inputs = make_inputs(ctx, s3)
        for kind in ("sqlite", "jetstream"):
            row = Row(trial="crash anywhere (%s)" % kind)
            clean_seconds, reference, work = clean_run(ctx, kind, speech, s3, inputs)
            ctx.log(kind, "clean run %.2f s, work %s" % (clean_seconds, work))
            worst, phases = None, {"before start": 0, "mid-run": 0, "after the end": 0}
            for i in range(1, runs + 1):
                seen = crash_run(ctx, row, kind, "%s%d" % (kind[0], i), speech, s3, inputs, clean_seconds,
                                 reference, work)
                ctx.log(kind, seen)
                if seen.get("finished") == 5:
                    phases["after the end"] += 1
                elif seen.get("running") or seen.get("finished") or seen.get("checkpointed"):
                    phases["mid-run"] += 1
                else:
                    phases["before start"] += 1
                score = seen.get("running", 0) * 100 + seen.get("checkpointed", 0)
                if worst is None or score > worst[0]:
                    worst = (score, seen)
            if worst:
                seen = worst[1]
                row.worst = ("kill at %.2f s of %.2f: %d jobs running, %d done, %d chunks checkpointed, %d provider "
                             "requests in flight; kills %s" % (
                                 seen["at"], seen["of"], seen["running"], seen["finished"], seen["checkpointed"],
                                 seen["in_flight"], ", ".join("%s %d" % kv for kv in phases.items())))
            rows.append(row)
    finally:
        s3.stop()
        speech.stop()
    return rows
