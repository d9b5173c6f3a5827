import Foundation
import PipelineCore

/// A job record as read from (or last written to) the bucket, with its revision: where a compare-and-set starts.
typealias StoredRecord = (record: LedgerRecord, revision: UInt64)

/// What the KV bucket keeps for one job: the job itself, which stream message carries it, who leases it, and how
/// its status changed.
struct LedgerRecord: Codable, Sendable, Equatable {
    /// The job, as the ledger's readers see it.
    var job: Job
    /// Counts the messages published for this job; a delivered message with another number is stale and dropped.
    var dispatch: Int
    /// Whether the message for `dispatch` is known to be in the stream: false between the ledger write and the
    /// publish, so a crash there is repaired by the next enqueue with the same key, or by
    /// ``JetStreamJobQueue/republishUnsent(olderThan:)``.
    var published: Bool
    /// The current lease, while the job runs.
    var lease: Holder?
    /// The stream sequence of the producer's own message that carries the job, when a producer published it
    /// (nil for jobs enqueued through the ledger, whose messages are ``WorkMessage``s).
    var carrier: UInt64?
    /// Every status the job has had, oldest first.
    var history: [StatusChange]
    /// Whether a checkpoint may have been stored for the job: false for a job that never saved one, so that
    /// reading or clearing its checkpoints (a scan of the bucket, a consumer made and removed) can be skipped.
    /// Absent in records written before it existed, which are scanned.
    var checkpointed: Bool? = false

    /// Who holds a lease.
    struct Holder: Codable, Sendable, Equatable {
        /// The lease token handed to the worker.
        var token: String
        /// The worker (`host:pid`).
        var owner: String
        /// The stream sequence of the message the lease came from; another copy of it is not this lease.
        var streamSequence: UInt64
    }

    /// One entry of the status history.
    struct StatusChange: Codable, Sendable, Equatable {
        /// The status entered.
        var status: JobStatus
        /// When.
        var at: Date
        /// The attempt count then.
        var attempts: Int
    }

    /// Moves the job to `status` at `date`, recording it in the history.
    mutating func enter(_ status: JobStatus, at date: Date) {
        self.job.status = status
        self.job.updatedAt = date
        self.history.append(StatusChange(status: status, at: date, attempts: self.job.attempts))
    }
}

extension LedgerRecord {
    /// The record as stored: the members `JSONEncoder` writes for it (absent optionals left out), with the same
    /// values, written directly.
    func json() throws -> Data {
        var writer = JSONWriter()
        try writer.object { writer in
            if let carrier = self.carrier {
                writer.key("carrier")
                writer.integer(carrier)
            }
            if let checkpointed = self.checkpointed {
                writer.key("checkpointed")
                writer.bool(checkpointed)
            }
            writer.key("dispatch")
            writer.integer(self.dispatch)
            writer.key("history")
            try writer.array(self.history) { writer, change in
                try writer.object { writer in
                    writer.key("at")
                    try writer.date(change.at)
                    writer.key("attempts")
                    writer.integer(change.attempts)
                    writer.key("status")
                    writer.string(change.status.rawValue)
                }
            }
            writer.key("job")
            try self.job.write(to: &writer)
            if let lease = self.lease {
                writer.key("lease")
                writer.object { writer in
                    writer.key("owner")
                    writer.string(lease.owner)
                    writer.key("streamSequence")
                    writer.integer(lease.streamSequence)
                    writer.key("token")
                    writer.string(lease.token)
                }
            }
            writer.key("published")
            writer.bool(self.published)
        }
        return writer.data
    }
}

/// The body of a stream message: which job, and which of its dispatches.
struct WorkMessage: Codable, Sendable, Equatable {
    /// The job's id.
    var jobID: String
    /// The record's `dispatch` when this message was published.
    var dispatch: Int

    private enum CodingKeys: String, CodingKey {
        case jobID = "job_id"
        case dispatch
    }
}

/// The KV keys of the ledger: `job.<tail of id>`, `chunk.<id>.<hex of checkpoint key>`, `letter.<stream sequence>`.
///
/// A job's record is in the slot of its identifier's last 80 bits, which for a keyed job are a digest of its
/// idempotency key: the key alone finds the slot, so claiming a key is creating its record. (Ledgers written
/// before this layout held `job.<id>` and `key.<hex of key>`; ``JetStreamJobQueue`` refuses to open one.)
enum LedgerKey {
    /// The dead letter of the message at `sequence`.
    static func deadLetter(_ sequence: UInt64) -> String { "letter.\(sequence)" }

    /// The slot of job `id`'s record: `job.` and the identifier's tail.
    static func job(_ id: String) -> String { "job.\(JobID.tail(of: id))" }

    /// What a keyed job's identifier is made from (``JobID/make(at:digest:)``): SHA-256 of the key, so that nobody
    /// can choose a key whose slot is another key's.
    static func digest(ofKey key: String) -> [UInt8] { SHA256.hash(Array(key.utf8)) }

    /// The idempotency claims of the earlier layout, whose presence marks a ledger this build cannot read.
    static let earlierLayoutClaims = "key.>"

    /// One checkpoint of job `id`.
    static func checkpoint(_ id: String, _ key: String) -> String { "chunk.\(id).\(self.hex(key))" }

    /// The filter matching every checkpoint of job `id`.
    static func checkpoints(_ id: String) -> String { "chunk.\(id).>" }

    /// The checkpoint key a KV key stands for, given the job.
    static func checkpointName(_ kvKey: String, jobID: String) -> String? {
        let prefix = "chunk.\(jobID)."
        guard kvKey.hasPrefix(prefix) else { return nil }
        return self.unhex(String(kvKey.dropFirst(prefix.count)))
    }

    // KV keys allow only letters, digits and `-/_=.`; hex keeps any text (and the empty string, as `-`) valid.
    private static func hex(_ text: String) -> String {
        text.isEmpty ? "-" : Hex.encode(text.utf8)
    }

    private static func unhex(_ text: String) -> String? {
        if text == "-" { return "" }
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2, limitedBy: text.endIndex) ?? text.endIndex
            guard let byte = UInt8(text[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
