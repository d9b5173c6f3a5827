import Foundation
import Testing

struct ConfigCommandTests {
    private func writeConfig(in directory: URL, local: String, dead: String) throws -> (String, String) {
        let gateway = directory.appendingPathComponent("gateway.toml")
        try """
        [functions.stt.variants.local]
        type = "chat_completion"
        model = "up"
        [functions.stt.variants.backup]
        type = "chat_completion"
        model = "down"
        [functions.stt.experimentation]
        type = "static"
        candidate_variants = ["local"]
        fallback_variants = ["backup"]
        [models.up]
        routing = ["a"]
        [models.up.providers.a]
        type = "openai"
        api_base = "\(local)"
        model_name = "small"
        api_key_location = "none"
        [models.down]
        routing = ["b"]
        [models.down.providers.b]
        type = "openai"
        api_base = "\(dead)"
        model_name = "small"
        api_key_location = "env::CONFIG_TEST_KEY"
        [functions.tts.variants.v]
        type = "chat_completion"
        model = "speaker"
        [models.speaker]
        routing = ["s"]
        [models.speaker.providers.s]
        type = "openai"
        api_base = "\(local)"
        model_name = "tts-1"
        api_key_location = "none"
        """.write(to: gateway, atomically: true, encoding: .utf8)
        let worker = directory.appendingPathComponent("worker.toml")
        try """
        gateway_config = "gateway.toml"
        [transcription]
        function = "stt"
        [speech]
        function = "tts"
        """.write(to: worker, atomically: true, encoding: .utf8)
        return (worker.path, gateway.path)
    }

    private func chain(_ stdout: String, function: String) throws -> [[String: Any]] {
        let report = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any]
        let functions = report?["functions"] as? [[String: Any]] ?? []
        return functions.first { $0["function"] as? String == function }?["chain"] as? [[String: Any]] ?? []
    }

    @Test
    func checkResolvesChainsAndProbesEveryUsableEndpoint() async throws {
        let directory = try WorkerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await SpeechServer.start(["--echo", "--no-preload"])
        defer { server.stop() }
        let gone = try await SpeechServer.start(["--echo", "--no-preload"])
        let deadBase = gone.apiBase
        gone.stop()
        let (worker, _) = try self.writeConfig(in: directory, local: server.apiBase, dead: deadBase)

        let outcome = try await WorkerProcess.run(
            ["config", "check", "--config", worker, "--probe-timeout", "1"],
            environment: ["CONFIG_TEST_KEY": "secret-value"])

        #expect(outcome.status == 0, "\(outcome.stderr)")
        let entries = try self.chain(outcome.stdout, function: "stt")
        #expect(entries.map { $0["variant"] as? String } == ["local", "backup"])
        #expect(entries[0]["reachable"] as? Bool == true)
        #expect((entries[0]["probe"] as? String)?.hasPrefix("HTTP 200") == true)
        #expect(entries[1]["reachable"] as? Bool == false)
        #expect(entries[1]["key"] as? String == "present (env::CONFIG_TEST_KEY)")
        #expect(!outcome.stdout.contains("secret-value"), "keys never reach the output")
        #expect(
            try self.chain(outcome.stdout, function: "tts").first?["endpoint"] as? String == server.apiBase
                + "/audio/speech")
    }

    @Test
    func offlineSkipsProbesAndAMissingKeyIsAReasonNotAnError() async throws {
        let directory = try WorkerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (worker, _) = try self.writeConfig(
            in: directory, local: "http://127.0.0.1:9/v1", dead: "http://127.0.0.1:9/v1")

        let outcome = try await WorkerProcess.run(["config", "check", "--config", worker, "--offline"])

        #expect(outcome.status == 0, "\(outcome.stderr)")
        let entries = try self.chain(outcome.stdout, function: "stt")
        #expect(entries.allSatisfy { $0["reachable"] == nil })
        #expect(entries[1]["skipped"] as? String == "no API key: environment variable CONFIG_TEST_KEY is not set")
    }

    @Test
    func aConfigErrorExitsWith1AndNamesItsLocation() async throws {
        let directory = try WorkerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let worker = directory.appendingPathComponent("bad.toml")
        try "[worker]\nconcurrency = 2\nmax_atempts = 3\n".write(to: worker, atomically: true, encoding: .utf8)

        let outcome = try await WorkerProcess.run(["config", "check", "--config", worker.path, "--offline"])

        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("bad.toml:3:1: unknown key 'max_atempts' in [worker]"), "\(outcome.stderr)")
    }

    @Test
    func theShippedConfigurationChecksOffline() async throws {
        let outcome = try await WorkerProcess.run(
            ["config", "check", "--offline"], environment: ["OPENAI_API_KEY": "", "ELEVENLABS_API_KEY": ""])

        #expect(outcome.status == 0, "\(outcome.stderr)")
        let speech = try self.chain(outcome.stdout, function: "flute_tts_synthesis")
        #expect(speech.map { $0["variant"] as? String } == ["kokoro_local", "openai_tts", "elevenlabs"])
        #expect(speech.last?["defined_in"] as? String == "config/audio-worker.toml")
    }
}

/// Loads the shipped gateway file in the real TensorZero gateway (PyPI `tensorzero`, which embeds it).
struct TensorZeroGatewayTests {
    private func load(_ relativePath: String) async throws -> WorkerProcess.Outcome {
        let script = """
            import sys, tensorzero
            gateway = tensorzero._start_http_gateway(config_file=sys.argv[1], clickhouse_url=None, postgres_url=None,
                                                     valkey_url=None, async_setup=False)
            print("LOADED", gateway.base_url.startswith("http://127.0.0.1:"), flush=True)
            """
        return try await WorkerProcess.runProgram(
            SpeechServer.python.path, ["-c", script, WorkerProcess.root.appendingPathComponent(relativePath).path],
            environment: [
                // The gateway refuses to start when a model's env:: key is unset; it sends no request here.
                "OPENAI_API_KEY": "placeholder", "TENSORZERO_DISABLE_PSEUDONYMOUS_USAGE_ANALYTICS": "1",
            ])
    }

    @Test
    func theShippedGatewayFileLoadsInTheRealGateway() async throws {
        let outcome = try await self.load("config/tensorzero.toml")

        #expect(outcome.status == 0, "\(outcome.stderr.suffix(2000))")
        #expect(outcome.stdout.contains("LOADED True"))
    }

    @Test
    func theGatewayRejectsTheWorkersOwnFileSoTheCheckAboveMeansSomething() async throws {
        let outcome = try await self.load("config/audio-worker.toml")

        #expect(outcome.status != 0)
        #expect(outcome.stderr.contains("unknown field"))
    }
}
