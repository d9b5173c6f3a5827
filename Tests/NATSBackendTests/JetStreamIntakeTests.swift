import Foundation
import PipelineCore
import TestSupport
import Testing

@testable import NATSBackend

/// Producers that publish JSON jobs on the request subjects themselves, against a real `nats-server -js`.
@Suite(.serialized)
struct JetStreamIntakeTests {
    private let intake = JobIntake(
        defaults: JobSubmission.Defaults(), requests: JobRequests(configuration: Configuration.builtIn()))

    private func open(_ server: NATSServer, intake: Bool = true) async throws -> JetStreamJobQueue {
        try await JetStreamJobQueue.open(
            settings: NATSSettings(url: server.url), visibility: .seconds(1), maxAttempts: 3,
            intake: intake ? self.intake : nil)
    }

    /// Publishes `body` as a producer would, on the subject of `kind` jobs (or `subject`); returns its sequence.
    private func publish(
        _ body: String, to queue: JetStreamJobQueue, kind: JobKind = .transcribe, messageID: String
    ) async throws -> UInt64 {
        let subject = NATSSettings.subjects[kind == .transcribe ? 0 : 1]
        return try await queue.blocking { _ in
            try queue.connection.publish(Data(body.utf8), to: subject, messageID: messageID)
        }
    }

    @Test
    func aPublishedJobRunsOnceUnderItsKeyAndItsRepeatsAreDropped() async throws {
        try await withNATSServer { server in
            let queue = try await self.open(server)
            let job =
                #"{"transcription": {"bucket": "assets", "key": "yt/abc/raw.mp4", "language": "en"},"#
                + #" "idempotency_key": "yt:abc", "unknown": 1}"#
            _ = try await self.publish(job, to: queue, messageID: "m-1")
            // The producer published again (its own retry) under another message id: the key makes it one job.
            _ = try await self.publish(job, to: queue, messageID: "m-2")
            let speech = #"{"synthesis": {"text": "Hello there.", "voice": "af_heart"}}"#
            _ = try await self.publish(speech, to: queue, kind: .synthesize, messageID: "m-3")

            let first = try #require(try await queue.lease(owner: "worker-a", wait: .seconds(5)))
            guard case .transcription(let spec) = first.job.payload else {
                Issue.record("expected a transcription, got \(first.job.payload)")
                return
            }
            #expect(spec.bucket == "assets" && spec.input == "yt/abc/raw.mp4" && spec.language == "en")
            #expect(spec.outputPrefix == "transcripts/yt/abc/raw.mp4", "defaults filled as for POST /v1/jobs")
            #expect(first.job.idempotencyKey == "yt:abc" && first.job.origin == .network)
            _ = try await queue.settle(first, .succeeded(outputs: [], result: nil, progress: JobProgress()))

            let second = try #require(try await queue.lease(owner: "worker-a", wait: .seconds(5)))
            #expect(second.job.kind == .synthesize, "the repeat of the finished job was dropped")
            #expect(second.job.idempotencyKey == "nats-msg-id:m-3", "a job without a key is keyed by its message id")
            _ = try await queue.settle(second, .succeeded(outputs: [], result: nil, progress: JobProgress()))

            #expect(try await queue.lease(owner: "worker-a", wait: .milliseconds(300)) == nil)
            #expect(try await queue.jobs(status: .succeeded, limit: 10).count == 2)
            #expect(try await queue.deadLetters(limit: 10).isEmpty)
        }
    }

    @Test
    func aMessageThatCanNeverBeAJobIsADeadLetterWithItsReason() async throws {
        try await withNATSServer { server in
            let queue = try await self.open(server)
            let bad: [(String, JobKind, String)] = [
                ("{not json", .transcribe, "not JSON"),
                ("", .transcribe, "empty"),
                (#"{"synthesis": {"text": "Hi."}}"#, .transcribe, "a synthesize job on the subject of transcribe"),
                (#"{"transcription": {"key": "../../etc/passwd"}}"#, .transcribe, "key"),
                (#"{"transcription": {"key": "a.mp3", "language": "english!"}}"#, .transcribe, "language"),
                (#"{"transcription": {"key": 7}}"#, .transcribe, "key is text"),
                (#"[1, 2]"#, .synthesize, "a job is a JSON object"),
            ]
            var sequences: [UInt64] = []
            for (index, (body, kind, _)) in bad.enumerated() {
                sequences.append(try await self.publish(body, to: queue, kind: kind, messageID: "bad-\(index)"))
            }
            let good = try await queue.enqueue(transcription("after-the-bad-ones")).job

            let lease = try #require(try await queue.lease(owner: "worker-a", wait: .seconds(5)))
            #expect(lease.job.id == good.id)
            _ = try await queue.settle(lease, .succeeded(outputs: [], result: nil, progress: JobProgress()))
            // Past the 1 s ack wait: a bad message that was only left unanswered would be back by now.
            #expect(try await queue.lease(owner: "worker-a", wait: .milliseconds(1500)) == nil, "none redelivered")
            let letters = try await queue.deadLetters(limit: 100)
            #expect(letters.map(\.sequence) == sequences)
            for (letter, (body, _, reason)) in zip(letters, bad) {
                #expect(letter.reason.contains(reason), "\(letter.reason) should say \(reason)")
                #expect(letter.excerpt == body && letter.bytes == body.utf8.count)
            }
            #expect(try await queue.jobs(status: nil, limit: 100).count == 1, "no job was made of a bad message")
            for sequence in sequences {
                let left = try await queue.blocking { _ in
                    try queue.connection.message(stream: queue.settings.stream, sequence: sequence)
                }
                #expect(left == nil, "message \(sequence) was removed from the stream")
            }
        }
    }

    @Test
    func withoutAnIntakeAProducersJobIsTurnedAwaySayingHowToEnqueue() async throws {
        try await withNATSServer { server in
            let queue = try await self.open(server, intake: false)
            _ = try await self.publish(#"{"transcription": {"key": "a.mp3"}}"#, to: queue, messageID: "x")

            #expect(try await queue.lease(owner: "worker-a", wait: .milliseconds(500)) == nil)
            let letters = try await queue.deadLetters(limit: 10)
            #expect(letters.count == 1)
            #expect(letters.first?.reason.contains("takes no jobs published") == true)
        }
    }
}
