import Foundation

/// The work: jobs waiting to run, handed to workers one lease at a time.
///
/// Small enough for a log-based broker: enqueue with an idempotency key, lease (a long poll), heartbeat, settle.
/// The lease's visibility (how long it lasts without a heartbeat) is fixed when the queue is built; the token is
/// opaque; priority is a hint a backend may ignore; how deliveries are counted is the backend's business.
/// Implementations: ``InMemoryJobQueue`` (tests), `SQLiteJobQueue` (the embedded default), JetStream.
/// Every settling call takes the ``JobLease`` it acts for and throws ``JobQueueError/leaseLost(_:)`` if the job has
/// since been leased by someone else or settled, so a stale worker can never settle a job twice.
package protocol WorkQueue: Sendable {
    /// Adds a job, or returns the existing one with the same idempotency key (`created` is then false).
    func enqueue(_ request: EnqueueRequest) async throws -> (job: Job, created: Bool)

    /// Leases the next runnable job, waiting up to `wait` for one; nil if none became runnable in that time.
    ///
    /// Runnable: queued, a failed job whose retry time has come, or a job whose lease expired (its worker died).
    /// Leasing counts an attempt. Cancelling the calling task ends the wait; a job already claimed is still returned.
    func lease(owner: String, wait: Duration) async throws -> JobLease?

    /// Extends the lease and records progress; returns whether cancellation was requested.
    func heartbeat(_ lease: JobLease, progress: JobProgress?) async throws -> Bool

    /// Ends the attempt as `settlement` says and returns the job as it now is. A job whose cancellation was
    /// requested is settled as cancelled, whatever else the attempt reports (except success).
    @discardableResult
    func settle(_ lease: JobLease, _ settlement: JobSettlement) async throws -> Job
}

/// How an attempt ends.
package enum JobSettlement: Sendable, Equatable {
    /// Done: the outputs are stored; `progress` is the final count.
    case succeeded(outputs: [String], result: JSONValue?, progress: JobProgress)
    /// Failed; run again after `delay`.
    case retry(JobError, after: Duration)
    /// Failed for good: bad input, or the attempts are used up.
    case dead(JobError)
    /// Stopped because cancellation was requested.
    case cancelled
    /// Not finished and not failed (the worker is shutting down): back to the queue at once, without counting the
    /// attempt where the backend can tell.
    case released
}

/// What to enqueue.
package struct EnqueueRequest: Sendable, Equatable {
    /// What to do.
    package var payload: JobPayload
    /// Makes enqueueing idempotent; nil for none.
    package var idempotencyKey: String?
    /// Higher runs first, where the backend orders by priority.
    package var priority: Int
    /// Attempts before the job is dead; nil for the queue's default.
    package var maxAttempts: Int?
    /// Who submits it.
    package var origin: JobOrigin

    /// Creates a request.
    package init(
        payload: JobPayload, idempotencyKey: String? = nil, priority: Int = 0, maxAttempts: Int? = nil,
        origin: JobOrigin = .commandLine
    ) {
        self.origin = origin
        self.payload = payload
        self.idempotencyKey = idempotencyKey
        self.priority = priority
        self.maxAttempts = maxAttempts
    }
}

/// A worker's claim on a job, valid until it expires or is settled.
package struct JobLease: Sendable, Equatable {
    /// The job as it was when leased (status `running`, this attempt counted).
    package var job: Job
    /// Identifies this lease to its backend; opaque to everyone else.
    package var token: String
    /// Who holds it (`host:pid`).
    package var owner: String

    /// Creates a lease.
    package init(job: Job, token: String, owner: String) {
        self.job = job
        self.token = token
        self.owner = owner
    }
}

/// Failures of the queue or the ledger themselves.
package enum JobQueueError: Error, Equatable, CustomStringConvertible {
    /// The job was leased by someone else (this lease expired) or already settled.
    case leaseLost(String)
    /// No job has this id.
    case notFound(String)
    /// The operation does not apply to the job in its current status.
    case invalidState(id: String, status: JobStatus, operation: String)
    /// The backend's storage failed.
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

/// When a failed attempt is retried: exponential backoff with jitter, capped. The worker applies it.
package struct RetryPolicy: Sendable, Equatable {
    /// The delay before the first retry.
    package var baseDelay: Duration
    /// The longest delay.
    package var maxDelay: Duration

    /// Creates a policy; the defaults retry after about 2 s, 4 s, 8 s, 16 s, and never wait over five minutes.
    package init(baseDelay: Duration = .seconds(2), maxDelay: Duration = .seconds(300)) {
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

    /// How the worker settles a failed attempt: dead when the error is permanent or the attempts are used up,
    /// else a retry after this policy's delay.
    package func settlement(for error: JobError, lease: JobLease, jitter: Double = Double.random(in: 0...1))
        -> JobSettlement
    {
        if error.permanent || lease.job.attempts >= lease.job.maxAttempts {
            return .dead(error)
        }
        return .retry(error, after: self.delay(afterAttempt: lease.job.attempts, jitter: jitter))
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    package var seconds: Double {
        let (seconds, attoseconds) = self.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
