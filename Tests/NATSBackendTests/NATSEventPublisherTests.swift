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

    /// The finished transcript of `event`'s job, as the executor hands it over.
    private func document() -> TranscriptDocument {
        let segments = [
            TranscriptSegment(id: 0, start: 0, end: 4, text: "Gardens need water and gardens need light."),
            TranscriptSegment(id: 1, start: 5, end: 9, text: "Water the garden every evening."),
        ]
        var document = TranscriptDocument(
            transcript: Transcript(
                text: segments.map(\.text).joined(separator: " "), language: "en", duration: 10, segments: segments),
            chunks: [], warnings: [])
        document.videoID = "abc"
        document.contextID = "ctx-1"
        document.audioURI = "s3://assets/yt/abc/audio.m4a"
        return document
    }

    @Test
    func theCGPPacketAndContentRawFollowFfmpegWhispersFlags() async throws {
        try await withNATSServer { server in
            let listener = try NATSConnection(settings: NATSSettings(url: server.url))
            let ready = try NATSSubscription.subscribe(connection: listener, subject: "ingest.transcript.ready.v1")
            let cgp = try NATSSubscription.subscribe(connection: listener, subject: "tokenism.cgp.ready.v1")
            let raw = try NATSSubscription.subscribe(connection: listener, subject: "content.raw.v1")
            let event = try await self.succeededTranscription()

            // ffmpeg-whisper's defaults: the CGP packet and the hook, no content.raw.
            let defaults = NATSEventPublisher(
                settings: NATSSettings(url: server.url), metrics: Metrics(), logger: .silent,
                options: NATSEventPublisher.Options(environment: [:]))
            defaults.remember(event.job.id, self.document())
            await defaults.publish(event)
            let packet = try #require(try await self.messages(cgp, count: 1).first)
            #expect(packet["spec"] as? String == "chit.cgp.v1.0")
            let node = (packet["super_nodes"] as? [[String: Any]])?.first ?? [:]
            #expect(node["id"] as? String == "transcription:\(event.job.id)")
            #expect(node["label"] as? String == "ffmpeg-whisper")
            let constellation = (node["constellations"] as? [[String: Any]])?.first ?? [:]
            let points = constellation["points"] as? [[String: Any]] ?? []
            #expect(points.map { $0["id"] as? String } == ["seg:0", "seg:1"])
            #expect(points.map { $0["proj"] as? Double } == [0, 0.5], "placed along the recording")
            #expect(points.first?["summary"] as? String == "Gardens need water and gardens need light.")
            #expect((constellation["spectrum"] as? [Double])?.count == 3)
            let meta = packet["meta"] as? [String: Any] ?? [:]
            #expect(meta["tags"] as? [String] == ["transcription", "audio", "whisper"])
            #expect(meta["video_id"] as? String == "abc" && meta["context_id"] as? String == "ctx-1")
            #expect(try await self.messages(ready, count: 1).count == 1)
            try await Task.sleep(for: .milliseconds(200))
            #expect(try raw.next() == nil, "content.raw.v1 is off by default")

            // FFW_CGP_PUBLISH=false, FFW_CONTENT_RAW_PUBLISH=1: only content.raw, enveloped.
            let flipped = NATSEventPublisher(
                settings: NATSSettings(url: server.url), metrics: Metrics(), logger: .silent,
                options: NATSEventPublisher.Options(
                    environment: ["FFW_CGP_PUBLISH": "false", "FFW_CONTENT_RAW_PUBLISH": "1"]))
            flipped.remember(event.job.id, self.document())
            await flipped.publish(event)
            let envelope = try #require(try await self.messages(raw, count: 1).first)
            #expect(envelope["topic"] as? String == "content.raw.v1")
            #expect(envelope["source"] as? String == "ffmpeg-whisper")
            #expect(envelope["correlation_id"] as? String == "abc")
            let payload = envelope["payload"] as? [String: Any] ?? [:]
            #expect(payload["content_id"] as? String == "transcript:abc")
            #expect(payload["source_ref"] as? String == "s3://assets/yt/abc/audio.m4a")
            #expect(payload["content_type"] as? String == "audio/transcript" && payload["lane"] as? String == "audio")
            #expect(payload["aliases"] as? [String] == ["abc", "ctx-1"])
            #expect(payload["favorite_words"] as? [String] == ["gardens", "need", "water", "evening", "every"])
            #expect((payload["text"] as? String)?.hasPrefix("Gardens need water") == true)
            try await Task.sleep(for: .milliseconds(200))
            #expect(try cgp.next() == nil && ready.next() == nil, "FFW_CGP_PUBLISH=false sends neither")
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
