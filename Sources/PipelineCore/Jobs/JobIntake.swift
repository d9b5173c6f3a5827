import Foundation

/// Jobs that producers publish themselves, one JSON job per message on a queue's request subject (the schema of
/// `POST /v1/jobs`, see ``JobSubmission``), checked by ``JobRequests`` as every submission is.
package struct JobIntake: Sendable {
    /// Defaults for what a message leaves out.
    package var defaults: JobSubmission.Defaults
    /// The request rules.
    package var requests: JobRequests
    /// The largest message taken, in bytes; a job is a few hundred (speech text makes it longer).
    package var maximumBytes: Int

    /// Creates an intake.
    package init(defaults: JobSubmission.Defaults, requests: JobRequests, maximumBytes: Int = 1 << 20) {
        self.defaults = defaults
        self.requests = requests
        self.maximumBytes = maximumBytes
    }

    /// The request a message published for jobs of `kind` stands for, checked by ``JobRequests``; `key` is its
    /// idempotency key when the job names none.
    ///
    /// - Throws: ``RequestError`` saying why the message can never be a job: empty, too large, not JSON, not a job,
    ///   a job of the other kind, or a job that names something invalid.
    package func request(from body: Data, kind: JobKind, key: String? = nil) throws(RequestError) -> EnqueueRequest {
        try self.requests.validate(try self.submission(from: body, kind: kind, key: key))
    }

    /// The request a message stands for, parsed but not yet checked by ``JobRequests`` (a message whose job exists
    /// already is its job, whatever the rules say now).
    package func submission(from body: Data, kind: JobKind, key: String? = nil) throws(RequestError)
        -> EnqueueRequest
    {
        guard !body.isEmpty else { throw RequestError("the message is empty; a job is a JSON object") }
        guard body.count <= self.maximumBytes else {
            throw RequestError("the message is \(body.count) bytes; a job is at most \(self.maximumBytes)")
        }
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: body) else {
            throw RequestError("the message is not JSON; a job is a JSON object")
        }
        var request = try JobSubmission.request(from: json, origin: .network, defaults: self.defaults)
        guard request.payload.kind == kind else {
            throw RequestError("a \(request.payload.kind.rawValue) job on the subject of \(kind.rawValue) jobs")
        }
        request.idempotencyKey = request.idempotencyKey ?? key
        return request
    }
}

/// A message on a request subject that could never be a job, kept with the reason instead of being redelivered.
package struct DeadLetter: Sendable, Codable, Equatable {
    /// Where it was published.
    package var subject: String
    /// Its place in the stream.
    package var sequence: UInt64
    /// When the worker turned it away.
    package var rejectedAt: Date
    /// Why, in one line.
    package var reason: String
    /// Its size, in bytes.
    package var bytes: Int
    /// Its first bytes, as text (invalid UTF-8 replaced), for finding the producer.
    package var excerpt: String

    /// The longest excerpt kept, in bytes.
    package static let excerptBytes = 512

    /// Creates a dead letter of `body`.
    package init(subject: String, sequence: UInt64, rejectedAt: Date, reason: String, body: Data) {
        self.subject = subject
        self.sequence = sequence
        self.rejectedAt = rejectedAt
        self.reason = reason
        self.bytes = body.count
        self.excerpt = String(decoding: body.prefix(Self.excerptBytes), as: UTF8.self)
    }

    private enum CodingKeys: String, CodingKey {
        case subject, sequence, reason, bytes, excerpt
        case rejectedAt = "rejected_at"
    }
}

/// A queue that takes producers' own messages and keeps those it turned away.
package protocol DeadLetterBox: Sendable {
    /// The dead letters, oldest first, at most `limit`.
    func deadLetters(limit: Int) async throws -> [DeadLetter]
}
