import JobQueueConformance
import PipelineCore
import Testing

struct InMemoryJobQueueTests {
    @Test(arguments: JobQueueScenario.allCases)
    func behavesAsEveryJobQueueMust(_ scenario: JobQueueScenario) async throws {
        try await scenario.run { context in
            InMemoryJobQueue(
                retryPolicy: context.retryPolicy, now: context.clock.now, jitter: context.jitter.next)
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
                    try await queue.lease(owner: "worker", visibility: .seconds(30))
                }
            }
        }
        #expect(try await queue.jobs(status: .queued, limit: 10).count == 1)
    }
}
