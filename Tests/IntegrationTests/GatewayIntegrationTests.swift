import AudioMedia
import CurlHTTP
import Foundation
import PipelineCore
import Testing

/// The gateway against real local speech servers over HTTP on 127.0.0.1, with injected faults.
struct GatewayIntegrationTests {
    /// A local candidate (retried twice unless told) and a cloud fallback, both on loopback servers.
    private func resolve(local: String, cloud: String, localRetries: Int = 2) throws -> ResolvedFunction {
        try TestGateway.localThenCloud(local: local, cloud: cloud, localRetries: localRetries)
    }

    private func chain(_ function: ResolvedFunction, clock: ManualClock, failures: Int = 5) -> FallbackChain<
        any SpeechToText
    > {
        var settings = WorkerConfig.Gateway()
        settings.circuitFailures = failures
        settings.seed = 1
        return AudioGateway(
            settings: settings, http: CurlHTTPClient(), encoder: FFmpegAudioEncoder(), clock: clock
        )
        .transcriptionChain(for: function)
    }

    private static let oneSecond = TranscriptionRequest(
        samples: (0..<16_000).map { Float(sin(Double($0) * 0.1) * 0.2) }, sampleRate: 16_000)

    @Test
    func theLocalWhisperRecognizesTheFixtureThroughTheClient() async throws {
        let server = try await SpeechServer.start(["--decoders", "1"])
        defer { server.stop() }
        let audio = try await FFmpegAudioDecoder().open(
            WorkerProcess.fixtureURL("speech.wav"), options: DecodeOptions())
        var samples: [Float] = []
        for try await block in audio.blocks {
            samples += block.samples
        }
        let client = OpenAITranscriptionClient(
            endpoint: URL(string: server.apiBase + "/audio/transcriptions")!, modelName: "small", apiKey: nil,
            settings: AudioProviderSettings(), timeout: .seconds(60), http: CurlHTTPClient(),
            encoder: FFmpegAudioEncoder())

        let result = try await client.transcribe(TranscriptionRequest(samples: samples, sampleRate: 16_000))

        let words = Set(
            result.transcript.text.lowercased().split(separator: " ").map {
                String($0.unicodeScalars.filter { CharacterSet.letters.contains($0) })
            })
        let expected: Set = [
            "quick", "brown", "fox", "lazy", "dog", "journey", "thousand", "miles", "single", "step", "speech",
            "recognition", "words", "text",
        ]
        #expect(expected.intersection(words).count >= 11, "\(result.transcript.text)")
        #expect(result.transcript.language == "en")
        let starts = result.transcript.segments.map(\.start)
        #expect(starts == starts.sorted())
        #expect(result.transcript.segments.allSatisfy { $0.start < $0.end && $0.end <= 10.6 })
        #expect(!result.transcript.words.isEmpty)
    }

    @Test
    func local503TwiceIsRetriedThenSucceeds() async throws {
        let local = try await SpeechServer.start([
            "--echo", "--no-preload", "--fail-first", "2", "--fail-status", "503",
        ])
        let cloud = try await SpeechServer.start(["--echo", "--no-preload"])
        defer {
            local.stop()
            cloud.stop()
        }
        let clock = ManualClock()

        let result = try await self.chain(self.resolve(local: local.apiBase, cloud: cloud.apiBase), clock: clock)
            .transcribe(Self.oneSecond)

        #expect(result.servedBy?.variant == "local")
        #expect(result.attempts.map(\.status) == [503, 503, 200])
        #expect(clock.sleeps.count == 2)
        #expect(try await local.requests() == 3)
        #expect(try await cloud.requests() == 0)
        #expect(result.transcript.text == "chunk of 1.00 seconds")
    }

    @Test
    func whenTheLocalServerIsDownTheCloudProviderServes() async throws {
        let gone = try await SpeechServer.start(["--echo", "--no-preload"])
        let deadBase = gone.apiBase
        gone.stop()
        let cloud = try await SpeechServer.start(["--echo", "--no-preload"])
        defer { cloud.stop() }

        let result = try await self.chain(self.resolve(local: deadBase, cloud: cloud.apiBase), clock: ManualClock())
            .transcribe(Self.oneSecond)

        #expect(result.servedBy?.variant == "cloud")
        #expect(result.attempts.prefix(3).allSatisfy { $0.outcome == .failed && $0.error?.contains("connect") == true })
        #expect(try await cloud.requests() == 1)
    }

    @Test
    func retryAfterFromA429IsHonoured() async throws {
        let local = try await SpeechServer.start([
            "--echo", "--no-preload", "--rate-limit-first", "1", "--retry-after", "1",
        ])
        let cloud = try await SpeechServer.start(["--echo", "--no-preload"])
        defer {
            local.stop()
            cloud.stop()
        }
        let clock = ManualClock()

        let result = try await self.chain(self.resolve(local: local.apiBase, cloud: cloud.apiBase), clock: clock)
            .transcribe(Self.oneSecond)

        #expect(result.attempts.map(\.status) == [429, 200])
        #expect(clock.sleeps.count == 1)
        #expect(clock.sleeps[0] >= .seconds(1), "waited \(clock.sleeps[0]) after Retry-After: 1")
    }

    @Test
    func unauthorizedMovesToTheNextProviderWithoutRetrying() async throws {
        let local = try await SpeechServer.start(["--echo", "--no-preload", "--fail-always-status", "401"])
        let cloud = try await SpeechServer.start(["--echo", "--no-preload"])
        defer {
            local.stop()
            cloud.stop()
        }
        let clock = ManualClock()

        let result = try await self.chain(self.resolve(local: local.apiBase, cloud: cloud.apiBase), clock: clock)
            .transcribe(Self.oneSecond)

        #expect(result.servedBy?.variant == "cloud")
        #expect(try await local.requests() == 1)
        #expect(clock.sleeps.isEmpty)
    }

    @Test
    func audioTheProviderRejectsFailsWithoutFallback() async throws {
        let local = try await SpeechServer.start(["--echo", "--no-preload"])
        let cloud = try await SpeechServer.start(["--echo", "--no-preload"])
        defer {
            local.stop()
            cloud.stop()
        }
        let empty = TranscriptionRequest(samples: [], sampleRate: 16_000)

        let error = await #expect(throws: GatewayError.self) {
            try await self.chain(self.resolve(local: local.apiBase, cloud: cloud.apiBase), clock: ManualClock())
                .transcribe(empty)
        }

        #expect(error?.isPermanent == true)
        #expect(error?.description.lowercased().contains("audio") == true, "\(error?.description ?? "")")
        #expect(try await cloud.requests() == 0)
    }

    @Test
    func malformedJSONIsAProviderFailure() async throws {
        let local = try await SpeechServer.start(["--echo", "--no-preload", "--malformed-first", "1"])
        let cloud = try await SpeechServer.start(["--echo", "--no-preload", "--garbage-first", "1"])
        defer {
            local.stop()
            cloud.stop()
        }

        let error = await #expect(throws: GatewayError.self) {
            try await self.chain(
                self.resolve(local: local.apiBase, cloud: cloud.apiBase, localRetries: 0), clock: ManualClock()
            ).transcribe(Self.oneSecond)
        }

        #expect(error?.reason == .exhausted)
        #expect(
            error?.attempts.map(\.error) == [
                #"the reply is not JSON (starts with '{"text": "trunc')"#,
                "the reply has neither 'text' nor 'segments'",
            ])
    }

    @Test
    func theCircuitOpensOnAFailingServerAndHalfOpensAfterTheCoolDown() async throws {
        let local = try await SpeechServer.start(["--echo", "--no-preload", "--fail-always-status", "500"])
        let cloud = try await SpeechServer.start(["--echo", "--no-preload"])
        defer {
            local.stop()
            cloud.stop()
        }
        let clock = ManualClock()
        let chain = self.chain(
            try self.resolve(local: local.apiBase, cloud: cloud.apiBase, localRetries: 0), clock: clock, failures: 2)

        for _ in 0..<4 {
            _ = try await chain.transcribe(Self.oneSecond)
        }
        #expect(try await local.requests() == 2, "after two failures the open circuit skips the local server")
        try await local.setFaults([:])
        clock.advance(by: .seconds(31))
        let trial = try await chain.transcribe(Self.oneSecond)

        #expect(trial.servedBy?.variant == "local")
        #expect(try await local.requests() == 3)
    }

    @Test
    func speechClientsGetAudioFromOpenAIAndElevenLabsShapedRoutes() async throws {
        let server = try await SpeechServer.start(["--no-preload", "--elevenlabs-key", "xi-test"])
        defer { server.stop() }
        let openAI = OpenAISpeechClient(
            endpoint: URL(string: server.apiBase + "/audio/speech")!, modelName: "kokoro", apiKey: nil,
            settings: AudioProviderSettings(voice: "af_heart", responseFormat: "wav"), timeout: .seconds(30),
            http: CurlHTTPClient())
        let elevenLabs = ElevenLabsSpeechClient(
            apiBase: URL(string: server.apiBase)!, modelName: "eleven_flash_v2_5", apiKey: Secret("xi-test"),
            settings: AudioProviderSettings(voice: "voice-id", responseFormat: "pcm_16000"), timeout: .seconds(30),
            http: CurlHTTPClient())

        let wav = try await openAI.synthesize(SpeechRequest(text: "Hello from the local server."))
        let pcm = try await elevenLabs.synthesize(SpeechRequest(text: "Hello from the local server."))

        #expect(wav.format == "wav" && wav.audio.prefix(4) == Data("RIFF".utf8))
        #expect(pcm.format == "pcm" && pcm.pcmSampleRate == 16_000)
        #expect(pcm.audio.count > 16_000 * 2, "over a second of 16 kHz s16 audio: \(pcm.audio.count) bytes")
        #expect(try await server.requests("/v1/text-to-speech") == 1)
    }
}
