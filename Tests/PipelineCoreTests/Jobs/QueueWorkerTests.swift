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

struct QueueWorkerTests {
    let queue = InMemoryJobQueue(retryPolicy: RetryPolicy(maxAttempts: 2, baseDelay: .zero, maxDelay: .zero))
    let store = InMemoryObjectStore()
    let samples = Signals.make([.tone(12), .silence(1), .tone(20), .silence(1), .tone(6)]).samples

    private func worker(
        transcriber: any SpeechToText, decoder: (any AudioDecoding)? = nil, drain: Bool = true,
        grace: Duration = .seconds(5), shutdown: ShutdownSignal = ShutdownSignal()
    ) -> QueueWorker {
        let samples = self.samples
        let executor = JobExecutor(
            store: self.store, encoder: NoEncoder(),
            pipelines: JobExecutor.Pipelines(
                transcription: { _, _ in
                    TranscriptionPipeline(
                        decoder: decoder ?? ArrayDecoder(samples: samples), transcriber: transcriber,
                        settings: TranscriptionPipeline.Settings())
                },
                speech: { _, _, _ in throw ConfigError(file: "test", message: "no speech in these tests") }))
        return QueueWorker(
            queue: self.queue, executor: executor,
            settings: QueueWorker.Settings(
                concurrency: 2, lease: .seconds(30), heartbeat: .milliseconds(20), poll: .milliseconds(5),
                shutdownGrace: grace, drain: drain, drainWait: .zero),
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

        let summary = try await self.worker(transcriber: RecordingTranscriber()).run()

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
    func badInputIsDeadOnTheFirstAttemptAndTheWorkerKeepsServing() async throws {
        let bad = try await self.enqueue("in/bad.mp3")
        let rejecting = self.worker(transcriber: RecordingTranscriber(), decoder: RejectingDecoder())

        _ = try await rejecting.run()
        let good = try await self.enqueue("in/good.wav")
        _ = try await self.worker(transcriber: RecordingTranscriber()).run()

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

        let summary = try await self.worker(transcriber: RecordingTranscriber(failWhenLongerThan: 0)).run()

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

        async let summary = worker.run()
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
        let worker = self.worker(transcriber: transcriber, drain: false, grace: .milliseconds(50), shutdown: shutdown)

        async let summary = worker.run()
        for await _ in transcriber.started { break }
        shutdown.request()

        #expect(try await summary.released == 1)
        let returned = try #require(try await self.queue.job(id: job.id))
        #expect(returned.status == .queued)
        #expect(returned.attempts == 0)
    }

    @Test
    func shutdownLetsAJobFinishWithinTheGracePeriod() async throws {
        let job = try await self.enqueue()
        let transcriber = GatedTranscriber()
        let shutdown = ShutdownSignal()
        let worker = self.worker(transcriber: transcriber, drain: false, grace: .seconds(30), shutdown: shutdown)

        async let summary = worker.run()
        for await _ in transcriber.started { break }
        shutdown.request()
        transcriber.release()

        #expect(try await summary.succeeded == 1)
        #expect(try await self.queue.job(id: job.id)?.status == .succeeded)
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
