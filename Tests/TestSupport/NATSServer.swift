import Foundation
import PipelineCore

/// A real `nats-server` with JetStream for tests, on 127.0.0.1 on a port the server picks, storing in a fresh
/// directory; ``stop()`` ends it and removes the directory.
package final class NATSServer: Sendable {
    /// The client port.
    package let port: Int
    /// The JetStream store directory.
    package let storeDirectory: URL
    private let process: Process
    private let log: URL

    private init(port: Int, storeDirectory: URL, process: Process, log: URL) {
        self.port = port
        self.storeDirectory = storeDirectory
        self.process = process
        self.log = log
    }

    /// The URL a client connects to.
    package var url: String { "nats://127.0.0.1:\(self.port)" }

    /// Starts `nats-server -js` (found on `PATH`) and returns once it logs that it is ready.
    ///
    /// - Throws: ``SetupError`` when `nats-server` is not installed (install it with `scripts/setup`), or when it
    ///   does not become ready within 15 seconds (with its log's tail).
    package static func start(extraArguments: [String] = []) async throws -> NATSServer {
        guard let executable = self.executable() else {
            throw SetupError(
                "nats-server is not on PATH; the JetStream tests need it: run scripts/setup (installs nats-server)"
            )
        }
        let name = "nats-server-\(UUID())"
        let store = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: store, withIntermediateDirectories: true)
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("\(name).log")
        let process = Process()
        process.executableURL = executable
        process.arguments =
            ["-js", "-a", "127.0.0.1", "-p", "-1", "-sd", store.path, "-l", log.path] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let port = try await runBlocking { _ -> Int? in
            // The server writes its log as it starts; the port is in the line before "Server is ready".
            let deadline = Date().addingTimeInterval(15)
            while Date() < deadline && process.isRunning {
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                if text.contains("Server is ready"), let port = self.clientPort(in: text) {
                    return port
                }
                usleep(20_000)
            }
            return nil
        }
        guard let port else {
            let server = NATSServer(port: 0, storeDirectory: store, process: process, log: log)
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            server.stop()
            throw SetupError("nats-server did not become ready: \(text.suffix(3000))")
        }
        return NATSServer(port: port, storeDirectory: store, process: process, log: log)
    }

    /// Stops the server (SIGTERM, then SIGKILL after ten seconds), waits for it, and removes its store and log.
    package func stop() {
        ListeningProcess.stop(self.process)
        try? FileManager.default.removeItem(at: self.storeDirectory)
        try? FileManager.default.removeItem(at: self.log)
    }

    private static func executable() -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/local/bin"]
        return directories.map { URL(fileURLWithPath: $0).appendingPathComponent("nats-server") }
            .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    private static func clientPort(in log: String) -> Int? {
        let marker = "Listening for client connections on "
        guard let range = log.range(of: marker) else { return nil }
        let address = log[range.upperBound...].prefix { !$0.isWhitespace }
        return address.split(separator: ":").last.flatMap { Int($0) }
    }
}
