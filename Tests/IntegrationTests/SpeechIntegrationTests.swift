import AudioMedia
import CurlHTTP
import Foundation
import PipelineCore
import Testing

/// Speech end to end: the command and a queued job against the local speech server (Piper), checked by decoding
/// the result and by recognizing it again (Whisper).
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
            .lowercased()
        // Piper's voice is sampled afresh each time, and Whisper may hear it a little differently: "a thousand"
        // comes back as "a thousand" or "1,000", "speech" once came back as "stitch", "quick" as "quit". So each
        // clause is found by the first of several of its own words that Whisper heard.
        let clauses = [
            ["quick", "brown", "fox", "lazy", "dog"], ["journey", "thousand", "miles", "single", "step"],
            ["recognition", "spoken", "words into"], ["synthesis", "turns text"],
        ]
        let positions = clauses.map { words in words.compactMap { heard.range(of: $0)?.lowerBound }.min() }
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

/// flute-gateway's `X-Kokoro-Token` / `X-OmniVoice-Token` on `POST /synthesize`, with a real `serve`.
struct VoiceTokenTests {
    @Test
    func aConfiguredVoiceTokenIsRequiredOnSynthesizeInPlaceOfTheAPIKey() async throws {
        let server = try await SpeechServer.start(["--no-preload"])
        defer { server.stop() }
        let sandbox = try WorkerSandbox(apiBase: server.apiBase)
        defer { sandbox.remove() }
        let serve = try ServeProcess(
            ["serve", "--listen", "127.0.0.1:0", "--log", "json"] + sandbox.options,
            environment: ["AUDIO_WORKER_VOICE_TOKEN": "voice-secret", "AUDIO_WORKER_API_KEY": "api-secret"])
        defer { serve.stop() }
        let base = "http://127.0.0.1:\(try await serve.listeningPort())"
        func post(_ path: String, _ headers: [String: String]) async throws -> HTTPResponse {
            try await CurlHTTPClient().send(
                HTTPRequest(
                    method: .post, url: URL(string: base + path)!,
                    headers: headers.merging(["Content-Type": "application/json"]) { $1 },
                    body: Data(#"{"text": "Hello there.", "input": "Hello there.", "voice": "af_heart"}"#.utf8),
                    timeout: .seconds(60)))
        }

        #expect(try await post("/synthesize", [:]).status == 401)
        #expect(try await post("/synthesize", ["X-Kokoro-Token": "wrong"]).status == 401)
        #expect(try await post("/synthesize", ["Authorization": "Bearer api-secret"]).status == 401, "not the key")
        let kokoro = try await post("/synthesize", ["X-Kokoro-Token": "voice-secret"])
        #expect(kokoro.status == 200, "\(String(decoding: kokoro.body.prefix(300), as: UTF8.self))")
        #expect(kokoro.headers.first { $0.key.lowercased() == "content-type" }?.value == "audio/wav")
        #expect(kokoro.body.prefix(4) == Data("RIFF".utf8) && kokoro.body.count > 24_000)
        #expect(try await post("/synthesize", ["X-OmniVoice-Token": "voice-secret"]).status == 200)
        // The other routes still want the API key, not the voice token.
        #expect(try await post("/v1/audio/speech", ["X-Kokoro-Token": "voice-secret"]).status == 401)
        #expect(try await post("/v1/audio/speech", ["Authorization": "Bearer api-secret"]).status == 200)
    }

    @Test
    func withNoVoiceAnsweringSynthesizeIs503WithRetryAfterAtOnceAndTheJobIsCancelled() async throws {
        let server = try await SpeechServer.start(["--echo", "--no-preload", "--fail-always-status", "503"])
        defer { server.stop() }
        // Five attempts of the job, the shipped default: the caller must not wait for the retries.
        let sandbox = try WorkerSandbox(
            apiBase: server.apiBase, worker: "[worker]\nmax_attempts = 5\nretry_base_s = 30")
        defer { sandbox.remove() }
        let serve = try ServeProcess(["serve", "--listen", "127.0.0.1:0", "--log", "json"] + sandbox.options)
        defer { serve.stop() }
        let port = try await serve.listeningPort()

        let started = ContinuousClock.now
        let reply = try await CurlHTTPClient().send(
            HTTPRequest(
                method: .post, url: URL(string: "http://127.0.0.1:\(port)/synthesize")!,
                headers: ["Content-Type": "application/json"], body: Data(#"{"text": "Hello there."}"#.utf8),
                timeout: .seconds(60)))
        let elapsed = ContinuousClock.now - started

        #expect(reply.status == 503, "\(String(decoding: reply.body, as: UTF8.self))")
        let retryAfter = reply.headers.first { $0.key.lowercased() == "retry-after" }?.value
        // The retry waits retry_base_s (30 s) scaled by a jitter of 50-100 %.
        #expect(retryAfter.flatMap(Int.init).map { (14...31).contains($0) } == true, "\(reply.headers)")
        #expect(String(decoding: reply.body, as: UTF8.self).contains("no speech provider could serve now"))
        #expect(elapsed < .seconds(30), "answered after the first attempt, not after the retries")
        let jobs =
            try JSONSerialization.jsonObject(
                with: Data(try await sandbox.run(["jobs", "list"]).stdout.utf8)) as? [[String: Any]] ?? []
        #expect(jobs.map { $0["status"] as? String } == ["cancelled"], "\(jobs)")
    }
}
