import Foundation
import PipelineCore
import Testing

@testable import SQLiteQueue

struct SQLiteSchemaTests {
    let version1 = Array(SQLiteSchema.migrations.prefix(1))

    /// A file as version 1 left it: its schema, and a job row written by hand.
    private func version1File(_ database: TestDatabase) throws {
        try JobDatabase.migrate(SQLiteConnection(path: database.path, busyTimeoutMilliseconds: 5000), to: self.version1)
        try database.execute(
            """
            INSERT INTO jobs (id, kind, status, idempotency_key, priority, payload, attempts, max_attempts,
                created_at, updated_at, run_after)
            VALUES ('job_01KQ0000000000000000000000', 'synthesize', 'queued', 'speech-1', 2,
                '{"synthesis":{"format":"wav","output_key":"speech/1.wav","text":"Hello."}}', 0, 5,
                1800000000000, 1800000000000, 1800000000000)
            """)
    }

    @Test
    func aNewDatabaseHasTheLatestSchemaInWALMode() throws {
        let database = try TestDatabase()
        defer { database.remove() }
        _ = try database.queue()
        #expect(try database.integer("PRAGMA user_version") == Int64(SQLiteSchema.migrations.last?.version ?? 0))
        #expect(try database.text("PRAGMA journal_mode") == "wal")
        let indexes = try database.text(
            "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name)")
        #expect(indexes?.contains("jobs_by_idempotency_key") == true)
        #expect(indexes?.contains("jobs_by_urgency") == true)
    }

    @Test
    func reopeningKeepsJobsLeasesAndCheckpoints() async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        var lease: JobLease
        do {
            let queue = try database.queue()
            _ = try await queue.enqueue(TestDatabase.request("one", key: "k1"))
            lease = try #require(try await queue.lease(owner: "worker", wait: .zero))
            try await queue.saveCheckpoint(lease, key: "0", value: Data("chunk".utf8))
            _ = try await queue.heartbeat(lease, progress: JobProgress(done: 1, total: 4))
            lease.job.progress = JobProgress(done: 1, total: 4)
        }
        let reopened = try database.queue()
        #expect(try await reopened.job(id: lease.job.id) == lease.job)
        #expect(try await reopened.checkpoints(jobID: lease.job.id) == ["0": Data("chunk".utf8)])
        #expect(try await reopened.enqueue(TestDatabase.request("one", key: "k1")).created == false)
        // A worker's lease outlives a restart of the queue object.
        try await reopened.settle(
            lease, .succeeded(outputs: ["out/one.json"], result: nil, progress: JobProgress(done: 4, total: 4)))
        #expect(try await reopened.job(id: lease.job.id)?.status == .succeeded)
    }

    @Test
    func aVersion1FileIsMigratedForwardKeepingItsJobs() async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        try self.version1File(database)
        #expect(try database.integer("PRAGMA user_version") == 1)

        // This release migrates it in place; the job is still there, runnable, and from the command line (the only
        // way in before version 2).
        let queue = try database.queue()
        #expect(try database.integer("PRAGMA user_version") == Int64(SQLiteSchema.migrations.last?.version ?? 0))
        let lease = try #require(try await queue.lease(owner: "worker", wait: .zero))
        #expect(lease.job.id == "job_01KQ0000000000000000000000")
        #expect(lease.job.idempotencyKey == "speech-1")
        #expect(lease.job.priority == 2)
        #expect(lease.job.origin == .commandLine)
        #expect(lease.job.createdAt == Date(timeIntervalSince1970: 1_800_000_000))
        #expect(lease.job.payload == .synthesis(SynthesisJobSpec(text: "Hello.", outputKey: "speech/1.wav")))
    }

    @Test
    func aDatabaseFromANewerVersionIsRefusedClearly() throws {
        let database = try TestDatabase()
        defer { database.remove() }
        _ = try database.queue()
        try database.execute("PRAGMA user_version = 99")
        let error = #expect(throws: JobQueueError.self) {
            try database.queue()
        }
        let latest = SQLiteSchema.migrations.last?.version ?? 0
        #expect(
            error?.description
                == "queue storage failed: \(database.path) has queue schema version 99, newer than the version "
                + "\(latest) this program knows: upgrade audio-worker, or use another database")
        #expect(try database.integer("PRAGMA user_version") == 99)
    }

    @Test
    func aFailingMigrationChangesNothing() async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        try self.version1File(database)
        let broken = SQLiteSchema.Migration(
            version: 2, sql: "CREATE TABLE extra (x INTEGER); UPDATE jobs SET no_such_column = 1;")
        let error = #expect(throws: JobQueueError.self) {
            try database.queue(migrations: self.version1 + [broken])
        }
        #expect(error?.description.contains("no such column: no_such_column") == true)
        #expect(try database.integer("PRAGMA user_version") == 1)
        #expect(try database.integer("SELECT count(*) FROM sqlite_master WHERE name = 'extra'") == 0)
        #expect(try await database.queue().job(id: "job_01KQ0000000000000000000000")?.idempotencyKey == "speech-1")
    }

    @Test
    func aFileThatIsNotADatabaseIsRefusedClearly() throws {
        let database = try TestDatabase()
        defer { database.remove() }
        try Data(String(repeating: "not a database at all\n", count: 200).utf8).write(
            to: URL(fileURLWithPath: database.path))
        let error = #expect(throws: JobQueueError.self) {
            try database.queue()
        }
        #expect(error?.description.contains(database.path) == true)
        #expect(error?.description.contains("file is not a database") == true)
    }
}
