import Foundation
import PipelineCore
import TestSupport
import Testing

@testable import NATSBackend

/// The window between the ledger write and the publish: a process that dies there leaves a record with no message,
/// which the next enqueue with the same key (or the start-up sweep, for unkeyed jobs) must repair, exactly once.
struct JetStreamEnqueueCrashTests {
    @Test
    func aRecordWithoutAMessageIsPublishedByTheNextEnqueueWithItsKey() async throws {
        try await withNATSServer { server in
            let crashed = try await server.openQueue()
            // The first half of an enqueue, then the process "dies" before publishing.
            let (written, _, created) = try await crashed.blocking { _ in
                try crashed.writeRecord(for: transcription("video", key: "yt:abc"))
            }
            #expect(created && !written.published)
            #expect(try await crashed.job(id: written.job.id)?.status == .queued)

            let restarted = try await server.openQueue()
            #expect(
                try await restarted.lease(owner: "worker-b", wait: .milliseconds(500)) == nil,
                "nothing was published, so nothing can be leased yet")
            let (job, createdAgain) = try await restarted.enqueue(transcription("video", key: "yt:abc"))
            #expect(!createdAgain)
            #expect(job.id == written.job.id)

            let lease = try #require(try await restarted.lease(owner: "worker-b", wait: .seconds(5)))
            #expect(lease.job.id == job.id)
            try await restarted.settle(lease, .succeeded(outputs: [], result: nil, progress: JobProgress()))
            // Enqueueing again publishes nothing more: the record is marked published.
            #expect(try await restarted.enqueue(transcription("video", key: "yt:abc")).job.status == .succeeded)
            #expect(try await restarted.lease(owner: "worker-b", wait: .milliseconds(500)) == nil)
        }
    }

    @Test
    func aPublishThatLandedButWasNotMarkedIsNotDuplicated() async throws {
        try await withNATSServer { server in
            let crashed = try await server.openQueue()
            // Record written and message published, then the process dies before marking the record published.
            let record = try await crashed.blocking { _ in
                let (record, _, _) = try crashed.writeRecord(for: transcription("video", key: "yt:dup"))
                let body = try JSONEncoder().encode(WorkMessage(jobID: record.job.id, dispatch: 1))
                try crashed.connection.publish(body, to: NATSSettings.subjects[0], messageID: "yt:dup")
                return record
            }
            // A long visibility, so that only a second message, never a redelivery, could reach the second lease.
            let restarted = try await server.openQueue(visibility: .seconds(30))
            let (job, created) = try await restarted.enqueue(transcription("video", key: "yt:dup"))
            #expect(!created && job.id == record.job.id)
            let lease = try #require(try await restarted.lease(owner: "worker-b", wait: .seconds(5)))
            #expect(lease.job.id == job.id)
            #expect(
                try await restarted.lease(owner: "worker-c", wait: .milliseconds(500)) == nil,
                "the server dropped the repeated publish by its Nats-Msg-Id")
        }
    }

    @Test
    func enqueuersRacingWithOneKeyGetOneJobWhoseIdentifierEndsInTheKeysDigest() async throws {
        try await withNATSServer { server in
            // Leases long enough that the one message is not delivered again while the test looks for a second.
            let first = try await server.openQueue(visibility: .seconds(30))
            let second = try await server.openQueue(visibility: .seconds(30))
            let outcomes = try await withThrowingTaskGroup(of: (job: Job, created: Bool).self) { group in
                for index in 0..<8 {
                    let queue = index.isMultiple(of: 2) ? first : second
                    group.addTask { try await queue.enqueue(transcription("video", key: "yt:race")) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.count { $0.created } == 1, "one create wins the slot")
            #expect(Set(outcomes.map(\.job.id)).count == 1)
            let id = try #require(outcomes.first?.job.id)
            // An identifier made from the key at another time has the job's tail, but is not the job.
            let otherTime = JobID.make(at: Date(timeIntervalSince1970: 0), digest: LedgerKey.digest(ofKey: "yt:race"))
            #expect(JobID.tail(of: id) == JobID.tail(of: otherTime) && id != otherTime)
            let otherKey = JobID.make(at: Date(), digest: LedgerKey.digest(ofKey: "yt:other"))
            #expect(JobID.tail(of: id) != JobID.tail(of: otherKey))
            #expect(try await first.job(id: otherTime) == nil)
            #expect(try await first.job(id: id)?.idempotencyKey == "yt:race")
            #expect(try await first.job(id: "job_not-an-identifier") == nil)
            #expect(try await first.lease(owner: "worker-a", wait: .seconds(5))?.job.id == id)
            #expect(try await first.lease(owner: "worker-a", wait: .milliseconds(300)) == nil, "one message")
        }
    }

    @Test
    func aKeyWhoseSlotHoldsAnotherKeysJobIsRefusedNotMerged() async throws {
        try await withNATSServer { server in
            let queue = try await server.openQueue()
            // What a collision of 80 bits of SHA-256 would leave: the slot of "yt:mine" holding a job of "yt:theirs".
            let squatter = try await queue.blocking { _ in
                try queue.writeRecord(for: transcription("theirs", key: "yt:theirs")).record
            }
            let mine = JobID.make(at: Date(), digest: LedgerKey.digest(ofKey: "yt:mine"))
            var moved = squatter
            moved.job.id = mine
            let body = try moved.json()
            _ = try await queue.blocking { _ in try queue.bucket.create(LedgerKey.job(mine), body) }
            await #expect {
                try await queue.enqueue(transcription("mine", key: "yt:mine"))
            } throws: { error in
                "\(error)".contains("idempotency key yt:mine: its ledger slot holds job")
                    && "\(error)".contains("another key")
            }
            #expect(try await queue.enqueue(transcription("theirs", key: "yt:theirs")).job.id == squatter.job.id)
        }
    }

    @Test
    func aLedgerOfTheEarlierLayoutIsRefusedAtOpen() async throws {
        try await withNATSServer { server in
            let queue = try await server.openQueue()
            _ = try await queue.blocking { _ in try queue.bucket.create("key.79743a6f6c64", Data("job_0".utf8)) }
            await #expect {
                try await server.openQueue()
            } throws: { error in
                "\(error)".contains("holds a job ledger of an earlier layout")
            }
        }
    }

    @Test
    func anUnkeyedRecordWithoutAMessageIsRepublishedAtStart() async throws {
        try await withNATSServer { server in
            let crashed = try await server.openQueue()
            let (record, _, _) = try await crashed.blocking { _ in try crashed.writeRecord(for: transcription("loose"))
            }
            let restarted = try await server.openQueue()
            #expect(try await restarted.republishUnsent(olderThan: .seconds(60)) == 0, "too recent: may be in flight")
            #expect(try await restarted.republishUnsent(olderThan: .zero) == 1)
            #expect(try await restarted.republishUnsent(olderThan: .zero) == 0, "marked published")
            #expect(try await restarted.lease(owner: "worker-b", wait: .seconds(5))?.job.id == record.job.id)
        }
    }

    @Test
    func aMessageThatNamesNoJobIsStoppedNotRedeliveredForever() async throws {
        try await withNATSServer { server in
            let queue = try await server.openQueue()
            let junk = try await queue.blocking { _ in
                try queue.connection.publish(Data("{not json".utf8), to: NATSSettings.subjects[1], messageID: "junk")
            }
            let job = try await queue.enqueue(transcription("after-junk")).job
            #expect(try await queue.lease(owner: "worker-a", wait: .seconds(5))?.job.id == job.id)
            let left = try await queue.blocking { _ in
                try queue.connection.message(stream: queue.settings.stream, sequence: junk)
            }
            #expect(left == nil, "the junk message was terminated and removed from the stream")
        }
    }

    @Test
    func credentialsInTheURLAreUsedAndMissingOnesRefused() async throws {
        try await withNATSServer(arguments: ["--user", "worker", "--pass", "s3cret"]) { server in
            let queue = try await server.openQueue(url: "nats://worker:s3cret@127.0.0.1:\(server.port)")
            #expect(try await queue.enqueue(transcription("one")).created)
            await #expect(throws: JobQueueError.self) { try await server.openQueue() }
        }
    }

    @Test
    func aTokenIsUsed() async throws {
        try await withNATSServer(arguments: ["--auth", "t0ken"]) { server in
            var settings = NATSSettings(url: server.url)
            settings.token = Secret("t0ken")
            let queue = try await JetStreamJobQueue.open(settings: settings, visibility: .seconds(5))
            #expect(try await queue.enqueue(transcription("one")).created)
        }
    }

    /// Decentralized authentication: an operator-mode server trusts the account its user's `.creds` file names; a
    /// file whose seed is not the user's, or no file, is refused (and the seed is not in the error).
    @Test
    func aCredsFileLogsInAndAForgedOrMissingOneIsRefused() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("nats-operator-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let setup = Process()
        setup.executableURL = root.appendingPathComponent(".venv/bin/python")
        setup.arguments = [root.appendingPathComponent("scripts/nats-operator-setup.py").path, directory.path]
        try setup.run()
        setup.waitUntilExit()
        try #require(setup.terminationStatus == 0, "scripts/nats-operator-setup.py failed: run scripts/setup first")
        let conf = directory.appendingPathComponent("server.conf").path
        try await withNATSServer(arguments: ["-c", conf]) { server in
            var settings = NATSSettings(url: server.url)
            settings.credentialsFile = directory.appendingPathComponent("user.creds").path
            let queue = try await JetStreamJobQueue.open(settings: settings, visibility: .seconds(5))
            let job = try await queue.enqueue(transcription("signed")).job
            let lease = try #require(try await queue.lease(owner: "worker-a", wait: .seconds(5)))
            #expect(lease.job.id == job.id)
            try await queue.settle(
                lease, .succeeded(outputs: [], result: nil, progress: JobProgress(done: 1, total: 1)))
            #expect(try await queue.job(id: job.id)?.status == .succeeded)

            let forged = directory.appendingPathComponent("forged.creds")
            let seed = try #require(
                try String(contentsOf: forged, encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("SU") })
            settings.credentialsFile = forged.path
            await #expect {
                try await JetStreamJobQueue.open(settings: settings, visibility: .seconds(5))
            } throws: { error in
                "\(error)".contains("Authorization Violation") && !"\(error)".contains(String(seed))
            }
            settings.credentialsFile = nil
            await #expect {
                try await JetStreamJobQueue.open(settings: settings, visibility: .seconds(5))
            } throws: { error in
                "\(error)".contains("Authorization Violation")
            }
        }
    }
}
