import Foundation
import PipelineCore

/// A server a test starts as a child process, which tells its port by printing `LISTENING <port>` as the first line
/// of its standard output once it serves (the local speech server and `scripts/s3-server` both do).
package enum ListeningProcess {
    /// Runs `process` with its standard output on a pipe and its standard error in a new file under the temporary
    /// directory, named after `name`; returns the port and that log once the first line arrives.
    ///
    /// - Throws: ``SetupError`` with the line and the log's tail when the first line is anything else (the
    ///   process is then terminated and reaped, and its log removed).
    package static func start(_ process: Process, name: String) async throws -> (port: Int, log: URL) {
        let output = Pipe()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID()).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: log)
        try process.run()
        let reader = output.fileHandleForReading
        let line = try await runBlocking { _ -> String in
            var collected = Data()
            while !collected.contains(UInt8(ascii: "\n")) {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                collected.append(chunk)
            }
            return String(decoding: collected, as: UTF8.self)
        }
        guard line.hasPrefix("LISTENING "),
            let port = Int(line.dropFirst(10).trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            process.terminate()
            process.waitUntilExit()
            let errors = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(at: log)
            throw SetupError("\(name) did not start: '\(line)' \(errors.suffix(3000))")
        }
        return (port, log)
    }

    /// Stops `process`: SIGTERM, then SIGKILL if it is still running after `grace`; returns once it has exited.
    package static func stop(_ process: Process, grace: TimeInterval = 10) {
        if process.isRunning {
            process.terminate()
        }
        let deadline = Date().addingTimeInterval(grace)
        while process.isRunning && Date() < deadline {
            usleep(20_000)
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }
}

/// A test environment that is not ready: a script or venv missing, a server that did not come up.
package struct SetupError: Error, CustomStringConvertible {
    package let description: String

    package init(_ description: String) { self.description = description }
}
