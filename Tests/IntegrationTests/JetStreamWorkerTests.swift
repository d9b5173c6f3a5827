import CurlHTTP
import Foundation
import PipelineCore
import TestSupport
import Testing

@testable import NATSBackend

/// `enqueue`, `serve`, and `jobs` with `AUDIO_WORKER_QUEUE=jetstream`, as processes against a real nats-server.
@Suite(.serialized)
struct JetStreamWorkerTests {
    /// A nats-server, a local speech server in echo mode and a sandbox whose commands use the JetStream queue on
    /// that nats-server, with a data directory for the file store only; ``stop()`` ends all three.
    private struct Cluster {
        let sandbox: WorkerSandbox
        let nats: NATSServer
        let server: SpeechServer

        /// Starts the three; `speech` are extra flags for the speech server.
        static func start(speech: [String] = []) async throws -> Cluster {
            let nats = try await NATSServer.start()
            let server: SpeechServer
            do {
                server = try await SpeechServer.start(["--echo", "--no-preload"] + speech)
            } catch {
                nats.stop()
                throw error
            }
            var sandbox = try WorkerSandbox(apiBase: server.apiBase)
            sandbox.environment = ["AUDIO_WORKER_QUEUE": "jetstream", "NATS_URL": nats.url]
            return Cluster(sandbox: sandbox, nats: nats, server: server)
        }

        func stop() {
            self.sandbox.remove()
            self.server.stop()
            self.nats.stop()
        }

        var environment: [String: String] { self.sandbox.environment }

        func run(_ arguments: [String]) async throws -> WorkerProcess.Outcome {
            try await self.sandbox.run(arguments)
        }

        func serve(_ arguments: [String]) throws -> ServeProcess {
            try ServeProcess(arguments + self.sandbox.options, environment: self.environment)
        }

        func enqueue(_ input: String, extra: [String] = []) async throws -> String {
            try await self.sandbox.enqueue(input, extra: extra)
        }

        func job(_ id: String) async throws -> [String: Any] {
            try await self.sandbox.job(id)
        }

        func jobs() async throws -> [[String: Any]] {
            let outcome = try await self.run(["jobs", "list", "--limit", "1000"])
            return (try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [[String: Any]]) ?? []
        }
    }

    @Test
    func aTranscriptionEnqueuedOnJetStreamSucceedsAndJobsShowReportsIt() async throws {
        let cluster = try await Cluster.start()
        defer { cluster.stop() }
        let (sandbox, server) = (cluster.sandbox, cluster.server)

        let id = try await cluster.enqueue(WorkerProcess.fixture("speech.wav"))
        let queued = try await cluster.job(id)
        #expect(queued["status"] as? String == "queued")
        #expect(!FileManager.default.fileExists(atPath: sandbox.data + "/queue.sqlite"), "the job is not in SQLite")

        let worker = try cluster.serve(["serve", "--drain", "--log", "json"])
        defer { worker.stop() }
        #expect(try await worker.wait(seconds: 120) == 0)

        let job = try await cluster.job(id)
        #expect(job["status"] as? String == "succeeded")
        #expect(job["attempts"] as? Int == 1)
        let outputs = job["outputs"] as? [String] ?? []
        let transcriptKey = try #require(outputs.first { $0.hasSuffix(".json") })
        let data = try Data(contentsOf: URL(fileURLWithPath: sandbox.data + "/store/assets/" + transcriptKey))
        let transcript = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        #expect(!(transcript["segments"] as? [Any] ?? []).isEmpty)
        #expect(try await server.requests() >= 1)
        #expect(worker.records.contains { $0["msg"] as? String == "job succeeded" && $0["job"] as? String == id })

        // The ledger answers `jobs list` by status; a queued job is cancelled, retried, and then worked.
        let listed = try await cluster.run(["jobs", "list", "--status", "succeeded"])
        #expect(listed.stdout.contains(id))
        let second = try await cluster.enqueue(
            WorkerProcess.fixture("speech.wav"), extra: ["--output-prefix", "again"])
        let cancelled = try await cluster.run(["jobs", "cancel", second])
        #expect(cancelled.status == 0, "\(cancelled.stderr)")
        #expect(try await cluster.job(second)["status"] as? String == "cancelled")
        let refused = try await cluster.run(["jobs", "retry", id])
        #expect(refused.status != 0, "a succeeded job is not retried")
        let retried = try await cluster.run(["jobs", "retry", second])
        #expect(retried.status == 0, "\(retried.stderr)")
        #expect(try await cluster.job(second)["status"] as? String == "queued")
        let again = try cluster.serve(["serve", "--drain", "--log", "json"])
        defer { again.stop() }
        #expect(try await again.wait(seconds: 120) == 0)
        #expect(try await cluster.job(second)["status"] as? String == "succeeded")
    }

    @Test
    func twoDrainingWorkersOnOneStreamDoEachOfTenJobsExactlyOnce() async throws {
        // Slow enough that both workers are busy before the queue empties.
        let cluster = try await Cluster.start(speech: ["--latency-ms", "300"])
        defer { cluster.stop() }
        var ids: Set<String> = []
        for index in 0..<10 {
            ids.insert(
                try await cluster.enqueue(
                    WorkerProcess.fixture("speech.wav"), extra: ["--output-prefix", "out/\(index)"]))
        }
        #expect(ids.count == 10)

        let workers = try [0, 1].map { _ in try cluster.serve(["serve", "--drain", "--log", "json"]) }
        defer { workers.forEach { $0.stop() } }
        for worker in workers {
            #expect(try await worker.wait(seconds: 300) == 0)
        }

        let jobs = try await cluster.jobs()
        #expect(jobs.count == 10)
        #expect(jobs.allSatisfy { $0["status"] as? String == "succeeded" && $0["attempts"] as? Int == 1 })
        let completions = workers.flatMap(\.records).filter { $0["msg"] as? String == "job succeeded" }
            .compactMap { $0["job"] as? String }
        #expect(completions.count == 10)
        #expect(Set(completions) == ids, "every job completed exactly once across both workers")
        #expect(workers.allSatisfy { worker in worker.records.contains { $0["msg"] as? String == "job succeeded" } })
    }

    @Test
    func aJobAProducerPublishesOnTheSubjectIsWorkedAndJunkBecomesADeadLetter() async throws {
        let cluster = try await Cluster.start()
        defer { cluster.stop() }
        let (sandbox, nats) = (cluster.sandbox, cluster.nats)
        try sandbox.storeInput("speech.wav")

        // A producer such as pmoves-yt publishes JSON jobs itself, with no CLI or HTTP in between.
        let producer = try await JetStreamJobQueue.open(settings: NATSSettings(url: nats.url), visibility: .seconds(30))
        let job =
            #"{"transcription": {"bucket": "assets", "key": "inputs/speech.wav", "formats": ["json", "srt"]},"#
            + #" "idempotency_key": "yt:demo"}"#
        try await producer.blocking { _ in
            _ = try producer.connection.publish(Data(job.utf8), to: NATSSettings.subjects[0], messageID: "p-1")
            _ = try producer.connection.publish(
                Data(#"{"transcription": {"key": "../../etc/passwd"}}"#.utf8), to: NATSSettings.subjects[0],
                messageID: "p-2")
        }

        let worker = try cluster.serve(["serve", "--drain", "--log", "json"])
        defer { worker.stop() }
        #expect(try await worker.wait(seconds: 120) == 0)

        let jobs = try await cluster.jobs()
        #expect(jobs.count == 1, "one job, from the good message")
        #expect(jobs.first?["status"] as? String == "succeeded")
        #expect(jobs.first?["idempotency_key"] as? String == "yt:demo")
        #expect((jobs.first?["outputs"] as? [String] ?? []).contains { $0.hasSuffix(".srt") })
        let listed = try await cluster.run(["jobs", "dead-letters"])
        let letters = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(letters.count == 1)
        let reason = letters.first?["reason"] as? String ?? ""
        #expect(reason.contains("key"), "\(letters)")
        #expect(letters.first?["subject"] as? String == NATSSettings.subjects[0])
    }

    @Test
    func anAPIOnlyNodeAnswersASynchronousTranscriptionThatAnotherProcessWorks() async throws {
        let cluster = try await Cluster.start()
        defer { cluster.stop() }
        let sandbox = cluster.sandbox
        try sandbox.storeInput("speech.wav")

        let worker = try cluster.serve(["serve", "--no-api", "--log", "json"])
        defer { worker.stop() }
        let node = try cluster.serve(["serve", "--workers", "0", "--listen", "127.0.0.1:0", "--log", "json"])
        defer { node.stop() }
        let apiPort = try await node.listeningPort()

        // The node has no worker: only the ledger's change feed tells it that the other process finished the job
        // (its fallback re-read comes after 60 s, past this request's timeout).
        let started = ContinuousClock.now
        let response = try await CurlHTTPClient().send(
            HTTPRequest(
                method: .post, url: URL(string: "http://127.0.0.1:\(apiPort)/transcribe")!,
                headers: ["Content-Type": "application/json"],
                body: Data(#"{"bucket": "assets", "key": "inputs/speech.wav"}"#.utf8), timeout: .seconds(45)))
        let elapsed = ContinuousClock.now - started
        #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
        let reply = try JSONSerialization.jsonObject(with: response.body) as? [String: Any] ?? [:]
        #expect(!(reply["segments"] as? [Any] ?? []).isEmpty)
        #expect(elapsed < .seconds(30))
        // The worker logs the job after settling it, so its line may come just after the node's answer.
        let logged = Date().addingTimeInterval(10)
        while !worker.records.contains(where: { $0["msg"] as? String == "job succeeded" }), Date() < logged {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(worker.records.contains { $0["msg"] as? String == "job succeeded" })
        print("figure: jetstream, POST /transcribe on an API-only node, worked by another process: \(elapsed)")
    }

    /// Starts `serve` with the API on a free port and returns it with its port.
    private func serveWithAPI(_ cluster: Cluster, environment: [String: String]) async throws -> (ServeProcess, Int) {
        let serve = try ServeProcess(
            ["serve", "--listen", "127.0.0.1:0", "--log", "json"] + cluster.sandbox.options, environment: environment)
        do {
            return (serve, try await serve.listeningPort())
        } catch {
            serve.stop()
            throw error
        }
    }

    /// The value of the metric line starting with `prefix` on `/metrics`, or 0.
    private func metric(_ port: Int, _ prefix: String) async throws -> Double {
        let response = try await CurlHTTPClient().send(
            HTTPRequest(method: .get, url: URL(string: "http://127.0.0.1:\(port)/metrics")!, timeout: .seconds(10)))
        let line = String(decoding: response.body, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
    }

    /// Waits until `jobs show` says the job is no longer queued or running.
    private func settled(_ cluster: Cluster, _ id: String, environment: [String: String]) async throws -> String? {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let outcome = try await WorkerProcess.run(
                ["jobs", "show", id] + cluster.sandbox.options, environment: environment)
            let job = (try? JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8))) as? [String: Any] ?? [:]
            if let status = job["status"] as? String, status != "queued", status != "running" { return status }
            // Each look is a process of its own: not too often on a machine running the other tests too.
            try await Task.sleep(for: .milliseconds(400))
        }
        return nil
    }

    @Test
    func withNATSURLSetEventsArePublishedAndAnOutageOnlyCountsThemLost() async throws {
        let cluster = try await Cluster.start()
        defer { cluster.stop() }
        let (sandbox, nats) = (cluster.sandbox, cluster.nats)

        // JetStream queue and events on the same server.
        let (live, livePort) = try await self.serveWithAPI(cluster, environment: cluster.environment)
        defer { live.stop() }
        let id = try await cluster.enqueue(WorkerProcess.fixture("speech.wav"))
        #expect(try await self.settled(cluster, id, environment: cluster.environment) == "succeeded")
        let ready = #"audio_worker_events_published_total{subject="ingest.transcript.ready.v1"}"#
        #expect(try await self.metric(livePort, ready) == 1)
        #expect(
            try await self.metric(livePort, #"audio_worker_events_published_total{subject="audio.job.succeeded.v1"}"#)
                == 1)
        // The CGP packet carries the transcript's segments, handed from the executor to the publisher in-process.
        let packet = #"audio_worker_events_published_total{subject="tokenism.cgp.ready.v1"}"#
        #expect(try await self.metric(livePort, packet) == 1)
        #expect(try await self.metric(livePort, "audio_worker_events_lost_total") == 0)
        live.send(SIGTERM)
        #expect(try await live.wait(seconds: 30) == 0)

        // The SQLite queue with NATS_URL naming a server that is not there: the job succeeds all the same.
        let down = ["NATS_URL": "nats://127.0.0.1:\(nats.port)", "AUDIO_WORKER_QUEUE": "sqlite"]
        nats.stop()
        let (outage, outagePort) = try await self.serveWithAPI(cluster, environment: down)
        defer { outage.stop() }
        let enqueued = try await WorkerProcess.run(
            ["enqueue", "transcribe", WorkerProcess.fixture("speech.wav"), "--output-prefix", "outage"]
                + sandbox.options, environment: down)
        let job = try JSONSerialization.jsonObject(with: Data(enqueued.stdout.utf8)) as? [String: Any] ?? [:]
        let second = try #require(job["id"] as? String, "\(enqueued.stderr)")
        #expect(try await self.settled(cluster, second, environment: down) == "succeeded")
        let lost = #"audio_worker_events_lost_total{subject="ingest.transcript.ready.v1"}"#
        #expect(try await self.metric(outagePort, lost) == 1)
        #expect(outage.records.contains { ($0["msg"] as? String ?? "").hasPrefix("events: NATS unreachable") })
    }

    @Test
    func aBatchRunsOnJetStreamAndItsJobsAreInTheLedger() async throws {
        let cluster = try await Cluster.start()
        defer { cluster.stop() }
        let (sandbox, nats) = (cluster.sandbox, cluster.nats)
        let source = sandbox.directory.appendingPathComponent("archive/talks")
        try FileManager.default.createDirectory(at: source, withIntermediateDirectories: true)
        for name in ["speech.wav", "speech.mp3"] {
            try FileManager.default.copyItem(
                at: WorkerProcess.fixtureURL(name), to: source.appendingPathComponent(name))
        }

        // PMOVES hears a reprocessed archive as it hears serve: ffmpeg-whisper's hook for each transcript.
        let listener = try NATSConnection(settings: NATSSettings(url: nats.url))
        let ready = try NATSSubscription.subscribe(connection: listener, subject: "ingest.transcript.ready.v1")

        let batch = try await cluster.run(["batch", source.deletingLastPathComponent().path])

        #expect(batch.status == 0, "\(batch.stdout) \(batch.stderr)")
        var heard: [[String: Any]] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while heard.count < 2, ContinuousClock.now < deadline {
            if let body = try ready.next() {
                heard.append(try JSONSerialization.jsonObject(with: body) as? [String: Any] ?? [:])
            } else {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(heard.count == 2, "one ingest.transcript.ready.v1 per file")
        #expect(heard.allSatisfy { $0["service"] as? String == "ffmpeg-whisper" && $0["segment_count"] != nil })
        #expect(batch.stdout.contains("succeeded 2"), "\(batch.stdout)")
        let jobs = try await cluster.jobs()
        #expect(jobs.count == 2)
        #expect(jobs.allSatisfy { $0["status"] as? String == "succeeded" })
        #expect(!FileManager.default.fileExists(atPath: sandbox.data + "/queue.sqlite"))
    }
}
