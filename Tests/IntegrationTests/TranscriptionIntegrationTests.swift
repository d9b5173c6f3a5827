import AudioMedia
import CurlHTTP
import Foundation
import PipelineCore
import Synchronization
import Testing

/// Transcription end to end: real media, the real pipeline, real local speech servers over HTTP.
struct TranscriptionIntegrationTests {
    /// The speech fixture `copies` times with a second of silence between: about 11.5 s per copy.
    static func repeatedSpeech(copies: Int, in directory: URL) async throws -> URL {
        let audio = try await FFmpegAudioDecoder().open(
            WorkerProcess.fixtureURL("speech.wav"), options: DecodeOptions())
        var speech: [Float] = []
        for try await block in audio.blocks {
            speech += block.samples
        }
        var samples: [Float] = []
        for _ in 0..<copies {
            samples += speech + [Float](repeating: 0, count: 16_000)
        }
        let file = directory.appendingPathComponent("long-speech.wav")
        try await FFmpegAudioEncoder().encode(samples, sampleRate: 16_000, as: .wav, outputRate: 16_000).write(to: file)
        return file
    }

    @Test
    func theCommandTranscribesAMultiChunkFileThroughTheLocalServer() async throws {
        let directory = try WorkerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // 69 s: more than two of the shipped configuration's chunks, cut at pauses.
        let copies = 6
        let input = try await Self.repeatedSpeech(copies: copies, in: directory)
        let server = try await SpeechServer.start(["--decoders", "2"])
        defer { server.stop() }

        let outcome = try await WorkerProcess.run(
            ["transcribe", input.path, "--output-dir", directory.path, "--formats", "json,srt,vtt,txt"],
            environment: ["AUDIO_WORKER_API_BASE__whisper_small_local__local": server.apiBase, "OPENAI_API_KEY": ""])

        #expect(outcome.status == 0, "\(outcome.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        #expect(summary?["ok"] as? Bool == true)
        let document = try JSONDecoder().decode(
            TranscriptDocument.self, from: Data(contentsOf: directory.appendingPathComponent("long-speech.json")))
        #expect(document.chunks.count >= 2)
        #expect(document.chunks.allSatisfy { $0.provider == "whisper_small_local/local" })
        #expect(
            zip(document.chunks, document.chunks.dropFirst()).allSatisfy { $0.end == $1.start },
            "cut at silences, no overlap")
        let words = document.text.lowercased()
        // Words tiny.en does not mishear ("quick" sometimes comes back as "Quiq" in a chunk of its own, on one CI run
        // "speech recognition" as "comforting admission", and on a loaded one "lazy" as "Lacy": CTranslate2's
        // threads do not always add in the same order).
        for word in ["journey", "fox", "single", "text"] {
            #expect(
                words.components(separatedBy: word).count - 1 >= copies - 1,
                "'\(word)' heard in most of the copies: \(document.text) \(document.warnings)")
        }
        let starts = document.segments.map(\.start)
        #expect(starts == starts.sorted())
        let srt = try String(contentsOf: directory.appendingPathComponent("long-speech.srt"), encoding: .utf8)
        #expect(srt.hasPrefix("1\n00:00:"))
        let vtt = try String(contentsOf: directory.appendingPathComponent("long-speech.vtt"), encoding: .utf8)
        #expect(vtt.hasPrefix("WEBVTT\n\n"))
        let txt = try String(contentsOf: directory.appendingPathComponent("long-speech.txt"), encoding: .utf8)
        #expect(txt == document.text + "\n")
    }

    @Test
    func chunksFallBackOneByOneWhenTheLocalProviderFailsMidJob() async throws {
        let directory = try WorkerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = try await Self.repeatedSpeech(copies: 8, in: directory)
        let local = try await SpeechServer.start(["--echo", "--no-preload"])
        let cloud = try await SpeechServer.start(["--echo", "--no-preload"])
        defer {
            local.stop()
            cloud.stop()
        }
        let resolved = try TestGateway.localThenCloud(local: local.apiBase, cloud: cloud.apiBase, localRetries: 1)
        var settings = WorkerConfig.Gateway()
        settings.circuitFailures = 100
        let chain = AudioGateway(
            settings: settings, http: CurlHTTPClient(), encoder: FFmpegAudioEncoder(), clock: ManualClock()
        )
        .transcriptionChain(for: resolved)
        let pipeline = TranscriptionPipeline(
            decoder: FFmpegAudioDecoder(), transcriber: chain, settings: TranscriptionPipeline.Settings(concurrency: 1))

        let outcome = try await pipeline.run(input) { result, _ in
            if result.index == 0 {
                try await local.setFaults(["fail_always_status": .number(503)])
            }
        }

        let providers = outcome.chunks.map { $0.servedBy?.variant }
        #expect(outcome.chunks.count >= 3)
        #expect(providers.first == "local")
        #expect(providers.dropFirst().allSatisfy { $0 == "cloud" }, "\(providers)")
        #expect(outcome.chunks.dropFirst().allSatisfy { $0.attempts.map(\.status) == [503, 503, 200] })
        #expect(outcome.transcript.segments.count == outcome.chunks.count)
    }
}
