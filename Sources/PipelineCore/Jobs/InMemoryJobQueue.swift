import Foundation

/// A ``WorkQueue`` and ``JobLedger`` kept in memory, with the same semantics as the durable ones; for tests and
/// one-off runs.
///
/// `now` is injected so tests control time; `visibility` is how long a lease lasts without a heartbeat.
package actor InMemoryJobQueue: WorkQueue, JobLedger {
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

    private let visibility: Duration
    private let defaultMaxAttempts: Int
    private let now: @Sendable () -> Date
    private let changes = ChangeSignal()
    private var entries: [String: Entry] = [:]
    private var idsByKey: [String: String] = [:]
    private var checkpointsByJob: [String: [String: Data]] = [:]
    private var nextSequence = 0

    /// Creates an empty queue.
    package init(
        visibility: Duration = .seconds(60), maxAttempts: Int = 5, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.visibility = visibility
        self.defaultMaxAttempts = maxAttempts
        self.now = now
    }

    // MARK: WorkQueue

    package func enqueue(_ request: EnqueueRequest) async throws -> (job: Job, created: Bool) {
        if let key = request.idempotencyKey, let id = self.idsByKey[key], let existing = self.entries[id] {
            return (existing.job, false)
        }
        let now = self.now()
        let job = Job(
            id: JobID.make(at: now), kind: request.payload.kind, idempotencyKey: request.idempotencyKey,
            origin: request.origin, priority: request.priority, payload: request.payload,
            maxAttempts: request.maxAttempts ?? self.defaultMaxAttempts, createdAt: now, updatedAt: now,
            runAfter: now)
        self.entries[job.id] = Entry(job: job, sequence: self.nextSequence)
        self.nextSequence += 1
        if let key = request.idempotencyKey {
            self.idsByKey[key] = job.id
        }
        self.changes.notify()
        return (job, true)
    }

    package func lease(owner: String, wait: Duration) async throws -> JobLease? {
        let deadline = ContinuousClock.now + wait
        while true {
            try Task.checkCancellation()
            let seen = self.changes.generation
            if let lease = self.claim(owner: owner) {
                return lease
            }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return nil }
            // Time alone makes a retry due or a lease expire: wake for the earliest such moment too.
            let due = self.nextDue().map { Duration.seconds(max($0.timeIntervalSince(self.now()), 0.001)) }
            await self.changes.wait(after: seen, timeout: min(remaining, due ?? remaining))
        }
    }

    private func claim(owner: String) -> JobLease? {
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
            token: UUID().uuidString.lowercased(), owner: owner,
            expiresAt: now.addingTimeInterval(self.visibility.seconds))
        entry.job.status = .running
        entry.job.attempts += 1
        entry.job.updatedAt = now
        entry.hold = hold
        self.entries[entry.job.id] = entry
        return JobLease(job: entry.job, token: hold.token, owner: owner)
    }

    /// The earliest time a failed job's retry comes due or a lease expires.
    private func nextDue() -> Date? {
        let retries = self.entries.values.filter { $0.job.status == .failed && !$0.job.cancelRequested }
            .map(\.job.runAfter)
        let expiries = self.entries.values.compactMap { $0.job.status == .running ? $0.hold?.expiresAt : nil }
        return (retries + expiries).min()
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

    package func heartbeat(_ lease: JobLease, progress: JobProgress?) async throws -> Bool {
        let now = self.now()
        var entry = try self.held(lease)
        entry.hold?.expiresAt = now.addingTimeInterval(self.visibility.seconds)
        if let progress {
            entry.job.progress = progress
        }
        entry.job.updatedAt = now
        self.entries[lease.job.id] = entry
        return entry.job.cancelRequested
    }

    @discardableResult
    package func settle(_ lease: JobLease, _ settlement: JobSettlement) async throws -> Job {
        let job = try self.held(lease).job
        let now = self.now()
        let settled: Job
        switch settlement {
        case .succeeded(let outputs, let result, let progress):
            settled = self.update(lease.job.id, now: now) { entry in
                entry.job.status = .succeeded
                entry.job.outputs = outputs
                entry.job.result = result
                entry.job.error = nil
                entry.job.progress = progress
            }
            // A finished job's chunks are in its outputs.
            self.checkpointsByJob[lease.job.id] = nil
        case .retry(let error, let delay):
            settled = self.update(lease.job.id, now: now) { entry in
                // A job someone asked to cancel is not retried, whatever made this attempt fail.
                entry.job.status = job.cancelRequested ? .cancelled : .failed
                entry.job.error = error
                if !job.cancelRequested {
                    entry.job.runAfter = now.addingTimeInterval(delay.seconds)
                }
            }
        case .dead(let error):
            settled = self.update(lease.job.id, now: now) { entry in
                entry.job.status = job.cancelRequested ? .cancelled : .dead
                entry.job.error = error
            }
        case .cancelled:
            settled = self.update(lease.job.id, now: now) { $0.job.status = .cancelled }
        case .released:
            settled = self.update(lease.job.id, now: now) { entry in
                // A job asked to cancel is not handed to another worker: releasing it settles it as cancelled.
                entry.job.status = entry.job.cancelRequested ? .cancelled : .queued
                entry.job.attempts = max(entry.job.attempts - 1, 0)
                entry.job.runAfter = now
            }
        }
        self.changes.notify()
        return settled
    }

    // MARK: JobLedger

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
            let job = self.update(id, now: now) { entry in
                entry.job.status = .queued
                entry.job.attempts = 0
                entry.job.cancelRequested = false
                entry.job.runAfter = now
            }
            self.changes.notify()
            return job
        case .queued, .running, .succeeded:
            throw JobQueueError.invalidState(id: id, status: entry.job.status, operation: "retry")
        }
    }

    // MARK: helpers

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
