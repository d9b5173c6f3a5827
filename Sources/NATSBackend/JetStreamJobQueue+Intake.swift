import Foundation
import PipelineCore

extension JetStreamJobQueue: DeadLetterBox {
    /// The job behind a message a producer published itself (a JSON job, not a ``WorkMessage``): its record,
    /// written on the first delivery and found again on every later one; or nil when the message can never be a job,
    /// once it is kept as a dead letter with the reason.
    ///
    /// The record's idempotency key is the producer's `idempotency_key`, else the message's `Nats-Msg-Id`, else its
    /// stream sequence, so a redelivery (after a crash between writing the record and claiming it) and a producer's
    /// repeated publish find the one job, and a job also enqueued over HTTP with the same key is that job. The
    /// record is marked published with the message as its carrier, so no second message is ever sent for it.
    func admit(_ body: Data, of message: NATSHandle, streamSequence: UInt64) throws -> WorkMessage? {
        let subject = NATSMessage.subject(of: message)
        let reason: String
        if let intake = self.intake, let kind = NATSSettings.kind(forSubject: subject) {
            do {
                let key =
                    NATSMessage.header("Nats-Msg-Id", of: message).map { "nats-msg-id:\($0)" }
                    ?? "nats:\(self.settings.stream):\(streamSequence)"
                let request = try intake.submission(from: body, kind: kind, key: key)
                let named = request.idempotencyKey ?? key
                guard !named.isEmpty, named.utf8.count <= JobRequests.maxIdempotencyKeyBytes else {
                    throw RequestError(
                        field: "idempotency_key",
                        "an idempotency key (or Nats-Msg-Id) is 1 to \(JobRequests.maxIdempotencyKeyBytes) bytes")
                }
                // A redelivery finds the job its first delivery made, even if the rules have changed since.
                if let existing = try self.record(forKey: named) {
                    return WorkMessage(jobID: existing.job.id, dispatch: 1)
                }
                let (record, _, _) = try self.writeRecord(
                    for: try intake.requests.validate(request), carrier: streamSequence)
                return WorkMessage(jobID: record.job.id, dispatch: 1)
            } catch let error as RequestError {
                reason = error.description
            }
        } else if self.intake == nil {
            reason = "this worker takes no jobs published on the subject; enqueue through the command line or HTTP"
        } else {
            reason = "no job kind is published on subject '\(subject)'"
        }
        let letter = DeadLetter(
            subject: subject, sequence: streamSequence, rejectedAt: self.now(), reason: reason, body: body)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        try self.bucket.put(LedgerKey.deadLetter(streamSequence), try encoder.encode(letter))
        try self.pruneDeadLetters()
        return nil
    }

    /// The most dead letters kept: anyone who may publish on the subjects must not grow the bucket without end.
    static let deadLettersKept = 1000

    /// Purges the oldest dead letters past ``deadLettersKept``.
    private func pruneDeadLetters() throws {
        let sequences = try self.bucket.scan("letter.>").compactMap { UInt64($0.key.dropFirst("letter.".count)) }
        guard sequences.count > Self.deadLettersKept else { return }
        for sequence in sequences.sorted().dropLast(Self.deadLettersKept) {
            try self.bucket.purge(LedgerKey.deadLetter(sequence))
        }
    }

    /// The record an idempotency key names, if any.
    private func record(forKey key: String) throws -> LedgerRecord? {
        let slot = LedgerKey.job(JobID.make(at: self.now(), digest: LedgerKey.digest(ofKey: key)))
        guard let (record, _) = try self.readSlot(slot), record.job.idempotencyKey == key else { return nil }
        return record
    }

    /// The messages turned away, oldest first, at most `limit`.
    package func deadLetters(limit: Int) async throws -> [DeadLetter] {
        try await self.blocking { _ in
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            let letters = try self.bucket.scan("letter.>").compactMap {
                try? decoder.decode(DeadLetter.self, from: $0.value)
            }
            return Array(letters.sorted { $0.sequence < $1.sequence }.prefix(max(limit, 0)))
        }
    }
}
