/// Where a job is in its life.
///
/// `queued → running → succeeded | failed (a retry is scheduled) | dead | cancelled`; `failed` jobs become runnable
/// again at their `runAfter` time, and `jobs retry` returns a dead or cancelled job to `queued`.
package enum JobStatus: String, Sendable, Codable, CaseIterable {
    /// Waiting to be leased.
    case queued
    /// Leased by a worker.
    case running
    /// Finished; its outputs are stored.
    case succeeded
    /// The last attempt failed; another is scheduled at `runAfter`.
    case failed
    /// Will not run again: its attempts are used up or its input can never succeed.
    case dead
    /// Stopped on request.
    case cancelled

    /// Whether the job can still change without an operator (`queued`, `running` or `failed`).
    package var isActive: Bool { self == .queued || self == .running || self == .failed }
}
