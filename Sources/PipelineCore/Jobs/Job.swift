import Foundation

/// One unit of queued work and everything known about it.
package struct Job: Sendable, Codable, Equatable, Identifiable {
    /// A unique, sortable identifier (`job_` and 26 characters).
    package var id: String
    /// Transcribe or synthesize.
    package var kind: JobKind
    /// Where it is in its life.
    package var status: JobStatus
    /// The key that makes enqueueing idempotent: the same key returns this job.
    package var idempotencyKey: String?
    /// Who submitted it, which decides what it may name (only the command line may name local files).
    package var origin: JobOrigin
    /// Higher runs first; ties run oldest first.
    package var priority: Int
    /// What to do.
    package var payload: JobPayload
    /// Attempts started so far, including the one running.
    package var attempts: Int
    /// After this many attempts a failing job is dead.
    package var maxAttempts: Int
    /// Why the last attempt failed, if it did.
    package var error: JobError?
    /// Chunks (or pieces) done out of the total, once known.
    package var progress: JobProgress
    /// When it was enqueued.
    package var createdAt: Date
    /// When anything about it last changed.
    package var updatedAt: Date
    /// The earliest time it may be leased (the retry time for a failed job).
    package var runAfter: Date
    /// Whether someone asked to cancel it while it was running.
    package var cancelRequested: Bool
    /// Storage keys the job wrote.
    package var outputs: [String]
    /// The job's result summary (for a transcription: the transcript summary with its chunk list), as JSON.
    package var result: JSONValue?

    /// Creates a job record.
    package init(
        id: String, kind: JobKind, status: JobStatus = .queued, idempotencyKey: String? = nil,
        origin: JobOrigin = .commandLine, priority: Int = 0,
        payload: JobPayload, attempts: Int = 0, maxAttempts: Int = 5, error: JobError? = nil,
        progress: JobProgress = JobProgress(), createdAt: Date, updatedAt: Date, runAfter: Date,
        cancelRequested: Bool = false, outputs: [String] = [], result: JSONValue? = nil
    ) {
        self.id = id
        self.kind = kind
        self.status = status
        self.idempotencyKey = idempotencyKey
        self.origin = origin
        self.priority = priority
        self.payload = payload
        self.attempts = attempts
        self.maxAttempts = maxAttempts
        self.error = error
        self.progress = progress
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.runAfter = runAfter
        self.cancelRequested = cancelRequested
        self.outputs = outputs
        self.result = result
    }

    private enum CodingKeys: String, CodingKey {
        case id, kind, status, origin, priority, payload, attempts, error, progress, outputs, result
        case idempotencyKey = "idempotency_key"
        case maxAttempts = "max_attempts"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case runAfter = "run_after"
        case cancelRequested = "cancel_requested"
    }

    /// Writes every field, absent ones as `null`, so readers always find `error`, `result` and `idempotency_key`.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.id, forKey: .id)
        try container.encode(self.kind, forKey: .kind)
        try container.encode(self.status, forKey: .status)
        try container.encode(self.idempotencyKey, forKey: .idempotencyKey)
        try container.encode(self.origin, forKey: .origin)
        try container.encode(self.priority, forKey: .priority)
        try container.encode(self.payload, forKey: .payload)
        try container.encode(self.attempts, forKey: .attempts)
        try container.encode(self.maxAttempts, forKey: .maxAttempts)
        try container.encode(self.error, forKey: .error)
        try container.encode(self.progress, forKey: .progress)
        try container.encode(self.createdAt, forKey: .createdAt)
        try container.encode(self.updatedAt, forKey: .updatedAt)
        try container.encode(self.runAfter, forKey: .runAfter)
        try container.encode(self.cancelRequested, forKey: .cancelRequested)
        try container.encode(self.outputs, forKey: .outputs)
        try container.encode(self.result, forKey: .result)
    }
}

extension Job {
    /// Writes what ``encode(to:)`` writes (the same keys, the same values, every absent one as `null`), without
    /// `JSONEncoder`'s generic path: the JetStream ledger writes a job on every queue operation.
    package func write(to writer: inout JSONWriter) throws {
        try writer.object { writer in
            writer.key(CodingKeys.attempts.stringValue)
            writer.integer(self.attempts)
            writer.key(CodingKeys.cancelRequested.stringValue)
            writer.bool(self.cancelRequested)
            writer.key(CodingKeys.createdAt.stringValue)
            try writer.date(self.createdAt)
            writer.key(CodingKeys.error.stringValue)
            if let error = self.error {
                writer.object { writer in
                    writer.key("details")
                    writer.array(error.details) { writer, detail in writer.string(detail) }
                    writer.key("kind")
                    writer.string(error.kind)
                    writer.key("message")
                    writer.string(error.message)
                    writer.key("permanent")
                    writer.bool(error.permanent)
                }
            } else {
                writer.null()
            }
            writer.key(CodingKeys.id.stringValue)
            writer.string(self.id)
            writer.key(CodingKeys.idempotencyKey.stringValue)
            writer.string(self.idempotencyKey)
            writer.key(CodingKeys.kind.stringValue)
            writer.string(self.kind.rawValue)
            writer.key(CodingKeys.maxAttempts.stringValue)
            writer.integer(self.maxAttempts)
            writer.key(CodingKeys.origin.stringValue)
            writer.string(self.origin.rawValue)
            writer.key(CodingKeys.outputs.stringValue)
            writer.array(self.outputs) { writer, output in writer.string(output) }
            writer.key(CodingKeys.payload.stringValue)
            try self.payload.write(to: &writer)
            writer.key(CodingKeys.priority.stringValue)
            writer.integer(self.priority)
            writer.key(CodingKeys.progress.stringValue)
            writer.object { writer in
                writer.key("done")
                writer.integer(self.progress.done)
                writer.key("total")
                if let total = self.progress.total { writer.integer(total) } else { writer.null() }
            }
            writer.key(CodingKeys.result.stringValue)
            if let result = self.result { try writer.value(result) } else { writer.null() }
            writer.key(CodingKeys.runAfter.stringValue)
            try writer.date(self.runAfter)
            writer.key(CodingKeys.status.stringValue)
            writer.string(self.status.rawValue)
            writer.key(CodingKeys.updatedAt.stringValue)
            try writer.date(self.updatedAt)
        }
    }
}

/// How far a running job has got.
package struct JobProgress: Sendable, Codable, Equatable {
    /// Units finished.
    package var done: Int
    /// Units in all, or nil while unknown (a transcription learns its chunk count as it decodes).
    package var total: Int?

    /// Creates progress.
    package init(done: Int = 0, total: Int? = nil) {
        self.done = done
        self.total = total
    }

    private enum CodingKeys: String, CodingKey {
        case done, total
    }

    /// Writes `total` as `null` while it is unknown.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.done, forKey: .done)
        try container.encode(self.total, forKey: .total)
    }
}

/// Why a job attempt failed, kept with the job.
package struct JobError: Sendable, Codable, Equatable, Error {
    /// A stable category: `bad_input`, `provider`, `storage`, `internal`, `cancelled`, `lease_lost`, ...
    package var kind: String
    /// One line for people.
    package var message: String
    /// True when retrying cannot help (bad input), so the job goes straight to `dead`.
    package var permanent: Bool
    /// Further facts, e.g. every provider's error for a chunk that failed everywhere.
    package var details: [String]

    /// Creates an error record.
    package init(kind: String, message: String, permanent: Bool, details: [String] = []) {
        self.kind = kind
        self.message = message
        self.permanent = permanent
        self.details = details
    }
}
