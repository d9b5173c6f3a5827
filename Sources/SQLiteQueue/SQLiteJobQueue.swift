import Foundation
import PipelineCore
import Synchronization

/// A durable ``JobQueue`` in one SQLite database file, which several processes on one machine may share.
///
/// Each instance holds one connection, used by one call at a time; calls run on a Dispatch thread, off the
/// cooperative pool. SQLite failures surface as ``JobQueueError/storage(_:)`` naming the file, the SQLite call,
/// its message and code; a lock held by another process longer than the busy timeout is such a failure.
package final class SQLiteJobQueue: JobQueue {
    /// The database file.
    package let path: String
    private let database: Mutex<JobDatabase>

    /// Opens (creating if needed) the queue at `path`, blocking the calling thread; prefer ``open(path:retryPolicy:busyTimeout:now:jitter:)`` from async code.
    ///
    /// `now` and `jitter` (a fraction in 0...1 for ``RetryPolicy/delay(afterAttempt:jitter:)``) are injected so
    /// tests control time. `busyTimeout` bounds how long a call waits for another process's write lock.
    package convenience init(
        path: String, retryPolicy: RetryPolicy = RetryPolicy(), busyTimeout: Duration = .seconds(5),
        now: @escaping @Sendable () -> Date = Date.init,
        jitter: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
    ) throws {
        try self.init(
            path: path, retryPolicy: retryPolicy, busyTimeout: busyTimeout, now: now, jitter: jitter,
            migrations: SQLiteSchema.migrations)
    }

    /// Opens the queue with a given migration list (tests use it to build older and newer schemas).
    init(
        path: String, retryPolicy: RetryPolicy, busyTimeout: Duration, now: @escaping @Sendable () -> Date,
        jitter: @escaping @Sendable () -> Double, migrations: [SQLiteSchema.Migration]
    ) throws {
        self.path = path
        do {
            self.database = Mutex(
                try JobDatabase(
                    path: path, busyTimeout: busyTimeout, migrations: migrations, retryPolicy: retryPolicy, now: now,
                    jitter: jitter))
        } catch let error as SQLiteError {
            throw JobQueueError.storage("\(path): \(error)")
        }
    }

    /// Opens (creating if needed) the queue at `path` on a Dispatch thread; see ``init(path:retryPolicy:busyTimeout:now:jitter:)``.
    package static func open(
        path: String, retryPolicy: RetryPolicy = RetryPolicy(), busyTimeout: Duration = .seconds(5),
        now: @escaping @Sendable () -> Date = Date.init,
        jitter: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
    ) async throws -> SQLiteJobQueue {
        try await runBlocking { _ in
            try SQLiteJobQueue(path: path, retryPolicy: retryPolicy, busyTimeout: busyTimeout, now: now, jitter: jitter)
        }
    }

    package func enqueue(_ request: EnqueueRequest) async throws -> (job: Job, created: Bool) {
        try await self.perform(cancellable: true) { database in try database.enqueue(request) }
    }

    package func lease(owner: String, visibility: Duration) async throws -> JobLease? {
        try await self.perform(cancellable: true) { database in try database.lease(owner: owner, visibility: visibility)
        }
    }

    package func heartbeat(_ lease: JobLease, progress: JobProgress?, visibility: Duration) async throws -> Bool {
        try await self.perform { database in
            try database.heartbeat(lease, progress: progress, visibility: visibility)
        }
    }

    package func complete(_ lease: JobLease, outputs: [String], result: JSONValue?) async throws {
        try await self.perform { database in try database.complete(lease, outputs: outputs, result: result) }
    }

    @discardableResult
    package func fail(_ lease: JobLease, error: JobError) async throws -> Job {
        try await self.perform { database in try database.fail(lease, error: error) }
    }

    package func settleCancelled(_ lease: JobLease) async throws {
        try await self.perform { database in try database.settleCancelled(lease) }
    }

    package func release(_ lease: JobLease) async throws {
        try await self.perform { database in try database.release(lease) }
    }

    package func saveCheckpoint(_ lease: JobLease, key: String, value: Data) async throws {
        try await self.perform { database in try database.saveCheckpoint(lease, key: key, value: value) }
    }

    package func checkpoints(jobID: String) async throws -> [String: Data] {
        try await self.perform(cancellable: true) { database in try database.checkpoints(jobID: jobID) }
    }

    package func pendingWork() async throws -> PendingWork {
        try await self.perform(cancellable: true) { database in try database.pendingWork() }
    }

    package func job(id: String) async throws -> Job? {
        try await self.perform(cancellable: true) { database in try database.job(id: id) }
    }

    package func jobs(status: JobStatus?, limit: Int) async throws -> [Job] {
        try await self.perform(cancellable: true) { database in try database.jobs(status: status, limit: limit) }
    }

    package func cancel(id: String) async throws -> Job {
        try await self.perform { database in try database.cancel(id: id) }
    }

    package func retry(id: String) async throws -> Job {
        try await self.perform { database in try database.retry(id: id) }
    }

    /// Runs `body` with the connection on a Dispatch thread, turning SQLite failures into queue storage errors.
    ///
    /// Only calls that start something check cancellation: a worker shutting down must still be able to settle and
    /// release what it holds, and each call is short.
    private func perform<Value: Sendable>(
        cancellable: Bool = false, _ body: @escaping @Sendable (borrowing JobDatabase) throws -> Value
    ) async throws -> Value {
        try await runBlocking { flag in
            if cancellable, flag.isCancelled {
                throw CancellationError()
            }
            do {
                return try self.database.withLock { database in try body(database) }
            } catch let error as SQLiteError {
                throw JobQueueError.storage("\(self.path): \(error)")
            }
        }
    }
}
