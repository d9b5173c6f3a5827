import Foundation

/// Paths to the committed fixtures and helpers that run the `ffmpeg` CLI as a reference.
enum Fixtures {
    /// The package root, found from this file's path.
    static let root: URL = {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }()

    /// A file in `fixtures/audio`.
    static func audio(_ name: String) -> URL {
        self.root.appendingPathComponent("fixtures/audio").appendingPathComponent(name)
    }

    /// A fresh temporary directory, removed by the caller.
    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audio-media-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// The mono 16-bit samples the `ffmpeg` CLI produces for `file` at `rate`: the reference output.
    static func referenceDecode(_ file: URL, rate: Int = 16_000) throws -> [Int16] {
        let data = try self.run(
            "ffmpeg", ["-v", "quiet", "-i", file.path, "-vn", "-ac", "1", "-ar", String(rate), "-f", "s16le", "-"])
        return data.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
    }

    /// Runs a program from PATH and returns its standard output; throws when it fails.
    static func run(_ program: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "\(program) failed"])
        }
        return data
    }
}
