"""Scale-out on JetStream (issue 11's distributed tests), as trials.

1. **One of N workers killed.** Two, then four `serve --drain` processes share one stream; the crash trial's five
   jobs are enqueued and one worker, drawn at random, gets `kill -9` at a moment drawn over a clean run's length.
   The others must finish everything: each job settled once ("job succeeded" in exactly one log), outputs equal to
   the reference. The provider records the SHA-256 of every chunk's audio and every piece's text, and each job was
   first run alone to learn its own digests, so the trial knows what each job sent and when: a job the victim held
   at the kill must send after it exactly its chunks that were not checkpointed (every piece, for a synthesis); any
   other job sends each of its chunks and pieces exactly once.
2. **1,000 jobs across four workers** (100 with --quick): syntheses of distinct sentences, enqueued through
   `POST /v1/jobs` on an API-only node and worked by four `serve --drain` processes. Each job must succeed exactly
   once, and the provider must hear each text exactly once.
3. **Leader stopped.** A three-node NATS cluster on loopback ports, stream and bucket replicated three times, two
   workers given the seed list of all three. Mid-run the stream's leader is stopped, and started again three
   seconds later: no job lost, none settled twice, every output equal to the reference.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
import urllib.request

from . import crash, netns
from .common import Row, S3Server, Serve, SpeechServer, cli_json, free_port, wait_for_port


def carried(speech) -> list[dict]:
    return speech.admin("GET", "/admin/requests")["requests"]


def held(log_path: str) -> set:
    """Jobs a worker had started and not yet settled when its log ends."""
    started, ended = set(), set()
    for record in crash.log_records(log_path):
        job = record.get("job")
        if record.get("msg") == "job started":
            started.add(job)
            ended.discard(job)
        elif job and record.get("msg") in ("job succeeded", "job failed", "job cancelled",
                                           "job returned to the queue at shutdown",
                                           "lease lost; another worker owns the job now"):
            ended.add(job)
    return started - ended


def lone_runs(ctx, speech, s3, inputs):
    """Each of the five jobs alone on a fresh JetStream: its outputs (the reference) and the digests it sends."""
    reference, digests, work = {}, {}, {}
    for name, args in crash.jobs_for("r0", inputs):
        backend = crash.Backend(ctx, "jetstream", speech, s3)
        try:
            job_id = cli_json(ctx, ["enqueue", *args], backend.env, backend.config, backend.data)["id"]
            speech.reset_stats()
            serve = Serve(ctx, backend.config, backend.data, backend.env, ["--drain"], wait_ready=False)
            if serve.wait(300) != 0:
                raise RuntimeError("the lone run of %s failed: %s" % (name, open(serve.log_path).read()[-2000:]))
            job = crash.show(ctx, backend, job_id)
            if job["status"] != "succeeded":
                raise RuntimeError("the lone run of %s ended %s" % (name, job["status"]))
            sent = [r["sha256"] for r in carried(speech)]
            if len(set(sent)) != len(sent):
                raise RuntimeError("job %s sends the same audio or text twice in one clean run" % name)
            digests[name] = set(sent)
            work[name] = len(sent)
        finally:
            backend.close()
    everything = [d for ds in digests.values() for d in ds]
    if len(set(everything)) != len(everything):
        raise RuntimeError("two jobs send the same chunk or piece; the trial cannot tell them apart")
    for key, data in crash.objects(s3.client(), "r0").items():
        reference[key.replace("runs/r0/", "")] = crash.normalized(data, "r0", key)
    return reference, digests, work


def kill_one_of(ctx, workers: int, speech, s3, inputs, reference, digests, work) -> Row:
    # Each worker on its own network stack where the machine allows it, standing for its own host.
    separate, why_not = netns.available()
    row = Row(trial="kill 1 of %d workers (jetstream%s)" % (workers, ", own netns each" if separate else ""))
    if not separate:
        ctx.log("workers share the loopback: no network namespaces here (%s)" % why_not)
    runs = 2 if ctx.quick else 12
    clean = None
    worst = None
    for i in range(runs + 1):
        run = "w%d-%d" % (workers, i)
        backend = crash.Backend(ctx, "jetstream", speech, s3, lease_s=5)
        label = "%d workers, run %s" % (workers, run)
        spaces = None
        try:
            if separate:
                spaces = netns.Namespaces(workers, [backend.nats.port, s3.port, speech.port], tag=run + "-")
            ids = crash.enqueue(ctx, backend, run, inputs)
            names = {job_id: name for name, job_id in ids.items()}
            speech.reset_stats()
            serves = [Serve(ctx, backend.config, backend.data, backend.env, ["--drain"], wait_ready=False,
                            log_path=os.path.join(backend.dir, "serve-%d.log" % n),
                            wrap=(lambda argv, n=n: spaces.command(n, argv)) if spaces else None)
                      for n in range(workers)]
            started = time.monotonic()
            stacks_ok = True
            if spaces:
                stacks = [netns.Namespaces.of(s.process.pid, "audio-worker") for s in serves]
                ok_stacks = len(set(stacks)) == workers and os.readlink("/proc/self/ns/net") not in stacks
                stacks_ok = row.check(ok_stacks, "%s: the workers' network namespaces were %s" % (label, stacks))
            victim, kill_at, at_kill = None, None, {}
            if clean is not None:
                delay = ctx.rng.uniform(0.2, clean)
                time.sleep(max(0.0, delay - (time.monotonic() - started)))
                # A worker that holds a job at this moment, when one does: killing an idle one proves little.
                holding = [n for n, s in enumerate(serves) if s.alive() and held(s.log_path)]
                victim = ctx.rng.choice(holding) if holding else ctx.rng.randrange(workers)
                if serves[victim].alive():
                    serves[victim].kill9()
                    kill_at = time.time()
                    # Its leases last lease_s (5 s) past its last heartbeat: read what it held before they expire.
                    for job_id in held(serves[victim].log_path):
                        job = crash.show(ctx, backend, job_id)
                        at_kill[job_id] = job
            codes = [s.wait(240) for n, s in enumerate(serves) if n != victim or kill_at is None]
            elapsed = time.monotonic() - started
            if clean is None:
                clean = elapsed
                ctx.log("clean run with %d workers: %.2f s" % (workers, elapsed))
            ok = row.check(all(c == 0 for c in codes), "%s: workers exited %s" % (label, codes)) and stacks_ok
            counts = crash.settles([s.log_path for s in serves])
            lost, settled_once = crash.final_states(ctx, row, backend, ids, counts, label)
            ok &= settled_once
            ok &= lost == 0
            requests = carried(speech)
            resent = 0
            for job_id, name in names.items():
                mine = [r for r in requests if r["sha256"] in digests[name]]
                if job_id in at_kill and at_kill[job_id]["status"] != "succeeded":
                    # The survivors can take the job only when its lease expires, seconds after the kill; a request
                    # the victim wrote just before it died may be read a moment after it.
                    after = sum(1 for r in mine if r["at"] > kill_at + 1.0)
                    job = at_kill[job_id]
                    expected = work[name] - job["checkpoints"] if job["kind"] == "transcribe" else work[name]
                    resent += len(mine) - work[name]
                    ok &= row.check(after == expected, "%s: job %s, held by the killed worker with %d checkpoints, "
                                    "sent %d requests after the kill, expected %d"
                                    % (label, name, job["checkpoints"], after, expected))
                    ok &= row.check(set(r["sha256"] for r in mine) == digests[name],
                                    "%s: job %s did not send all of its chunks" % (label, name))
                else:
                    ok &= row.check(sorted(r["sha256"] for r in mine) == sorted(digests[name]),
                                    "%s: job %s sent %d requests for its %d chunks or pieces"
                                    % (label, name, len(mine), work[name]))
            ok &= crash.compare_outputs(row, s3, run, reference, label)
            if i > 0:
                row.runs += 1
                row.passed += int(ok)
                row.lost += lost
                seen = (len(at_kill), sum(j["checkpoints"] for j in at_kill.values()), resent, elapsed)
                if worst is None or seen[:2] > worst[:2]:
                    worst = seen
            elif not ok:
                row.check(False, "%s: the clean run with %d workers failed" % (label, workers))
        finally:
            if spaces:
                spaces.close()
            backend.close()
    if worst:
        row.worst = ("victim held %d jobs with %d chunks checkpointed; %d requests resent (in flight at the kill); "
                     "finished in %.1f s (clean %.1f s)" % (worst[0], worst[1], worst[2], worst[3], clean))
    return row


def thousand_jobs(ctx, s3) -> Row:
    count = 100 if ctx.quick else 1000
    row = Row(trial="%d jobs across 4 workers (jetstream)" % count)
    speech = SpeechServer(ctx)
    backend = crash.Backend(ctx, "jetstream", speech, s3)
    api = None
    try:
        api = Serve(ctx, backend.config, backend.data, backend.env, ["--workers", "0"], listen="127.0.0.1:0",
                    log_path=os.path.join(backend.dir, "api.log"))
        texts = {}
        started = time.monotonic()
        for n in range(count):
            text = "Job number %d of the scale-out trial says hello." % n
            body = json.dumps({"synthesis": {"text": text, "output_key": "runs/k/%d.wav" % n},
                               "idempotency_key": "k-%d" % n}).encode()
            request = urllib.request.Request("http://127.0.0.1:%d/v1/jobs" % api.port, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as reply:
                texts[json.load(reply)["id"]] = text
        enqueue_seconds = time.monotonic() - started
        serves = [Serve(ctx, backend.config, backend.data, backend.env, ["--drain", "--no-api"], wait_ready=False,
                        log_path=os.path.join(backend.dir, "worker-%d.log" % n)) for n in range(4)]
        started = time.monotonic()
        codes = [s.wait(600) for s in serves]
        work_seconds = time.monotonic() - started
        row.check(all(c == 0 for c in codes), "workers exited %s" % codes)
        counts = crash.settles([s.log_path for s in serves])
        per_worker = [sum(1 for r in crash.log_records(s.log_path) if r.get("msg") == "job succeeded")
                      for s in serves]
        listing = cli_json(ctx, ["jobs", "list", "--status", "succeeded", "--limit", str(count * 2)],
                                 backend.env, backend.config, backend.data)
        succeeded = {job["id"] for job in listing}
        heard = {}
        for r in carried(speech):
            heard[r["sha256"]] = heard.get(r["sha256"], 0) + 1
        for job_id, text in texts.items():
            row.runs += 1
            ok = row.check(job_id in succeeded, "job %s is not succeeded" % job_id)
            row.lost += int(job_id not in succeeded)
            if counts.get(job_id, 0) > 1:
                row.done_twice += 1
            ok &= row.check(counts.get(job_id, 0) == 1, "job %s settled %d times" % (job_id, counts.get(job_id, 0)))
            times = heard.get(hashlib.sha256(text.encode()).hexdigest(), 0)
            ok &= row.check(times == 1, "job %s's text reached the provider %d times" % (job_id, times))
            row.passed += int(ok)
        row.worst = ("enqueued through the API in %.1f s, worked in %.1f s; jobs per worker %s"
                     % (enqueue_seconds, work_seconds, per_worker))
    finally:
        if api:
            api.stop()
        backend.close()
        speech.stop()
    return row


class NATSCluster:
    """Three nats-server processes clustered on loopback ports, JetStream on each, monitoring on for /jsz."""

    def __init__(self, ctx, size: int = 3):
        self.nodes = []
        routes = [free_port() for _ in range(size)]
        route_list = ",".join("nats://127.0.0.1:%d" % p for p in routes)
        for n in range(size):
            self.nodes.append({"name": "n%d" % n, "port": free_port(), "monitor": free_port(), "route": routes[n],
                               "store": ctx.scratch("nats-n%d" % n), "process": None, "routes": route_list})
        for n in range(size):
            self.start(n)
        for node in self.nodes:
            wait_for_port(node["port"])
        self.wait_for_meta_leader()

    def wait_for_meta_leader(self, timeout: float = 60) -> None:
        """JetStream answers its API only once the cluster has elected a meta leader."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/jsz" % self.nodes[0]["monitor"], timeout=5) as reply:
                    if json.load(reply).get("meta_cluster", {}).get("leader"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the NATS cluster elected no meta leader in %d s" % timeout)

    @property
    def url(self) -> str:
        return ",".join("nats://127.0.0.1:%d" % node["port"] for node in self.nodes)

    def start(self, n: int) -> None:
        node = self.nodes[n]
        node["process"] = subprocess.Popen(
            ["nats-server", "-js", "-a", "127.0.0.1", "-p", str(node["port"]), "-n", node["name"], "-sd",
             node["store"], "-m", str(node["monitor"]), "--cluster_name", "audio", "--cluster",
             "nats://127.0.0.1:%d" % node["route"], "--routes", node["routes"]],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self, n: int) -> None:
        process = self.nodes[n]["process"]
        if process and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)

    def leaders(self) -> dict:
        """Stream name -> the name of the node leading it, as a live node's /jsz says."""
        for node in self.nodes:
            if node["process"].poll() is not None:
                continue
            try:
                url = "http://127.0.0.1:%d/jsz?accounts=true&streams=true" % node["monitor"]
                with urllib.request.urlopen(url, timeout=5) as reply:
                    info = json.load(reply)
            except OSError:
                continue
            out = {}
            for account in info.get("account_details", []):
                for stream in account.get("stream_detail", []):
                    out[stream["name"]] = stream.get("cluster", {}).get("leader")
            if out:
                return out
        return {}

    def destroy(self) -> None:
        for n in range(len(self.nodes)):
            self.stop(n)


def leader_stop(ctx, speech, s3, inputs, reference) -> Row:
    row = Row(trial="stream leader stopped (3-node cluster)")
    runs = 1 if ctx.quick else 5
    notes = []
    for i in range(runs):
        run = "l%d" % i
        cluster = NATSCluster(ctx)
        backend = crash.Backend(ctx, "jetstream", speech, s3, lease_s=5, nats_url=cluster.url,
                                AUDIO_WORKER_NATS_REPLICAS=3)
        label = "cluster run %s" % run
        try:
            ids = crash.enqueue(ctx, backend, run, inputs)
            serves = [Serve(ctx, backend.config, backend.data, backend.env, ["--drain"], wait_ready=False,
                            log_path=os.path.join(backend.dir, "serve-%d.log" % n)) for n in range(2)]
            time.sleep(ctx.rng.uniform(0.5, 2.0))
            leaders = cluster.leaders()
            leader = leaders.get("AUDIO_JOBS")
            index = next((n for n, node in enumerate(cluster.nodes) if node["name"] == leader), None)
            ok = row.check(index is not None, "%s: no leader of AUDIO_JOBS found (%s)" % (label, leaders))
            if index is not None:
                cluster.stop(index)
                time.sleep(3)
                cluster.start(index)
            codes = [s.wait(300) for s in serves]
            ok &= row.check(all(c == 0 for c in codes), "%s: workers exited %s" % (label, codes))
            counts = crash.settles([s.log_path for s in serves])
            lost, settled_once = crash.final_states(ctx, row, backend, ids, counts, label)
            ok &= settled_once
            row.lost += lost
            ok &= lost == 0
            ok &= crash.compare_outputs(row, s3, run, reference, label)
            warnings = sum(1 for s in serves for r in crash.log_records(s.log_path)
                           if r.get("level") in ("warning", "error"))
            notes.append("stopped %s (bucket leader %s), %d warnings logged" % (leader, leaders.get("KV_audio_jobs"),
                                                                                 warnings))
            row.runs += 1
            row.passed += int(ok)
        finally:
            backend.close()
            cluster.destroy()
    row.worst = notes[-1] if notes else ""
    return row


def run(ctx) -> list[Row]:
    rows = []
    speech = SpeechServer(ctx, args=["--latency-ms", "120"])
    s3 = S3Server(ctx)
    try:
        inputs = crash.make_inputs(ctx, s3)
        reference, digests, work = lone_runs(ctx, speech, s3, inputs)
        ctx.log("lone runs: work %s" % work)
        for workers in (2, 4):
            rows.append(kill_one_of(ctx, workers, speech, s3, inputs, reference, digests, work))
        rows.append(thousand_jobs(ctx, s3))
        rows.append(leader_stop(ctx, speech, s3, inputs, reference))
    finally:
        s3.stop()
        speech.stop()
    return rows
