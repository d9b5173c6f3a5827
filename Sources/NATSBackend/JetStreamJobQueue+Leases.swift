import Foundation
import PipelineCore
import Synchronization

extension LedgerRecord {
    /// Whether `lease` is the job's current lease.
    func holds(_ lease: JobLease) -> Bool {
        self.job.status == .running && self.lease?.token == lease.token
    }
}

extension JetStreamJobQueue {
    /// What to tell JetStream about a message once the ledger has changed.
    enum Reply {
        /// Done with it: the stream drops it.
        case acknowledge
        /// Deliver it again after the delay.
        case redeliver(after: Duration)
        /// Never deliver it again, and remove it from the stream.
        case terminate
    }

    /// Reads, changes and writes back job `id`'s record with compare-and-set, retrying when another process changed
    /// it in between; `change` returns whether to write. Nil when there is no such job.
    ///
    /// `known` is the record as this process last wrote it, with its revision (a lease holder's copy): the first
    /// attempt starts from it instead of reading, saving a round trip whenever nobody else has written since. A copy
    /// that turns out stale fails the compare-and-set, and a change refused on it is asked again of the stored
    /// record, so the outcome is the same as if the record had been read.
    func modify(
        _ id: String, known: StoredRecord? = nil,
        _ change: (inout LedgerRecord) throws -> Bool
    ) throws -> (record: LedgerRecord, changed: Bool, revision: UInt64)? {
        // The copy to start from, and whether it was just read (a change refused on a read record is the answer).
        var start = known.map { (record: $0.record, revision: $0.revision, read: false) }
        for _ in 0..<64 {
            let current: (record: LedgerRecord, revision: UInt64, read: Bool)
            if let start {
                current = start
            } else {
                guard let stored = try self.read(id) else { return nil }
                current = (stored.record, stored.revision, true)
            }
            start = nil
            var changed = current.record
            guard try change(&changed) else {
                if current.read { return (current.record, false, current.revision) }
                continue
            }
            if let written = try self.bucket.update(
                LedgerKey.job(id), try self.encode(changed), revision: current.revision)
            {
                return (changed, true, written)
            }
        }
        throw JobQueueError.storage("job \(id): the record kept changing under 64 attempts to update it")
    }

    /// Job `id`'s record and its revision, or nil (also for a text that is no job identifier).
    func read(_ id: String) throws -> StoredRecord? {
        guard JobID.isValid(id), let stored = try self.readSlot(LedgerKey.job(id)), stored.record.job.id == id else {
            return nil
        }
        return stored
    }

    /// The record in ledger slot `key` and its revision, or nil.
    func readSlot(_ key: String) throws -> StoredRecord? {
        guard let (value, revision) = try self.bucket.get(key) else { return nil }
        do {
            return (try JSONDecoder().decode(LedgerRecord.self, from: value), revision)
        } catch {
            throw JobQueueError.storage("ledger \(key): the stored record is malformed: \(error)")
        }
    }

    /// The record as stored.
    func encode(_ record: LedgerRecord) throws -> Data {
        try record.json()
    }

    /// Turns a fetched message into a lease, or disposes of it (stale, finished, cancelled, out of attempts) and
    /// returns nil so the caller fetches the next.
    func claim(_ message: NATSHandle, owner: String) throws -> JobLease? {
        do {
            return try self.claimOrDispose(message, owner: owner)
        } catch {
            // Unanswered, the message comes back after the ack wait, when the ledger may be reachable again.
            NATSMessage.destroy(message)
            throw error
        }
    }

    private func claimOrDispose(_ message: NATSHandle, owner: String) throws -> JobLease? {
        let body = NATSMessage.body(of: message.pointer)
        let (sequence, delivered) = try NATSMessage.metadata(of: message)
        let work: WorkMessage
        if let named = try? JSONDecoder().decode(WorkMessage.self, from: body) {
            work = named
        } else if let admitted = try self.admit(body, of: message, streamSequence: sequence) {
            work = admitted
        } else {
            // A message that can never be a job is a dead letter: stop it instead of redelivering it forever.
            self.reply(.terminate, to: message, streamSequence: sequence)
            return nil
        }
        let token = "\(sequence).\(delivered).\(UUID().uuidString)"
        var reply = Reply.acknowledge
        let outcome = try self.modify(work.jobID) { record -> Bool in
            // A message from an earlier dispatch (the job was retried by hand since) is left over: drop it.
            guard record.dispatch == work.dispatch else { return false }
            let now = self.now()
            switch record.job.status {
            case .queued, .failed:
                break
            case .running:
                // Another copy of the message (a publish repeated after a crash) while the job runs: drop it.
                guard record.lease?.streamSequence == sequence else { return false }
                // Redelivered: the holder's lease expired.
                if record.job.cancelRequested {
                    record.lease = nil
                    record.job.cancelRequested = false
                    record.enter(.cancelled, at: now)
                    return true
                }
                if record.job.attempts >= record.job.maxAttempts {
                    record.job.error = .workerLost(
                        owner: record.lease?.owner ?? "unknown", attempts: record.job.attempts)
                    record.lease = nil
                    record.enter(.dead, at: now)
                    reply = .terminate
                    return true
                }
            case .succeeded, .dead, .cancelled:
                return false
            }
            record.job.attempts += 1
            record.published = true
            record.lease = LedgerRecord.Holder(token: token, owner: owner, streamSequence: sequence)
            record.enter(.running, at: now)
            return true
        }
        guard let outcome, outcome.changed, outcome.record.job.status == .running else {
            self.reply(outcome == nil ? .terminate : reply, to: message, streamSequence: sequence)
            return nil
        }
        self.deliveriesInsert(
            token,
            Delivery(message: message, streamSequence: sequence, known: (outcome.record, outcome.revision)))
        return JobLease(job: outcome.record.job, token: token, owner: owner)
    }

    /// Ends an attempt: the ledger first, then the message, so a crash in between leaves the ledger right and the
    /// message, when redelivered, is disposed of by ``claim(_:owner:)``.
    func finish(_ lease: JobLease, _ settlement: JobSettlement) throws -> Job {
        let delivery = try self.delivery(for: lease)
        var reply = Reply.acknowledge
        var succeeded = false
        let outcome = try self.modify(lease.job.id, known: delivery.known) { record -> Bool in
            guard record.holds(lease) else { return false }
            let now = self.now()
            record.lease = nil
            var settlement = settlement
            if record.job.cancelRequested {
                if case .succeeded = settlement {} else { settlement = .cancelled }
            }
            switch settlement {
            case .succeeded(let outputs, let result, let progress):
                record.job.outputs = outputs
                record.job.result = result
                record.job.progress = progress
                record.job.error = nil
                record.job.cancelRequested = false
                record.enter(.succeeded, at: now)
                reply = .acknowledge
                succeeded = true
            case .retry(let error, let delay):
                record.job.error = error
                record.job.runAfter = now.addingTimeInterval(delay.seconds)
                record.enter(.failed, at: now)
                reply = .redeliver(after: delay)
            case .dead(let error):
                record.job.error = error
                record.enter(.dead, at: now)
                reply = .terminate
            case .cancelled:
                record.job.cancelRequested = false
                record.enter(.cancelled, at: now)
                reply = .acknowledge
            case .released:
                record.job.attempts = max(record.job.attempts - 1, 0)
                record.enter(.queued, at: now)
                reply = .redeliver(after: .zero)
            }
            return true
        }
        self.forget(lease.token, destroying: false)
        guard let outcome, outcome.changed else {
            NATSMessage.destroy(delivery.message)
            throw JobQueueError.leaseLost(lease.job.id)
        }
        self.reply(reply, to: delivery.message, streamSequence: delivery.streamSequence)
        if succeeded, outcome.record.checkpointed != false {
            // A finished job's chunks are in its outputs. The job is settled already: a purge that fails leaves
            // checkpoints behind, never an error that would make the caller think the settle failed.
            do {
                for (key, _) in try self.bucket.scan(LedgerKey.checkpoints(lease.job.id)) {
                    try self.bucket.purge(key)
                }
            } catch {}
        }
        return outcome.record.job
    }

    /// Answers JetStream for `message` and frees it.
    ///
    /// Failures are not thrown: the ledger already says what happened, and a message whose answer was lost comes
    /// back after the ack wait, when ``claim(_:owner:)`` disposes of it.
    func reply(_ reply: Reply, to message: NATSHandle, streamSequence: UInt64?) {
        defer { NATSMessage.destroy(message) }
        switch reply {
        case .acknowledge:
            try? NATSMessage.acknowledge(message)
        case .redeliver(let delay):
            try? NATSMessage.reject(message, redeliverAfter: delay)
        case .terminate:
            try? NATSMessage.terminate(message)
            // A work-queue stream keeps terminated messages; nothing will read this one again.
            if let streamSequence {
                try? self.connection.deleteMessage(stream: self.settings.stream, sequence: streamSequence)
            }
        }
    }

    /// How often a running worker reads the stored advisories even when none was heard (one sent while the
    /// connection was down is heard by nobody).
    static let advisorySweepInterval = Duration.seconds(60)

    /// Marks dead every job whose message JetStream stopped delivering (the max-deliveries advisory), and removes
    /// that message from the stream; the number of jobs marked dead.
    ///
    /// The advisories heard live are handled at once. The stored copies are read when one was heard (its copy is
    /// handled again and finds nothing to do), on the first call, and at least every ``advisorySweepInterval``: so a
    /// job whose advisory came while no worker listened is marked dead by the next worker that leases.
    @discardableResult
    func stopOverDelivered(flag: CancellationFlag) throws -> Int {
        var stopped = 0
        var heard = false
        while let advisory = try self.advisories.next() {
            heard = true
            // One that cannot be handled now is handled from its stored copy.
            stopped += (try? self.stopOverDelivered(advisory)) == true ? 1 : 0
        }
        let now = ContinuousClock.now
        let due = self.advisorySweep.withLock { last -> Bool in
            guard heard || last.map({ last in last.duration(to: now) >= Self.advisorySweepInterval }) ?? true else {
                return false
            }
            last = now
            return true
        }
        guard due else { return stopped }
        self.sweeping.withLock { _ in
            // At most a batch per look, so a backlog after an outage does not hold one lease for long; an advisory
            // that cannot be handled now is not acknowledged and comes back after its ack wait, without failing
            // the lease that looked.
            for _ in 0..<Self.advisoriesPerSweep {
                guard !flag.isCancelled, let message = try? self.storedAdvisories.fetch(until: .now, flag: flag) else {
                    return
                }
                defer { NATSMessage.destroy(message) }
                guard let dead = try? self.stopOverDelivered(NATSMessage.body(of: message.pointer)) else { return }
                stopped += dead ? 1 : 0
                try? NATSMessage.acknowledge(message)
            }
        }
        return stopped
    }

    /// The most stored advisories read in one look.
    static let advisoriesPerSweep = 256

    /// Handles one max-deliveries advisory: the job its message carried is dead unless it has moved on since, and
    /// the message goes from the stream. True when a job was marked dead.
    private func stopOverDelivered(_ advisory: Data) throws -> Bool {
        guard
            let object = try? JSONSerialization.jsonObject(with: advisory) as? [String: Any],
            // Only about this queue's stream and consumer: anyone who may publish on the advisory subject must
            // not be able to kill jobs of another stream's sequence numbers.
            object["stream"] as? String == self.settings.stream,
            object["consumer"] as? String == self.settings.consumer,
            let sequence = (object["stream_seq"] as? NSNumber)?.uint64Value,
            let body = try self.connection.message(stream: self.settings.stream, sequence: sequence)
        else { return false }
        // A producer's own message names no job: the job is the one it carries (rare: the scan runs only for an
        // advisory).
        var work = try? JSONDecoder().decode(WorkMessage.self, from: body)
        if work == nil {
            work = try self.allRecords().first {
                $0.job.status.isActive && ($0.carrier == sequence || $0.lease?.streamSequence == sequence)
            }.map { WorkMessage(jobID: $0.job.id, dispatch: $0.dispatch) }
        }
        var stopped = false
        if let work {
            let deliveries = self.settings.maxDeliveries
            stopped =
                try self.modify(work.jobID) { record -> Bool in
                    guard record.dispatch == work.dispatch, record.job.status.isActive else { return false }
                    record.job.error = JobError(
                        kind: "max_deliveries",
                        message: "JetStream delivered the job's message \(deliveries) times without an acknowledgement",
                        permanent: false)
                    record.lease = nil
                    record.job.cancelRequested = false
                    record.enter(.dead, at: self.now())
                    return true
                }?.changed ?? false
        }
        try self.connection.deleteMessage(stream: self.settings.stream, sequence: sequence)
        return stopped
    }

    /// The message behind `lease`, if this process holds it; else the lease is lost.
    func delivery(for lease: JobLease) throws -> Delivery {
        guard let delivery = self.deliveriesLookup(lease.token) else {
            throw JobQueueError.leaseLost(lease.job.id)
        }
        return delivery
    }

    /// Drops the registry's entry for `token`, freeing its message unless the caller still answers it.
    func forget(_ token: String, destroying: Bool = true) {
        if let delivery = self.deliveriesRemove(token), destroying {
            NATSMessage.destroy(delivery.message)
        }
    }
}
