import Foundation
import PipelineCore
import TestSupport
import Testing

@testable import NATSBackend

/// Job events on core NATS, read back by a plain subscriber on a real nats-server, and a server that is not there.
struct NATSEventPublisherTests {
    /// A finished transcription as the worker reports it.
    private func succeededTranscription() async throws -> JobEvent {
        let spec = TranscriptionJobSpec(
            input: "yt/abc/audio.m4a", outputPrefix: "transcripts/yt/abc", videoID: "abc", contextID: "ctx-1")
        var job = try await InMemoryJobQueue().enqueue(EnqueueRequest(payload: .transcription(spec))).job
        job.status = .succeeded
        job.attempts = 1
        job.outputs = ["transcripts/yt/abc.json"]
        job.result = .object([
            "language": .string("en"), "segments": .number(3), "audio_uri": .string("s3://assets/yt/abc/audio.m4a"),
        ])
        return JobEvent(.succeeded, job: job)
    }

    /// Reads messages from `subscription` until `count` have come, for at most ten seconds.
    private func messages(_ subscription: NATSSubscription, count: Int) async throws -> [[String: Any]] {
        var found: [[String: Any]] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while found.count < count, ContinuousClock.now < deadline {
            if let body = try subscription.next() {
                found.append(try JSONSerialization.jsonObject(with: body) as? [String: Any] ?? [:])
            } else {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        return found
    }

    @Test
    func aFinishedTranscriptionIsAnnouncedAsFfmpegWhisperDoesAndItsStateInTheEnvelope() async throws {
        try await withNATSServer { server in
            let listener = try NATSConnection(settings: NATSSettings(url: server.url))
            let states = try NATSSubscription.subscribe(connection: listener, subject: "audio.job.>")
            let ready = try NATSSubscription.subscribe(connection: listener, subject: "ingest.transcript.ready.v1")
            let announce = try NATSSubscription.subscribe(connection: listener, subject: "services.announce.v1")
            let metrics = Metrics()
            let publisher = NATSEventPublisher(
                settings: NATSSettings(url: server.url), metrics: metrics, logger: .silent)
            let event = try await self.succeededTranscription()

            await publisher.announce(.init(url: "http://127.0.0.1:8078", port: 8078, version: "test"))
            await publisher.publish(JobEvent(.progress, job: event.job))
            await publisher.publish(event)

            let state = try #require(try await self.messages(states, count: 1).first)
            #expect(state["topic"] as? String == "audio.job.succeeded.v1")
            #expect(state["version"] as? String == "v1")
            #expect(state["source"] as? String == "audio-worker")
            #expect(state["correlation_id"] as? String == "abc")
            #expect(state["id"] is String && state["ts"] is String)
            let payload = state["payload"] as? [String: Any] ?? [:]
            #expect(payload["job_id"] as? String == event.job.id)
            #expect(payload["status"] as? String == "succeeded")
            #expect(payload["outputs"] as? [String] == ["transcripts/yt/abc.json"])

            let transcript = try #require(try await self.messages(ready, count: 1).first)
            #expect(transcript["service"] as? String == "ffmpeg-whisper")
            #expect(transcript["request_id"] as? String == event.job.id)
            #expect(transcript["video_id"] as? String == "abc")
            #expect(transcript["audio_uri"] as? String == "s3://assets/yt/abc/audio.m4a")
            #expect(transcript["language"] as? String == "en")
            #expect(transcript["segment_count"] as? Int == 3)
            #expect(transcript["context_id"] as? String == "ctx-1")
            #expect(transcript["ts"] is String)
            #expect(transcript["payload"] == nil, "not enveloped, as ffmpeg-whisper sends it")

            let service = try #require(try await self.messages(announce, count: 1).first)
            #expect(service["health_check"] as? String == "http://127.0.0.1:8078/healthz")
            #expect(service["tier"] as? String == "media")
            #expect(service["port"] as? Int == 8078)

            #expect(try states.next() == nil, "progress is not published")
            #expect(metrics.total("audio_worker_events_published_total") == 3)
            #expect(metrics.total("audio_worker_events_lost_total") == 0)
        }
    }

    @Test
    func withNoServerEventsAreCountedLostAndPublishingReturns() async throws {
        // A port that was just free: nothing listens there.
        let port = try await withNATSServer { $0.port }
        let metrics = Metrics()
        let publisher = NATSEventPublisher(
            settings: NATSSettings(url: "nats://127.0.0.1:\(port)"), metrics: metrics, logger: .silent)
        let event = try await self.succeededTranscription()

        let started = ContinuousClock.now
        await publisher.publish(event)
        await publisher.publish(event)
        #expect(ContinuousClock.now - started < .seconds(10))

        #expect(metrics.value("audio_worker_events_lost_total", ["subject": "audio.job.succeeded.v1"]) == 2)
        #expect(metrics.value("audio_worker_events_lost_total", ["subject": "ingest.transcript.ready.v1"]) == 2)
        #expect(metrics.total("audio_worker_events_published_total") == 0)
    }
}
