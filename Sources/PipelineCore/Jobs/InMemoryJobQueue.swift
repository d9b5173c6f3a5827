import Foundation

/// A ``JobQueue`` kept in memory, with the same semantics as the durable queues; for tests and one-off runs.
///
/// `now` and `jitter` (a fraction in 0...1 for ``RetryPolicy/delay(afterAttempt:jitter:)``) are injected so tests
/// control time.
package actor InMemoryJobQueue: JobQueue {
    /// A worker's hold on a running job.
    private struct Hold {
        var token: String
        var owner: String
        var expiresAt: Date
    }

    /// A job with what the queue keeps beside it.
    private struct Entry {
        var job: Job
        /// Insertion order, which breaks ties between jobs created at the same instant.
        var sequence: Int
        var hold: Hold?
    }

    private let retryPolicy: RetryPolicy
    private let now: @Sendable () -> Date
    private let jitter: @Sendable () -> Double
    private var entries: [String: Entry] = [:]
    private var idsByKey: [String: String] = [:]
    private var checkpointsByJob: [String: [String: Data]] = [:]
    private var nextSequence = 0

    /// Creates an empty queue whose failed jobs are retried by `retryPolicy`.
    package init(
        retryPolicy: RetryPolicy = RetryPolicy(), now: @escaping @Sendable () -> Date = Date.init,
        jitter: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
    ) {
        self.retryPolicy = retryPolicy
        self.now = now
        self.jitter = jitter
    }

    package func enqueue(_ request: EnqueueRequest) async throws -> (job: Job, created: Bool) {
        if let key = request.idempotencyKey, let id = self.idsByKey[key], let existing = self.entries[id] {
            return (existing.job, false)
        }
        let now = self.now()
        let job = Job(
            id: JobID.make(at: now), kind: request.payload.kind, idempotencyKey: request.idempotencyKey,
            priority: request.priority, payload: request.payload,
            maxAttempts: request.maxAttempts ?? self.retryPolicy.maxAttempts, createdAt: now, updatedAt: now,
            runAfter: now)
        self.entries[job.id] = Entry(job: job, sequence: self.nextSequence)
        self.nextSequence += 1
        if let key = request.idempotencyKey {
            self.idsByKey[key] = job.id
        }
        return (job, true)
    }

    package func lease(owner: String, visibility: Duration) async throws -> JobLease? {
        try Task.checkCancellation()
        let now = self.now()
        self.stopExpiredFinalLeases(now: now)
        let runnable = self.entries.values.filter { entry in
            switch entry.job.status {
            case .queued: true
            case .failed: entry.job.runAfter <= now && !entry.job.cancelRequested
            case .running: entry.hold.map { $0.expiresAt <= now } ?? true
            case .succeeded, .dead, .cancelled: false
            }
        }
        guard var entry = runnable.min(by: Self.isMoreUrgent) else {
            return nil
        }
        let hold = Hold(
            token: UUID().uuidString.lowercased(), owner: owner, expiresAt: now.addingTimeInterval(visibility.seconds))
        entry.job.status = .running
        entry.job.attempts += 1
        entry.job.updatedAt = now
        entry.hold = hold
        self.entries[entry.job.id] = entry
        return JobLease(job: entry.job, token: hold.token, owner: owner)
    }

    /// Settles expired leases that must not be handed out again: cancelled on request, or dead at their last attempt.
    private func stopExpiredFinalLeases(now: Date) {
        for (id, entry) in self.entries where entry.job.status == .running {
            guard let hold = entry.hold, hold.expiresAt <= now else { continue }
            if entry.job.cancelRequested {
                self.update(id, now: now) { $0.job.status = .cancelled }
            } else if entry.job.attempts >= entry.job.maxAttempts {
                self.update(id, now: now) { entry in
                    entry.job.status = .dead
                    entry.job.error = .workerLost(owner: hold.owner, attempts: entry.job.attempts)
                }
            }
        }
    }

    package func heartbeat(_ lease: JobLease, progress: JobProgress?, visibility: Duration) async throws -> Bool {
        let now = self.now()
        var entry = try self.held(lease)
        entry.hold?.expiresAt = now.addingTimeInterval(visibility.seconds)
        if let progress {
            entry.job.progress = progress
        }
        entry.job.updatedAt = now
        self.entries[lease.job.id] = entry
        return entry.job.cancelRequested
    }

    package func complete(_ lease: JobLease, outputs: [String], result: JSONValue?) async throws {
        _ = try self.held(lease)
        self.update(lease.job.id, now: self.now()) { entry in
            entry.job.status = .succeeded
            entry.job.outputs = outputs
            entry.job.result = result
            entry.job.error = nil
        }
        // A finished job's chunks are in its outputs.
        self.checkpointsByJob[lease.job.id] = nil
    }

    @discardableResult
    package func fail(_ lease: JobLease, error: JobError) async throws -> Job {
        let job = try self.held(lease).job
        let now = self.now()
        let dead = error.permanent || job.attempts >= job.maxAttempts
        // A job someone asked to cancel is not retried, whatever made this attempt fail.
        let status: JobStatus = job.cancelRequested ? .cancelled : dead ? .dead : .failed
        let delay = status != .failed ? nil : self.retryPolicy.delay(afterAttempt: job.attempts, jitter: self.jitter())
        return self.update(lease.job.id, now: now) { entry in
            entry.job.status = status
            entry.job.error = error
            if let delay {
                entry.job.runAfter = now.addingTimeInterval(delay.seconds)
            }
        }
    }

    package func settleCancelled(_ lease: JobLease) async throws {
        _ = try self.held(lease)
        self.update(lease.job.id, now: self.now()) { $0.job.status = .cancelled }
    }

    package func release(_ lease: JobLease) async throws {
        _ = try self.held(lease)
        let now = self.now()
        self.update(lease.job.id, now: now) { entry in
            // A job asked to cancel is not handed to another worker: releasing it settles it as cancelled.
            entry.job.status = entry.job.cancelRequested ? .cancelled : .queued
            entry.job.attempts = max(entry.job.attempts - 1, 0)
            entry.job.runAfter = now
        }
    }

    package func saveCheckpoint(_ lease: JobLease, key: String, value: Data) async throws {
        _ = try self.held(lease)
        self.checkpointsByJob[lease.job.id, default: [:]][key] = value
    }

    package func checkpoints(jobID: String) async throws -> [String: Data] {
        self.checkpointsByJob[jobID] ?? [:]
    }

    package func pendingWork() async throws -> PendingWork {
        let jobs = self.entries.values.map(\.job)
        return PendingWork(
            queued: jobs.filter { $0.status == .queued }.count, running: jobs.filter { $0.status == .running }.count,
            nextRetry: jobs.filter { $0.status == .failed && !$0.cancelRequested }.map(\.runAfter).min())
    }

    package func job(id: String) async throws -> Job? {
        self.entries[id]?.job
    }

    package func jobs(status: JobStatus?, limit: Int) async throws -> [Job] {
        let matching = self.entries.values.filter { status == nil || $0.job.status == status }
        let newestFirst = matching.sorted { first, second in
            (first.job.createdAt, first.sequence) > (second.job.createdAt, second.sequence)
        }
        return newestFirst.prefix(max(limit, 0)).map(\.job)
    }

    package func cancel(id: String) async throws -> Job {
        guard let entry = self.entries[id] else {
            throw JobQueueError.notFound(id)
        }
        switch entry.job.status {
        case .queued, .failed:
            return self.update(id, now: self.now()) { $0.job.status = .cancelled }
        case .running where !entry.job.cancelRequested:
            return self.update(id, now: self.now(), clearingHold: false) { $0.job.cancelRequested = true }
        case .running, .succeeded, .dead, .cancelled:
            return entry.job
        }
    }

    package func retry(id: String) async throws -> Job {
        guard let entry = self.entries[id] else {
            throw JobQueueError.notFound(id)
        }
        switch entry.job.status {
        case .dead, .failed, .cancelled:
            let now = self.now()
            return self.update(id, now: now) { entry in
                entry.job.status = .queued
                entry.job.attempts = 0
                entry.job.cancelRequested = false
                entry.job.runAfter = now
            }
        case .queued, .running, .succeeded:
            throw JobQueueError.invalidState(id: id, status: entry.job.status, operation: "retry")
        }
    }

    /// The entry `lease` holds, or ``JobQueueError/leaseLost(_:)`` when its token no longer matches.
    private func held(_ lease: JobLease) throws(JobQueueError) -> Entry {
        guard let entry = self.entries[lease.job.id], entry.job.status == .running,
            entry.hold?.token == lease.token
        else {
            throw .leaseLost(lease.job.id)
        }
        return entry
    }

    /// Changes the job `id`, stamps `updatedAt` and, unless told otherwise, ends any lease; returns the job.
    @discardableResult
    private func update(
        _ id: String, now: Date, clearingHold: Bool = true, _ change: (inout Entry) -> Void
    ) -> Job {
        guard var entry = self.entries[id] else {
            preconditionFailure("updating job \(id), which the queue does not hold")
        }
        change(&entry)
        entry.job.updatedAt = now
        if clearingHold {
            entry.hold = nil
        }
        self.entries[id] = entry
        return entry.job
    }

    private static func isMoreUrgent(_ first: Entry, than second: Entry) -> Bool {
        if first.job.priority != second.job.priority {
            return first.job.priority > second.job.priority
        }
        return (first.job.createdAt, first.sequence) < (second.job.createdAt, second.sequence)
    }
}
