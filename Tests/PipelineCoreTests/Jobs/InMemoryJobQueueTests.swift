import JobQueueConformance
import PipelineCore
import Testing

struct InMemoryJobQueueTests {
    @Test(arguments: JobQueueScenario.cases(for: Set(QueueCapability.allCases)))
    func behavesAsEveryJobBackendMust(_ scenario: JobQueueScenario) async throws {
        try await scenario.run { context in
            let queue = InMemoryJobQueue(
                visibility: context.visibility, maxAttempts: context.maxAttempts, now: context.clock.now)
            return JobBackend(queue: queue, ledger: queue)
        }
    }

    @Test
    func leasingChecksForCancellation() async throws {
        let queue = InMemoryJobQueue()
        _ = try await queue.enqueue(
            EnqueueRequest(payload: .synthesis(SynthesisJobSpec(text: "Hi.", outputKey: "hi.wav"))))
        await withTaskGroup(of: Void.self) { group in
            group.cancelAll()
            group.addTask {
                await #expect(throws: CancellationError.self) {
                    try await queue.lease(owner: "worker", wait: .zero)
                }
            }
        }
        #expect(try await queue.jobs(status: .queued, limit: 10).count == 1)
    }

    @Test
    func theCapabilityGroupsLeaveTheCoreForEveryBackend() {
        let core = JobQueueScenario.cases(for: [])
        #expect(core.contains(.leaseWaitsForWorkAndWakesWhenItArrives))
        #expect(!core.contains(.leaseTakesTheHighestPriorityThenTheOldest))
        #expect(!JobQueueScenario.cases(for: [.injectedClock]).contains(.anExpiredLeaseOnTheLastAttemptIsDead))
        #expect(JobQueueScenario.cases(for: Set(QueueCapability.allCases)).count == JobQueueScenario.allCases.count)
    }
}
