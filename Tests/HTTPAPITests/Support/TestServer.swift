import Foundation
import HTTPAPI
import PipelineCore
import Testing

/// A deadline passed while a test waited for an event.
struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out waiting for \(self.what)" }
}

/// Runs `body`, failing with ``TimedOut`` if it takes longer than `limit` (the body is cancelled then).
func within<T: Sendable>(
    _ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut(what: what) }
        return value
    }
}

/// Settings for tests: a free port on 127.0.0.1, a fresh scratch directory, short timeouts.
func testSettings(_ change: (inout HTTPServerSettings) -> Void = { _ in }) -> HTTPServerSettings {
    var settings = HTTPServerSettings(
        host: "127.0.0.1", port: 0, maxBodyBytes: 64 << 20, memoryBodyBytes: 64 << 10, maxHeaderBytes: 8 << 10,
        headerTimeout: .seconds(5), bodyTimeout: .seconds(10), idleTimeout: .seconds(10), maxConnections: 512,
        maxConnectionsPerAddress: 0, threads: 2,
        scratchDirectory: FileManager.default.temporaryDirectory.appendingPathComponent(
            "http-test-\(UUID().uuidString)"))
    change(&settings)
    return settings
}

/// A server running for the length of a test.
struct TestServer: Sendable {
    let server: HTTPServer
    let responder: TestResponder
    let shutdown: ShutdownSignal
    let settings: HTTPServerSettings
    let logs: InMemoryLogSink

    var port: Int { self.server.port }
    var events: Events { self.responder.events }

    /// Opens a raw connection to the server.
    func connect(source: String? = nil, timeout: Duration = .seconds(10)) throws -> RawClient {
        try RawClient(port: self.port, source: source, timeout: timeout)
    }

    /// Sends `request` on a new connection and reads one response.
    func exchange(_ request: String, bodyless: Bool = false) async throws -> RawClient.Response {
        let client = try self.connect()
        return try await client.io { client in
            try client.send(request)
            return try client.readResponse(bodyless: bodyless)
        }
    }

    /// `GET path` on a new connection.
    func get(_ path: String) async throws -> RawClient.Response {
        try await self.exchange("GET \(path) HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    }

    /// The files left in the scratch directory.
    var scratchFiles: [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: self.settings.scratchDirectory.path)) ?? []
    }
}

@discardableResult
/// Starts a server, runs `body` against it, then shuts it down gracefully and waits (at most 20 s) for `run()` to
/// return; the scratch directory is removed afterwards.
func withServer<T: Sendable>(
    _ settings: HTTPServerSettings = testSettings(), responder: TestResponder = TestResponder(),
    _ body: @escaping @Sendable (TestServer) async throws -> T
) async throws -> T {
    let shutdown = ShutdownSignal()
    let logs = InMemoryLogSink()
    let server = try HTTPServer(
        settings: settings, responder: responder, shutdown: shutdown, logger: Logger(sink: logs, minimum: .debug))
    let test = TestServer(server: server, responder: responder, shutdown: shutdown, settings: settings, logs: logs)
    defer { try? FileManager.default.removeItem(at: settings.scratchDirectory) }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        let result: T
        do {
            result = try await body(test)
        } catch {
            group.cancelAll()
            throw error
        }
        shutdown.request()
        group.addTask {
            try await Task.sleep(for: .seconds(20))
            throw TimedOut(what: "run() to return after shutdown")
        }
        // Whichever ends first: run() returning, or the watchdog throwing.
        try await group.next()
        group.cancelAll()
        // Nothing of the server is left: no connection, no request state, no scratch file.
        #expect(server.openConnections == 0)
        #expect(server.openExchanges == 0)
        #expect(test.scratchFiles.isEmpty)
        return result
    }
}

/// Runs curl with `arguments` and returns its standard output; throws if it exits with an error.
func curl(_ arguments: [String]) async throws -> String {
    try await runBlocking { _ in
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["--silent", "--show-error"] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let problems = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CurlFailed(status: process.terminationStatus, message: String(decoding: problems, as: UTF8.self))
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// curl exited with an error.
struct CurlFailed: Error {
    let status: Int32
    let message: String
}

/// Figures of this process from the kernel.
enum ProcessFigures {
    /// A field of `/proc/self/status` in kB (`VmRSS`, `VmHWM`).
    static func status(_ field: String) -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        }
        return 0
    }

    /// Resets `VmHWM` to the current resident size (`echo 5 > /proc/self/clear_refs`).
    static func resetPeak() -> Bool {
        FileManager.default.createFile(atPath: "/proc/self/clear_refs", contents: Data("5".utf8))
            || (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil
    }

    /// Returns free heap pages to the kernel (glibc's `malloc_trim(0)`, which Swift does not import), so that
    /// memory freed by earlier tests cannot hide a new allocation from `VmRSS`.
    static func releaseFreeHeap() {
        guard let symbol = dlsym(nil, "malloc_trim") else { return }
        let trim = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
        _ = trim(0)
    }

    /// User plus system CPU time this process used so far.
    static var cpuTime: Duration {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let user = Duration.seconds(usage.ru_utime.tv_sec) + .microseconds(usage.ru_utime.tv_usec)
        let system = Duration.seconds(usage.ru_stime.tv_sec) + .microseconds(usage.ru_stime.tv_usec)
        return user + system
    }
}
