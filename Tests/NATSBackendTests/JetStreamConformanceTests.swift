import Foundation
import JobQueueConformance
import NATSBackend
import PipelineCore
import TestSupport
import Testing

/// The shared queue scenarios, on a real JetStream server.
///
/// JetStream does not order by priority (`priorityOrder`), and times deliveries on the server's clock: ack waits and
/// NAK delays run in real time, while the injected clock only stamps the ledger's records. So it runs the scenarios
/// that read the clock, and leaves out those that move the test clock to make a delivery due (a retry's delay, a
/// lease's expiry), which the server cannot see; `JetStreamTimingTests` checks those behaviours in real time.
struct JetStreamConformanceTests {
    /// Scenarios that need the backend's deliveries to follow the test clock.
    static let clockTimedDeliveries: Set<JobQueueScenario> = [
        .retrySettlementRunsAgainAfterItsDelay, .heartbeatExtendsTheLeaseAndRecordsProgress,
        .anExpiredLeaseOfAJobAskedToCancelIsCancelled,
    ]

    /// What JetStream runs.
    static let scenarios = JobQueueScenario.cases(for: [.injectedClock, .uncountedRelease]).filter {
        !Self.clockTimedDeliveries.contains($0)
    }

    @Test(arguments: Self.scenarios)
    func behavesAsEveryJobBackendMust(_ scenario: JobQueueScenario) async throws {
        try await withNATSServer { server in
            try await scenario.run { context in
                let queue = try await JetStreamJobQueue.open(
                    settings: NATSSettings(url: server.url), visibility: context.visibility,
                    maxAttempts: context.maxAttempts, now: context.clock.now)
                return JobBackend(queue: queue, ledger: queue)
            }
        }
    }

    @Test
    func everyCoreScenarioRuns() {
        #expect(Set(JobQueueScenario.cases(for: [])).isSubset(of: Set(Self.scenarios)))
        #expect(Self.scenarios.count == 19)
    }
}
