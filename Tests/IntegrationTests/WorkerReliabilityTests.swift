import AudioMedia
import Foundation
import PipelineCore
import SQLiteQueue
import TestSupport
import Testing

/// The queue worker with real processes: kill -9, SIGTERM, provider outages, corrupt input, two workers.
@Suite(.serialized)
struct WorkerReliabilityTests {
    /// Waits until `condition` holds, checking every 50 ms, for at most `seconds`.
    private func waitUntil(seconds: Double = 60, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while try await !condition() {
            guard Date() < deadline else { throw SetupError("timed out waiting") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The job's chunk checkpoints, read through a second connection to its queue; a job that already finished has
    /// none (they are dropped on success), which fails the wait clearly instead of timing out.
    private func checkpoints(_ sandbox: WorkerSandbox, _ id: String) async throws -> Int {
        let queue = try await SQLiteJobQueue.open(path: sandbox.data + "/queue.sqlite")
        if try await queue.job(id: id)?.status == .succeeded {
            throw SetupError("the job finished before the test could interrupt it")
        }
        return try await queue.checkpoints(jobID: id).keys.filter { $0.hasPrefix("chunk-") }.count
    }

    private func storedTranscript(_ sandbox: WorkerSandbox, _ job: [String: Any]) throws -> [String: Any] {
        let key = (job["outputs"] as? [String])?.first { $0.hasSuffix(".json") } ?? ""
        let data = try Data(contentsOf: URL(fileURLWithPath: sandbox.data + "/store/assets/" + key))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    @Test
    func aJobKilledMidwayFinishesOnceAfterRestartWithoutResendingCheckpointedChunks() async throws {
        // A second per chunk leaves seconds between the second checkpoint and the end of the job, even on a busy machine.
        let server = try await SpeechServer.start(["--echo", "--no-preload", "--latency-ms", "1000"])
        defer { server.stop() }
        let sandbox = try WorkerSandbox(apiBase: server.apiBase, worker: "[worker]\nlease_s = 2\nheartbeat_s = 0.3\n")
        defer { sandbox.remove() }
        let input = try await TranscriptionIntegrationTests.repeatedSpeech(copies: 10, in: sandbox.directory)
        let id = try await sandbox.enqueue(input.path)

        let first = try ServeProcess(["serve", "--no-api"] + sandbox.options)
        defer { first.stop() }
        try await self.waitUntil { try await self.checkpoints(sandbox, id) >= 2 }
        first.send(SIGKILL)
        _ = try await first.wait(seconds: 10)
        let checkpointed = try await self.checkpoints(sandbox, id)
        let requestsBefore = try await server.requests()

        let restart = try ServeProcess(["serve", "--drain"] + sandbox.options)
        defer { restart.stop() }
        #expect(try await restart.wait(seconds: 60) == 0)

        let job = try await sandbox.job(id)
        #expect(job["status"] as? String == "succeeded")
        #expect(job["attempts"] as? Int == 2)
        let chunks = ((job["result"] as? [String: Any])?["chunks"] as? [Any])?.count ?? 0
        #expect(chunks >= 4)
        let requestsAfter = try await server.requests() - requestsBefore
        #expect(requestsAfter == chunks - checkpointed, "only chunks without a checkpoint were sent again")
        #expect(restart.records.filter { $0["msg"] as? String == "job succeeded" }.count == 1)

        // The resumed result is the one a clean run gives.
        let clean = try WorkerSandbox(apiBase: server.apiBase)
        defer { clean.remove() }
        let cleanID = try await clean.enqueue(input.path)
        await #expect(try clean.run(["serve", "--drain"]).status == 0)
        let resumed = try self.storedTranscript(sandbox, job)
        let reference = try await self.storedTranscript(clean, try clean.job(cleanID))
        #expect(resumed["text"] as? String == reference["text"] as? String)
        #expect(
            (resumed["segments"] as? [[String: Any]])?.map { "\($0["start"]!)-\($0["end"]!) \($0["text"]!)" }
                == (reference["segments"] as? [[String: Any]])?.map { "\($0["start"]!)-\($0["end"]!) \($0["text"]!)" })
    }

    @Test
    func aProviderOutageIsRetriedThenDeadLetteredAndJobsRetryBringsItBack() async throws {
        let probe = try await SpeechServer.start(["--echo", "--no-preload"])
        let port = probe.port
        probe.stop()
        let sandbox = try WorkerSandbox(
            apiBase: "http://127.0.0.1:\(port)/v1",
            worker: "[worker]\nmax_attempts = 3\nretry_base_s = 0.1\nretry_max_s = 0.3\n")
        defer { sandbox.remove() }
        let id = try await sandbox.enqueue(WorkerProcess.fixture("speech.wav"))

        let outage = try await sandbox.run(["serve", "--drain"])

        #expect(outage.status == 0)
        var job = try await sandbox.job(id)
        #expect(job["status"] as? String == "dead")
        #expect(job["attempts"] as? Int == 3)
        let error = job["error"] as? [String: Any]
        #expect(error?["kind"] as? String == "provider")
        #expect((error?["details"] as? [String])?.first?.contains("local local/a: failed") == true)
        let failures = outage.stderr.split(separator: "\n").filter { $0.contains("\"msg\":\"job failed\"") }
        #expect(failures.count == 3, "each attempt failed once, with backoff between")

        let server = try await SpeechServer.start(["--echo", "--no-preload", "--port", "\(port)"])
        defer { server.stop() }
        await #expect(try sandbox.run(["jobs", "retry", id]).status == 0)
        await #expect(try sandbox.job(id)["status"] as? String == "queued")
        await #expect(try sandbox.run(["serve", "--drain"]).status == 0)
        job = try await sandbox.job(id)
        #expect(job["status"] as? String == "succeeded")
    }

    @Test
    func corruptInputFailsAtOnceWithTheDecodersReasonAndTheWorkerKeepsServing() async throws {
        let server = try await SpeechServer.start(["--echo", "--no-preload"])
        defer { server.stop() }
        let sandbox = try WorkerSandbox(apiBase: server.apiBase)
        defer { sandbox.remove() }
        let corrupt = try await sandbox.enqueue(WorkerProcess.fixture("random-bytes.mp3"))
        let empty = try await sandbox.enqueue(WorkerProcess.fixture("empty.mp3"))
        let good = try await sandbox.enqueue(WorkerProcess.fixture("speech.mp3"))

        await #expect(try sandbox.run(["serve", "--drain"]).status == 0)

        for id in [corrupt, empty] {
            let job = try await sandbox.job(id)
            #expect(job["status"] as? String == "dead")
            #expect(job["attempts"] as? Int == 1)
            let message = (job["error"] as? [String: Any])?["message"] as? String ?? ""
            #expect(message.contains("not a media file") || message.contains("file is empty"), "\(message)")
        }
        await #expect(try sandbox.job(good)["status"] as? String == "succeeded")
    }

    @Test
    func aThousandJobsThroughTwoWorkersAllSucceedAndNoneRunsTwice() async throws {
        let server = try await SpeechServer.start(["--echo", "--no-preload"])
        defer { server.stop() }
        let sandbox = try WorkerSandbox(apiBase: server.apiBase, worker: "[worker]\nconcurrency = 3\n")
        defer { sandbox.remove() }
        try FileManager.default.createDirectory(atPath: sandbox.data, withIntermediateDirectories: true)
        let store = FileSystemStore(root: URL(fileURLWithPath: sandbox.data + "/store/assets"))
        let tone = (0..<16_000).map { Float(sin(Double($0) * 0.05) * 0.3) }
        let wav = try await FFmpegAudioEncoder().encode(tone, sampleRate: 16_000, as: .wav, outputRate: 16_000)
        try await store.put("inputs/tone.wav", data: wav, contentType: nil)
        let queue = try await SQLiteJobQueue.open(path: sandbox.data + "/queue.sqlite")
        var ids: Set<String> = []
        for index in 0..<1000 {
            let spec = TranscriptionJobSpec(input: "inputs/tone.wav", formats: ["txt"], outputPrefix: "out/\(index)")
            ids.insert(try await queue.enqueue(EnqueueRequest(payload: .transcription(spec))).job.id)
        }

        let workers = try [0, 1].map { _ in try ServeProcess(["serve", "--drain", "--log", "json"] + sandbox.options) }
        defer { workers.forEach { $0.stop() } }
        for worker in workers {
            #expect(try await worker.wait(seconds: 600) == 0)
        }

        let jobs = try await queue.jobs(status: nil, limit: 2000)
        #expect(jobs.count == 1000)
        #expect(jobs.allSatisfy { $0.status == .succeeded && $0.attempts == 1 })
        let completions = workers.flatMap(\.records).filter { $0["msg"] as? String == "job succeeded" }
            .compactMap { $0["job"] as? String }
        #expect(completions.count == 1000)
        #expect(Set(completions) == ids, "every job completed exactly once across both workers")
        #expect(workers.allSatisfy { worker in worker.records.contains { $0["msg"] as? String == "job succeeded" } })
        #expect(try await server.requests() == 1000)
    }

    /// Runs `serve` on a multi-chunk job against a provider that takes `latencyMs` per request, sends SIGTERM
    /// once the job has checkpointed its first chunk, and hands the scene to `body`.
    private func sigtermMidJob(
        latencyMs: Int, grace: Double, _ body: (WorkerSandbox, ServeProcess, String) async throws -> Void
    ) async throws {
        let server = try await SpeechServer.start(["--echo", "--no-preload", "--latency-ms", "\(latencyMs)"])
        defer { server.stop() }
        let sandbox = try WorkerSandbox(apiBase: server.apiBase, worker: "[worker]\nshutdown_grace_s = \(grace)\n")
        defer { sandbox.remove() }
        let input = try await TranscriptionIntegrationTests.repeatedSpeech(copies: 8, in: sandbox.directory)
        let id = try await sandbox.enqueue(input.path)
        let serve = try ServeProcess(["serve", "--no-api"] + sandbox.options)
        defer { serve.stop() }

        try await self.waitUntil { try await self.checkpoints(sandbox, id) >= 1 }
        serve.send(SIGTERM)
        try await body(sandbox, serve, id)
    }

    @Test
    func sigtermLetsARunningJobFinishWithinTheGracePeriod() async throws {
        try await self.sigtermMidJob(latencyMs: 1000, grace: 30) { (sandbox, serve, id) async throws in
            #expect(try await serve.wait(seconds: 60) == 0)
            await #expect(try sandbox.job(id)["status"] as? String == "succeeded")
        }
    }

    @Test
    func sigtermReturnsAJobThatOutlastsTheGracePeriodToTheQueue() async throws {
        try await self.sigtermMidJob(latencyMs: 1500, grace: 0.2) { (sandbox, serve, id) async throws in
            #expect(try await serve.wait(seconds: 30) == 0)
            var job = try await sandbox.job(id)
            #expect(job["status"] as? String == "queued")
            #expect(job["attempts"] as? Int == 0, "a job returned at shutdown does not use up an attempt")
            #expect(serve.records.contains { $0["msg"] as? String == "job returned to the queue at shutdown" })
            await #expect(try sandbox.run(["serve", "--drain"]).status == 0)
            job = try await sandbox.job(id)
            #expect(job["status"] as? String == "succeeded")
        }
    }
}
