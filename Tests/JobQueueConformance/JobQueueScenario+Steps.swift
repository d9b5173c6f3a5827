import Foundation
import PipelineCore
import Testing

/// The scenarios' bodies, against one backend and its clock.
struct Steps {
    let queue: any WorkQueue
    let ledger: any JobLedger
    let clock: TestClock
    let transient = JobError(kind: "provider", message: "every provider answered 503", permanent: false)
    let permanent = JobError(kind: "bad_input", message: "no audio stream", permanent: true, details: ["probe"])

    func request(_ name: String, key: String? = nil, priority: Int = 0, maxAttempts: Int? = nil) -> EnqueueRequest {
        let spec = TranscriptionJobSpec(input: "media/\(name).mp3", outputPrefix: "transcripts/\(name)")
        return EnqueueRequest(
            payload: .transcription(spec), idempotencyKey: key, priority: priority, maxAttempts: maxAttempts)
    }

    func enqueue(_ name: String, key: String? = nil, priority: Int = 0, maxAttempts: Int? = nil) async throws -> Job {
        try await self.queue.enqueue(self.request(name, key: key, priority: priority, maxAttempts: maxAttempts)).job
    }

    func lease(_ owner: String = "worker-a") async throws -> JobLease? {
        try await self.queue.lease(owner: owner, wait: .zero)
    }

    /// Leases the next job, which the scenario expects to be `id`.
    func leaseExpecting(_ id: String, owner: String = "worker-a") async throws -> JobLease {
        let lease = try #require(try await self.lease(owner))
        #expect(lease.job.id == id)
        return lease
    }

    func stored(_ id: String) async throws -> Job {
        try #require(try await self.ledger.job(id: id))
    }

    func succeed(_ lease: JobLease, outputs: [String] = [], result: JSONValue? = nil) async throws {
        try await self.queue.settle(lease, .succeeded(outputs: outputs, result: result, progress: JobProgress()))
    }

    func retry(_ lease: JobLease, after delay: Duration = .seconds(2)) async throws -> Job {
        try await self.queue.settle(lease, .retry(self.transient, after: delay))
    }

    func expectNothingRunnable(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let lease = try await self.lease("worker-z")
        #expect(lease == nil, "leased \(lease?.job.id ?? "") unexpectedly", sourceLocation: sourceLocation)
    }

    // MARK: core

    func enqueueCreatesAQueuedJob() async throws {
        let now = self.clock.now()
        let (job, created) = try await self.queue.enqueue(self.request("one", priority: 3))
        #expect(created)
        #expect(JobID.isValid(job.id))
        #expect(job.kind == .transcribe)
        #expect(job.status == .queued)
        #expect(job.origin == .commandLine)
        #expect(job.priority == 3)
        #expect(job.attempts == 0)
        #expect(job.maxAttempts == 3)
        #expect(job.createdAt == now && job.updatedAt == now && job.runAfter == now)
        #expect(job.error == nil && !job.cancelRequested && job.outputs.isEmpty && job.result == nil)
        #expect(job.progress == JobProgress())
        #expect(try await self.ledger.job(id: job.id) == job)
        #expect(try await self.ledger.job(id: "job_00000000000000000000000000") == nil)

        let speech = EnqueueRequest(
            payload: .synthesis(SynthesisJobSpec(text: "Hello.", outputKey: "speech/hello.wav")), maxAttempts: 7,
            origin: .network)
        let synthesis = try await self.queue.enqueue(speech).job
        #expect(synthesis.kind == .synthesize)
        #expect(synthesis.maxAttempts == 7)
        #expect(synthesis.origin == .network)
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
        #expect(try await self.ledger.jobs(status: nil, limit: 100).count == 4)

        // The key keeps returning the job after it finished.
        var lease = try #require(try await self.lease())
        while lease.job.id != first.id {
            try await self.succeed(lease)
            lease = try #require(try await self.lease())
        }
        try await self.succeed(lease)
        let (finished, createdFinished) = try await self.queue.enqueue(self.request("video", key: "yt:abc"))
        #expect(!createdFinished)
        #expect(finished.id == first.id && finished.status == .succeeded)
    }

    func leaseHoldsTheJobAndCountsTheAttempt() async throws {
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

    func leaseWaitsForWorkAndWakesWhenItArrives() async throws {
        let started = ContinuousClock.now
        #expect(try await self.queue.lease(owner: "worker-a", wait: .milliseconds(200)) == nil)
        #expect(ContinuousClock.now - started >= .milliseconds(190), "an empty queue holds the caller for the wait")

        let queue = self.queue
        let waitStarted = ContinuousClock.now
        let leased = try await withThrowingTaskGroup(of: JobLease?.self) { group in
            group.addTask { try await queue.lease(owner: "worker-a", wait: .seconds(120)) }
            // The waiter is parked before the job exists; enqueueing must wake it, long before its 120 s are up
            // (the bound below is loose because parallel tests on two cores can stall any task for a while).
            try await Task.sleep(for: .milliseconds(100))
            let job = try await self.enqueue("late")
            let lease = try await group.next() ?? nil
            #expect(lease?.job.id == job.id)
            return lease
        }
        #expect(ContinuousClock.now - waitStarted < .seconds(100), "the wait ended when work arrived")
        let cancelled = try #require(leased)
        try await self.succeed(cancelled)

        // Cancelling the caller ends the wait.
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await #expect(throws: CancellationError.self) {
                    try await queue.lease(owner: "worker-a", wait: .seconds(30))
                }
            }
            try? await Task.sleep(for: .milliseconds(50))
            group.cancelAll()
        }
    }

    func settlingWithAForeignOrSettledLeaseThrowsLeaseLost() async throws {
        let job = try await self.enqueue("one")
        let lease = try await self.leaseExpecting(job.id)
        let forged = JobLease(job: lease.job, token: "not-the-token", owner: "worker-b")
        try await self.expectEverySettlingCallLosesTheLease(forged)
        #expect(try await self.stored(job.id) == lease.job)
        #expect(try await self.ledger.checkpoints(jobID: job.id).isEmpty)

        try await self.succeed(lease)
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
        await #expect(throws: lost) { try await self.queue.heartbeat(lease, progress: JobProgress(done: 1)) }
        let settlements: [JobSettlement] = [
            .succeeded(outputs: ["x"], result: nil, progress: JobProgress()), .retry(self.transient, after: .zero),
            .dead(self.permanent), .cancelled, .released,
        ]
        for settlement in settlements {
            await #expect(throws: lost, "\(settlement)") { try await self.queue.settle(lease, settlement) }
        }
        await #expect(throws: lost) { try await self.ledger.saveCheckpoint(lease, key: "0", value: Data([1])) }
    }

    func successStoresOutputsResultAndProgressAndDropsCheckpoints() async throws {
        let job = try await self.enqueue("one")
        _ = try await self.retry(try await self.leaseExpecting(job.id), after: .zero)
        let lease = try await self.leaseExpecting(job.id)
        try await self.ledger.saveCheckpoint(lease, key: "chunk-0", value: Data("x".utf8))
        let result = JSONValue.object([
            "text": .string("hello world"), "duration": .number(12.5), "chunks": .array([.number(0), .null]),
            "ok": .bool(true),
        ])
        let finished = try await self.queue.settle(
            lease,
            .succeeded(
                outputs: ["transcripts/one.json", "transcripts/one.srt"], result: result,
                progress: JobProgress(done: 4, total: 4)))
        #expect(finished.status == .succeeded)
        #expect(finished.outputs == ["transcripts/one.json", "transcripts/one.srt"])
        #expect(finished.result == result)
        #expect(finished.error == nil, "a success clears the last attempt's error")
        #expect(finished.attempts == 2)
        #expect(finished.progress == JobProgress(done: 4, total: 4))
        #expect(try await self.stored(job.id) == finished)
        #expect(try await self.ledger.checkpoints(jobID: job.id).isEmpty, "a finished job's chunks are in its outputs")
        try await self.expectNothingRunnable()
    }

    func retrySettlementRunsAgainAfterItsDelay() async throws {
        let job = try await self.enqueue("one")
        let first = try await self.leaseExpecting(job.id)
        let failed = try await self.retry(first, after: .seconds(2))
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
    }

    func deadSettlementStopsTheJob() async throws {
        let job = try await self.enqueue("one")
        let lease = try await self.leaseExpecting(job.id)
        let dead = try await self.queue.settle(lease, .dead(self.permanent))
        #expect(dead.status == .dead)
        #expect(dead.attempts == 1)
        #expect(dead.error == self.permanent)
        #expect(try await self.stored(job.id) == dead)
        self.clock.advance(by: .seconds(3600))
        try await self.expectNothingRunnable()
    }

    func cancellingAQueuedOrFailedJobStopsItAtOnce() async throws {
        let queued = try await self.enqueue("queued")
        self.clock.advance(by: .seconds(1))
        let cancelled = try await self.ledger.cancel(id: queued.id)
        #expect(cancelled.status == .cancelled)
        #expect(!cancelled.cancelRequested)
        #expect(cancelled.updatedAt == self.clock.now())
        #expect(try await self.stored(queued.id) == cancelled)
        try await self.expectNothingRunnable()

        let failing = try await self.enqueue("failing")
        _ = try await self.retry(try await self.leaseExpecting(failing.id))
        #expect(try await self.ledger.cancel(id: failing.id).status == .cancelled)
        self.clock.advance(by: .seconds(3600))
        try await self.expectNothingRunnable()
        await #expect(throws: JobQueueError.notFound("job_00000000000000000000000000")) {
            try await self.ledger.cancel(id: "job_00000000000000000000000000")
        }
    }

    func cancellingARunningJobAsksItsWorkerToStop() async throws {
        let job = try await self.enqueue("one")
        let lease = try await self.leaseExpecting(job.id)
        let asked = try await self.ledger.cancel(id: job.id)
        #expect(asked.status == .running)
        #expect(asked.cancelRequested)
        #expect(try await self.queue.heartbeat(lease, progress: JobProgress(done: 1)))
        try await self.ledger.saveCheckpoint(lease, key: "0", value: Data("partial".utf8))
        let settled = try await self.queue.settle(lease, .cancelled)
        #expect(settled.status == .cancelled)
        #expect(try await self.stored(job.id) == settled)
        #expect(try await self.ledger.cancel(id: job.id) == settled)
        await #expect(throws: JobQueueError.leaseLost(job.id)) {
            try await self.queue.heartbeat(lease, progress: nil)
        }
        try await self.expectNothingRunnable()
    }

    func cancellingAFinishedJobChangesNothing() async throws {
        let succeeded = try await self.enqueue("succeeded")
        try await self.succeed(try await self.leaseExpecting(succeeded.id), outputs: ["a"])
        let dead = try await self.enqueue("dead")
        try await self.queue.settle(try await self.leaseExpecting(dead.id), .dead(self.permanent))
        let cancelled = try await self.ledger.cancel(id: try await self.enqueue("cancelled").id)
        for id in [succeeded.id, dead.id, cancelled.id] {
            let before = try await self.stored(id)
            self.clock.advance(by: .seconds(1))
            #expect(try await self.ledger.cancel(id: id) == before)
            #expect(try await self.stored(id) == before)
        }
    }

    func aFailureAfterACancelRequestCancelsTheJob() async throws {
        for settlement in [JobSettlement.retry(self.transient, after: .zero), .dead(self.permanent)] {
            let job = try await self.enqueue("one")
            let lease = try await self.leaseExpecting(job.id)
            _ = try await self.ledger.cancel(id: job.id)

            let settled = try await self.queue.settle(lease, settlement)

            #expect(settled.status == .cancelled, "\(settlement)")
            self.clock.advance(by: .seconds(3600))
            try await self.expectNothingRunnable()
        }
    }

    func releasingAJobAskedToCancelCancelsIt() async throws {
        let job = try await self.enqueue("one")
        let lease = try await self.leaseExpecting(job.id)
        _ = try await self.ledger.cancel(id: job.id)
        let settled = try await self.queue.settle(lease, .released)
        #expect(settled.status == .cancelled)
        #expect(try await self.stored(job.id).status == .cancelled)
        try await self.expectNothingRunnable()
    }

    func retryRequeuesAStoppedJobKeepingItsCheckpoints() async throws {
        let job = try await self.enqueue("one")
        let lease = try await self.leaseExpecting(job.id)
        try await self.ledger.saveCheckpoint(lease, key: "chunk-0", value: Data("hello".utf8))
        try await self.queue.settle(lease, .dead(self.permanent))
        self.clock.advance(by: .seconds(10))
        let retried = try await self.ledger.retry(id: job.id)
        #expect(retried.status == .queued)
        #expect(retried.attempts == 0)
        #expect(retried.error == self.permanent)
        #expect(retried.runAfter == self.clock.now())
        #expect(retried.updatedAt == self.clock.now())
        #expect(try await self.stored(job.id) == retried)
        #expect(try await self.ledger.checkpoints(jobID: job.id) == ["chunk-0": Data("hello".utf8)])
        let again = try await self.leaseExpecting(job.id)
        #expect(again.job.attempts == 1)
        try await self.succeed(again)

        // A failed job waiting for its retry time, and a cancelled one, are requeued to run now.
        let failing = try await self.enqueue("failing")
        _ = try await self.retry(try await self.leaseExpecting(failing.id), after: .seconds(600))
        #expect(try await self.ledger.retry(id: failing.id).status == .queued)
        let cancelled = try await self.enqueue("cancelled")
        _ = try await self.ledger.cancel(id: cancelled.id)
        #expect(try await self.ledger.retry(id: cancelled.id).status == .queued)
        var leased: Set<String> = []
        while let lease = try await self.lease() {
            leased.insert(lease.job.id)
        }
        #expect(leased == [failing.id, cancelled.id])
    }

    func retryRefusesActiveAndSucceededJobs() async throws {
        let queued = try await self.enqueue("queued")
        await #expect(throws: JobQueueError.invalidState(id: queued.id, status: .queued, operation: "retry")) {
            try await self.ledger.retry(id: queued.id)
        }
        let lease = try await self.leaseExpecting(queued.id)
        await #expect(throws: JobQueueError.invalidState(id: queued.id, status: .running, operation: "retry")) {
            try await self.ledger.retry(id: queued.id)
        }
        try await self.succeed(lease)
        await #expect(throws: JobQueueError.invalidState(id: queued.id, status: .succeeded, operation: "retry")) {
            try await self.ledger.retry(id: queued.id)
        }
        await #expect(throws: JobQueueError.notFound("job_00000000000000000000000000")) {
            try await self.ledger.retry(id: "job_00000000000000000000000000")
        }
    }

    func checkpointsReplaceByKey() async throws {
        let job = try await self.enqueue("one")
        let other = try await self.enqueue("other")
        var lease = try #require(try await self.lease())
        if lease.job.id != job.id {
            try await self.succeed(lease)
            lease = try await self.leaseExpecting(job.id)
        }
        try await self.ledger.saveCheckpoint(lease, key: "0", value: Data("first".utf8))
        try await self.ledger.saveCheckpoint(lease, key: "1", value: Data([0, 255, 7]))
        try await self.ledger.saveCheckpoint(lease, key: "0", value: Data("replaced".utf8))
        try await self.ledger.saveCheckpoint(lease, key: "empty", value: Data())
        let expected = ["0": Data("replaced".utf8), "1": Data([0, 255, 7]), "empty": Data()]
        #expect(try await self.ledger.checkpoints(jobID: job.id) == expected)
        #expect(try await self.ledger.checkpoints(jobID: other.id).isEmpty)
    }

    func listingIsNewestFirstFilteredAndLimited() async throws {
        var ids: [String] = []
        for index in 0..<5 {
            ids.append(try await self.enqueue("job-\(index)").id)
            self.clock.advance(by: .seconds(1))
        }
        var lease = try #require(try await self.lease())
        while lease.job.id != ids[0] {
            try await self.queue.settle(lease, .released)
            lease = try #require(try await self.lease())
        }
        try await self.succeed(lease)
        #expect(try await self.ledger.jobs(status: nil, limit: 10).map(\.id) == ids.reversed())
        #expect(try await self.ledger.jobs(status: nil, limit: 2).map(\.id) == [ids[4], ids[3]])
        #expect(try await self.ledger.jobs(status: .queued, limit: 10).map(\.id) == ids.dropFirst().reversed())
        #expect(try await self.ledger.jobs(status: .succeeded, limit: 10).map(\.id) == [ids[0]])
        #expect(try await self.ledger.jobs(status: .dead, limit: 10).isEmpty)
        #expect(try await self.ledger.jobs(status: nil, limit: 0).isEmpty)
        let listed = try await self.ledger.jobs(status: .succeeded, limit: 1)
        #expect(listed == [try await self.stored(ids[0])])
    }

    func pendingWorkCountsQueuedRunningAndTheNextRetry() async throws {
        #expect(try await self.ledger.pendingWork() == PendingWork(queued: 0, running: 0, nextRetry: nil))
        let failing = try await self.enqueue("failing")
        let settled = try await self.retry(try await self.leaseExpecting(failing.id), after: .seconds(30))
        let running = try await self.enqueue("running")
        _ = try await self.leaseExpecting(running.id)
        _ = try await self.enqueue("waiting")

        let pending = try await self.ledger.pendingWork()

        #expect(pending.queued == 1)
        #expect(pending.running == 1)
        #expect(pending.nextRetry == settled.runAfter)
    }

    // MARK: priority order

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
        _ = try await self.retry(try await self.leaseExpecting(retried.id))
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

    // MARK: time moved by the test

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
        await #expect(throws: JobQueueError.leaseLost(job.id)) { try await self.succeed(first) }
        await #expect(throws: JobQueueError.leaseLost(job.id)) {
            try await self.queue.heartbeat(first, progress: nil)
        }
        try await self.succeed(second, outputs: ["out.json"])
        let finished = try await self.stored(job.id)
        #expect(finished.status == .succeeded && finished.attempts == 2)
    }

    func heartbeatExtendsTheLeaseAndRecordsProgress() async throws {
        let job = try await self.enqueue("one")
        let lease = try await self.leaseExpecting(job.id)
        self.clock.advance(by: .seconds(20))
        let progress = JobProgress(done: 2, total: 5)
        #expect(try await self.queue.heartbeat(lease, progress: progress) == false)
        #expect(try await self.stored(job.id).progress == progress)
        #expect(try await self.stored(job.id).updatedAt == self.clock.now())
        self.clock.advance(by: .seconds(20))
        try await self.expectNothingRunnable()
        #expect(try await self.queue.heartbeat(lease, progress: nil) == false)
        #expect(try await self.stored(job.id).progress == progress, "a heartbeat without progress keeps it")
        self.clock.advance(by: .seconds(29))
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
        #expect(try await self.queue.heartbeat(lease, progress: nil) == false)
        try await self.expectNothingRunnable()
        try await self.succeed(lease)
        #expect(try await self.stored(job.id).status == .succeeded)
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
        await #expect(throws: JobQueueError.leaseLost(lost.id)) { try await self.succeed(lease) }
    }

    func anExpiredLeaseOfAJobAskedToCancelIsCancelled() async throws {
        let job = try await self.enqueue("one")
        _ = try await self.leaseExpecting(job.id)
        _ = try await self.ledger.cancel(id: job.id)
        self.clock.advance(by: .seconds(31))
        try await self.expectNothingRunnable()
        let stopped = try await self.stored(job.id)
        #expect(stopped.status == .cancelled)
        #expect(stopped.attempts == 1)
    }

    // MARK: uncounted release

    func releaseReturnsTheJobWithoutCountingTheAttempt() async throws {
        let job = try await self.enqueue("one")
        let lease = try await self.leaseExpecting(job.id)
        self.clock.advance(by: .seconds(3))
        let released = try await self.queue.settle(lease, .released)
        #expect(released.status == .queued)
        #expect(released.attempts == 0)
        #expect(released.updatedAt == self.clock.now())
        #expect(try await self.stored(job.id) == released)
        await #expect(throws: JobQueueError.leaseLost(job.id)) { try await self.succeed(lease) }
        let again = try await self.leaseExpecting(job.id, owner: "worker-b")
        #expect(again.job.attempts == 1)
    }
}
