import Foundation
import PipelineCore
import Synchronization

/// An ``EventPublisher`` on core NATS, as PMOVES consumers expect (fire and forget, no JetStream): every job state
/// change as `audio.job.<state>.v1` in the PMOVES envelope, and after each transcription ffmpeg-whisper's
/// `ingest.transcript.ready.v1` payload (not enveloped, as ffmpeg-whisper sends it).
///
/// A NATS outage never reaches a job: while the server cannot be reached, events are counted in ``Metrics`` as lost
/// (`audio_worker_events_lost_total`) and connecting is tried again at most every `reconnectInterval`; once
/// connected, the client buffers events across short disconnects and sends them on reconnect.
package final class NATSEventPublisher: EventPublisher {
    /// What this service says about itself in `services.announce.v1`.
    package struct Announcement: Sendable {
        /// The HTTP API's base URL (`http://host:port`), if this process serves one.
        package var url: String?
        /// The HTTP API's port.
        package var port: Int?
        /// The worker's version.
        package var version: String

        /// Creates an announcement.
        package init(url: String?, port: Int?, version: String) {
            self.url = url
            self.port = port
            self.version = version
        }
    }

    private struct State {
        var connection: NATSConnection?
        var nextAttempt: ContinuousClock.Instant?
    }

    private let settings: NATSSettings
    private let metrics: Metrics
    private let logger: Logger
    private let reconnectInterval: Duration
    private let state = Mutex(State())
    // Connecting and publishing are calls into the client that may block; they run here, one at a time.
    private let pool = BlockingPool(name: "audio-worker.events", threads: 1)

    /// Creates a publisher for the server `settings` name; it connects on the first event.
    package init(settings: NATSSettings, metrics: Metrics, logger: Logger, reconnectInterval: Duration = .seconds(10)) {
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        self.reconnectInterval = reconnectInterval
    }

    /// Publishes `services.announce.v1`: who this worker is and where its health check answers.
    package func announce(_ announcement: Announcement) async {
        var payload: [String: JSONValue] = [
            "slug": .string("audio-worker"), "name": .string("audio-worker"), "tier": .string("media"),
            "timestamp": .string(JSONLinesLogSink.timestamp(Date())),
            "metadata": .object(["version": .string(announcement.version), "replaces": .string("ffmpeg-whisper")]),
        ]
        if let url = announcement.url {
            payload["url"] = .string(url)
            payload["health_check"] = .string(url + "/healthz")
        }
        if let port = announcement.port {
            payload["port"] = .number(Double(port))
        }
        await self.send(.object(payload), to: "services.announce.v1")
    }

    package func publish(_ event: JobEvent) async {
        // Progress is for in-process waiters; PMOVES hears state changes.
        guard event.kind != .progress else { return }
        await self.send(Self.envelope(for: event), to: "audio.job.\(event.kind.rawValue).v1")
        if event.kind == .succeeded, let ready = Self.transcriptReady(event) {
            await self.send(ready, to: "ingest.transcript.ready.v1")
        }
    }

    /// `audio.job.<state>.v1`: the job's state in the PMOVES envelope, correlated by video id (or job id).
    static func envelope(for event: JobEvent) -> JSONValue {
        let job = event.job
        var payload: [String: JSONValue] = [
            "job_id": .string(job.id), "kind": .string(job.kind.rawValue), "status": .string(job.status.rawValue),
            "attempts": .number(Double(job.attempts)), "outputs": .array(job.outputs.map { .string($0) }),
        ]
        if let error = job.error {
            payload["error"] = .object(["kind": .string(error.kind), "message": .string(error.message)])
        }
        var correlation = job.id
        if case .transcription(let spec) = job.payload {
            payload["input"] = .string(spec.input)
            if let videoID = spec.videoID {
                payload["video_id"] = .string(videoID)
                correlation = videoID
            }
            if let contextID = spec.contextID { payload["context_id"] = .string(contextID) }
        }
        if event.kind == .succeeded, let result = job.result { payload["result"] = result }
        let topic = "audio.job.\(event.kind.rawValue).v1"
        return .object([
            "id": .string(UUID().uuidString.lowercased()), "topic": .string(topic),
            "ts": .string(JSONLinesLogSink.timestamp(event.time)), "version": .string("v1"),
            "source": .string("audio-worker"), "correlation_id": .string(correlation), "payload": .object(payload),
        ])
    }

    /// ffmpeg-whisper's `ingest.transcript.ready.v1` for a finished transcription; nil for other jobs.
    static func transcriptReady(_ event: JobEvent) -> JSONValue? {
        guard case .transcription(let spec) = event.job.payload, case .object(let result)? = event.job.result else {
            return nil
        }
        var payload: [String: JSONValue] = [
            "service": .string("ffmpeg-whisper"), "request_id": .string(event.job.id),
            "video_id": spec.videoID.map { .string($0) } ?? .null, "audio_uri": result["audio_uri"] ?? .null,
            "language": result["language"] ?? .null, "segment_count": result["segments"] ?? .number(0),
            "ts": .string(JSONLinesLogSink.timestamp(event.time)),
        ]
        if let contextID = spec.contextID { payload["context_id"] = .string(contextID) }
        return .object(payload)
    }

    /// Sends `value` to `subject`, or counts it lost.
    private func send(_ value: JSONValue, to subject: String) async {
        let sent: Bool
        do {
            let data = try JSONOutput.encode(value)
            sent = try await self.pool.run { _ in self.sendBlocking(data, to: subject) }
        } catch {
            sent = false
        }
        if sent {
            self.metrics.increment(
                "audio_worker_events_published_total", ["subject": subject],
                help: "Events handed to NATS, by subject.")
        } else {
            self.metrics.increment(
                "audio_worker_events_lost_total", ["subject": subject],
                help: "Events not handed to NATS (server unreachable), by subject.")
        }
    }

    private func sendBlocking(_ data: Data, to subject: String) -> Bool {
        guard let connection = self.connection() else { return false }
        do {
            try connection.publishCore(data, to: subject)
            return true
        } catch {
            if connection.isClosed {
                self.state.withLock { $0.connection = nil }
            }
            return false
        }
    }

    /// The live connection, connecting when there is none and the last attempt is old enough.
    private func connection() -> NATSConnection? {
        let now = ContinuousClock.now
        let due = self.state.withLock { state -> Bool in
            if state.connection != nil { return false }
            if let next = state.nextAttempt, now < next { return false }
            state.nextAttempt = now + self.reconnectInterval
            return true
        }
        if due {
            do {
                let connection = try NATSConnection(settings: self.settings)
                self.state.withLock { $0.connection = connection }
                self.logger.info("events: connected to NATS")
            } catch {
                self.logger.warning(
                    "events: NATS unreachable, events are counted as lost until it is back",
                    ["error": .string(error.description)])
            }
        }
        return self.state.withLock { $0.connection }
    }
}
