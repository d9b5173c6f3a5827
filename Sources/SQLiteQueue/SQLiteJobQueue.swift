import Foundation
import PipelineCore
import Synchronization

/// The embedded job backend: a ``WorkQueue`` and ``JobLedger`` in one SQLite database file, which several
/// processes on one machine may share.
///
/// Each instance holds one connection, used by one call at a time on the instance's own thread, off the cooperative
/// pool and away from long file copies. An idle `lease` waits on a ``DatabaseWatcher`` (a write by any process wakes
/// it) and on the next moment time alone makes work runnable, so waiting costs no CPU and no writes. SQLite failures
/// surface as ``JobQueueError/storage(_:)`` naming the file, the SQLite call, its message and code; a lock held by
/// another process longer than the busy timeout is such a failure.
package final class SQLiteJobQueue: WorkQueue, JobLedger {
    /// The database file.
    package let path: String
    /// How long a lease lasts without a heartbeat.
    package let visibility: Duration
    private let database: Mutex<JobDatabase>
    private let thread: BlockingPool
    private let watcher = Mutex<DatabaseWatcher??>(nil)
    /// Bumped by this instance's own writes, so its waiters wake even where no watcher runs.
    private let localChanges = ChangeSignal()
    /// The longest a waiting lease goes without looking again, in case a wake-up was missed.
    private let safetyInterval: Duration

    /// Opens (creating if needed) the queue at `path`, blocking the calling thread; prefer
    /// ``open(path:visibility:maxAttempts:busyTimeout:now:)`` from async code.
    ///
    /// `maxAttempts` is the default for jobs enqueued without their own; `now` is injected so tests control time;
    /// `busyTimeout` bounds how long a call waits for another process's write lock.
    package convenience init(
        path: String, visibility: Duration = .seconds(60), maxAttempts: Int = 5, busyTimeout: Duration = .seconds(5),
        now: @escaping @Sendable () -> Date = Date.init
    ) throws {
        try self.init(
            path: path, visibility: visibility, maxAttempts: maxAttempts, busyTimeout: busyTimeout, now: now,
            migrations: SQLiteSchema.migrations)
    }

    /// Opens the queue with a given migration list (tests use it to build older and newer schemas).
    init(
        path: String, visibility: Duration, maxAttempts: Int, busyTimeout: Duration,
        now: @escaping @Sendable () -> Date,
        migrations: [SQLiteSchema.Migration], safetyInterval: Duration = .seconds(60)
    ) throws {
        self.path = path
        self.visibility = visibility
        self.safetyInterval = safetyInterval
        self.thread = BlockingPool(name: "audio-worker.sqlite", threads: 1, spins: 200)
        do {
            self.database = Mutex(
                try JobDatabase(
                    path: path, busyTimeout: busyTimeout, migrations: migrations, defaultMaxAttempts: maxAttempts,
                    now: now))
        } catch let error as SQLiteError {
            throw JobQueueError.storage("\(path): \(error)")
        }
    }

    /// Opens (creating if needed) the queue at `path` off the cooperative pool; see
    /// ``init(path:visibility:maxAttempts:busyTimeout:now:)``.
    package static func open(
        path: String, visibility: Duration = .seconds(60), maxAttempts: Int = 5, busyTimeout: Duration = .seconds(5),
        now: @escaping @Sendable () -> Date = Date.init
    ) async throws -> SQLiteJobQueue {
        try await runBlocking { _ in
            try SQLiteJobQueue(
                path: path, visibility: visibility, maxAttempts: maxAttempts, busyTimeout: busyTimeout, now: now)
        }
    }

    // MARK: WorkQueue

    package func enqueue(_ request: EnqueueRequest) async throws -> (job: Job, created: Bool) {
        let result = try await self.perform(cancellable: true) { database in try database.enqueue(request) }
        self.localChanges.notify()
        return result
    }

    package func lease(owner: String, wait: Duration) async throws -> JobLease? {
        let deadline = ContinuousClock.now + wait
        let changes = self.changeSignals()
        let visibility = self.visibility
        while true {
            try Task.checkCancellation()
            // Read the generations before looking, so a write that lands between the look and the wait still wakes.
            let seen = changes.map(\.generation)
            if let lease = try await self.perform(
                cancellable: true,
                { database in
                    try database.lease(owner: owner, visibility: visibility)
                })
            {
                return lease
            }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return nil }
            var timeout = min(remaining, self.safetyInterval)
            if let due = try await self.perform(cancellable: true, { database in try database.nextDue() }) {
                timeout = min(timeout, .milliseconds(max(Int64(due.timeIntervalSinceNow * 1000) + 1, 1)))
            }
            await Self.wait(on: changes, after: seen, timeout: timeout)
        }
    }

    package func heartbeat(_ lease: JobLease, progress: JobProgress?) async throws -> Bool {
        let visibility = self.visibility
        return try await self.perform { database in
            try database.heartbeat(lease, progress: progress, visibility: visibility)
        }
    }

    @discardableResult
    package func settle(_ lease: JobLease, _ settlement: JobSettlement) async throws -> Job {
        let job = try await self.perform { database in try database.settle(lease, settlement) }
        self.localChanges.notify()
        return job
    }

    // MARK: JobLedger

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
        let job = try await self.perform { database in try database.cancel(id: id) }
        self.localChanges.notify()
        return job
    }

    package func retry(id: String) async throws -> Job {
        let job = try await self.perform { database in try database.retry(id: id) }
        self.localChanges.notify()
        return job
    }

    /// A signal bumped by every write to the database, by any process; nil where no watcher can run.
    package func watchChanges() -> ChangeSignal? {
        let watcher = self.watcher.withLock { watcher -> DatabaseWatcher? in
            if watcher == nil {
                watcher = .some(DatabaseWatcher.start(databasePath: self.path))
            }
            return watcher ?? nil
        }
        return watcher?.signal
    }

    // MARK: helpers

    /// This instance's own change signal, and the watcher's once it runs (started on the first wait).
    private func changeSignals() -> [ChangeSignal] {
        let watcher = self.watcher.withLock { watcher -> DatabaseWatcher? in
            if watcher == nil {
                watcher = .some(DatabaseWatcher.start(databasePath: self.path))
            }
            return watcher ?? nil
        }
        return [self.localChanges] + (watcher.map { [$0.signal] } ?? [])
    }

    /// Waits until any of `signals` moves past its generation in `seen`, or `timeout` passes.
    private static func wait(on signals: [ChangeSignal], after seen: [UInt64], timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            for (signal, generation) in zip(signals, seen) {
                group.addTask { await signal.wait(after: generation, timeout: timeout) }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Runs `body` with the connection on the instance's thread, turning SQLite failures into queue storage errors.
    ///
    /// Only calls that start something check cancellation: a worker shutting down must still be able to settle and
    /// release what it holds, and each call is short.
    private func perform<Value: Sendable>(
        cancellable: Bool = false, _ body: @escaping @Sendable (borrowing JobDatabase) throws -> Value
    ) async throws -> Value {
        try await self.thread.run { flag in
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
