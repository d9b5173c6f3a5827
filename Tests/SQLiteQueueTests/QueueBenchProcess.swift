import Foundation

/// Runs the `queue-bench` executable built beside the test bundle, as a separate process.
enum QueueBenchProcess {
    /// What one run printed and returned.
    struct Outcome: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        .appendingPathComponent("queue-bench")

    /// Runs `queue-bench` with `arguments` to completion, suspending (not blocking) until it exits.
    static func run(_ arguments: [String]) async throws -> Outcome {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("queue-bench-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // Files rather than pipes: a chatty child can never block on a full pipe, and no reader is needed.
        let stdoutURL = directory.appendingPathComponent("stdout")
        let stderrURL = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let stdout = try FileHandle(forWritingTo: stdoutURL)
        let stderr = try FileHandle(forWritingTo: stderrURL)
        defer {
            try? stdout.close()
            try? stderr.close()
        }
        let process = Process()
        process.executableURL = self.executable
        process.arguments = arguments
        process.standardOutput = stdout
        process.standardError = stderr
        let status = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { finished in
                continuation.resume(returning: finished.terminationStatus)
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        return Outcome(
            status: status,
            stdout: String(decoding: try Data(contentsOf: stdoutURL), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: stderrURL), as: UTF8.self))
    }
}
