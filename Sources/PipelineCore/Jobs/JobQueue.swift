import Foundation

/// A durable queue of jobs: enqueue, lease, heartbeat, settle; plus the ledger operations people use.
///
/// Implementations: ``InMemoryJobQueue`` (tests), `SQLiteJobQueue` (the embedded default), and, later, JetStream.
/// Every settling call takes the ``JobLease`` it acts for and throws ``JobQueueError/leaseLost(_:)`` if the job
/// has since been leased by someone else, so a stale worker can never settle a job twice.
package protocol JobQueue: Sendable {
    /// Adds a job, or returns the existing one with the same idempotency key (`created` is then false).
    func enqueue(_ request: EnqueueRequest) async throws -> (job: Job, created: Bool)

    /// Leases the most urgent runnable job (highest priority, then oldest) for `visibility`, or returns nil.
    ///
    /// Runnable: `queued`, or `failed` whose `runAfter` has passed, or `running` whose lease expired (its worker
    /// died). Leasing counts an attempt; an expired job already at its maximum attempts becomes `dead` instead.
    func lease(owner: String, visibility: Duration) async throws -> JobLease?

    /// Extends the lease and records progress; returns whether cancellation was requested.
    func heartbeat(_ lease: JobLease, progress: JobProgress?, visibility: Duration) async throws -> Bool

    /// Settles the job as `succeeded`, with its outputs and result.
    func complete(_ lease: JobLease, outputs: [String], result: JSONValue?) async throws

    /// Settles the attempt as failed: `dead` if the error is permanent or the attempts are used up, else `failed`
    /// with a retry scheduled by the queue's ``RetryPolicy``. Returns the job as it now is.
    @discardableResult
    func fail(_ lease: JobLease, error: JobError) async throws -> Job

    /// Settles a job whose cancellation was requested as `cancelled`.
    func settleCancelled(_ lease: JobLease) async throws

    /// Returns the job to `queued` without counting the attempt (graceful shutdown).
    func release(_ lease: JobLease) async throws

    /// Stores a finished unit of work (a transcribed chunk) with the job, replacing any under the same key.
    func saveCheckpoint(_ lease: JobLease, key: String, value: Data) async throws

    /// Every checkpoint stored for a job, by key.
    func checkpoints(jobID: String) async throws -> [String: Data]

    /// How much work is left: jobs queued, jobs running (anywhere), and the earliest scheduled retry.
    func pendingWork() async throws -> PendingWork

    /// The job with this id, or nil.
    func job(id: String) async throws -> Job?

    /// Jobs, newest first, optionally only those with `status`.
    func jobs(status: JobStatus?, limit: Int) async throws -> [Job]

    /// Cancels a job: a queued or failed job at once; a running one is asked to stop (it notices at its next
    /// heartbeat). Finished jobs are returned unchanged.
    func cancel(id: String) async throws -> Job

    /// Returns a dead, failed or cancelled job to `queued` with its attempts reset, keeping its checkpoints.
    func retry(id: String) async throws -> Job
}

/// How much work a queue still holds, for deciding whether a draining worker may stop.
package struct PendingWork: Sendable, Equatable {
    /// Jobs waiting to be leased.
    package var queued: Int
    /// Jobs leased (by any worker), including leases that have expired.
    package var running: Int
    /// The earliest time a failed job will be retried, if any is scheduled.
    package var nextRetry: Date?

    /// Creates a value.
    package init(queued: Int, running: Int, nextRetry: Date?) {
        self.queued = queued
        self.running = running
        self.nextRetry = nextRetry
    }
}

/// What to enqueue.
package struct EnqueueRequest: Sendable, Equatable {
    /// What to do.
    package var payload: JobPayload
    /// Makes enqueueing idempotent; nil for none.
    package var idempotencyKey: String?
    /// Higher runs first.
    package var priority: Int
    /// Attempts before the job is dead; nil for the queue's policy.
    package var maxAttempts: Int?

    /// Creates a request.
    package init(payload: JobPayload, idempotencyKey: String? = nil, priority: Int = 0, maxAttempts: Int? = nil) {
        self.payload = payload
        self.idempotencyKey = idempotencyKey
        self.priority = priority
        self.maxAttempts = maxAttempts
    }
}

/// A worker's claim on a job, valid until it expires or is settled.
package struct JobLease: Sendable, Equatable {
    /// The job as it was when leased (status `running`, attempts counted).
    package var job: Job
    /// Identifies this lease; settling with an older token fails.
    package var token: String
    /// Who holds it (`host:pid:n`).
    package var owner: String

    /// Creates a lease.
    package init(job: Job, token: String, owner: String) {
        self.job = job
        self.token = token
        self.owner = owner
    }
}

/// Failures of the queue itself.
package enum JobQueueError: Error, Equatable, CustomStringConvertible {
    /// The job was leased by someone else (this lease expired) or already settled.
    case leaseLost(String)
    /// No job has this id.
    case notFound(String)
    /// The operation does not apply to the job in its current status.
    case invalidState(id: String, status: JobStatus, operation: String)
    /// The queue's storage failed.
    case storage(String)

    package var description: String {
        switch self {
        case .leaseLost(let id): "job \(id): the lease was lost (expired and taken by another worker, or settled)"
        case .notFound(let id): "no job with id \(id)"
        case .invalidState(let id, let status, let operation): "job \(id) is \(status.rawValue); cannot \(operation)"
        case .storage(let message): "queue storage failed: \(message)"
        }
    }
}

/// When a failed attempt is retried: exponential backoff with jitter, capped.
package struct RetryPolicy: Sendable, Equatable {
    /// Attempts before a job is dead, unless the job says otherwise.
    package var maxAttempts: Int
    /// The delay before the first retry.
    package var baseDelay: Duration
    /// The longest delay.
    package var maxDelay: Duration

    /// Creates a policy; the defaults retry after about 2 s, 4 s, 8 s, 16 s, and never wait over five minutes.
    package init(maxAttempts: Int = 5, baseDelay: Duration = .seconds(2), maxDelay: Duration = .seconds(300)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The delay after the `attempt`-th failure (1-based): base × 2^(attempt−1), capped, less up to half as jitter.
    package func delay(afterAttempt attempt: Int, jitter: Double = Double.random(in: 0...1)) -> Duration {
        let exponent = Double(min(max(attempt - 1, 0), 30))
        let base = self.baseDelay.seconds * pow(2, exponent)
        let capped = min(base, self.maxDelay.seconds)
        return .seconds(capped * (1 - 0.5 * min(max(jitter, 0), 1)))
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    package var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
