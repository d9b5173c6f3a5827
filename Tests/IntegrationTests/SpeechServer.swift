import CurlHTTP
import Foundation
import PipelineCore
import TestSupport

/// The local speech server (`scripts/local-speech-server.py`) run as a real process on 127.0.0.1 for a test.
///
/// Start it with ``start(_:)``, which returns once the server printed its port; stop it with ``stop()``.
final class SpeechServer: Sendable {
    /// The port it listens on.
    let port: Int
    private let process: Process
    private let log: URL

    private init(port: Int, process: Process, log: URL) {
        self.port = port
        self.process = process
        self.log = log
    }

    /// The OpenAI-style API base, `http://127.0.0.1:PORT/v1`.
    var apiBase: String { "http://127.0.0.1:\(self.port)/v1" }

    /// The venv's Python, made by `scripts/setup`.
    static var python: URL { WorkerProcess.root.appendingPathComponent(".venv/bin/python") }

    /// Starts a server with extra command-line `arguments` (`--echo`, `--fail-first 2`, ...).
    static func start(_ arguments: [String] = []) async throws -> SpeechServer {
        guard FileManager.default.isExecutableFile(atPath: self.python.path) else {
            throw SetupError("no \(self.python.path): run scripts/setup first")
        }
        let process = Process()
        process.executableURL = self.python
        process.arguments =
            [
                WorkerProcess.root.appendingPathComponent("scripts/local-speech-server.py").path, "--port", "0",
            ] + arguments
        let (port, log) = try await ListeningProcess.start(process, name: "speech-server")
        return SpeechServer(port: port, process: process, log: log)
    }

    /// Stops the server at once (SIGKILL: tests need no graceful stop) and reaps it.
    ///
    /// Quick on purpose: it runs from `defer`, on the cooperative pool, and a test that blocked there for seconds
    /// would stall every other test running beside it.
    func stop() {
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
        }
        self.process.waitUntilExit()
        try? FileManager.default.removeItem(at: self.log)
    }

    /// Replaces the fault settings (`{"fail_first": 2, "fail_status": 503, ...}`).
    func setFaults(_ faults: [String: JSONValue]) async throws {
        _ = try await self.admin(.post, "/admin/faults", body: try JSONOutput.encode(JSONValue.object(faults)))
    }

    /// Requests served per route.
    func requests(_ route: String = "/v1/audio/transcriptions") async throws -> Int {
        let stats = try await self.admin(.get, "/admin/stats")
        guard case .number(let count) = stats["requests"]?[route] else { return 0 }
        return Int(count)
    }

    private func admin(_ method: HTTPMethod, _ path: String, body: Data = Data()) async throws -> JSONValue {
        let response = try await CurlHTTPClient().send(
            HTTPRequest(
                method: method, url: URL(string: "http://127.0.0.1:\(self.port)\(path)")!,
                headers: ["Content-Type": "application/json"], body: body, timeout: .seconds(10)))
        return try JSONDecoder().decode(JSONValue.self, from: response.body)
    }
}
