import Foundation
import PipelineCore
import Testing

/// A provider key set in the environment, and a password in an API base URL, appear in no output of any command and
/// no log line, including failures, even when the provider echoes the key back in its error.
struct SecretLeakTests {
    private static let key = "sk-test-SECRET-7d1e9b4a"
    private static let urlPassword = "hunter2-URLPASS"

    @Test
    func keysAndURLPasswordsReachNoOutputOrLog() async throws {
        // The provider answers 401 with the key in its message, as OpenAI does with a (masked) key.
        let echoing = try HostileServer([
            .response(
                401, headers: [("Content-Type", "application/json")],
                body: Data(
                    #"{"error":{"message":"Incorrect API key provided: \#(Self.key)","code":"invalid_api_key"}}"#.utf8))
        ])
        defer { echoing.stop() }
        let directory = try WorkerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let gateway = directory.appendingPathComponent("gateway.toml")
        try """
        [functions.stt.variants.cloud]
        type = "chat_completion"
        model = "cloud"
        [models.cloud]
        routing = ["openai", "mirror"]
        [models.cloud.providers.openai]
        type = "openai"
        api_base = "\(echoing.url)/v1"
        model_name = "whisper-1"
        api_key_location = "env::OPENAI_API_KEY"
        [models.cloud.providers.mirror]
        type = "openai"
        api_base = "http://admin:\(Self.urlPassword)@127.0.0.1:\(echoing.port)/v1"
        model_name = "whisper-1"
        api_key_location = "env::OPENAI_API_KEY"
        [functions.tts.variants.cloud]
        type = "chat_completion"
        model = "voice"
        [models.voice]
        routing = ["openai"]
        [models.voice.providers.openai]
        type = "openai"
        api_base = "\(echoing.url)/v1"
        model_name = "tts-1"
        api_key_location = "env::OPENAI_API_KEY"
        """.write(to: gateway, atomically: true, encoding: .utf8)
        let config = directory.appendingPathComponent("worker.toml")
        try """
        gateway_config = "gateway.toml"
        [worker]
        max_attempts = 2
        retry_base_s = 0
        retry_max_s = 0
        [transcription]
        function = "stt"
        [speech]
        function = "tts"
        """.write(to: config, atomically: true, encoding: .utf8)
        let options = ["--config", config.path, "--data-dir", directory.appendingPathComponent("data").path]
        let environment = ["OPENAI_API_KEY": Self.key]
        let fixture = WorkerProcess.fixtureURL("speech.wav").path
        let output = directory.appendingPathComponent("out")

        var outcomes: [(String, WorkerProcess.Outcome)] = []
        func run(_ arguments: [String]) async throws {
            outcomes.append(
                (
                    arguments.joined(separator: " "),
                    try await WorkerProcess.run(arguments + options, environment: environment)
                ))
        }
        try await run(["config", "check", "--probe-timeout", "2"])
        try await run(["config", "check", "--offline"])
        try await run(["transcribe", fixture, "--output-dir", output.path])
        try await run(["synthesize", "Hello there.", "-o", output.appendingPathComponent("hello.wav").path])
        try await run(["enqueue", "transcribe", fixture])
        try await run(["serve", "--drain", "--drain-wait", "0", "--log", "json"])
        try await run(["jobs", "list"])
        let listed = try #require(outcomes.last?.1.stdout)
        let ids = (try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [[String: Any]] ?? [])
            .compactMap { $0["id"] as? String }
        #expect(ids.count == 1)
        for id in ids {
            try await run(["jobs", "show", id])
        }

        #expect(echoing.connections >= 3, "the provider was really called")
        let dead = try #require(outcomes.last?.1.stdout)
        #expect(dead.contains("\"dead\""), "the job failed on the provider's 401: \(dead)")
        #expect(dead.contains("<redacted>"), "the provider's echo of the key was redacted: \(dead)")
        for (command, outcome) in outcomes {
            for secret in [Self.key, Self.urlPassword] {
                #expect(!outcome.stdout.contains(secret), "\(command) printed a secret on stdout")
                #expect(!outcome.stderr.contains(secret), "\(command) printed a secret on stderr")
            }
        }
        let files = FileManager.default.enumerator(atPath: directory.path)?.compactMap { $0 as? String } ?? []
        for file in files where !file.hasSuffix(".toml") {
            let contents = (try? Data(contentsOf: directory.appendingPathComponent(file))) ?? Data()
            #expect(contents.range(of: Data(Self.key.utf8)) == nil, "\(file) holds the key")
        }
    }
}
