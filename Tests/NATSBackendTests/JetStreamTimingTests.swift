import Foundation
import PipelineCore
import TestSupport
import Testing

@testable import NATSBackend

/// What JetStream times on the server's clock, in real time with a one-second visibility: lease expiry and
/// redelivery, heartbeats, NAK delays, the delivery limit, and cancellation seen across processes.
struct JetStreamTimingTests {
    let transient = JobError(kind: "provider", message: "every provider answered 503", permanent: false)

    @Test
    func aLeaseWhoseWorkerDiedIsRedeliveredWithTheAttemptCounted() async throws {
        try await withNATSServer { server in
            let died = try await server.openQueue()
            let survivor = try await server.openQueue()
            let job = try await died.enqueue(transcription("one")).job
            // Timed from before the first lease: the visibility runs from the delivery inside it, and on a busy
            // machine the lease may return well after that.
            let started = ContinuousClock.now
            let first = try #require(try await died.lease(owner: "worker-a", wait: .seconds(5)))

            // No heartbeat: after the one-second visibility the message goes to the next fetch.
            let second = try #require(try await survivor.lease(owner: "worker-b", wait: .seconds(10)))
            #expect(ContinuousClock.now - started >= .milliseconds(700), "redelivered only after the visibility")
            #expect(second.job.id == job.id)
            #expect(second.job.attempts == 2)
            #expect(second.token != first.token)

            await #expect(throws: JobQueueError.leaseLost(job.id)) {
                try await died.settle(first, .succeeded(outputs: [], result: nil, progress: JobProgress()))
            }
            await #expect(throws: JobQueueError.leaseLost(job.id)) { try await died.heartbeat(first, progress: nil) }
            let finished = try await survivor.settle(
                second, .succeeded(outputs: ["out.json"], result: nil, progress: JobProgress()))
            #expect(finished.status == .succeeded && finished.attempts == 2)
            #expect(try await survivor.lease(owner: "worker-b", wait: .seconds(2)) == nil, "acknowledged for good")
        }
    }

    @Test
    func heartbeatsKeepTheLeaseAndRecordProgress() async throws {
        try await withNATSServer { server in
            // A visibility well above the heartbeat interval, so a heartbeat delayed by a busy machine still lands in
            // time: the whole suite runs at once, and on CI one round of poll and heartbeat took over 4 s.
            let worker = try await server.openQueue(visibility: .seconds(8))
            let other = try await server.openQueue(visibility: .seconds(8))
            let job = try await worker.enqueue(transcription("one")).job
            let lease = try #require(try await worker.lease(owner: "worker-a", wait: .seconds(5)))
            // Ten seconds in all, past the visibility, heartbeating between the other worker's polls.
            for done in 1...20 {
                #expect(try await other.lease(owner: "worker-b", wait: .milliseconds(500)) == nil)
                #expect(try await worker.heartbeat(lease, progress: JobProgress(done: done, total: 20)) == false)
            }
            #expect(try await other.job(id: job.id)?.progress == JobProgress(done: 20, total: 20))
            try await worker.settle(lease, .succeeded(outputs: [], result: nil, progress: JobProgress(done: 20)))
            #expect(try await other.job(id: job.id)?.attempts == 1)
        }
    }

    @Test
    func aRetryIsRedeliveredAfterItsDelayAndNotBefore() async throws {
        try await withNATSServer { server in
            let queue = try await server.openQueue(visibility: .seconds(30))
            let job = try await queue.enqueue(transcription("one")).job
            let first = try #require(try await queue.lease(owner: "worker-a", wait: .seconds(5)))
            let settledAt = ContinuousClock.now
            // A delay well above the early look, so a busy machine (the whole suite runs at once) that starts the
            // look late still looks before the delay is over.
            let failed = try await queue.settle(first, .retry(self.transient, after: .seconds(4)))
            #expect(failed.status == .failed)

            #expect(try await queue.lease(owner: "worker-a", wait: .milliseconds(800)) == nil, "not before the delay")
            let second = try #require(try await queue.lease(owner: "worker-a", wait: .seconds(10)))
            #expect(ContinuousClock.now - settledAt >= .milliseconds(3900))
            #expect(ContinuousClock.now - settledAt < .seconds(10), "well before the 30 s ack wait")
            #expect(second.job.id == job.id && second.job.attempts == 2 && second.job.error == self.transient)
        }
    }

    @Test
    func aLeaseExpiringOnTheLastAttemptMakesTheJobDead() async throws {
        try await withNATSServer { server in
            let died = try await server.openQueue()
            let survivor = try await server.openQueue()
            let lost = try await died.enqueue(transcription("lost", maxAttempts: 1)).job
            let lease = try #require(try await died.lease(owner: "worker-a", wait: .seconds(5)))
            #expect(lease.job.id == lost.id)

            #expect(try await survivor.lease(owner: "worker-b", wait: .seconds(3)) == nil)
            let dead = try #require(try await survivor.job(id: lost.id))
            #expect(dead.status == .dead)
            #expect(dead.error?.kind == "worker_lost")
            #expect(dead.error?.message.contains("worker-a") == true)
            #expect(dead.attempts == 1)
            await #expect(throws: JobQueueError.leaseLost(lost.id)) {
                try await died.settle(lease, .succeeded(outputs: [], result: nil, progress: JobProgress()))
            }
        }
    }

    @Test
    func aMessagePastTheDeliveryLimitBecomesADeadRecord() async throws {
        try await withNATSServer { server in
            // Releases count as deliveries on the server but not as attempts in the ledger: only the limit stops it.
            let queue = try await server.openQueue(visibility: .seconds(30), maxAttempts: 50, maxDeliveries: 2)
            let job = try await queue.enqueue(transcription("bouncing")).job
            for _ in 0..<2 {
                let lease = try #require(try await queue.lease(owner: "worker-a", wait: .seconds(5)))
                try await queue.settle(lease, .released)
            }
            var status = try await queue.job(id: job.id)?.status
            for _ in 0..<20 where status != .dead {
                #expect(try await queue.lease(owner: "worker-a", wait: .milliseconds(250)) == nil)
                status = try await queue.job(id: job.id)?.status
            }
            let dead = try #require(try await queue.job(id: job.id))
            #expect(dead.status == .dead)
            #expect(dead.error?.kind == "max_deliveries")
            #expect(try await queue.pendingWork() == PendingWork(queued: 0, running: 0, nextRetry: nil))
        }
    }

    /// The max-deliveries advisory is core NATS: one sent while no worker reads it (a worker that crashed with it
    /// unread, or none running) is kept in its own stream, and the next worker to lease marks the job dead.
    @Test
    func anAdvisoryNoWorkerHandledIsFoundByTheNextOne() async throws {
        try await withNATSServer { server in
            let job: Job
            do {
                let first = try await server.openQueue(visibility: .seconds(30), maxAttempts: 50, maxDeliveries: 1)
                job = try await first.enqueue(transcription("unheard")).job
                let lease = try #require(try await first.lease(owner: "worker-a", wait: .seconds(5)))
                try await first.settle(lease, .released)
                // A fetch that finds the message over its limit makes the server send the advisory; this process hears
                // it and goes away without handling it.
                let flag = CancellationFlag()
                #expect(try first.work.fetch(until: .now + .milliseconds(500), flag: flag) == nil)
                let heard = try first.advisories.next(timeout: .seconds(10)) != nil
                try #require(heard, "the server sent the advisory")
                #expect(try await first.job(id: job.id)?.status == .queued, "nobody handled it")
            }
            // Opened after the advisory was sent: only the stored copy can tell it.
            let second = try await server.openQueue(visibility: .seconds(30), maxAttempts: 50, maxDeliveries: 1)
            #expect(try await second.lease(owner: "worker-b", wait: .zero) == nil)
            let dead = try #require(try await second.job(id: job.id))
            #expect(dead.status == .dead)
            #expect(dead.error?.kind == "max_deliveries")
            #expect(try await second.pendingWork() == PendingWork(queued: 0, running: 0, nextRetry: nil))
        }
    }

    @Test
    func aCancelFromAnotherProcessIsSeenByTheNextHeartbeat() async throws {
        try await withNATSServer { server in
            let worker = try await server.openQueue(visibility: .seconds(30))
            let operator_ = try await server.openQueue(visibility: .seconds(30))
            let job = try await operator_.enqueue(transcription("one")).job
            let lease = try #require(try await worker.lease(owner: "worker-a", wait: .seconds(5)))
            #expect(try await worker.heartbeat(lease, progress: JobProgress(done: 1)) == false)

            let asked = try await operator_.cancel(id: job.id)
            #expect(asked.status == .running && asked.cancelRequested)

            #expect(try await worker.heartbeat(lease, progress: JobProgress(done: 2)) == true)
            let settled = try await worker.settle(lease, .retry(self.transient, after: .zero))
            #expect(settled.status == .cancelled)
            #expect(try await operator_.job(id: job.id)?.status == .cancelled)
            #expect(try await operator_.lease(owner: "worker-b", wait: .milliseconds(500)) == nil)
        }
    }

    @Test
    func anExpiredLeaseOfAJobAskedToCancelIsCancelled() async throws {
        try await withNATSServer { server in
            let died = try await server.openQueue()
            let survivor = try await server.openQueue()
            let job = try await died.enqueue(transcription("one")).job
            _ = try #require(try await died.lease(owner: "worker-a", wait: .seconds(5)))
            _ = try await survivor.cancel(id: job.id)
            #expect(try await survivor.lease(owner: "worker-b", wait: .seconds(3)) == nil)
            let stopped = try #require(try await survivor.job(id: job.id))
            #expect(stopped.status == .cancelled)
            #expect(stopped.attempts == 1)
        }
    }
}
