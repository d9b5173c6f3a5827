import Foundation
import PipelineCore
import TestSupport
import Testing

@testable import NATSBackend

/// Many lease calls of one process at once: each job goes to exactly one call and is never redelivered; and a
/// heartbeat or settle that starts from the holder's own copy of the record still sees what another process wrote.
struct JetStreamConcurrentLeaseTests {
    @Test
    func eightLeaseLoopsAtOnceTakeEveryJobExactlyOnce() async throws {
        try await withNATSServer { server in
            // A visibility long enough that nothing is redelivered while the machine is busy: a message fetched and
            // left unclaimed would show as an attempt count of 2 only after it.
            let queue = try await server.openQueue(visibility: .seconds(30))
            var enqueued: Set<String> = []
            for index in 0..<40 {
                enqueued.insert(try await queue.enqueue(transcription("job-\(index)", key: "key-\(index)")).job.id)
            }
            let leased = LockedValue([String]())
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<8 {
                    group.addTask {
                        while let lease = try await queue.lease(owner: "lane-\(lane)", wait: .milliseconds(300)) {
                            leased.withLock { $0.append(lease.job.id) }
                            try await queue.settle(
                                lease, .succeeded(outputs: [], result: nil, progress: JobProgress(done: 1, total: 1)))
                        }
                    }
                }
                try await group.waitForAll()
            }
            let ids = leased.value
            #expect(ids.count == 40)
            #expect(Set(ids) == enqueued)
            for id in enqueued {
                let job = try #require(try await queue.job(id: id))
                #expect(job.status == .succeeded && job.attempts == 1, "\(id): \(job.status), \(job.attempts)")
            }
            let other = try await server.openQueue(visibility: .seconds(30))
            #expect(try await other.lease(owner: "late", wait: .zero) == nil, "no message left in the stream")
        }
    }

    @Test
    func looksAtOnceTakeSubscriptionsOfTheirOwnAndReuseThem() async throws {
        try await withNATSServer { server in
            let queue = try await server.openQueue(visibility: .seconds(30))
            _ = try await queue.enqueue(transcription("one"))
            // nats.c runs one fetch at a time on a subscription: a look made while another is under way gets another.
            let found = try queue.withLooker { outer in
                try queue.withLooker { inner in
                    #expect(outer !== inner)
                    return try inner.fetch(until: .now, flag: CancellationFlag())
                }
            }
            #expect(found != nil)
            if let found { NATSMessage.destroy(found) }
            #expect(queue.lookSubscriptions == 2)
            // Idle again, both are reused: eight looks one after another make none.
            for _ in 0..<8 {
                _ = try queue.withLooker { _ in 0 }
            }
            #expect(queue.lookSubscriptions == 2)
        }
    }

    @Test
    func aHeartbeatAndASettleFromTheHoldersCopySeeACancelWrittenElsewhere() async throws {
        try await withNATSServer { server in
            let worker = try await server.openQueue(visibility: .seconds(30))
            let api = try await server.openQueue(visibility: .seconds(30))
            let job = try await api.enqueue(transcription("one")).job
            let lease = try #require(try await worker.lease(owner: "worker", wait: .seconds(5)))
            #expect(try await worker.heartbeat(lease, progress: JobProgress(done: 1, total: 3)) == false)
            // Another process changes the record after the holder's last write: the holder's copy is stale now.
            #expect(try await api.cancel(id: job.id).cancelRequested)
            #expect(try await worker.heartbeat(lease, progress: JobProgress(done: 2, total: 3)) == true)
            let settled = try await worker.settle(
                lease, .retry(JobError(kind: "provider", message: "503", permanent: false), after: .seconds(1)))
            #expect(settled.status == .cancelled)
            #expect(try await api.job(id: job.id)?.progress == JobProgress(done: 2, total: 3))
        }
    }
}
