import Foundation
import JobQueueConformance
import PipelineCore
import SQLiteQueue
import Testing

struct SQLiteJobQueueConformanceTests {
    @Test(arguments: JobQueueScenario.allCases)
    func behavesAsEveryJobQueueMust(_ scenario: JobQueueScenario) async throws {
        try await scenario.run { context in
            try await SQLiteJobQueue.open(
                path: context.directory.appendingPathComponent("queue.sqlite").path,
                retryPolicy: context.retryPolicy, now: context.clock.now, jitter: context.jitter.next)
        }
    }
}
