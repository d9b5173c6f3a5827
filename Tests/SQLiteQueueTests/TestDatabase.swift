import Foundation
import PipelineCore

@testable import SQLiteQueue

/// A database file in a fresh scratch directory, with raw SQL access for setting up and inspecting it.
struct TestDatabase {
    let directory: URL
    var path: String { self.directory.appendingPathComponent("queue.sqlite").path }

    init() throws {
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("sqlite-queue-\(UUID())")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(at: self.directory)
    }

    /// Runs SQL on a connection of its own, as another program would.
    func execute(_ sql: String) throws {
        try SQLiteConnection(path: self.path, busyTimeoutMilliseconds: 5000).execute(sql)
    }

    /// The first column of the first row `sql` returns, as text.
    func text(_ sql: String) throws -> String? {
        let connection = try SQLiteConnection(path: self.path, busyTimeoutMilliseconds: 5000)
        return try connection.prepare(sql).first([]) { $0.text(0) } ?? nil
    }

    /// The first column of the first row `sql` returns, as an integer.
    func integer(_ sql: String) throws -> Int64? {
        let connection = try SQLiteConnection(path: self.path, busyTimeoutMilliseconds: 5000)
        return try connection.prepare(sql).first([]) { $0.integer(0) }
    }

    /// Opens a queue on the file with the given migrations and a fixed clock.
    func queue(migrations: [SQLiteSchema.Migration] = SQLiteSchema.migrations) throws -> SQLiteJobQueue {
        try SQLiteJobQueue(
            path: self.path, visibility: .seconds(60), maxAttempts: 5, busyTimeout: .seconds(5),
            now: { Date(timeIntervalSince1970: 1_800_000_000) }, migrations: migrations)
    }

    /// A request for a small transcription job.
    static func request(_ name: String, key: String? = nil, priority: Int = 0) -> EnqueueRequest {
        EnqueueRequest(
            payload: .transcription(TranscriptionJobSpec(input: "media/\(name).mp3", outputPrefix: "out/\(name)")),
            idempotencyKey: key, priority: priority)
    }
}
