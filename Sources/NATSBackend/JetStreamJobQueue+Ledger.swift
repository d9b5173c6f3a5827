import Foundation
import PipelineCore

extension JetStreamJobQueue {
    package func job(id: String) async throws -> Job? {
        try await self.blocking { _ in try self.read(id)?.record.job }
    }

    /// Jobs newest first; a scan of every record in the bucket (fine for thousands of jobs, not for millions).
    package func jobs(status: JobStatus?, limit: Int) async throws -> [Job] {
        guard limit > 0 else { return [] }
        return try await self.blocking { _ in
            let jobs = try self.allRecords().map(\.job).filter { status == nil || $0.status == status }
            let sorted = jobs.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
            return Array(sorted.prefix(limit))
        }
    }

    package func cancel(id: String) async throws -> Job {
        try await self.blocking { _ in
            let outcome = try self.modify(id) { record -> Bool in
                switch record.job.status {
                case .queued, .failed:
                    // The job's message stays in the stream until delivered, and is then dropped.
                    record.job.cancelRequested = false
                    record.lease = nil
                    record.enter(.cancelled, at: self.now())
                    return true
                case .running:
                    guard !record.job.cancelRequested else { return false }
                    // The worker learns it from its next heartbeat.
                    record.job.cancelRequested = true
                    record.job.updatedAt = self.now()
                    return true
                case .succeeded, .dead, .cancelled:
                    return false
                }
            }
            guard let outcome else { throw JobQueueError.notFound(id) }
            return outcome.record.job
        }
    }

    /// Requeues a stopped job under a new dispatch number, publishing a fresh message; an older message of the job
    /// still in the stream (a pending retry) is dropped when delivered.
    package func retry(id: String) async throws -> Job {
        try await self.blocking { _ in
            let outcome = try self.modify(id) { record -> Bool in
                switch record.job.status {
                case .dead, .failed, .cancelled:
                    let now = self.now()
                    record.job.attempts = 0
                    record.job.runAfter = now
                    record.job.cancelRequested = false
                    record.lease = nil
                    record.dispatch += 1
                    record.published = false
                    record.enter(.queued, at: now)
                    return true
                case .queued, .running, .succeeded:
                    throw JobQueueError.invalidState(id: id, status: record.job.status, operation: "retry")
                }
            }
            guard let outcome else { throw JobQueueError.notFound(id) }
            return try self.ensurePublished(outcome.record, revision: outcome.revision).job
        }
    }

    package func saveCheckpoint(_ lease: JobLease, key: String, value: Data) async throws {
        try await self.blocking { _ in
            let delivery = try self.delivery(for: lease)
            guard let (record, _) = try self.read(lease.job.id), record.holds(lease) else {
                throw JobQueueError.leaseLost(lease.job.id)
            }
            if record.checkpointed == false {
                // Marked before the first checkpoint is written: a crash between the two costs one needless scan.
                let marked = try self.modify(lease.job.id, known: delivery.known) { record -> Bool in
                    guard record.holds(lease) else { return false }
                    record.checkpointed = true
                    return true
                }
                guard let marked, marked.changed else { throw JobQueueError.leaseLost(lease.job.id) }
                // The holder's copy now has the mark, so its next heartbeat or settle need not read the record.
                self.deliveriesRemember(lease.token, (marked.record, marked.revision))
            }
            try self.bucket.put(LedgerKey.checkpoint(lease.job.id, key), value)
        }
    }

    package func checkpoints(jobID: String) async throws -> [String: Data] {
        try await self.blocking { _ in
            var found: [String: Data] = [:]
            if let (record, _) = try self.read(jobID), record.checkpointed == false {
                return found
            }
            for (key, value) in try self.bucket.scan(LedgerKey.checkpoints(jobID)) {
                if let name = LedgerKey.checkpointName(key, jobID: jobID) { found[name] = value }
            }
            return found
        }
    }

    package func pendingWork() async throws -> PendingWork {
        try await self.blocking { _ in
            let jobs = try self.allRecords().map(\.job)
            return PendingWork(
                queued: jobs.count { $0.status == .queued }, running: jobs.count { $0.status == .running },
                nextRetry: jobs.filter { $0.status == .failed }.map(\.runAfter).min())
        }
    }

    /// Publishes again every queued job whose message may never have reached the stream (its enqueue crashed after
    /// the ledger write), if it was written more than `grace` ago; returns how many. A worker calls it at start.
    @discardableResult
    package func republishUnsent(olderThan grace: Duration = .seconds(30)) async throws -> Int {
        try await self.blocking { _ in
            let cutoff = self.now().addingTimeInterval(-grace.seconds)
            var count = 0
            for record in try self.allRecords()
            where !record.published && record.job.status == .queued && record.job.updatedAt <= cutoff {
                _ = try self.ensurePublished(record)
                count += 1
            }
            return count
        }
    }

    /// Every job record in the bucket.
    func allRecords() throws -> [LedgerRecord] {
        try self.bucket.scan("job.>").compactMap { try? JSONDecoder().decode(LedgerRecord.self, from: $0.value) }
    }

    // MARK: enqueue, in its steps

    /// The first half of enqueue: the job's record in the ledger, or the record its idempotency key already names.
    /// Publishes nothing. A record whose message is already in the stream (a producer's, at stream sequence
    /// `carrier`) is written as published. The revision is the record's as read or written.
    ///
    /// A keyed job's identifier ends in a digest of its key, and a record lives in the slot of its identifier's
    /// tail (``LedgerKey/job(_:)``), so one create both claims the key and writes the record: two enqueuers of one
    /// key race for one slot, and the loser reads the winner's job. There is no window between a claim and its
    /// record.
    func writeRecord(for request: EnqueueRequest, carrier: UInt64? = nil) throws -> (
        record: LedgerRecord, revision: UInt64, created: Bool
    ) {
        let now = self.now()
        // A random tail that another job already has (a chance of 2^-80 a pair) draws again.
        for _ in 0..<4 {
            let id =
                request.idempotencyKey.map { JobID.make(at: now, digest: LedgerKey.digest(ofKey: $0)) }
                ?? JobID.make(at: now)
            let job = Job(
                id: id, kind: request.payload.kind, idempotencyKey: request.idempotencyKey, origin: request.origin,
                priority: request.priority, payload: request.payload,
                maxAttempts: request.maxAttempts ?? self.defaultMaxAttempts, createdAt: now, updatedAt: now,
                runAfter: now)
            let record = LedgerRecord(
                job: job, dispatch: 1, published: carrier != nil, lease: nil, carrier: carrier,
                history: [LedgerRecord.StatusChange(status: .queued, at: now, attempts: 0)])
            if let revision = try self.bucket.create(LedgerKey.job(id), try self.encode(record)) {
                return (record, revision, true)
            }
            // Taken: by the job of this key, or (for a purged slot) by nobody any more.
            guard let (existing, revision) = try self.readSlot(LedgerKey.job(id)) else { continue }
            guard let key = request.idempotencyKey else { continue }
            guard existing.job.idempotencyKey == key else {
                throw JobQueueError.storage(
                    "idempotency key \(key): its ledger slot holds job \(existing.job.id) of another key")
            }
            return (existing, revision, false)
        }
        throw JobQueueError.storage("job record: no free ledger slot in 4 attempts")
    }

    /// The second half: publishes the record's message unless it is marked published, then marks it.
    ///
    /// The message id is the idempotency key (or the job id) for the first dispatch, and `<job id>.<dispatch>` for
    /// later ones, so a repeated publish of one dispatch is dropped by the server within its duplicate window.
    ///
    /// With the record's `revision` (the caller has just read or written it), the mark is sent without waiting for
    /// it: the mark only spares ``republishUnsent(olderThan:)`` a needless publish. If it is lost, or loses to a
    /// worker's claim (which marks the record itself), the message is in the stream all the same, and a message
    /// published again is dropped by the server as a duplicate or disposed of as stale by the claim.
    func ensurePublished(_ record: LedgerRecord, revision: UInt64? = nil) throws -> LedgerRecord {
        guard !record.published, record.job.status == .queued else { return record }
        let job = record.job
        let messageID = record.dispatch == 1 ? (job.idempotencyKey ?? job.id) : "\(job.id).\(record.dispatch)"
        let body = try JSONEncoder().encode(WorkMessage(jobID: job.id, dispatch: record.dispatch))
        try self.connection.publish(body, to: NATSSettings.subject(for: job.kind), messageID: messageID)
        if let revision {
            var marked = record
            marked.published = true
            try? self.bucket.updateUnconfirmed(LedgerKey.job(job.id), try self.encode(marked), revision: revision)
            return marked
        }
        let outcome = try self.modify(job.id) { current -> Bool in
            guard current.dispatch == record.dispatch, !current.published else { return false }
            current.published = true
            return true
        }
        return outcome?.record ?? record
    }
}
