import AudioMedia
import Foundation
import PipelineCore
import Testing

/// Speech end to end: the command and a queued job against the local speech server (flite), checked by decoding
/// the result and by recognizing it again (pocketsphinx).
struct SpeechIntegrationTests {
    static let text = """
        The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with a single step.

        Speech recognition turns spoken words into text, and speech synthesis turns text into speech.
        """

    @Test
    func synthesizeSplitsWithinTheProvidersLimitAndTheWordsComeBackInOrder() async throws {
        let server = try await SpeechServer.start(["--decoders", "1", "--max-input-chars", "120"])
        defer { server.stop() }
        let sandbox = try WorkerSandbox(apiBase: server.apiBase)
        defer { sandbox.remove() }
        let output = sandbox.directory.appendingPathComponent("speech.mp3")
        // The speech provider's budget is the server's limit: pieces must fit it.
        try
            (String(contentsOfFile: sandbox.config, encoding: .utf8)
            + "\n[models.speech.providers.a]\nmax_input_chars = 120\nvoice = \"rms\"\n")
            .write(toFile: sandbox.config, atomically: true, encoding: .utf8)

        let outcome = try await sandbox.run(["synthesize", Self.text, "-o", output.path])

        #expect(outcome.status == 0, "\(outcome.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        let pieces = summary?["pieces"] as? [[String: Any]] ?? []
        #expect(pieces.count >= 2)
        let lengths = pieces.compactMap { piece -> Int? in
            guard let range = piece["characters"] as? [Int], range.count == 2 else { return nil }
            return range[1] - range[0]
        }
        #expect(lengths.count == pieces.count && lengths.allSatisfy { $0 <= 120 }, "\(lengths)")
        #expect(pieces.map { $0["index"] as? Int } == Array(0..<pieces.count).map { $0 })
        #expect(pieces.allSatisfy { $0["provider"] as? String == "speech/a" })
        let info = try await FFmpegAudioDecoder().probe(output, limits: MediaLimits())
        #expect(info.streams.first?.codec == "mp3")
        #expect(abs((info.duration ?? 0) - (summary?["duration"] as? Double ?? -1)) < 0.2)

        let back = try await sandbox.run([
            "transcribe", output.path, "--output-dir", sandbox.directory.path, "--formats", "txt",
        ])
        #expect(back.status == 0, "\(back.stderr)")
        let heard = try String(contentsOf: sandbox.directory.appendingPathComponent("speech.txt"), encoding: .utf8)
        let positions = ["quick", "thousand", "recognition", "synthesis"].map { heard.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil }, "\(heard)")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "the pieces are in order")
    }

    @Test
    func aQueuedSynthesisWritesItsAudioToStorage() async throws {
        let server = try await SpeechServer.start(["--no-preload"])
        defer { server.stop() }
        let sandbox = try WorkerSandbox(apiBase: server.apiBase)
        defer { sandbox.remove() }

        let enqueued = try await sandbox.run([
            "enqueue", "synthesize", "Hello from the queue.", "--format", "opus", "--rate", "16000",
        ])
        let empty = try await sandbox.run(["enqueue", "synthesize", "   \n  ", "--format", "wav"])
        await #expect(try sandbox.run(["serve", "--drain"]).status == 0)

        let job = try JSONSerialization.jsonObject(with: Data(enqueued.stdout.utf8)) as? [String: Any] ?? [:]
        let done = try await sandbox.job(job["id"] as? String ?? "")
        #expect(done["status"] as? String == "succeeded")
        let key = (done["outputs"] as? [String])?.first ?? ""
        #expect(key.hasPrefix("speech/") && key.hasSuffix(".opus"))
        let audio = URL(fileURLWithPath: sandbox.data + "/store/assets/" + key)
        let info = try await FFmpegAudioDecoder().probe(audio, limits: MediaLimits())
        #expect(info.streams.first?.codec == "opus")
        // Empty text is refused when it is submitted: nothing is queued that could never run.
        #expect(empty.status == 1)
        #expect(empty.stderr.contains("text: the text is empty"), "\(empty.stderr)")
        let listed = try await sandbox.run(["jobs", "list"])
        let jobs = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(jobs.count == 1)
    }
}
