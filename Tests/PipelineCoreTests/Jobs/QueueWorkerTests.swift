import Foundation
import PipelineCore
import Synchronization
import Testing

/// A transcriber that announces each request and then waits until released (or cancelled).
final class GatedTranscriber: SpeechToText {
    let started: AsyncStream<Void>
    private let startedContinuation: AsyncStream<Void>.Continuation
    private let gate = ShutdownSignal()

    init() {
        (self.started, self.startedContinuation) = AsyncStream.makeStream()
    }

    /// Lets every waiting and future request finish.
    func release() { self.gate.request() }

    func transcribe(_ request: TranscriptionRequest) async throws -> TranscriptionResult {
        self.startedContinuation.yield()
        await self.gate.wait()
        try Task.checkCancellation()
        let text = "released."
        return TranscriptionResult(
            transcript: Transcript(text: text, segments: [TranscriptSegment(id: 0, start: 0, end: 1, text: text)]),
            servedBy: ServedBy(function: "f", variant: "v", model: "m", provider: "p"))
    }
}

/// A decoder that rejects everything, as for a corrupt file.
struct RejectingDecoder: AudioDecoding {
    func open(_ file: URL, options: DecodeOptions) async throws -> DecodedAudio {
        throw MediaError(.notMedia, input: file.path, reason: "not a media file this worker reads")
    }

    func probe(_ file: URL, limits: MediaLimits) async throws -> MediaInfo {
        throw MediaError(.notMedia, input: file.path, reason: "not a media file this worker reads")
    }
}

/// A queue whose first `failures` settles fail as a database locked by another process makes them fail.
struct LockedSettleQueue: WorkQueue {
    let base: InMemoryJobQueue
    let failures: Int
    let attempts = LockedValue(0)

    func enqueue(_ request: EnqueueRequest) async throws -> (job: Job, created: Bool) {
        try await self.base.enqueue(request)
    }

    func lease(owner: String, wait: Duration) async throws -> JobLease? {
        try await self.base.lease(owner: owner, wait: wait)
    }

    func heartbeat(_ lease: JobLease, progress: JobProgress?) async throws -> Bool {
        try await self.base.heartbeat(lease, progress: progress)
    }

    func settle(_ lease: JobLease, _ settlement: JobSettlement) async throws -> Job {
        let attempt = self.attempts.withLock {
            $0 += 1
            return $0
        }
        guard attempt > self.failures else { throw JobQueueError.storage("database is locked (SQLite code 5)") }
        return try await self.base.settle(lease, settlement)
    }
}

struct QueueWorkerTests {
    let queue = InMemoryJobQueue(visibility: .seconds(30), maxAttempts: 2)
    let storage = InMemoryStorage()
    let events = JobEvents()
    let samples = Signals.make([.tone(12), .silence(1), .tone(20), .silence(1), .tone(6)]).samples

    private var store: InMemoryObjectStore { try! self.storage.store("assets") }

    private func worker(
        transcriber: any SpeechToText, decoder: (any AudioDecoding)? = nil, drain: Bool = true,
        shutdown: ShutdownSignal = ShutdownSignal(), queue: (any WorkQueue)? = nil
    ) -> QueueWorker {
        let samples = self.samples
        let executor = JobExecutor(
            storage: self.storage, defaultBucket: "assets",
            requests: JobRequests(configuration: Configuration.builtIn()), encoder: NoEncoder(),
            pipelines: JobExecutor.Pipelines(
                transcription: { _, _, _ in
                    TranscriptionPipeline(
                        decoder: decoder ?? ArrayDecoder(samples: samples), transcriber: transcriber,
                        settings: TranscriptionPipeline.Settings())
                },
                speech: { _, _, _, _ in throw ConfigError(file: "test", message: "no speech in these tests") }))
        return QueueWorker(
            backend: JobBackend(queue: queue ?? self.queue, ledger: self.queue), executor: executor,
            events: self.events,
            retryPolicy: RetryPolicy(baseDelay: .zero, maxDelay: .zero),
            settings: QueueWorker.Settings(
                concurrency: 2, heartbeat: .milliseconds(20), idleWait: .milliseconds(50), drain: drain,
                drainWait: .zero),
            owner: "test:1", logger: .silent, shutdown: shutdown)
    }

    private func enqueue(_ input: String = "in/a.wav") async throws -> Job {
        try await self.store.put(input, data: Data("RIFF".utf8), contentType: nil)
        return try await self.queue.enqueue(
            EnqueueRequest(
                payload: .transcription(
                    TranscriptionJobSpec(
                        input: input, formats: ["json", "txt"], outputPrefix: JobInputs.outputPrefix(forKey: input))))
        ).job
    }

    @Test
    func aJobSucceedsAndItsOutputsGoToDeterministicKeys() async throws {
        let job = try await self.enqueue()

        let summary = try await self.worker(transcriber: RecordingTranscriber()).work()

        #expect(summary.succeeded == 1)
        let done = try #require(try await self.queue.job(id: job.id))
        #expect(done.status == .succeeded)
        #expect(done.outputs == ["transcripts/in/a.wav.json", "transcripts/in/a.wav.txt"])
        #expect(try await self.store.exists("transcripts/in/a.wav.json"))
        guard case .array(let chunks) = done.result?["chunks"] else {
            Issue.record("the result has no chunk list")
            return
        }
        #expect(chunks.count >= 2)
        #expect(try await self.queue.checkpoints(jobID: job.id).isEmpty, "a finished job keeps no checkpoints")
    }

    @Test
    func aSettleTheQueueRefusesForAWhileIsTriedAgainAndTheWorkIsNotRedone() async throws {
        let job = try await self.enqueue()
        let transcriber = RecordingTranscriber()
        let locked = LockedSettleQueue(base: self.queue, failures: 3)

        let summary = try await self.worker(transcriber: transcriber, queue: locked).work()

        #expect(summary.succeeded == 1)
        #expect(locked.attempts.value == 4)
        let done = try #require(try await self.queue.job(id: job.id))
        #expect(done.status == .succeeded)
        #expect(done.attempts == 1)
        let chunks = transcriber.calls
        _ = try await self.worker(transcriber: transcriber).work()
        #expect(transcriber.calls == chunks, "nothing is left to run again")
    }

    @Test
    func badInputIsDeadOnTheFirstAttemptAndTheWorkerKeepsServing() async throws {
        let bad = try await self.enqueue("in/bad.mp3")
        let rejecting = self.worker(transcriber: RecordingTranscriber(), decoder: RejectingDecoder())

        _ = try await rejecting.work()
        let good = try await self.enqueue("in/good.wav")
        _ = try await self.worker(transcriber: RecordingTranscriber()).work()

        let dead = try #require(try await self.queue.job(id: bad.id))
        #expect(dead.status == .dead)
        #expect(dead.attempts == 1)
        #expect(dead.error?.kind == "bad_input")
        #expect(dead.error?.message.hasPrefix("in/bad.mp3: not a media file") == true)
        #expect(try await self.queue.job(id: good.id)?.status == .succeeded)
    }

    @Test
    func aProviderFailureIsRetriedThenDeadWithEveryProvidersError() async throws {
        let job = try await self.enqueue()

        let summary = try await self.worker(transcriber: RecordingTranscriber(failWhenLongerThan: 0)).work()

        #expect(summary.failed == 2)
        let dead = try #require(try await self.queue.job(id: job.id))
        #expect(dead.status == .dead)
        #expect(dead.attempts == 2)
        #expect(dead.error?.kind == "provider")
        #expect(dead.error?.details == ["v m/p: failed (HTTP 503): down"])
    }

    @Test
    func cancellingARunningJobStopsItAtTheNextHeartbeat() async throws {
        let job = try await self.enqueue()
        let transcriber = GatedTranscriber()
        let worker = self.worker(transcriber: transcriber)

        async let summary = worker.work()
        for await _ in transcriber.started { break }
        _ = try await self.queue.cancel(id: job.id)

        #expect(try await summary.cancelled == 1)
        #expect(try await self.queue.job(id: job.id)?.status == .cancelled)
    }

    @Test
    func shutdownReturnsAJobStillRunningAfterTheGracePeriodWithoutCountingTheAttempt() async throws {
        let job = try await self.enqueue()
        let transcriber = GatedTranscriber()
        let shutdown = ShutdownSignal()
        let workerShutdown = ShutdownSignal()
        let worker = self.worker(transcriber: transcriber, drain: false, shutdown: workerShutdown)
        let group = ServiceGroup(
            [ServiceGroup.Member(worker, shutdown: workerShutdown)], shutdown: shutdown, grace: .milliseconds(50),
            logger: .silent)
        let settled = self.events.subscribe(jobID: job.id)

        async let stopped: Void = group.run()
        for await _ in transcriber.started { break }
        shutdown.request()

        try await stopped
        var kinds: [JobEvent.Kind] = []
        settled.finish()
        for await event in settled.events {
            kinds.append(event.kind)
        }
        #expect(kinds.contains(.released), "\(kinds)")
        let returned = try #require(try await self.queue.job(id: job.id))
        #expect(returned.status == .queued)
        #expect(returned.attempts == 0)
    }

    @Test
    func shutdownLetsAJobFinishWithinTheGracePeriod() async throws {
        let job = try await self.enqueue()
        let transcriber = GatedTranscriber()
        let shutdown = ShutdownSignal()
        let worker = self.worker(transcriber: transcriber, drain: false, shutdown: shutdown)

        async let summary = worker.work()
        for await _ in transcriber.started { break }
        shutdown.request()
        transcriber.release()

        #expect(try await summary.succeeded == 1)
        #expect(try await self.queue.job(id: job.id)?.status == .succeeded)
    }

    @Test
    func everyStateChangeIsPublishedInOrderWithChunkProgress() async throws {
        let subscription = self.events.subscribe()
        let job = try await self.enqueue()

        _ = try await self.worker(transcriber: RecordingTranscriber()).work()

        subscription.finish()
        var events: [JobEvent] = []
        for await event in subscription.events where event.job.id == job.id {
            events.append(event)
        }
        let kinds = events.map(\.kind)
        #expect(kinds.first == .running)
        #expect(kinds.last == .succeeded)
        let chunks = events.compactMap(\.chunk)
        #expect(chunks.count >= 2 && kinds.filter { $0 == .progress }.count >= chunks.count)
        #expect(Set(chunks.map(\.index)).count == chunks.count, "each chunk is reported once")
        let finished = try #require(events.last?.job)
        #expect(finished.progress.done == finished.progress.total, "a finished job reads done = total")
        #expect(finished.progress.total != nil)
    }

    @Test
    func aJobFromTheNetworkNamingALocalFileIsDeadWithoutReadingIt() async throws {
        let secret = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID()).wav")
        try Data("RIFF".utf8).write(to: secret)
        defer { try? FileManager.default.removeItem(at: secret) }
        let recording = RecordingTranscriber()
        var ids: [String] = []
        for input in [secret.absoluteString, secret.path] {
            let spec = TranscriptionJobSpec(input: input, outputPrefix: "transcripts/x")
            ids.append(
                try await self.queue.enqueue(EnqueueRequest(payload: .transcription(spec), origin: .network)).job.id)
        }

        _ = try await self.worker(transcriber: recording).work()

        for id in ids {
            let dead = try #require(try await self.queue.job(id: id))
            #expect(dead.status == .dead)
            #expect(dead.attempts == 1)
            #expect(dead.error?.kind == "bad_input")
            #expect(dead.error?.message.contains("not local files") == true, "\(dead.error?.message ?? "")")
        }
        #expect(recording.calls == 0, "nothing was sent to a provider")
    }

    @Test
    func aBadLanguageFromAProducerIsDeadAtOnceNotRetried() async throws {
        try await self.store.put("in/a.wav", data: Data("RIFF".utf8), contentType: nil)
        let spec = TranscriptionJobSpec(input: "in/a.wav", language: "klingon", outputPrefix: "transcripts/a")
        let job = try await self.queue.enqueue(EnqueueRequest(payload: .transcription(spec), origin: .network)).job
        let recording = RecordingTranscriber()

        _ = try await self.worker(transcriber: recording).work()

        let dead = try #require(try await self.queue.job(id: job.id))
        #expect(dead.status == .dead && dead.attempts == 1)
        #expect(dead.error?.message.contains("language") == true)
        #expect(recording.calls == 0)
    }
}

/// An encoder for tests that never write audio.
struct NoEncoder: AudioEncoding {
    func encode(_ samples: [Float], sampleRate: Int, as format: AudioFileFormat, outputRate: Int) async throws -> Data {
        Data()
    }

    func openWriter(to file: URL, sampleRate: Int, as format: AudioFileFormat, outputRate: Int) async throws
        -> AudioWriter
    {
        throw MediaError(.invalidArgument, input: file.path, reason: "tests write no audio")
    }

    func openStream(sampleRate: Int, as format: AudioFileFormat, outputRate: Int) async throws -> AudioStreamWriter {
        throw MediaError(.invalidArgument, input: "<stream>", reason: "tests write no audio")
    }
}

struct JobPayloadTests {
    @Test
    func payloadsEncodeAsOneNamedObjectAndRoundTrip() throws {
        let payload = JobPayload.synthesis(SynthesisJobSpec(text: "Hi.", format: "mp3", outputKey: "speech/a.mp3"))

        let json = try JSONOutput.string(payload)

        #expect(json == #"{"synthesis":{"format":"mp3","output_key":"speech/a.mp3","text":"Hi."}}"#)
        #expect(try JSONDecoder().decode(JobPayload.self, from: Data(json.utf8)) == payload)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(JobPayload.self, from: Data("{}".utf8)) }
    }
}
