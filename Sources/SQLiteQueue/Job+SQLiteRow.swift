import Foundation
import PipelineCore

extension Job {
    /// Reads a job from a row of ``SQLiteSchema/jobColumns``, or throws naming the job and the malformed column.
    ///
    /// The STRICT table's types and NOT NULL constraints guarantee the integer columns; only text can be unreadable.
    init(row: borrowing SQLiteStatement, decoder: JSONDecoder) throws(JobQueueError) {
        guard let id = row.text(0) else {
            throw .storage("a stored job has no id")
        }
        func malformed(_ column: String, _ reason: String) -> JobQueueError {
            .storage("stored job \(id) is malformed: column \(column) \(reason)")
        }
        func decode<Value: Decodable>(_ type: Value.Type, _ column: String, _ text: String?) throws(JobQueueError)
            -> Value?
        {
            guard let text else { return nil }
            do {
                return try decoder.decode(type, from: Data(text.utf8))
            } catch {
                throw malformed(column, "does not hold a \(type): \(Self.describe(error))")
            }
        }
        guard let kind = row.text(1).flatMap(JobKind.init(rawValue:)) else {
            throw malformed("kind", "holds '\(row.text(1) ?? "NULL")', not a job kind")
        }
        guard let status = row.text(2).flatMap(JobStatus.init(rawValue:)) else {
            throw malformed("status", "holds '\(row.text(2) ?? "NULL")', not a job status")
        }
        guard let payload = try decode(JobPayload.self, "payload", row.text(5)) else {
            throw malformed("payload", "is NULL")
        }
        guard payload.kind == kind else {
            throw malformed("payload", "is a \(payload.kind.rawValue) payload for a \(kind.rawValue) job")
        }
        guard let outputs = try decode([String].self, "outputs", row.text(15)) else {
            throw malformed("outputs", "is NULL")
        }
        guard let origin = row.text(17).flatMap(JobOrigin.init(rawValue:)) else {
            throw malformed("origin", "holds '\(row.text(17) ?? "NULL")', not an origin")
        }
        self.init(
            id: id, kind: kind, status: status, idempotencyKey: row.text(3), origin: origin,
            priority: Int(row.integer(4)),
            payload: payload, attempts: Int(row.integer(6)), maxAttempts: Int(row.integer(7)),
            error: try decode(JobError.self, "error", row.text(8)),
            progress: JobProgress(
                done: Int(row.integer(9)), total: row.isNull(10) ? nil : Int(row.integer(10))),
            createdAt: Date(milliseconds: row.integer(11)), updatedAt: Date(milliseconds: row.integer(12)),
            runAfter: Date(milliseconds: row.integer(13)), cancelRequested: row.integer(14) != 0, outputs: outputs,
            result: try decode(JSONValue.self, "result", row.text(16)))
    }

    /// A decoding failure in one line: what was wrong and where.
    private static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        let context: DecodingError.Context
        switch error {
        case .dataCorrupted(let value), .keyNotFound(_, let value), .typeMismatch(_, let value),
            .valueNotFound(_, let value):
            context = value
        @unknown default:
            return "\(error)"
        }
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        return path.isEmpty ? context.debugDescription : "\(context.debugDescription) (at \(path))"
    }
}
