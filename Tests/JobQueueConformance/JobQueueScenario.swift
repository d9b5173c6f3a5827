import Foundation
import PipelineCore
import Testing

/// The behaviour every ``JobQueue`` must show, one scenario per case, run against each implementation.
///
/// A test target runs them with `@Test(arguments: JobQueueScenario.allCases)` and its own ``MakeJobQueue``.
package enum JobQueueScenario: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case enqueueCreatesAQueuedJob
    case enqueueIsIdempotentByKey
    case leaseTakesTheHighestPriorityThenTheOldest
    case jobsEnqueuedAtTheSameInstantLeaseInEnqueueOrder
    case dueRetriesAndExpiredLeasesCompeteWithQueuedJobsByPriorityAndAge
    case leaseCountsAnAttemptAndHoldsTheJob
    case anExpiredLeaseIsLeasedAgainWithTheAttemptCounted
    case heartbeatExtendsTheLeaseAndRecordsProgress
    case aLapsedLeaseWorksUntilAnotherWorkerTakesTheJob
    case settlingWithAForeignOrSettledLeaseThrowsLeaseLost
    case failureSchedulesARetryWithBackoff
    case failureOnTheLastAttemptIsDead
    case permanentFailureIsDeadAtOnce
    case anExpiredLeaseOnTheLastAttemptIsDead
    case cancellingAQueuedOrFailedJobStopsItAtOnce
    case cancellingARunningJobAsksItsWorkerToStop
    case cancellingAFinishedJobChangesNothing
    case anExpiredLeaseOfAJobAskedToCancelIsCancelled
    case releaseReturnsTheJobWithoutCountingTheAttempt
    case releasingAJobAskedToCancelCancelsIt
    case retryRequeuesAStoppedJobKeepingItsCheckpoints
    case retryRefusesActiveAndSucceededJobs
    case checkpointsReplaceByKey
    case completeStoresOutputsAndResultAndClearsTheError
    case listingIsNewestFirstFilteredAndLimited
    case aFailureAfterACancelRequestCancelsTheJob
    case completeDropsTheJobsCheckpoints
    case pendingWorkCountsQueuedRunningAndTheNextRetry

    package var testDescription: String { self.rawValue }

    /// Runs the scenario on a fresh queue from `make`.
    package func run(_ make: MakeJobQueue) async throws {
        let context = try JobQueueContext()
        defer { try? FileManager.default.removeItem(at: context.directory) }
        let queue = try await make(context)
        let scenario = Steps(queue: queue, clock: context.clock, jitter: context.jitter)
        switch self {
        case .enqueueCreatesAQueuedJob: try await scenario.enqueueCreatesAQueuedJob()
        case .enqueueIsIdempotentByKey: try await scenario.enqueueIsIdempotentByKey()
        case .leaseTakesTheHighestPriorityThenTheOldest: try await scenario.leaseTakesTheHighestPriorityThenTheOldest()
        case .jobsEnqueuedAtTheSameInstantLeaseInEnqueueOrder:
            try await scenario.jobsEnqueuedAtTheSameInstantLeaseInEnqueueOrder()
        case .dueRetriesAndExpiredLeasesCompeteWithQueuedJobsByPriorityAndAge:
            try await scenario.dueRetriesAndExpiredLeasesCompeteWithQueuedJobsByPriorityAndAge()
        case .leaseCountsAnAttemptAndHoldsTheJob: try await scenario.leaseCountsAnAttemptAndHoldsTheJob()
        case .anExpiredLeaseIsLeasedAgainWithTheAttemptCounted:
            try await scenario.anExpiredLeaseIsLeasedAgainWithTheAttemptCounted()
        case .heartbeatExtendsTheLeaseAndRecordsProgress:
            try await scenario.heartbeatExtendsTheLeaseAndRecordsProgress()
        case .aLapsedLeaseWorksUntilAnotherWorkerTakesTheJob:
            try await scenario.aLapsedLeaseWorksUntilAnotherWorkerTakesTheJob()
        case .settlingWithAForeignOrSettledLeaseThrowsLeaseLost:
            try await scenario.settlingWithAForeignOrSettledLeaseThrowsLeaseLost()
        case .failureSchedulesARetryWithBackoff: try await scenario.failureSchedulesARetryWithBackoff()
        case .failureOnTheLastAttemptIsDead: try await scenario.failureOnTheLastAttemptIsDead()
        case .permanentFailureIsDeadAtOnce: try await scenario.permanentFailureIsDeadAtOnce()
        case .anExpiredLeaseOnTheLastAttemptIsDead: try await scenario.anExpiredLeaseOnTheLastAttemptIsDead()
        case .cancellingAQueuedOrFailedJobStopsItAtOnce: try await scenario.cancellingAQueuedOrFailedJobStopsItAtOnce()
        case .cancellingARunningJobAsksItsWorkerToStop: try await scenario.cancellingARunningJobAsksItsWorkerToStop()
        case .cancellingAFinishedJobChangesNothing: try await scenario.cancellingAFinishedJobChangesNothing()
        case .anExpiredLeaseOfAJobAskedToCancelIsCancelled:
            try await scenario.anExpiredLeaseOfAJobAskedToCancelIsCancelled()
        case .releaseReturnsTheJobWithoutCountingTheAttempt:
            try await scenario.releaseReturnsTheJobWithoutCountingTheAttempt()
        case .releasingAJobAskedToCancelCancelsIt: try await scenario.releasingAJobAskedToCancelCancelsIt()
        case .retryRequeuesAStoppedJobKeepingItsCheckpoints:
            try await scenario.retryRequeuesAStoppedJobKeepingItsCheckpoints()
        case .retryRefusesActiveAndSucceededJobs: try await scenario.retryRefusesActiveAndSucceededJobs()
        case .checkpointsReplaceByKey: try await scenario.checkpointsReplaceByKey()
        case .completeStoresOutputsAndResultAndClearsTheError:
            try await scenario.completeStoresOutputsAndResultAndClearsTheError()
        case .listingIsNewestFirstFilteredAndLimited: try await scenario.listingIsNewestFirstFilteredAndLimited()
        case .aFailureAfterACancelRequestCancelsTheJob: try await scenario.aFailureAfterACancelRequestCancelsTheJob()
        case .completeDropsTheJobsCheckpoints: try await scenario.completeDropsTheJobsCheckpoints()
        case .pendingWorkCountsQueuedRunningAndTheNextRetry:
            try await scenario.pendingWorkCountsQueuedRunningAndTheNextRetry()
        }
    }

    /// The scenarios' bodies, against one queue, clock and jitter.
    private struct Steps {
        let queue: any JobQueue
        let clock: TestClock
        let jitter: TestJitter
        let visibility = Duration.seconds(30)
        let transient = JobError(kind: "provider", message: "every provider answered 503", permanent: false)
        let permanent = JobError(kind: "bad_input", message: "no audio stream", permanent: true, details: ["probe"])

        func request(
            _ name: String, key: String? = nil, priority: Int = 0, maxAttempts: Int? = nil
        ) -> EnqueueRequest {
            let spec = TranscriptionJobSpec(input: "media/\(name).mp3", outputPrefix: "transcripts/\(name)")
            return EnqueueRequest(
                payload: .transcription(spec), idempotencyKey: key, priority: priority, maxAttempts: maxAttempts)
        }

        func enqueue(_ name: String, key: String? = nil, priority: Int = 0, maxAttempts: Int? = nil) async throws -> Job
        {
            try await self.queue.enqueue(self.request(name, key: key, priority: priority, maxAttempts: maxAttempts)).job
        }

        func lease(_ owner: String = "worker-a") async throws -> JobLease? {
            try await self.queue.lease(owner: owner, visibility: self.visibility)
        }

        /// Leases the next job, which the scenario expects to be `id`.
        func leaseExpecting(_ id: String, owner: String = "worker-a") async throws -> JobLease {
            let lease = try #require(try await self.lease(owner))
            #expect(lease.job.id == id)
            return lease
        }

        func stored(_ id: String) async throws -> Job {
            try #require(try await self.queue.job(id: id))
        }

        func expectNothingRunnable(sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let lease = try await self.lease("worker-z")
            #expect(lease == nil, "leased \(lease?.job.id ?? "") unexpectedly", sourceLocation: sourceLocation)
        }

        func enqueueCreatesAQueuedJob() async throws {
            let now = self.clock.now()
            let (job, created) = try await self.queue.enqueue(self.request("one", priority: 3))
            #expect(created)
            #expect(JobID.isValid(job.id))
            #expect(job.kind == .transcribe)
            #expect(job.status == .queued)
            #expect(job.priority == 3)
            #expect(job.attempts == 0)
            #expect(job.maxAttempts == 3)
            #expect(job.createdAt == now && job.updatedAt == now && job.runAfter == now)
            #expect(job.error == nil && !job.cancelRequested && job.outputs.isEmpty && job.result == nil)
            #expect(job.progress == JobProgress())
            #expect(try await self.queue.job(id: job.id) == job)
            #expect(try await self.queue.job(id: "job_00000000000000000000000000") == nil)

            let speech = EnqueueRequest(
                payload: .synthesis(SynthesisJobSpec(text: "Hello.", outputKey: "speech/hello.wav")), maxAttempts: 7)
            let synthesis = try await self.queue.enqueue(speech).job
            #expect(synthesis.kind == .synthesize)
            #expect(synthesis.maxAttempts == 7)
            #expect(try await self.stored(synthesis.id) == synthesis)
        }

        func enqueueIsIdempotentByKey() async throws {
            let (first, created) = try await self.queue.enqueue(self.request("video", key: "yt:abc"))
            self.clock.advance(by: .seconds(1))
            let (again, createdAgain) = try await self.queue.enqueue(self.request("other", key: "yt:abc", priority: 9))
            #expect(created && !createdAgain)
            #expect(again == first)
            let (other, createdOther) = try await self.queue.enqueue(self.request("video", key: "yt:def"))
            #expect(createdOther && other.id != first.id)
            let unkeyed = try await self.enqueue("loose")
            let unkeyedAgain = try await self.enqueue("loose")
            #expect(unkeyed.id != unkeyedAgain.id)
            #expect(try await self.queue.jobs(status: nil, limit: 100).count == 4)

            // The key keeps returning the job after it finished.
            let lease = try await self.leaseExpecting(first.id)
            try await self.queue.complete(lease, outputs: [], result: nil)
            let (finished, createdFinished) = try await self.queue.enqueue(self.request("video", key: "yt:abc"))
            #expect(!createdFinished)
            #expect(finished.id == first.id && finished.status == .succeeded)
        }

        func leaseTakesTheHighestPriorityThenTheOldest() async throws {
            var ids: [String: String] = [:]
            for (name, priority) in [("low", 0), ("high", 5), ("middle", 2), ("high-later", 5), ("negative", -1)] {
                ids[name] = try await self.enqueue(name, priority: priority).id
                self.clock.advance(by: .seconds(1))
            }
            var order: [String] = []
            while let lease = try await self.lease() {
                order.append(lease.job.id)
            }
            #expect(order == ["high", "high-later", "middle", "low", "negative"].map { ids[$0] })
        }

        func jobsEnqueuedAtTheSameInstantLeaseInEnqueueOrder() async throws {
            var enqueued: [String] = []
            for index in 0..<20 {
                enqueued.append(try await self.enqueue("same-\(index)").id)
            }
            var leased: [String] = []
            while let lease = try await self.lease() {
                leased.append(lease.job.id)
            }
            #expect(leased == enqueued)
        }

        func dueRetriesAndExpiredLeasesCompeteWithQueuedJobsByPriorityAndAge() async throws {
            let retried = try await self.enqueue("retried", priority: 1)
            try await self.queue.fail(try await self.leaseExpecting(retried.id), error: self.transient)
            self.clock.advance(by: .seconds(1))
            let abandoned = try await self.enqueue("abandoned", priority: 2)
            _ = try await self.leaseExpecting(abandoned.id)
            self.clock.advance(by: .seconds(1))
            let low = try await self.enqueue("low", priority: 0)
            let newer = try await self.enqueue("newer", priority: 1)
            self.clock.advance(by: .seconds(60))
            var order: [String] = []
            while let lease = try await self.lease("worker-b") {
                order.append(lease.job.id)
            }
            #expect(order == [abandoned.id, retried.id, newer.id, low.id])
        }

        func leaseCountsAnAttemptAndHoldsTheJob() async throws {
            try await self.expectNothingRunnable()
            let job = try await self.enqueue("one")
            self.clock.advance(by: .seconds(5))
            let lease = try await self.leaseExpecting(job.id)
            #expect(lease.owner == "worker-a")
            #expect(lease.job.status == .running)
            #expect(lease.job.attempts == 1)
            #expect(lease.job.updatedAt == self.clock.now())
            #expect(lease.job.createdAt == job.createdAt)
            #expect(try await self.stored(job.id) == lease.job)
            try await self.expectNothingRunnable()
        }

        func anExpiredLeaseIsLeasedAgainWithTheAttemptCounted() async throws {
            let job = try await self.enqueue("one")
            let first = try await self.leaseExpecting(job.id)
            self.clock.advance(by: .seconds(29))
            try await self.expectNothingRunnable()
            self.clock.advance(by: .seconds(1))
            let second = try await self.leaseExpecting(job.id, owner: "worker-b")
            #expect(second.job.attempts == 2)
            #expect(second.token != first.token)
            #expect(second.owner == "worker-b")
            await #expect(throws: JobQueueError.leaseLost(job.id)) {
                try await self.queue.complete(first, outputs: [], result: nil)
            }
            await #expect(throws: JobQueueError.leaseLost(job.id)) {
                try await self.queue.heartbeat(first, progress: nil, visibility: self.visibility)
            }
            try await self.queue.complete(second, outputs: ["out.json"], result: nil)
            let finished = try await self.stored(job.id)
            #expect(finished.status == .succeeded && finished.attempts == 2)
        }

        func heartbeatExtendsTheLeaseAndRecordsProgress() async throws {
            let job = try await self.enqueue("one")
            let lease = try await self.leaseExpecting(job.id)
            self.clock.advance(by: .seconds(20))
            let progress = JobProgress(done: 2, total: 5)
            #expect(try await self.queue.heartbeat(lease, progress: progress, visibility: self.visibility) == false)
            #expect(try await self.stored(job.id).progress == progress)
            #expect(try await self.stored(job.id).updatedAt == self.clock.now())
            self.clock.advance(by: .seconds(20))
            try await self.expectNothingRunnable()
            #expect(try await self.queue.heartbeat(lease, progress: nil, visibility: .seconds(60)) == false)
            #expect(try await self.stored(job.id).progress == progress)
            self.clock.advance(by: .seconds(59))
            try await self.expectNothingRunnable()
            self.clock.advance(by: .seconds(1))
            let again = try await self.leaseExpecting(job.id, owner: "worker-b")
            #expect(again.job.attempts == 2)
            #expect(again.job.progress == progress)
        }

        func aLapsedLeaseWorksUntilAnotherWorkerTakesTheJob() async throws {
            let job = try await self.enqueue("one")
            let lease = try await self.leaseExpecting(job.id)
            self.clock.advance(by: .seconds(300))
            #expect(try await self.queue.heartbeat(lease, progress: nil, visibility: self.visibility) == false)
            try await self.expectNothingRunnable()
            try await self.queue.complete(lease, outputs: [], result: nil)
            #expect(try await self.stored(job.id).status == .succeeded)
        }

        func settlingWithAForeignOrSettledLeaseThrowsLeaseLost() async throws {
            let job = try await self.enqueue("one")
            let lease = try await self.leaseExpecting(job.id)
            let forged = JobLease(job: lease.job, token: "not-the-token", owner: "worker-b")
            try await self.expectEverySettlingCallLosesTheLease(forged)
            #expect(try await self.stored(job.id) == lease.job)
            #expect(try await self.queue.checkpoints(jobID: job.id).isEmpty)

            try await self.queue.complete(lease, outputs: [], result: nil)
            try await self.expectEverySettlingCallLosesTheLease(lease)
            #expect(try await self.stored(job.id).status == .succeeded)

            let missing = JobLease(
                job: Job(
                    id: "job_00000000000000000000000000", kind: .transcribe, payload: lease.job.payload,
                    createdAt: self.clock.now(), updatedAt: self.clock.now(), runAfter: self.clock.now()),
                token: lease.token, owner: "worker-a")
            try await self.expectEverySettlingCallLosesTheLease(missing)
        }

        private func expectEverySettlingCallLosesTheLease(_ lease: JobLease) async throws {
            let lost = JobQueueError.leaseLost(lease.job.id)
            await #expect(throws: lost) {
                try await self.queue.heartbeat(lease, progress: JobProgress(done: 1), visibility: self.visibility)
            }
            await #expect(throws: lost) { try await self.queue.complete(lease, outputs: ["x"], result: nil) }
            await #expect(throws: lost) { try await self.queue.fail(lease, error: self.transient) }
            await #expect(throws: lost) { try await self.queue.settleCancelled(lease) }
            await #expect(throws: lost) { try await self.queue.release(lease) }
            await #expect(throws: lost) { try await self.queue.saveCheckpoint(lease, key: "0", value: Data([1])) }
        }

        func failureSchedulesARetryWithBackoff() async throws {
            let job = try await self.enqueue("one")
            let first = try await self.leaseExpecting(job.id)
            let failed = try await self.queue.fail(first, error: self.transient)
            #expect(failed.status == .failed)
            #expect(failed.error == self.transient)
            #expect(failed.attempts == 1)
            #expect(failed.runAfter == self.clock.now().addingTimeInterval(2))
            #expect(try await self.stored(job.id) == failed)
            try await self.expectNothingRunnable()
            self.clock.advance(by: .milliseconds(1500))
            try await self.expectNothingRunnable()
            self.clock.advance(by: .milliseconds(500))
            let second = try await self.leaseExpecting(job.id)
            #expect(second.job.attempts == 2)
            // The last failure stays on record while the retry runs.
            #expect(second.job.error == self.transient)
            let failedAgain = try await self.queue.fail(second, error: self.transient)
            #expect(failedAgain.status == .failed)
            #expect(failedAgain.runAfter == self.clock.now().addingTimeInterval(4))

            self.jitter.set(1)
            let other = try await self.enqueue("other")
            let otherLease = try await self.leaseExpecting(other.id)
            let otherFailed = try await self.queue.fail(otherLease, error: self.transient)
            #expect(otherFailed.runAfter == self.clock.now().addingTimeInterval(1))
        }

        func failureOnTheLastAttemptIsDead() async throws {
            let job = try await self.enqueue("one", maxAttempts: 2)
            let first = try await self.leaseExpecting(job.id)
            #expect(try await self.queue.fail(first, error: self.transient).status == .failed)
            self.clock.advance(by: .seconds(60))
            let second = try await self.leaseExpecting(job.id)
            let dead = try await self.queue.fail(second, error: self.transient)
            #expect(dead.status == .dead)
            #expect(dead.attempts == 2)
            #expect(dead.error == self.transient)
            self.clock.advance(by: .seconds(3600))
            try await self.expectNothingRunnable()
        }

        func permanentFailureIsDeadAtOnce() async throws {
            let job = try await self.enqueue("one")
            let lease = try await self.leaseExpecting(job.id)
            let dead = try await self.queue.fail(lease, error: self.permanent)
            #expect(dead.status == .dead)
            #expect(dead.attempts == 1)
            #expect(dead.error == self.permanent)
            #expect(try await self.stored(job.id) == dead)
            self.clock.advance(by: .seconds(3600))
            try await self.expectNothingRunnable()
        }

        func anExpiredLeaseOnTheLastAttemptIsDead() async throws {
            let lost = try await self.enqueue("lost", priority: 1, maxAttempts: 1)
            let next = try await self.enqueue("next")
            let lease = try await self.leaseExpecting(lost.id, owner: "worker-a")
            self.clock.advance(by: .seconds(31))
            _ = try await self.leaseExpecting(next.id, owner: "worker-b")
            let dead = try await self.stored(lost.id)
            #expect(dead.status == .dead)
            #expect(dead.attempts == 1)
            #expect(dead.error?.kind == "worker_lost")
            #expect(dead.error?.message.contains("worker-a") == true)
            #expect(dead.error?.permanent == false)
            #expect(dead.updatedAt == self.clock.now())
            await #expect(throws: JobQueueError.leaseLost(lost.id)) {
                try await self.queue.complete(lease, outputs: [], result: nil)
            }
        }

        func cancellingAQueuedOrFailedJobStopsItAtOnce() async throws {
            let queued = try await self.enqueue("queued")
            self.clock.advance(by: .seconds(1))
            let cancelled = try await self.queue.cancel(id: queued.id)
            #expect(cancelled.status == .cancelled)
            #expect(!cancelled.cancelRequested)
            #expect(cancelled.updatedAt == self.clock.now())
            #expect(try await self.stored(queued.id) == cancelled)
            try await self.expectNothingRunnable()

            let failing = try await self.enqueue("failing")
            let lease = try await self.leaseExpecting(failing.id)
            try await self.queue.fail(lease, error: self.transient)
            #expect(try await self.queue.cancel(id: failing.id).status == .cancelled)
            self.clock.advance(by: .seconds(3600))
            try await self.expectNothingRunnable()
            await #expect(throws: JobQueueError.notFound("job_00000000000000000000000000")) {
                try await self.queue.cancel(id: "job_00000000000000000000000000")
            }
        }

        func cancellingARunningJobAsksItsWorkerToStop() async throws {
            let job = try await self.enqueue("one")
            let lease = try await self.leaseExpecting(job.id)
            let asked = try await self.queue.cancel(id: job.id)
            #expect(asked.status == .running)
            #expect(asked.cancelRequested)
            #expect(try await self.queue.heartbeat(lease, progress: JobProgress(done: 1), visibility: self.visibility))
            try await self.queue.saveCheckpoint(lease, key: "0", value: Data("partial".utf8))
            try await self.queue.settleCancelled(lease)
            let settled = try await self.stored(job.id)
            #expect(settled.status == .cancelled)
            #expect(try await self.queue.cancel(id: job.id) == settled)
            await #expect(throws: JobQueueError.leaseLost(job.id)) {
                try await self.queue.heartbeat(lease, progress: nil, visibility: self.visibility)
            }
            try await self.expectNothingRunnable()
        }

        func cancellingAFinishedJobChangesNothing() async throws {
            let succeeded = try await self.enqueue("succeeded")
            try await self.queue.complete(try await self.leaseExpecting(succeeded.id), outputs: ["a"], result: nil)
            let dead = try await self.enqueue("dead")
            try await self.queue.fail(try await self.leaseExpecting(dead.id), error: self.permanent)
            let cancelled = try await self.queue.cancel(id: try await self.enqueue("cancelled").id)
            for id in [succeeded.id, dead.id, cancelled.id] {
                let before = try await self.stored(id)
                self.clock.advance(by: .seconds(1))
                #expect(try await self.queue.cancel(id: id) == before)
                #expect(try await self.stored(id) == before)
            }
        }

        func anExpiredLeaseOfAJobAskedToCancelIsCancelled() async throws {
            let job = try await self.enqueue("one")
            _ = try await self.leaseExpecting(job.id)
            _ = try await self.queue.cancel(id: job.id)
            self.clock.advance(by: .seconds(31))
            try await self.expectNothingRunnable()
            let stopped = try await self.stored(job.id)
            #expect(stopped.status == .cancelled)
            #expect(stopped.attempts == 1)
        }

        func releaseReturnsTheJobWithoutCountingTheAttempt() async throws {
            let job = try await self.enqueue("one")
            let lease = try await self.leaseExpecting(job.id)
            self.clock.advance(by: .seconds(3))
            try await self.queue.release(lease)
            let released = try await self.stored(job.id)
            #expect(released.status == .queued)
            #expect(released.attempts == 0)
            #expect(released.updatedAt == self.clock.now())
            await #expect(throws: JobQueueError.leaseLost(job.id)) {
                try await self.queue.complete(lease, outputs: [], result: nil)
            }
            let again = try await self.leaseExpecting(job.id, owner: "worker-b")
            #expect(again.job.attempts == 1)
        }

        func releasingAJobAskedToCancelCancelsIt() async throws {
            let job = try await self.enqueue("one")
            let lease = try await self.leaseExpecting(job.id)
            _ = try await self.queue.cancel(id: job.id)
            try await self.queue.release(lease)
            #expect(try await self.stored(job.id).status == .cancelled)
            try await self.expectNothingRunnable()
        }

        func retryRequeuesAStoppedJobKeepingItsCheckpoints() async throws {
            let job = try await self.enqueue("one")
            let lease = try await self.leaseExpecting(job.id)
            try await self.queue.saveCheckpoint(lease, key: "chunk-0", value: Data("hello".utf8))
            try await self.queue.fail(lease, error: self.permanent)
            self.clock.advance(by: .seconds(10))
            let retried = try await self.queue.retry(id: job.id)
            #expect(retried.status == .queued)
            #expect(retried.attempts == 0)
            #expect(retried.error == self.permanent)
            #expect(retried.runAfter == self.clock.now())
            #expect(retried.updatedAt == self.clock.now())
            #expect(try await self.stored(job.id) == retried)
            #expect(try await self.queue.checkpoints(jobID: job.id) == ["chunk-0": Data("hello".utf8)])
            let again = try await self.leaseExpecting(job.id)
            #expect(again.job.attempts == 1)

            // A failed job waiting for its retry time, and a cancelled one, are requeued to run now.
            let failing = try await self.enqueue("failing", priority: 1)
            try await self.queue.fail(try await self.leaseExpecting(failing.id), error: self.transient)
            #expect(try await self.queue.retry(id: failing.id).status == .queued)
            let cancelled = try await self.enqueue("cancelled")
            _ = try await self.queue.cancel(id: cancelled.id)
            #expect(try await self.queue.retry(id: cancelled.id).status == .queued)
            #expect(try await self.lease()?.job.id == failing.id)
            #expect(try await self.lease()?.job.id == cancelled.id)
        }

        func retryRefusesActiveAndSucceededJobs() async throws {
            let queued = try await self.enqueue("queued")
            await #expect(throws: JobQueueError.invalidState(id: queued.id, status: .queued, operation: "retry")) {
                try await self.queue.retry(id: queued.id)
            }
            let lease = try await self.leaseExpecting(queued.id)
            await #expect(throws: JobQueueError.invalidState(id: queued.id, status: .running, operation: "retry")) {
                try await self.queue.retry(id: queued.id)
            }
            try await self.queue.complete(lease, outputs: [], result: nil)
            await #expect(throws: JobQueueError.invalidState(id: queued.id, status: .succeeded, operation: "retry")) {
                try await self.queue.retry(id: queued.id)
            }
            await #expect(throws: JobQueueError.notFound("job_00000000000000000000000000")) {
                try await self.queue.retry(id: "job_00000000000000000000000000")
            }
        }

        func checkpointsReplaceByKey() async throws {
            let job = try await self.enqueue("one")
            let other = try await self.enqueue("other")
            let lease = try await self.leaseExpecting(job.id)
            try await self.queue.saveCheckpoint(lease, key: "0", value: Data("first".utf8))
            try await self.queue.saveCheckpoint(lease, key: "1", value: Data([0, 255, 7]))
            try await self.queue.saveCheckpoint(lease, key: "0", value: Data("replaced".utf8))
            try await self.queue.saveCheckpoint(lease, key: "empty", value: Data())
            let expected = ["0": Data("replaced".utf8), "1": Data([0, 255, 7]), "empty": Data()]
            #expect(try await self.queue.checkpoints(jobID: job.id) == expected)
            #expect(try await self.queue.checkpoints(jobID: other.id).isEmpty)
        }

        func completeStoresOutputsAndResultAndClearsTheError() async throws {
            let job = try await self.enqueue("one")
            try await self.queue.fail(try await self.leaseExpecting(job.id), error: self.transient)
            self.clock.advance(by: .seconds(2))
            let lease = try await self.leaseExpecting(job.id)
            self.clock.advance(by: .seconds(1))
            let result = JSONValue.object([
                "text": .string("hello world"), "duration": .number(12.5), "chunks": .array([.number(0), .null]),
                "ok": .bool(true),
            ])
            try await self.queue.complete(
                lease, outputs: ["transcripts/one.json", "transcripts/one.srt"], result: result)
            let finished = try await self.stored(job.id)
            #expect(finished.status == .succeeded)
            #expect(finished.outputs == ["transcripts/one.json", "transcripts/one.srt"])
            #expect(finished.result == result)
            #expect(finished.error == nil)
            #expect(finished.attempts == 2)
            #expect(finished.updatedAt == self.clock.now())
            try await self.expectNothingRunnable()
        }

        func aFailureAfterACancelRequestCancelsTheJob() async throws {
            let job = try await self.enqueue("one")
            let lease = try await self.leaseExpecting(job.id)
            _ = try await self.queue.cancel(id: job.id)

            let settled = try await self.queue.fail(lease, error: self.transient)

            #expect(settled.status == .cancelled)
            self.clock.advance(by: .seconds(3600))
            try await self.expectNothingRunnable()
        }

        func completeDropsTheJobsCheckpoints() async throws {
            let job = try await self.enqueue("one")
            let lease = try await self.leaseExpecting(job.id)
            try await self.queue.saveCheckpoint(lease, key: "chunk-0", value: Data("x".utf8))

            try await self.queue.complete(lease, outputs: [], result: nil)

            #expect(try await self.queue.checkpoints(jobID: job.id).isEmpty)
        }

        func pendingWorkCountsQueuedRunningAndTheNextRetry() async throws {
            #expect(try await self.queue.pendingWork() == PendingWork(queued: 0, running: 0, nextRetry: nil))
            let failing = try await self.enqueue("failing")
            let settled = try await self.queue.fail(try await self.leaseExpecting(failing.id), error: self.transient)
            let running = try await self.enqueue("running")
            _ = try await self.leaseExpecting(running.id)
            _ = try await self.enqueue("waiting")

            let pending = try await self.queue.pendingWork()

            #expect(pending.queued == 1)
            #expect(pending.running == 1)
            #expect(pending.nextRetry == settled.runAfter)
        }

        func listingIsNewestFirstFilteredAndLimited() async throws {
            var ids: [String] = []
            for index in 0..<5 {
                ids.append(try await self.enqueue("job-\(index)").id)
                self.clock.advance(by: .seconds(1))
            }
            try await self.queue.complete(try await self.leaseExpecting(ids[0]), outputs: [], result: nil)
            #expect(try await self.queue.jobs(status: nil, limit: 10).map(\.id) == ids.reversed())
            #expect(try await self.queue.jobs(status: nil, limit: 2).map(\.id) == [ids[4], ids[3]])
            #expect(try await self.queue.jobs(status: .queued, limit: 10).map(\.id) == ids.dropFirst().reversed())
            #expect(try await self.queue.jobs(status: .succeeded, limit: 10).map(\.id) == [ids[0]])
            #expect(try await self.queue.jobs(status: .dead, limit: 10).isEmpty)
            #expect(try await self.queue.jobs(status: nil, limit: 0).isEmpty)
            let listed = try await self.queue.jobs(status: .succeeded, limit: 1)
            #expect(listed == [try await self.stored(ids[0])])
        }
    }
}
