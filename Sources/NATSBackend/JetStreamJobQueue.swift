import Foundation
import PipelineCore
import Synchronization

/// The work queue and job ledger on NATS JetStream: a work-queue stream of job messages, a durable pull consumer
/// shared by every worker, and a KV bucket holding each job's record.
///
/// The ledger is the truth; a stream message only says "job X (dispatch N) is runnable". A lease fetches one message
/// and claims the job in the ledger with a compare-and-set, so two workers never hold one job. Visibility is the
/// consumer's AckWait: a worker that stops heartbeating (`+WPI`) loses its message to the next fetch. Retries are a
/// NAK with the retry delay; dead jobs are terminated; released jobs are NAKed at once. Time comes from JetStream
/// (ack waits and NAK delays run on the server's clock); `now` only stamps the ledger's records.
///
/// Enqueue writes the ledger first and publishes second (see ``enqueue(_:)`` for the crash window between the two).
package final class JetStreamJobQueue: WorkQueue, JobLedger {
    /// How long a lease lasts without a heartbeat: the consumer's AckWait.
    package let visibility: Duration
    let settings: NATSSettings
    let connection: NATSConnection
    let bucket: NATSBucket
    let defaultMaxAttempts: Int
    /// Turns producers' own messages into jobs; without it they are dead letters.
    let intake: JobIntake?
    let now: @Sendable () -> Date
    /// The pull subscription on the work consumer that long polls use, made at open; a test that fetches on it
    /// directly must not lease at the same time.
    let work: NATSSubscription
    /// The server's max-deliveries advisories as they are sent: a doorbell for ``storedAdvisories``.
    let advisories: NATSSubscription
    /// The same advisories kept in their own stream, for those sent while no worker listened.
    let storedAdvisories: NATSSubscription
    /// When the stored advisories were last read; nil before the first look.
    let advisorySweep = Mutex<ContinuousClock.Instant?>(nil)
    // Long polls, one at a time on `work`. A poll's last request may still be open at the server when the poll
    // ends, and a message sent for it waits on `work` for the next fetch there, which takes it first.
    private let polling = Mutex(())
    // Further pull subscriptions on the work consumer for looks that do not wait, which no fetch is using now.
    // nats.c runs one fetch at a time on a subscription, so each look takes one of these (or makes another) and
    // concurrent leases look side by side, as separate workers do; at most one per thread of `pool`. A look is
    // answered at once (a message, or none), so no request of it is left open to strand a message on a subscription
    // nobody fetches from again.
    private let idleLookers = Mutex<[NATSSubscription]>([])
    private let lookersMade = Atomic<Int>(0)
    // One reader at a time of the stored advisories.
    let sweeping = Mutex(())
    // The messages behind the leases this process holds, by lease token; each is acknowledged through its entry.
    private let deliveries = Mutex([String: Delivery]())
    // The ledger's change feed, made on the first ``watchChanges()``; nil inside when it could not be made.
    let changeFeed = Mutex<NATSChangeFeed??>(nil)
    // Long polls hold a thread for their whole wait, so the queue brings its own threads.
    let pool = BlockingPool(name: "audio-worker.nats", threads: 8)

    /// One delivered message behind a lease.
    struct Delivery: Sendable {
        /// The message, owned by the registry until the lease ends.
        var message: NATSHandle
        /// Its stream sequence.
        var streamSequence: UInt64
        /// The job's record as this process last wrote it, and its revision: where the next change starts.
        var known: StoredRecord
    }

    private init(
        settings: NATSSettings, visibility: Duration, maxAttempts: Int, intake: JobIntake?,
        now: @escaping @Sendable () -> Date
    ) throws(NATSError) {
        let connection = try NATSConnection(settings: settings)
        try connection.ensureWorkQueueStream(
            name: settings.stream, subjects: NATSSettings.subjects, replicas: settings.replicas)
        try connection.ensurePullConsumer(
            stream: settings.stream, name: settings.consumer, ackWait: visibility,
            maxDeliveries: settings.maxDeliveries, replicas: settings.replicas)
        // The advisory is core NATS, sent to whoever listens at that moment; a stream keeps a copy for later.
        try connection.ensureWorkQueueStream(
            name: settings.advisoryStream, subjects: [settings.advisorySubject], replicas: settings.replicas,
            maxAge: .seconds(30 * 86_400))
        try connection.ensurePullConsumer(
            stream: settings.advisoryStream, name: settings.consumer, ackWait: .seconds(30), maxDeliveries: 100,
            replicas: settings.replicas)
        self.advisories = try NATSSubscription.subscribe(connection: connection, subject: settings.advisorySubject)
        self.storedAdvisories = try NATSSubscription.pull(
            connection: connection, stream: settings.advisoryStream, consumer: settings.consumer)
        self.bucket = try NATSBucket(connection: connection, name: settings.bucket, replicas: settings.replicas)
        self.work = try NATSSubscription.pull(
            connection: connection, stream: settings.stream, consumer: settings.consumer)
        self.connection = connection
        self.settings = settings
        self.visibility = visibility
        self.defaultMaxAttempts = maxAttempts
        self.intake = intake
        self.now = now
    }

    deinit {
        for delivery in self.deliveries.withLock({ $0.values }) {
            NATSMessage.destroy(delivery.message)
        }
    }

    /// Connects, creating the stream, the consumer and the bucket if they are missing.
    ///
    /// - Parameters:
    ///   - visibility: the consumer's AckWait: how long a lease lasts without a heartbeat.
    ///   - maxAttempts: attempts for jobs enqueued without their own.
    ///   - intake: checks jobs that producers publish on the request subjects themselves; nil turns them away.
    ///   - now: stamps the records' times (a test passes its clock).
    package static func open(
        settings: NATSSettings, visibility: Duration, maxAttempts: Int = 5, intake: JobIntake? = nil,
        now: @escaping @Sendable () -> Date = { Date() }
    ) async throws -> JetStreamJobQueue {
        do {
            return try await runBlocking { _ in
                let queue = try JetStreamJobQueue(
                    settings: settings, visibility: visibility, maxAttempts: maxAttempts, intake: intake, now: now)
                // Read with this layout, an earlier ledger's jobs would be missing and their keys enqueued afresh.
                guard try queue.bucket.scan(LedgerKey.earlierLayoutClaims, limit: 1).isEmpty else {
                    throw JobQueueError.storage(
                        "bucket \(settings.bucket) holds a job ledger of an earlier layout (idempotency claims under "
                            + "`key.`): finish its jobs with the build that wrote it, or delete the bucket")
                }
                return queue
            }
        } catch let error as NATSError {
            throw JobQueueError.storage(error.description)
        }
    }

    /// Runs `body` on the queue's threads, reporting the client's failures as ``JobQueueError/storage(_:)``.
    func blocking<T: Sendable>(_ body: @escaping @Sendable (CancellationFlag) throws -> T) async throws -> T {
        do {
            return try await self.pool.run(body)
        } catch let error as NATSError {
            throw JobQueueError.storage(error.description)
        }
    }

    // MARK: WorkQueue

    /// Adds a job, or returns the one already enqueued with the same key.
    ///
    /// Order: create the record (`published: false`) in the slot its key names, which claims the key (see
    /// ``writeRecord(for:carrier:)``), publish (`Nats-Msg-Id` is the idempotency key, or the job id), then mark the
    /// record published. A crash between the two steps is repaired by the next enqueue with the same key: a record
    /// not marked published is published again, and the server drops the copy if the first publish did land (its
    /// duplicate window is two minutes). Unkeyed jobs have no such caller; ``republishUnsent(olderThan:)`` repairs
    /// them.
    package func enqueue(_ request: EnqueueRequest) async throws -> (job: Job, created: Bool) {
        try await self.blocking { _ in
            let (record, revision, created) = try self.writeRecord(for: request)
            return (try self.ensurePublished(record, revision: revision).job, created)
        }
    }

    /// Fetches from the pull consumer until a message yields a claim or `wait` is over; stale messages (a finished
    /// or cancelled job, an earlier dispatch, a duplicate) are acknowledged and skipped, junk is terminated.
    ///
    /// The wait runs on the queue's own threads in requests of at most a second, so cancelling the caller ends it
    /// within that. A zero wait asks the server once, without waiting.
    package func lease(owner: String, wait: Duration) async throws -> JobLease? {
        let deadline = ContinuousClock.now + wait
        return try await self.blocking { flag in
            try self.stopOverDelivered(flag: flag)
            while true {
                let message = try self.fetch(until: deadline, flag: flag)
                guard let message else {
                    try self.stopOverDelivered(flag: flag)
                    return nil
                }
                if let lease = try self.claim(message, owner: owner) {
                    return lease
                }
            }
        }
    }

    /// How many subscriptions for looks that do not wait this queue has made.
    var lookSubscriptions: Int { self.lookersMade.load(ordering: .relaxed) }

    /// One message from the work consumer, or nil when none came by `deadline`: first a look that does not wait, on
    /// a subscription no other fetch is using, then (if there is time) a long poll on `work`, after any other poll.
    private func fetch(until deadline: ContinuousClock.Instant, flag: CancellationFlag) throws -> NATSHandle? {
        // A message that came for an ended poll is taken before any other, while its delivery is fresh (unless a
        // poll is under way, which takes it).
        if self.work.hasPending,
            let taken = try self.polling.withLockIfAvailable({ _ in try self.work.fetch(until: .now, flag: flag) }),
            let message = taken
        {
            return message
        }
        if let message = try self.withLooker({ try $0.fetch(until: .now, flag: flag) }) {
            return message
        }
        guard ContinuousClock.now < deadline else { return nil }
        return try self.polling.withLock { _ in try self.work.fetch(until: deadline, flag: flag) }
    }

    /// Runs `body` with an idle subscription for looks, made if none is idle, and returns it to the idle ones.
    func withLooker<T>(_ body: (NATSSubscription) throws -> T) throws -> T {
        let subscription: NATSSubscription
        if let idle = self.idleLookers.withLock({ $0.popLast() }) {
            subscription = idle
        } else {
            subscription = try NATSSubscription.pull(
                connection: self.connection, stream: self.settings.stream, consumer: self.settings.consumer)
            self.lookersMade.add(1, ordering: .relaxed)
        }
        defer { self.idleLookers.withLock { $0.append(subscription) } }
        return try body(subscription)
    }

    /// Records progress in the ledger, then sends `+WPI` so the server restarts the message's ack wait; returns the
    /// ledger's cancel request, so a cancel from any process is seen here.
    package func heartbeat(_ lease: JobLease, progress: JobProgress?) async throws -> Bool {
        try await self.blocking { _ in
            let delivery = try self.delivery(for: lease)
            let outcome = try self.modify(lease.job.id, known: delivery.known) { record -> Bool in
                guard record.holds(lease) else { return false }
                if let progress { record.job.progress = progress }
                record.job.updatedAt = self.now()
                return true
            }
            guard let outcome, outcome.changed else {
                self.forget(lease.token)
                throw JobQueueError.leaseLost(lease.job.id)
            }
            self.deliveriesRemember(lease.token, (outcome.record, outcome.revision))
            try NATSMessage.markInProgress(delivery.message)
            return outcome.record.job.cancelRequested
        }
    }

    /// Writes the outcome to the ledger, then answers the message: success and cancel acknowledge it, a retry NAKs it
    /// with the retry's delay, a release NAKs it at once, dead terminates it and removes it from the stream.
    @discardableResult
    package func settle(_ lease: JobLease, _ settlement: JobSettlement) async throws -> Job {
        try await self.blocking { _ in try self.finish(lease, settlement) }
    }

    // MARK: the lease registry

    /// Keeps `delivery` as the message behind lease `token`.
    func deliveriesInsert(_ token: String, _ delivery: Delivery) {
        self.deliveries.withLock { $0[token] = delivery }
    }

    /// Records what this process last wrote to the record behind lease `token`.
    func deliveriesRemember(_ token: String, _ known: StoredRecord) {
        self.deliveries.withLock { $0[token]?.known = known }
    }

    /// The message behind lease `token`, if this process holds it.
    func deliveriesLookup(_ token: String) -> Delivery? {
        self.deliveries.withLock { $0[token] }
    }

    /// Takes the entry for `token` out of the registry; the caller frees its message.
    func deliveriesRemove(_ token: String) -> Delivery? {
        self.deliveries.withLock { $0.removeValue(forKey: token) }
    }
}
