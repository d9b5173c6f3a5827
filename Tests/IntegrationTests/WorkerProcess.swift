import Foundation
import PipelineCore

/// Runs the built `audio-worker` executable, as a user would, and captures what it prints.
struct WorkerProcess {
    /// What one run printed and returned.
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The package root, found from this file's path.
    static let root: URL = {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }()

    /// The executable built beside this test bundle.
    static let executable: URL = {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return beside.appendingPathComponent("audio-worker")
    }()

    /// A file in `fixtures/audio`.
    static func fixture(_ name: String) -> String { self.fixtureURL(name).path }

    /// A file in `fixtures/audio`, as a URL.
    static func fixtureURL(_ name: String) -> URL {
        self.root.appendingPathComponent("fixtures/audio").appendingPathComponent(name)
    }

    /// Runs `audio-worker` with `arguments` to completion.
    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Outcome {
        try await self.runProgram(self.executable.path, arguments, environment: environment)
    }

    /// Runs any program to completion in the package root, with `environment` added to this process's.
    ///
    /// The wait happens on a blocking-pool thread: tests run in parallel on a cooperative pool as wide as the
    /// machine's cores, and a test that blocked one of those threads for a whole child's run would stall the others.
    static func runProgram(_ program: String, _ arguments: [String], environment: [String: String] = [:])
        async throws -> Outcome
    {
        try await runBlocking { _ in try self.runProgramBlocking(program, arguments, environment: environment) }
    }

    private static func runProgramBlocking(_ program: String, _ arguments: [String], environment: [String: String])
        throws -> Outcome
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.currentDirectoryURL = self.root
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        // Files rather than pipes: a chatty child can never block on a full pipe, and no reader thread is needed.
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let stdoutURL = directory.appendingPathComponent("stdout")
        let stderrURL = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let stdout = try FileHandle(forWritingTo: stdoutURL)
        let stderr = try FileHandle(forWritingTo: stderrURL)
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        process.waitUntilExit()
        try stdout.close()
        try stderr.close()
        return Outcome(
            status: process.terminationStatus,
            stdout: String(decoding: try Data(contentsOf: stdoutURL), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: stderrURL), as: UTF8.self))
    }

    /// A fresh temporary directory, removed by the caller.
    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audio-worker-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }
}
