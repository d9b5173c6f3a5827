import Foundation
import PipelineCore
import TestSupport
import Testing

/// A real S3 server for the tests: SeaweedFS through `scripts/s3-server`, on 127.0.0.1, with credentials enforced.
///
/// ``start(port:data:)`` returns once the script printed `LISTENING <port>`, which it does only after a request signed
/// with ``accessKey`` and ``secretKey`` succeeded on ``bucket``; ``stop()`` ends it. The server's standard input is a
/// pipe this object holds, so a test process that dies takes its server with it.
final class S3Server: Sendable {
    static let accessKey = "audio-worker-test"
    static let secretKey = "s3-test-secret-4b1f9e"
    static let bucket = "audio-test"

    /// The server the running suite shares (see ``S3ServerTrait``).
    @TaskLocal static var current: S3Server?

    /// The S3 port.
    let port: Int
    /// The data directory, kept across a stop so that a restart on it finds the same objects.
    let data: URL
    private let process: Process
    private let input: Pipe
    private let log: URL

    private init(port: Int, data: URL, process: Process, input: Pipe, log: URL) {
        self.port = port
        self.data = data
        self.process = process
        self.input = input
        self.log = log
    }

    /// The repository, found from this file's path.
    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// The endpoint as `MINIO_ENDPOINT` would name it.
    var endpoint: String { "127.0.0.1:\(self.port)" }

    /// Starts a server on `port` (a free one when nil) keeping its objects in `data` (a new directory when nil).
    ///
    /// - Throws: ``SetupError`` with the script's output when the server does not come up.
    static func start(port: Int? = nil, data: URL? = nil) async throws -> S3Server {
        let script = self.root.appendingPathComponent("scripts/s3-server")
        guard FileManager.default.isExecutableFile(atPath: script.path) else {
            throw SetupError("no executable \(script.path)")
        }
        let data = data ?? FileManager.default.temporaryDirectory.appendingPathComponent("s3-server-\(UUID())")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = script
        process.arguments =
            [
                "--access-key", self.accessKey, "--secret-key", self.secretKey, "--bucket", self.bucket,
                "--data", data.path, "--stop-on-stdin-eof",
            ] + (port.map { ["--port", "\($0)"] } ?? [])
        let input = Pipe()
        process.standardInput = input
        let (listening, log) = try await ListeningProcess.start(process, name: "s3-server")
        return S3Server(port: listening, data: data, process: process, input: input, log: log)
    }

    /// Stops the server (SIGTERM, then SIGKILL after ten seconds) and waits for it to exit; the data stays.
    func stop() {
        ListeningProcess.stop(self.process)
        try? self.input.fileHandleForWriting.close()
        try? FileManager.default.removeItem(at: self.log)
    }

    /// Stops the server and removes its data.
    func stopAndRemove() {
        self.stop()
        try? FileManager.default.removeItem(at: self.data)
    }
}

/// Starts one ``S3Server`` for a suite, shares it through ``S3Server/current``, and stops it when the suite ends.
///
/// When the server cannot start, every test of the suite fails with the reason; none is skipped.
struct S3ServerTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let server = try await S3Server.start()
        defer { server.stopAndRemove() }
        try await S3Server.$current.withValue(server) {
            try await function()
        }
    }
}

extension Trait where Self == S3ServerTrait {
    /// A SeaweedFS S3 server for the suite.
    static var s3Server: Self { Self() }
}
