import Foundation

/// The record of every job: what it is, where it stands, and the finished parts of its work.
///
/// SQLite keeps the ledger in the same database as the queue; JetStream keeps it in a KV bucket beside the stream.
/// Operators and producers read it (`jobs list`, `GET /v1/jobs`), change it (cancel, retry), and workers keep
/// checkpoints in it so a resumed job does not redo finished chunks.
package protocol JobLedger: Sendable {
    /// The job with this id, or nil.
    func job(id: String) async throws -> Job?

    /// Jobs, newest first, optionally only those with `status`.
    func jobs(status: JobStatus?, limit: Int) async throws -> [Job]

    /// Cancels a job: a queued or failed job at once; a running one is asked to stop (its worker notices at its
    /// next heartbeat). Finished jobs are returned unchanged.
    func cancel(id: String) async throws -> Job

    /// Returns a dead, failed or cancelled job to `queued` with its attempts reset, keeping its checkpoints.
    func retry(id: String) async throws -> Job

    /// Stores a finished unit of work (a transcribed chunk) with the leased job, replacing any under the same key.
    func saveCheckpoint(_ lease: JobLease, key: String, value: Data) async throws

    /// Every checkpoint stored for a job, by key.
    func checkpoints(jobID: String) async throws -> [String: Data]

    /// How much work is left: jobs queued, jobs running (anywhere), and the earliest scheduled retry.
    func pendingWork() async throws -> PendingWork
}

/// How much work a queue still holds, for deciding whether a draining worker may stop.
package struct PendingWork: Sendable, Equatable {
    /// Jobs waiting to be leased.
    package var queued: Int
    /// Jobs leased (by any worker), including leases that have expired.
    package var running: Int
    /// The earliest time a failed job will be retried, if any is scheduled.
    package var nextRetry: Date?

    /// Creates a value.
    package init(queued: Int, running: Int, nextRetry: Date?) {
        self.queued = queued
        self.running = running
        self.nextRetry = nextRetry
    }
}

/// The two seams of one job backend, as the composition root hands them out.
package struct JobBackend: Sendable {
    /// The work.
    package var queue: any WorkQueue
    /// The record.
    package var ledger: any JobLedger
    /// Bumped when any process changes the backend, where the backend can tell (SQLite's file watcher): waiters in
    /// a process without a worker of its own re-read the ledger then, instead of polling it.
    package var changes: ChangeSignal?

    /// Pairs a queue with its ledger.
    package init(queue: any WorkQueue, ledger: any JobLedger, changes: ChangeSignal? = nil) {
        self.queue = queue
        self.ledger = ledger
        self.changes = changes
    }
}

extension JobLedger {
    /// Job `job` as `jobs show` and `GET /v1/jobs/{id}` show it: the record, how many finished chunks are
    /// checkpointed (what a resumed run will not send again), and what its attempts have sent to providers
    /// (`budget`), while it runs or after it failed.
    package func view(of job: Job) async throws -> JSONValue {
        var checkpoints = try await self.checkpoints(jobID: job.id)
        guard case .object(var members) = try JSONValue(encoding: job) else { return try JSONValue(encoding: job) }
        if let data = checkpoints.removeValue(forKey: JobExecutor.spendKey),
            let spend = try? JSONDecoder().decode(ProviderBudget.Spend.self, from: data), members["budget"] == nil
        {
            members["budget"] = try JSONValue(encoding: spend)
        }
        members["checkpoints"] = .number(Double(checkpoints.count))
        return .object(members)
    }
}
