import Foundation
import PipelineCore

/// What a queue under test is built from: a hand-moved clock, set jitter, a retry policy, and a scratch directory.
package struct JobQueueContext: Sendable {
    /// The queue's clock.
    package let clock: TestClock
    /// The queue's jitter.
    package let jitter: TestJitter
    /// The queue's retry policy: 3 attempts, retries after 2 s, 4 s, ... up to 60 s.
    package let retryPolicy = RetryPolicy(maxAttempts: 3, baseDelay: .seconds(2), maxDelay: .seconds(60))
    /// An empty directory for the queue's files, removed after the scenario.
    package let directory: URL

    /// Creates a context with a fresh scratch directory.
    package init() throws {
        self.clock = TestClock()
        self.jitter = TestJitter()
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("job-queue-\(UUID())")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
    }
}

/// Builds the queue implementation under test from a context.
package typealias MakeJobQueue = @Sendable (JobQueueContext) async throws -> any JobQueue
