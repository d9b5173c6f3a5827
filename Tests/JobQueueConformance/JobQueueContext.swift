import Foundation
import PipelineCore

/// What a backend under test is built from: a hand-moved clock, the lease visibility and default attempts the
/// scenarios expect, and a scratch directory.
package struct JobQueueContext: Sendable {
    /// The backend's clock (for backends that read an injected clock).
    package let clock: TestClock
    /// How long a lease lasts without a heartbeat: 30 s.
    package let visibility = Duration.seconds(30)
    /// Attempts for jobs enqueued without their own: 3.
    package let maxAttempts = 3
    /// An empty directory for the backend's files, removed after the scenario.
    package let directory: URL

    /// Creates a context with a fresh scratch directory.
    package init() throws {
        self.clock = TestClock()
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("job-queue-\(UUID())")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }
}

/// Builds the backend under test from a context.
package typealias MakeJobBackend = @Sendable (JobQueueContext) async throws -> JobBackend

/// What a backend can honour beyond the core of every ``WorkQueue`` and ``JobLedger``.
///
/// A backend runs every scenario whose requirements it has, so one that cannot order by priority, or that counts
/// deliveries its own way, still runs all the others, and no scenario is weakened to fit it.
package enum QueueCapability: String, CaseIterable, Sendable {
    /// Leases go to the highest priority first, then the oldest, then in enqueue order.
    case priorityOrder
    /// The backend counts an attempt at each lease, and an expired lease on the last attempt makes the job dead.
    case deliveryCounting
    /// A released attempt does not count.
    case uncountedRelease
    /// The backend reads time from the context's ``TestClock``, so scenarios can move time instead of waiting.
    case injectedClock
}
