import Foundation
import PipelineCore

/// The queue's operations on one SQLite connection, each one transaction; the owner calls it from one thread at a time.
///
/// Every write runs inside `BEGIN IMMEDIATE`, which takes the database's write lock before reading, so processes
/// sharing the file see each operation whole and a deferred transaction never fails to upgrade its lock.
struct JobDatabase: ~Copyable {
    let connection: SQLiteConnection
    let statements: QueueStatements
    let defaultMaxAttempts: Int
    let now: @Sendable () -> Date
    private let decoder = JSONDecoder()

    /// Opens the database at `path`, switches it to WAL and brings its schema up to the last of `migrations`.
    init(
        path: String, busyTimeout: Duration, migrations: [SQLiteSchema.Migration], defaultMaxAttempts: Int,
        now: @escaping @Sendable () -> Date
    ) throws {
        let milliseconds = Int32(clamping: busyTimeout.milliseconds)
        let connection = try SQLiteConnection(path: path, busyTimeoutMilliseconds: milliseconds)
        try Self.configure(connection)
        try Self.migrate(connection, to: migrations)
        self.statements = try QueueStatements(connection)
        self.connection = connection
        self.defaultMaxAttempts = defaultMaxAttempts
        self.now = now
    }

    private static func configure(_ connection: borrowing SQLiteConnection) throws {
        // WAL lets readers and one writer proceed together; NORMAL syncs at checkpoints only, which in WAL mode
        // keeps the database consistent after a crash and loses at most the last commits on power loss.
        let mode = try connection.prepare("PRAGMA journal_mode = WAL").first([]) { $0.text(0) } ?? nil
        guard mode == "wal" || mode == "memory" else {
            throw JobQueueError.storage(
                "\(connection.path): cannot switch to WAL mode (journal mode is \(mode ?? "?"))")
        }
        try connection.execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
    }

    /// Applies the migrations newer than the file's `user_version`, all in one transaction.
    static func migrate(_ connection: borrowing SQLiteConnection, to migrations: [SQLiteSchema.Migration]) throws {
        let latest = migrations.last?.version ?? 0
        let version = try connection.prepare("PRAGMA user_version")
        func current() throws -> Int { Int(try version.first([]) { $0.integer(0) } ?? 0) }
        func checkSupported(_ found: Int) throws {
            if found > latest {
                throw JobQueueError.storage(
                    "\(connection.path) has queue schema version \(found), newer than the version \(latest) this "
                        + "program knows: upgrade audio-worker, or use another database")
            }
        }
        let before = try current()
        try checkSupported(before)
        if before == latest {
            return
        }
        try connection.execute("BEGIN IMMEDIATE")
        do {
            // Another process may have migrated while this one waited for the lock.
            let found = try current()
            try checkSupported(found)
            for migration in migrations where migration.version > found {
                try connection.execute(migration.sql)
            }
            try connection.execute("PRAGMA user_version = \(latest)")
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    /// Runs `body` in an immediate transaction, committing if it returns and rolling back if it throws.
    func writing<Value>(_ body: () throws -> Value) throws -> Value {
        try self.statements.begin.run()
        do {
            let value = try body()
            try self.statements.commit.run()
            return value
        } catch {
            // A failed statement may have ended the transaction already; a second error would hide the first.
            try? self.statements.rollback.run()
            throw error
        }
    }

    func enqueue(_ request: EnqueueRequest) throws -> (job: Job, created: Bool) {
        try self.writing {
            if let key = request.idempotencyKey, let existing = try self.job(self.statements.jobByKey, [.text(key)]) {
                return (existing, false)
            }
            let now = self.now()
            let values: [SQLiteValue] = [
                .text(JobID.make(at: now)), .text(request.payload.kind.rawValue),
                .optionalText(request.idempotencyKey), .integer(Int64(request.priority)),
                .text(try JSONOutput.string(request.payload)),
                .integer(Int64(request.maxAttempts ?? self.defaultMaxAttempts)), .integer(now.milliseconds),
                .text(request.origin.rawValue),
            ]
            guard let job = try self.job(self.statements.insert, values) else {
                throw JobQueueError.storage("inserting a job returned no row")
            }
            return (job, true)
        }
    }

    func lease(owner: String, visibility: Duration) throws -> JobLease? {
        try self.writing {
            let now = self.now().milliseconds
            try self.stopExpiredFinalLeases(now: now)
            while true {
                let token = UUID().uuidString.lowercased()
                var claimedID: String?
                var claimed: Result<Job, JobQueueError>?
                let values: [SQLiteValue] = [
                    .integer(now), .text(token), .text(owner), .integer(now + visibility.milliseconds),
                ]
                try self.statements.claim.rows(values) { row in
                    claimedID = row.text(0)
                    claimed = Result { () throws(JobQueueError) in try Job(row: row, decoder: self.decoder) }
                }
                guard let claimedID, let claimed else {
                    return nil
                }
                switch claimed {
                case .success(let job):
                    return JobLease(job: job, token: token, owner: owner)
                case .failure(let error):
                    // One unreadable row must not block every worker: stop it, with the reason, and look again.
                    let record = JobError.malformedRecord(error.description)
                    try self.statements.stop.run([
                        .text(claimedID), .text(JobStatus.dead.rawValue), .text(try JSONOutput.string(record)),
                        .integer(now),
                    ])
                }
            }
        }
    }

    /// Settles expired leases that must not be handed out again: cancelled on request, or dead at their last attempt.
    private func stopExpiredFinalLeases(now: Int64) throws {
        var stopped: [(id: String, status: JobStatus, error: JobError?)] = []
        try self.statements.expiredFinalLeases.rows([.integer(now)]) { row in
            guard let id = row.text(0) else { return }
            if row.integer(3) != 0 {
                stopped.append((id, .cancelled, nil))
            } else {
                let error = JobError.workerLost(owner: row.text(1) ?? "?", attempts: Int(row.integer(2)))
                stopped.append((id, .dead, error))
            }
        }
        for job in stopped {
            let error: SQLiteValue = try job.error.map { .text(try JSONOutput.string($0)) } ?? .null
            try self.statements.stop.run([.text(job.id), .text(job.status.rawValue), error, .integer(now)])
        }
    }

    func heartbeat(_ lease: JobLease, progress: JobProgress?, visibility: Duration) throws -> Bool {
        try self.writing {
            let now = self.now().milliseconds
            let values: [SQLiteValue] = [
                .text(lease.job.id), .text(lease.token), .integer(now + visibility.milliseconds),
                .optionalInteger(progress?.done), .optionalInteger(progress?.total), .integer(now),
            ]
            guard let cancelRequested = try self.statements.heartbeat.first(values, { $0.integer(0) != 0 }) else {
                throw JobQueueError.leaseLost(lease.job.id)
            }
            return cancelRequested
        }
    }

    func settle(_ lease: JobLease, _ settlement: JobSettlement) throws -> Job {
        try self.writing {
            let now = self.now()
            let id = SQLiteValue.text(lease.job.id)
            let token = SQLiteValue.text(lease.token)
            if case .succeeded(let outputs, let result, let progress) = settlement {
                // The common case in one statement; the settled job is the leased one with what changed, not a
                // row read back and decoded again.
                let cancelRequested = try self.statements.complete.first(
                    [
                        id, token, .text(try JSONOutput.string(outputs)),
                        try result.map { .text(try JSONOutput.string($0)) } ?? .null, .integer(now.milliseconds),
                        .integer(Int64(progress.done)), .optionalInteger(progress.total),
                    ], { $0.integer(0) != 0 })
                guard let cancelRequested else {
                    throw JobQueueError.leaseLost(lease.job.id)
                }
                // A finished job's chunks are in its outputs; keeping them would grow the file with every hour
                // transcribed.
                try self.statements.deleteCheckpoints.run([id])
                var job = lease.job
                job.status = .succeeded
                job.outputs = outputs
                job.result = result
                job.error = nil
                job.progress = progress
                job.cancelRequested = cancelRequested
                job.updatedAt = Date(milliseconds: now.milliseconds)
                return job
            }
            let leased = try self.statements.leasedAttempts.first([id, token]) {
                (attempts: Int($0.integer(0)), maxAttempts: Int($0.integer(1)), cancelRequested: $0.integer(2) != 0)
            }
            guard let leased else {
                throw JobQueueError.leaseLost(lease.job.id)
            }
            let settled: Job?
            switch settlement {
            case .succeeded:
                preconditionFailure("settled above")
            case .retry(let error, let delay):
                // A job someone asked to cancel is not retried, whatever made this attempt fail.
                let status: JobStatus = leased.cancelRequested ? .cancelled : .failed
                let runAfter: SQLiteValue = status == .failed ? .integer(now.milliseconds + delay.milliseconds) : .null
                settled = try self.job(
                    self.statements.settleFailure,
                    [
                        id, .text(status.rawValue), .text(try JSONOutput.string(error)), runAfter,
                        .integer(now.milliseconds),
                    ])
            case .dead(let error):
                let status: JobStatus = leased.cancelRequested ? .cancelled : .dead
                settled = try self.job(
                    self.statements.settleFailure,
                    [
                        id, .text(status.rawValue), .text(try JSONOutput.string(error)), .null,
                        .integer(now.milliseconds),
                    ])
            case .cancelled:
                settled = try self.job(self.statements.settleCancelled, [id, token, .integer(now.milliseconds)])
            case .released:
                settled = try self.job(self.statements.release, [id, token, .integer(now.milliseconds)])
            }
            guard let settled else {
                throw JobQueueError.leaseLost(lease.job.id)
            }
            return settled
        }
    }

    /// The earliest time a retry comes due or a lease expires, when time alone will make work runnable.
    func nextDue() throws -> Date? {
        try self.statements.nextDue.first([]) { row in row.isNull(0) ? nil : Date(milliseconds: row.integer(0)) }
            ?? nil
    }

    func saveCheckpoint(_ lease: JobLease, key: String, value: Data) throws {
        try self.writing {
            let holds = try self.statements.leasedAttempts.first([.text(lease.job.id), .text(lease.token)]) { _ in true
            }
            guard holds == true else {
                throw JobQueueError.leaseLost(lease.job.id)
            }
            try self.statements.saveCheckpoint.run([
                .text(lease.job.id), .text(key), .blob(value), .integer(self.now().milliseconds),
            ])
        }
    }

    func checkpoints(jobID: String) throws -> [String: Data] {
        var checkpoints: [String: Data] = [:]
        try self.statements.checkpoints.rows([.text(jobID)]) { row in
            checkpoints[row.text(0) ?? ""] = row.blob(1)
        }
        return checkpoints
    }

    func pendingWork() throws -> PendingWork {
        try self.statements.pendingWork.first([]) { row in
            PendingWork(
                queued: Int(row.integer(0)), running: Int(row.integer(1)),
                nextRetry: row.isNull(2) ? nil : Date(milliseconds: row.integer(2)))
        } ?? PendingWork(queued: 0, running: 0, nextRetry: nil)
    }

    func job(id: String) throws -> Job? {
        try self.job(self.statements.jobByID, [.text(id)])
    }

    func jobs(status: JobStatus?, limit: Int) throws -> [Job] {
        var jobs: [Job] = []
        let limit = SQLiteValue.integer(Int64(max(limit, 0)))
        let decoder = self.decoder
        let append = { (row: borrowing SQLiteStatement) throws in
            jobs.append(try Job(row: row, decoder: decoder))
        }
        if let status {
            try self.statements.newestWithStatus.rows([.text(status.rawValue), limit], append)
        } else {
            try self.statements.newest.rows([limit], append)
        }
        return jobs
    }

    func cancel(id: String) throws -> Job {
        try self.writing {
            let job = try self.existingJob(id)
            let now = SQLiteValue.integer(self.now().milliseconds)
            switch job.status {
            case .queued, .failed:
                try self.statements.stop.run([.text(id), .text(JobStatus.cancelled.rawValue), .null, now])
            case .running where !job.cancelRequested:
                try self.statements.requestCancel.run([.text(id), now])
            case .running, .succeeded, .dead, .cancelled:
                return job
            }
            return try self.existingJob(id)
        }
    }

    func retry(id: String) throws -> Job {
        try self.writing {
            let job = try self.existingJob(id)
            switch job.status {
            case .dead, .failed, .cancelled:
                try self.statements.requeue.run([.text(id), .integer(self.now().milliseconds)])
                return try self.existingJob(id)
            case .queued, .running, .succeeded:
                throw JobQueueError.invalidState(id: id, status: job.status, operation: "retry")
            }
        }
    }

    private func job(_ statement: borrowing SQLiteStatement, _ values: [SQLiteValue]) throws -> Job? {
        try statement.first(values) { row in try Job(row: row, decoder: self.decoder) }
    }

    private func existingJob(_ id: String) throws -> Job {
        guard let job = try self.job(id: id) else {
            throw JobQueueError.notFound(id)
        }
        return job
    }

}
