import Foundation
import JobQueueConformance
import PipelineCore
import SQLiteQueue
import Testing

struct SQLiteJobQueueConformanceTests {
    @Test(arguments: JobQueueScenario.cases(for: Set(QueueCapability.allCases)))
    func behavesAsEveryJobBackendMust(_ scenario: JobQueueScenario) async throws {
        try await scenario.run { context in
            let queue = try await SQLiteJobQueue.open(
                path: context.directory.appendingPathComponent("queue.sqlite").path, visibility: context.visibility,
                maxAttempts: context.maxAttempts, now: context.clock.now)
            return JobBackend(queue: queue, ledger: queue)
        }
    }

    @Test
    func everyScenarioRunsOnSQLite() {
        #expect(JobQueueScenario.cases(for: Set(QueueCapability.allCases)).count == JobQueueScenario.allCases.count)
    }
}
