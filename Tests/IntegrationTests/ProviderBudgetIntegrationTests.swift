import AudioMedia
import Foundation
import PipelineCore
import TestSupport
import Testing

/// Issue 14's reproductions as a user runs them: lying headers and a provider that only fails cost no more than the
/// configured budget.
@Suite(.serialized)
struct ProviderBudgetIntegrationTests {
    @Test
    func filesThatDeclareTheImplausibleAreDeadAtOnceWithNoProviderRequest() async throws {
        let server = try await SpeechServer.start(["--echo", "--no-preload"])
        defer { server.stop() }
        let sandbox = try WorkerSandbox(apiBase: server.apiBase)
        defer { sandbox.remove() }
        let variants = try LyingMedia.variants(
            fixtures: WorkerProcess.fixtureURL("speech.wav").deletingLastPathComponent(), into: sandbox.directory)
        var ids: [String: String] = [:]
        for variant in variants {
            ids[variant.name] = try await sandbox.enqueue(variant.file.path)
        }

        let worker = try ServeProcess(["serve", "--drain", "--log", "json"] + sandbox.options)
        defer { worker.stop() }
        #expect(try await worker.wait(seconds: 120) == 0)

        for variant in variants {
            let job = try await sandbox.job(try #require(ids[variant.name]))
            let error = job["error"] as? [String: Any] ?? [:]
            #expect(job["status"] as? String == "dead", "\(variant.name): \(job)")
            #expect(job["attempts"] as? Int == 1, "\(variant.name): dead at once, not retried")
            #expect(error["kind"] as? String == "bad_input", "\(variant.name): \(error)")
            #expect((error["message"] as? String ?? "").contains(variant.reason), "\(variant.name): \(error)")
        }
        #expect(try await server.requests() == 0, "not one provider request for a lying file")
    }

    @Test
    func aProviderThatOnlyFailsCannotMakeAJobSendMoreThanItsBudget() async throws {
        let server = try await SpeechServer.start(["--echo", "--no-preload", "--fail-always-status", "503"])
        defer { server.stop() }
        // Retries that would send each chunk ten times; a budget of twice the audio; five attempts of the job.
        let sandbox = try WorkerSandbox(
            apiBase: server.apiBase,
            worker:
                "[budget]\nmax_sent_multiple = 2\n[worker]\nmax_attempts = 5\nretry_base_s = 0.1\nretry_max_s = 0.2",
            retries: 9)
        defer { sandbox.remove() }
        let id = try await sandbox.enqueue(WorkerProcess.fixture("speech.wav"))

        let worker = try ServeProcess(["serve", "--drain", "--log", "json"] + sandbox.options)
        defer { worker.stop() }
        #expect(try await worker.wait(seconds: 120) == 0)

        let job = try await sandbox.job(id)
        let error = job["error"] as? [String: Any] ?? [:]
        #expect(job["status"] as? String == "dead")
        #expect(error["kind"] as? String == "budget", "\(error)")
        #expect((error["message"] as? String ?? "").contains("provider budget is spent"), "\(error)")
        // The 10.5 s file is one chunk: twice its audio is two sends, over every attempt of the job together. A send
        // is the audio sent, which its shortened pauses make a little less than the file's.
        #expect(try await server.requests() == 2)
        let budget = job["budget"] as? [String: Any] ?? [:]
        #expect(budget["unit"] as? String == "audio_seconds", "\(job)")
        let send = (budget["sent"] as? Double ?? 0) / 2
        #expect(send > 9 && send <= 10.53, "\(budget)")
        #expect(abs((budget["allowed"] as? Double ?? 0) - 21.05) < 0.01, "\(budget)")
        #expect(
            job["attempts"] as? Int ?? 0 <= 2, "spending stopped the job; it was not retried until its attempts ran out"
        )
    }

    @Test
    func mutatedMediaNeverSendsMoreThanItsBudget() async throws {
        let directory = try WorkerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = try Self.mutations(into: directory)
        var decodedSomething = 0
        var failedCleanly = 0
        for file in files {
            let provider = FailingProvider()
            // Five retries: without a budget every chunk would be sent six times.
            let chain = FallbackChain<any SpeechToText>(
                route: FunctionRoute(
                    function: "stt",
                    candidates: [
                        (
                            RouteVariant(
                                name: "local", retries: RetrySettings(numRetries: 5, maxDelay: .seconds(1)),
                                timeout: nil, providers: [RouteProvider(model: "m", name: "local", client: provider)]),
                            1
                        )
                    ], fallbacks: []),
                breaker: CircuitBreaker(failureThreshold: 100_000, coolDown: .seconds(1), clock: ManualClock()),
                clock: ManualClock(), random: RandomSource(seed: 14))
            let pipeline = TranscriptionPipeline(
                decoder: FFmpegAudioDecoder(), transcriber: chain,
                settings: TranscriptionPipeline.Settings(concurrency: 2))
            let budget = ProviderBudget(unit: .audioSeconds, multiple: 2)
            do {
                _ = try await ProviderBudget.$current.withValue(budget) { try await pipeline.run(file) }
                // Only a file that decodes to silence throughout, so that nothing was sent, ends with a transcript.
                #expect(provider.calls == 0, "\(file.lastPathComponent): a provider that only fails gave a transcript")
                failedCleanly += 1
            } catch is MediaError {
                failedCleanly += 1
            } catch is TranscriptionError {
                failedCleanly += 1
            }
            let spend = budget.spend
            // What the provider received is what the budget counted, and it is within the allowance.
            #expect(abs(provider.seconds - spend.sent) < 0.01, "\(file.lastPathComponent): \(spend)")
            #expect(provider.seconds <= spend.allowed * 1.001, "\(file.lastPathComponent): \(spend)")
            if spend.allowed > 0 {
                decodedSomething += 1
            }
            #expect(provider.calls <= Int((spend.allowed / 0.25).rounded(.up)), "\(file.lastPathComponent)")
        }
        #expect(failedCleanly == files.count, "each ended in a clean error, or silence with no request")
        #expect(decodedSomething >= files.count / 3, "most mutations still decode some audio")
        print("figure: \(files.count) mutated files, \(decodedSomething) decoded some audio, every one within budget")
    }

    /// Truncations, byte flips, zeroed headers and splices of every audio fixture, and the lying headers.
    static func mutations(into directory: URL) throws -> [URL] {
        let names = [
            "speech.wav", "speech.mp3", "speech.m4a", "speech.flac", "speech.opus", "speech.webm", "speech-video.mp4",
        ]
        let originals = try names.map { try Data(contentsOf: WorkerProcess.fixtureURL($0)) }
        let random = RandomSource(seed: 1414)
        var files: [URL] = []
        func write(_ data: Data, _ name: String) throws {
            let file = directory.appendingPathComponent(name)
            try data.write(to: file)
            files.append(file)
        }
        for (index, (name, original)) in zip(names, originals).enumerated() {
            for cut in 0..<4 {
                try write(original.prefix(Int(Double(original.count) * random.unit())), "cut\(cut)-\(name)")
            }
            for flip in 0..<4 {
                var data = original
                for _ in 0..<16 {
                    let at = Int(Double(min(data.count, 2048)) * random.unit()) % data.count
                    data[at] ^= UInt8(1 + Int(254 * random.unit()))
                }
                try write(data, "flip\(flip)-\(name)")
            }
            var zeroed = original
            zeroed.replaceSubrange(0..<min(64, zeroed.count), with: Data(count: min(64, zeroed.count)))
            try write(zeroed, "zero-\(name)")
            let other = originals[(index + 1) % originals.count]
            try write(original.prefix(original.count / 2) + other.suffix(other.count / 2), "splice-\(name)")
        }
        let lying = try LyingMedia.variants(
            fixtures: WorkerProcess.fixtureURL("speech.wav").deletingLastPathComponent(), into: directory)
        return files + lying.map(\.file)
    }
}

/// A provider that receives every request and answers it with a 503, counting requests and seconds of audio.
private final class FailingProvider: SpeechToText {
    private let received = LockedValue((calls: 0, seconds: 0.0))

    var calls: Int { self.received.value.calls }
    var seconds: Double { self.received.value.seconds }

    func transcribe(_ request: TranscriptionRequest) async throws -> TranscriptionResult {
        self.received.withLock {
            $0.calls += 1
            $0.seconds += Double(request.samples.count) / Double(request.sampleRate)
        }
        var failure = ProviderFailure(.http, status: 503, message: "status 503")
        failure.bytesSent = request.samples.count * 2
        throw failure
    }
}

extension ProviderBudgetIntegrationTests {
    @Test
    func aRequestsOwnDurationLimitRefusesALongerFileBeforeAnyRequest() async throws {
        let provider = FailingProvider()
        let pipeline = TranscriptionPipeline(
            decoder: FFmpegAudioDecoder(), transcriber: provider, settings: TranscriptionPipeline.Settings()
        ).limited(toSeconds: 5)

        let error = await #expect(throws: MediaError.self) {
            _ = try await pipeline.run(WorkerProcess.fixtureURL("speech.wav"))
        }
        #expect(error?.reason == "the file declares 11 s of audio, over the limit of 5 s")
        #expect(provider.calls == 0)
    }
}
