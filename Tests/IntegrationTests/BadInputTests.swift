import AudioMedia
import CurlHTTP
import Foundation
import PipelineCore
import Testing

/// Bad input of every kind gets a clear error and loses nothing.
struct BadInputTests {
    @Test(arguments: [
        (
            ["enqueue", "transcribe", "../../outside/secret.wav"],
            "'../../outside/secret.wav' is neither a file nor a valid storage key"
        ),
        (["enqueue", "transcribe", "/no/such/file.wav"], "is neither a file nor a valid storage key"),
        (["enqueue", "synthesize", "Hi.", "--output-key", "speech/../../x.wav"], "--output-key: invalid storage key"),
        (["enqueue", "synthesize", "Hi.", "--format", "midi"], "unknown audio format 'midi'"),
        (["enqueue", "transcribe", "x.wav", "--language", "klingon"], "unknown language 'klingon'"),
        (["jobs", "list", "--status", "sleeping"], "unknown status 'sleeping'"),
    ])
    func unsafeOrMalformedJobRequestsAreUsageErrors(arguments: [String], message: String) async throws {
        let sandbox = try WorkerSandbox(apiBase: "http://127.0.0.1:9/v1")
        defer { sandbox.remove() }

        let outcome = try await sandbox.run(arguments)

        #expect(outcome.status == 2, "\(outcome.stderr)")
        #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
        let jobs =
            try await JSONSerialization.jsonObject(with: Data(try sandbox.run(["jobs", "list"]).stdout.utf8)) as? [Any]
        #expect(jobs?.count == 0, "nothing was enqueued")
    }

    @Test
    func oversizedAndEmptyTextAreRefusedBeforeAnyRequest() throws {
        let pipeline = SpeechPipeline(
            synthesizer: DecodingSpeechClient(
                SilentSpeech(), decoder: FFmpegAudioDecoder(), sampleRate: 24_000),
            encoder: FFmpegAudioEncoder(), settings: SpeechPipeline.Settings(maxTextCharacters: 1000))

        #expect(throws: SpeechError.textTooLong(characters: 1001, limit: 1000)) {
            _ = try pipeline.pieces(of: String(repeating: "a", count: 1001))
        }
        #expect(throws: SpeechError.emptyText) { _ = try pipeline.pieces(of: " \n\t ") }
    }

    @Test
    func aSpeechReplyThatIsNotAudioIsAProviderFailureAndTheNextProviderServes() async throws {
        let garbage = try await SpeechServer.start(["--no-preload", "--garbage-first", "5"])
        let good = try await SpeechServer.start(["--no-preload"])
        defer {
            garbage.stop()
            good.stop()
        }
        let resolved = try TestGateway.localThenCloud(local: garbage.apiBase, cloud: good.apiBase, as: .speech)
        let chain = AudioGateway(
            settings: WorkerConfig.Gateway(), http: CurlHTTPClient(), encoder: FFmpegAudioEncoder(),
            clock: ManualClock()
        ).speechChain(for: resolved, decoder: FFmpegAudioDecoder(), sampleRate: 24_000)

        let result = try await chain.synthesize(SpeechRequest(text: "Hello there."))

        #expect(result.servedBy?.variant == "cloud")
        #expect(result.attempts.first?.error?.hasPrefix("the reply is not audio FFmpeg can decode") == true)
        #expect((result.samples?.count ?? 0) > 24_000 / 2)
    }
}

/// A provider that returns silence as WAV.
struct SilentSpeech: TextToSpeech {
    func synthesize(_ request: SpeechRequest) async throws -> SpeechResult {
        SpeechResult(audio: WAVHeader.wrap(pcm16: Data(count: 48_000), sampleRate: 24_000), format: "wav")
    }
}

/// A synthesis shorter than the caller keeps (flute skips audio under 500 ms) ends in silence up to the minimum,
/// in the stored file and in what listeners hear alike.
struct SpeechMinimumTests {
    @Test
    func speechShorterThanTheMinimumEndsInSilenceUpToIt() async throws {
        let pipeline = SpeechPipeline(
            synthesizer: DecodingSpeechClient(SilentSpeech(), decoder: FFmpegAudioDecoder(), sampleRate: 24_000),
            encoder: FFmpegAudioEncoder(), settings: SpeechPipeline.Settings())
        let directory = try WorkerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("short.wav")
        let heard = LockedValue(0)

        let outcome = try await pipeline.run(
            "Yes.", to: file, format: .wav, minimumSeconds: 2,
            onAudio: { samples in heard.withLock { $0 += samples.count } })
        let plain = try await pipeline.run("Yes.", to: directory.appendingPathComponent("plain.wav"), format: .wav)

        #expect(plain.duration < 2, "one second of speech, less its trimmed silence")
        #expect(outcome.duration == 2)
        #expect(heard.value == 48_000, "listeners get the padding too")
        let decoded = try await FFmpegAudioDecoder().open(file, options: DecodeOptions(sampleRate: 24_000))
        var samples = 0
        for try await block in decoded.blocks {
            samples += block.samples.count
        }
        #expect(samples == 48_000, "the stored file lasts the minimum")
    }
}
