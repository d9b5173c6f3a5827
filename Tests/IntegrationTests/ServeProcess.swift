import Foundation
import TestSupport

/// `audio-worker serve` (or any long-running `audio-worker` command) as a background process in a test.
final class ServeProcess: Sendable {
    private let process: Process
    let log: URL

    /// Starts `audio-worker` with `arguments`; its standard error (the JSON log) goes to a file.
    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = WorkerProcess.executable
        process.arguments = arguments
        process.currentDirectoryURL = WorkerProcess.root
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(UUID()).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        self.process = process
        self.log = log
    }

    /// Sends `signal` (SIGKILL, SIGTERM, ...).
    func send(_ signal: Int32) {
        kill(self.process.processIdentifier, signal)
    }

    /// Waits for the process to exit, at most `seconds`; returns its status, or nil if it is still running.
    func wait(seconds: Double) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while self.process.isRunning && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        return self.process.isRunning ? nil : self.process.terminationStatus
    }

    /// The JSON log records written so far.
    var records: [[String: Any]] {
        let text = (try? String(contentsOf: self.log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// The port the HTTP API listens on, once the log says so (within a minute).
    func listeningPort() async throws -> Int {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let port = self.records.first(where: { $0["msg"] as? String == "http listening" })?["port"] as? Int {
                return port
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw SetupError("serve did not start listening")
    }

    /// Kills the process if it still runs, and removes its log.
    func stop() {
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: self.log)
    }
}

/// A data directory and configuration for queue tests, pointing the transcription function at one server.
struct WorkerSandbox {
    let directory: URL
    let config: String
    /// Variables every command gets on top of the test's (the queue backend, for instance).
    var environment: [String: String] = [:]

    init(apiBase: String, worker: String = "", retries: Int = 0) throws {
        self.directory = try WorkerProcess.temporaryDirectory()
        let gateway = self.directory.appendingPathComponent("gateway.toml")
        try """
        [functions.stt.variants.local]
        type = "chat_completion"
        model = "local"
        retries = { num_retries = \(retries), max_delay_s = 0.2 }
        [models.local]
        routing = ["a"]
        [models.local.providers.a]
        type = "openai"
        api_base = "\(apiBase)"
        api_key_location = "none"
        timeouts = { non_streaming = { total_ms = 60000 } }
        [functions.tts.variants.local]
        type = "chat_completion"
        model = "speech"
        [models.speech]
        routing = ["a"]
        [models.speech.providers.a]
        type = "openai"
        api_base = "\(apiBase)"
        api_key_location = "none"
        """.write(to: gateway, atomically: true, encoding: .utf8)
        let config = self.directory.appendingPathComponent("worker.toml")
        try """
        gateway_config = "gateway.toml"
        [transcription]
        function = "stt"
        concurrency = 1
        window_s = 28  # pinned whatever the shipped default: the tests' minute-long fixtures give several chunks
        [speech]
        function = "tts"
        [gateway]
        circuit_failures = 1000
        \(worker)
        """.write(to: config, atomically: true, encoding: .utf8)
        self.config = config.path
    }

    /// The data directory.
    var data: String { self.directory.appendingPathComponent("data").path }

    /// Arguments every command gets.
    var options: [String] { ["--config", self.config, "--data-dir", self.data] }

    /// Runs a short command to completion.
    func run(_ arguments: [String]) async throws -> WorkerProcess.Outcome {
        try await WorkerProcess.run(arguments + self.options, environment: self.environment)
    }

    /// Enqueues a transcription of `input` and returns the job id.
    func enqueue(_ input: String, extra: [String] = []) async throws -> String {
        let outcome = try await self.run(["enqueue", "transcribe", input] + extra)
        guard outcome.status == 0,
            let job = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any],
            let id = job["id"] as? String
        else { throw SetupError("enqueue failed: \(outcome.stderr)") }
        return id
    }

    /// The job's record, from `jobs show`.
    func job(_ id: String) async throws -> [String: Any] {
        let outcome = try await self.run(["jobs", "show", id])
        return (try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    /// Copies fixture `name` into the file store as `inputs/NAME` of bucket `assets`, for requests that name a key.
    func storeInput(_ name: String) throws {
        let inputs = URL(fileURLWithPath: self.data + "/store/assets/inputs")
        try FileManager.default.createDirectory(at: inputs, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: WorkerProcess.fixtureURL(name), to: inputs.appendingPathComponent(name))
    }

    /// Removes the sandbox.
    func remove() { try? FileManager.default.removeItem(at: self.directory) }
}
