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

    /// Which of ffmpeg-whisper's optional events to send, by its own flags.
    package struct Options: Sendable, Equatable {
        /// `FFW_CGP_PUBLISH` (default true): the CGP packet `tokenism.cgp.ready.v1` and the hook
        /// `ingest.transcript.ready.v1` after each transcription.
        package var cgp = true
        /// `FFW_CONTENT_RAW_PUBLISH` (default false): `content.raw.v1`, enveloped.
        package var contentRaw = false

        /// The defaults.
        package init() {}

        /// The flags as ffmpeg-whisper reads them (`1`, `true`, `yes`, `on` are true).
        package init(environment: [String: String]) {
            func flag(_ name: String, _ fallback: Bool) -> Bool {
                guard let text = environment[name]?.trimmingCharacters(in: .whitespaces).lowercased(), !text.isEmpty
                else { return fallback }
                return ["1", "true", "yes", "on"].contains(text)
            }
            self.cgp = flag("FFW_CGP_PUBLISH", true)
            self.contentRaw = flag("FFW_CONTENT_RAW_PUBLISH", false)
        }
    }

    private struct State {
        var connection: NATSConnection?
        var nextAttempt: ContinuousClock.Instant?
    }

    private let settings: NATSSettings
    private let options: Options
    // Finished transcripts by job id, handed over by the executor before the job is settled, for the events that
    // carry their text; at most `rememberedTranscripts`, oldest dropped first.
    private let transcripts = Mutex<[(id: String, document: TranscriptDocument)]>([])
    private static let rememberedTranscripts = 256
    private let metrics: Metrics
    private let logger: Logger
    private let reconnectInterval: Duration
    private let state = Mutex(State())
    // Connecting and publishing are calls into the client that may block; they run here, one at a time.
    private let pool = BlockingPool(name: "audio-worker.events", threads: 1)

    /// Creates a publisher for the server `settings` name; it connects on the first event.
    package init(
        settings: NATSSettings, metrics: Metrics, logger: Logger, options: Options = Options(),
        reconnectInterval: Duration = .seconds(10)
    ) {
        self.settings = settings
        self.options = options
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

    /// Keeps job `id`'s finished transcript for the events of its success.
    package func remember(_ id: String, _ document: TranscriptDocument) {
        self.transcripts.withLock { kept in
            kept.removeAll { $0.id == id }
            kept.append((id, document))
            if kept.count > Self.rememberedTranscripts {
                kept.removeFirst(kept.count - Self.rememberedTranscripts)
            }
        }
    }

    package func publish(_ event: JobEvent) async {
        // Progress is for in-process waiters; PMOVES hears state changes.
        guard event.kind != .progress else { return }
        await self.send(Self.envelope(for: event), to: "audio.job.\(event.kind.rawValue).v1")
        // A final event ends the job's claim on its transcript, whichever it is.
        let document =
            event.isFinal
            ? self.transcripts.withLock { kept -> TranscriptDocument? in
                guard let index = kept.firstIndex(where: { $0.id == event.job.id }) else { return nil }
                return kept.remove(at: index).document
            } : nil
        guard event.kind == .succeeded, event.job.kind == .transcribe else { return }
        if document == nil, self.options.cgp || self.options.contentRaw {
            self.metrics.increment(
                "audio_worker_events_skipped_total", ["reason": "transcript_not_in_process"],
                help: "Transcript events (CGP, content.raw) not sent because this process did not run the job.")
        }
        if self.options.cgp, let ready = Self.transcriptReady(event) {
            await self.send(ready, to: "ingest.transcript.ready.v1")
        }
        if let document, self.options.cgp {
            await self.send(Self.cgpPacket(event, document), to: "tokenism.cgp.ready.v1")
        }
        if let document, self.options.contentRaw {
            await self.send(Self.contentRaw(event, document), to: "content.raw.v1")
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

    /// ffmpeg-whisper's CGP packet (`chit.cgp.v1.0`) for a finished transcription: one super node, one
    /// constellation whose points are the first 50 segments, placed along the recording.
    static func cgpPacket(_ event: JobEvent, _ document: TranscriptDocument) -> JSONValue {
        let id = event.job.id
        let duration = max(document.duration, 0.001)
        let speakers = Double(document.speakers.count)
        let points: [JSONValue] = document.segments.prefix(50).enumerated().map { index, segment in
            .object([
                "id": .string("seg:\(index)"), "modality": .string("audio"),
                "proj": .number(min(max(segment.start / duration, 0), 1)), "conf": .number(0.9),
                "summary": .string(String(segment.text.prefix(200))),
            ])
        }
        var meta: [String: JSONValue] = [
            "source": .string("ffmpeg-whisper"),
            "tags": .array(["transcription", "audio", "whisper"].map(JSONValue.string)),
            "language": document.language.map(JSONValue.string) ?? .null,
            "model": document.model.map(JSONValue.string) ?? .null,
            "provider": document.provider.map(JSONValue.string) ?? .null,
            "video_id": document.videoID.map(JSONValue.string) ?? .null,
            "audio_uri": document.audioURI.map(JSONValue.string) ?? .null, "speaker_count": .number(speakers),
        ]
        if let contextID = document.contextID { meta["context_id"] = .string(contextID) }
        let constellation: JSONValue = .object([
            "id": .string("transcript:\(id)"), "anchor": .array([.number(0.5), .number(0.5), .number(0.5)]),
            "spectrum": .array([
                .number(Double(document.segments.count) / duration), .number(document.duration / 3600),
                .number(speakers / 5),
            ]),
            "points": .array(points),
        ])
        return .object([
            "spec": .string("chit.cgp.v1.0"), "summary": .string(String(document.text.prefix(280))),
            "created_at": .string(JSONLinesLogSink.timestamp(event.time)),
            "super_nodes": .array([
                .object([
                    "id": .string("transcription:\(id)"), "label": .string("ffmpeg-whisper"), "x": .number(0),
                    "y": .number(0), "r": .number(1), "constellations": .array([constellation]),
                ])
            ]),
            "meta": .object(meta),
        ])
    }

    /// ffmpeg-whisper's `content.raw.v1` for a finished transcription, in the PMOVES envelope.
    static func contentRaw(_ event: JobEvent, _ document: TranscriptDocument) -> JSONValue {
        let id = event.job.id
        let reference = document.videoID ?? id
        // The five commonest words of four letters or more, most frequent first (ties alphabetical).
        var counts: [String: Int] = [:]
        for word in document.text.lowercased().split(whereSeparator: { !$0.isLetter && $0 != "'" })
        where word.count >= 4 {
            counts[String(word), default: 0] += 1
        }
        let favorites = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(5)
        var meta: [String: JSONValue] = [
            "namespace": document.namespace.map(JSONValue.string) ?? .null,
            "language": document.language.map(JSONValue.string) ?? .null,
            "model": document.model.map(JSONValue.string) ?? .null,
            "provider": document.provider.map(JSONValue.string) ?? .null,
            "video_id": document.videoID.map(JSONValue.string) ?? .null,
            "audio_uri": document.audioURI.map(JSONValue.string) ?? .null,
            "segment_count": .number(Double(document.segments.count)),
            "speaker_count": .number(Double(document.speakers.count)),
            "emitted_at": .string(JSONLinesLogSink.timestamp(event.time)),
        ]
        if let contextID = document.contextID { meta["context_id"] = .string(contextID) }
        let payload: JSONValue = .object([
            "content_id": .string("transcript:\(reference)"), "text": .string(document.text),
            "source_ref": .string(
                document.audioURI ?? document.videoID.map { "video:\($0)" } ?? "ffmpeg-whisper:\(id)"),
            "content_type": .string("audio/transcript"), "lane": .string("audio"),
            "aliases": .array([document.videoID, document.contextID].compactMap { $0 }.map(JSONValue.string)),
            "favorite_words": .array(favorites.map { .string($0.key) }),
            "labels": .array((["transcript", "audio"] + [document.provider].compactMap { $0 }).map(JSONValue.string)),
            "meta": .object(meta),
        ])
        return .object([
            "id": .string(UUID().uuidString.lowercased()), "topic": .string("content.raw.v1"),
            "ts": .string(JSONLinesLogSink.timestamp(event.time)), "version": .string("v1"),
            "source": .string("ffmpeg-whisper"), "correlation_id": .string(reference), "payload": payload,
        ])
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
