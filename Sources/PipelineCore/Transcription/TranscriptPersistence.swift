import Foundation

/// What ffmpeg-whisper does with a finished transcript besides answering (contracts §1.6), for the PMOVES services
/// that read it there: forward it to media-audio (`MEDIA_AUDIO_URL`), or, when that is unset or the forward fails,
/// insert one row per segment into Supabase's `segments` table through PostgREST (`SUPABASE_URL` and a key).
///
/// Nothing here fails a job: each request is retried while its failure is transient, then the failure is logged and
/// counted in ``Metrics``. Every row carries its job's id in `meta.job_id`, and a job's rows are deleted before its
/// rows are inserted, so an attempt run again after a crash replaces the rows of the one before instead of doubling
/// them.
package struct TranscriptPersistence: Sendable {
    /// Where transcripts go, from the environment PMOVES already sets.
    package struct Settings: Sendable, Equatable {
        /// PostgREST's base URL (Supabase's `…/rest/v1`); the table name is appended.
        package var restURL: URL?
        /// The key sent as `apikey` and as the bearer token.
        package var key: Secret?
        /// The table of segment rows.
        package var table = "segments"
        /// media-audio's `POST /ingest-transcript`, which stores the segments itself.
        package var mediaAudioURL: URL?
        /// The time allowed for the forward (ffmpeg-whisper's `MEDIA_AUDIO_TIMEOUT`, 120 s).
        package var mediaAudioTimeout: Duration = .seconds(120)
        /// The time allowed for one PostgREST request.
        package var timeout: Duration = .seconds(30)
        /// Tries of one request while its failure is transient (connection, timeout, 408, 429, 5xx).
        package var attempts = 3
        /// Rows per insert request (a two-hour recording has thousands of segments).
        package var rowsPerRequest = 500

        /// Settings that write nowhere; set the URLs to write.
        package init() {}

        /// Reads `SUPABASE_REST_URL` or `SUPA_REST_URL` (PostgREST's base, as pmoves-yt reads it), else
        /// `SUPABASE_URL` (Supabase's base; `/rest/v1` is appended); the key from the first set of
        /// `SUPABASE_SERVICE_ROLE_KEY`, `SUPABASE_SERVICE_KEY`, `SUPABASE_KEY`, `SUPABASE_ANON_KEY`; and
        /// `MEDIA_AUDIO_URL`, `MEDIA_AUDIO_TIMEOUT` (seconds). Nil when neither a Supabase URL with a key nor
        /// `MEDIA_AUDIO_URL` is set.
        ///
        /// - Throws: ``ConfigError`` for a URL that is not http(s), a Supabase URL without a key, or a bad timeout.
        package static func from(environment: [String: String]) throws(ConfigError) -> Settings? {
            func value(_ name: String) -> String? {
                guard let text = environment[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty
                else {
                    return nil
                }
                return text
            }
            func url(_ name: String, _ text: String) throws(ConfigError) -> URL {
                guard let url = URL(string: text), let scheme = url.scheme?.lowercased(),
                    scheme == "http" || scheme == "https", url.host?.isEmpty == false
                else {
                    throw ConfigError(file: "environment", message: "\(name) is not an http(s) URL")
                }
                return url
            }
            var settings = Settings()
            let restName = ["SUPABASE_REST_URL", "SUPA_REST_URL", "SUPABASE_URL"].first { value($0) != nil }
            if let restName, let text = value(restName) {
                var rest = try url(restName, text)
                // Supabase's base gets PostgREST's path, unless it already ends with it.
                if restName == "SUPABASE_URL", !rest.path.hasSuffix("/rest/v1") {
                    rest = rest.appendingPathComponent("rest").appendingPathComponent("v1")
                }
                settings.restURL = rest
            }
            let keyNames = ["SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_SERVICE_KEY", "SUPABASE_KEY", "SUPABASE_ANON_KEY"]
            settings.key = keyNames.lazy.compactMap(value).first.map(Secret.init)
            if let restName, settings.key == nil {
                throw ConfigError(
                    file: "environment",
                    message: "\(restName) is set but no key is (SUPABASE_SERVICE_ROLE_KEY or SUPABASE_KEY)")
            }
            if let text = value("MEDIA_AUDIO_URL") {
                settings.mediaAudioURL = try url("MEDIA_AUDIO_URL", text)
            }
            if let text = value("MEDIA_AUDIO_TIMEOUT") {
                guard let seconds = Double(text), seconds > 0, seconds <= 3600 else {
                    throw ConfigError(file: "environment", message: "MEDIA_AUDIO_TIMEOUT must be seconds in (0, 3600]")
                }
                settings.mediaAudioTimeout = .milliseconds(Int64(seconds * 1000))
            }
            return settings.restURL == nil && settings.mediaAudioURL == nil ? nil : settings
        }
    }

    /// A transcript a job has just stored, with what the forward names.
    package struct Finished: Sendable {
        /// The job.
        package var jobID: String
        /// Whether an earlier run of the job may have written rows (a later attempt, or a run resuming from
        /// checkpoints after a crash or a release): they are replaced.
        package var resumed: Bool
        /// The input's bucket.
        package var bucket: String
        /// The input's key.
        package var key: String
        /// The transcript.
        package var document: TranscriptDocument

        /// Creates one.
        package init(jobID: String, resumed: Bool = false, bucket: String, key: String, document: TranscriptDocument) {
            self.jobID = jobID
            self.resumed = resumed
            self.bucket = bucket
            self.key = key
            self.document = document
        }
    }

    /// What became of one transcript.
    package struct Outcome: Sendable, Equatable {
        /// Whether media-audio took it; nil when `MEDIA_AUDIO_URL` is unset (ffmpeg-whisper's `forwarded`).
        package var forwarded: Bool?
        /// Segment rows inserted (fewer than the segments when a request failed); nil when none were to be
        /// (forwarded, or no Supabase).
        package var rows: Int?
        /// What failed, one line each.
        package var failures: [String] = []
    }

    private let settings: Settings
    private let client: any HTTPClient
    private let metrics: Metrics
    private let logger: Logger
    private let retryDelay: Duration

    /// Creates the writer; a transient failure waits `retryDelay`, doubled each time, before the next try.
    package init(
        settings: Settings, client: any HTTPClient, metrics: Metrics, logger: Logger,
        retryDelay: Duration = .milliseconds(500)
    ) {
        self.settings = settings
        self.client = client
        self.metrics = metrics
        self.logger = logger
        self.retryDelay = retryDelay
    }

    /// Forwards `finished` to media-audio, or writes its segment rows.
    ///
    /// - Throws: only `CancellationError`, when the job is cancelled meanwhile; every other failure is in the outcome.
    package func record(_ finished: Finished) async throws -> Outcome {
        var outcome = Outcome()
        if let url = self.settings.mediaAudioURL {
            do {
                // One try, as ffmpeg-whisper sends it: a media-audio still working on a timed-out request would
                // store the transcript twice.
                try await self.send(
                    .post, url, body: try JSONOutput.encode(Self.forward(finished)),
                    timeout: self.settings.mediaAudioTimeout, extraHeaders: [:], tries: 1)
                outcome.forwarded = true
                self.count("media_audio", "ok")
                return outcome
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                outcome.forwarded = false
                outcome.failures.append("media-audio forward: \(error)")
                self.count("media_audio", "failed")
                self.logger.warning(
                    "transcript not forwarded to media-audio; writing segments instead",
                    ["job": .string(finished.jobID), "error": .string("\(error)")])
            }
        }
        guard let base = self.settings.restURL, let key = self.settings.key else { return outcome }
        let table = base.appendingPathComponent(self.settings.table)
        let headers = [
            "apikey": key.reveal(), "Authorization": "Bearer \(key.reveal())", "Prefer": "return=minimal",
        ]
        func described(_ error: any Error) -> String {
            let text = "\(error)"
            return key.reveal().isEmpty ? text : text.replacingOccurrences(of: key.reveal(), with: "[redacted]")
        }
        // A run that follows one which may have written rows and then crashed: those rows go first. A delete that
        // fails does not stop the rows (ffmpeg-whisper deletes nothing), but is said.
        if finished.resumed {
            do {
                try await self.send(
                    .delete, try Self.filtered(table, jobID: finished.jobID), body: nil,
                    timeout: self.settings.timeout, extraHeaders: headers)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                outcome.failures.append("supabase: an earlier attempt's rows may remain: \(described(error))")
                self.logger.warning(
                    "an earlier attempt's segment rows not deleted",
                    ["job": .string(finished.jobID), "error": .string(described(error))])
            }
        }
        let rows = Self.rows(finished)
        var written = 0
        do {
            while written < rows.count {
                let end = min(written + max(self.settings.rowsPerRequest, 1), rows.count)
                try await self.send(
                    .post, table, body: try JSONOutput.encode(JSONValue.array(Array(rows[written..<end]))),
                    timeout: self.settings.timeout, extraHeaders: headers)
                written = end
            }
            self.count("supabase", "ok")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            outcome.failures.append("supabase segments: \(written) of \(rows.count) rows written: \(described(error))")
            self.count("supabase", "failed")
            self.logger.warning(
                "segments not written to Supabase",
                [
                    "job": .string(finished.jobID), "rows": .number(Double(rows.count)),
                    "written": .number(Double(written)), "error": .string(described(error)),
                ])
        }
        outcome.rows = written
        self.metrics.increment(
            "audio_worker_segment_rows_total", by: Double(written),
            help: "Segment rows written to Supabase's segments table.")
        return outcome
    }

    /// One request, tried up to `tries` times while its failure is transient.
    private func send(
        _ method: HTTPMethod, _ url: URL, body: Data?, timeout: Duration, extraHeaders: [String: String],
        tries: Int? = nil
    ) async throws {
        var headers = extraHeaders
        if body != nil { headers["Content-Type"] = "application/json" }
        let request = HTTPRequest(
            method: method, url: url, headers: headers, body: body.map(HTTPRequestBody.data) ?? .empty,
            timeout: timeout, maxResponseBytes: 64 << 10)
        let tries = tries ?? self.settings.attempts
        var delay = self.retryDelay
        for attempt in 1... {
            do {
                _ = try await self.client.sendToProvider(request)
                return
            } catch let failure as ProviderFailure where failure.disposition == .retry && attempt < tries {
                try await sleepCancellably(for: failure.retryAfter.map { min($0, .seconds(10)) } ?? delay)
                delay *= 2
            }
        }
    }

    private func count(_ target: String, _ outcome: String) {
        self.metrics.increment(
            "audio_worker_transcripts_persisted_total", ["target": target, "outcome": outcome],
            help: "Finished transcripts handed to media-audio or Supabase, by target and outcome.")
    }

    /// `table?meta->>job_id=eq.<id>`: the rows an earlier attempt of the job wrote.
    static func filtered(_ table: URL, jobID: String) throws -> URL {
        let allowed = CharacterSet(
            charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
        guard let id = jobID.addingPercentEncoding(withAllowedCharacters: allowed),
            let url = URL(string: table.absoluteString + "?meta-%3E%3Ejob_id=eq." + id)
        else { throw HTTPClientError.invalidRequest("job id cannot be put in a URL") }
        return url
    }

    /// ffmpeg-whisper's rows: `video_id`, `ts_start`, `ts_end`, `uri`, `meta: {text, speaker, words}`, with the
    /// job's id in `meta` and its namespace when it names one (else the table's default, `pmoves`).
    static func rows(_ finished: Finished) -> [JSONValue] {
        let document = finished.document
        return document.segments.map { segment in
            let meta: [String: JSONValue] = [
                "text": .string(segment.text), "speaker": segment.speaker.map(JSONValue.string) ?? .null,
                "words": (try? segment.words.map { try JSONValue(encoding: $0) }) ?? .null,
                "job_id": .string(finished.jobID),
            ]
            var row: [String: JSONValue] = [
                "video_id": document.videoID.map(JSONValue.string) ?? .null,
                "ts_start": .number(TranscriptDocument.Segment.rounded(segment.start)),
                "ts_end": .number(TranscriptDocument.Segment.rounded(segment.end)),
                "uri": document.audioURI.map(JSONValue.string) ?? .null, "meta": .object(meta),
            ]
            if let namespace = document.namespace { row["namespace"] = .string(namespace) }
            return .object(row)
        }
    }

    /// media-audio's `POST /ingest-transcript` body, as ffmpeg-whisper sends it.
    static func forward(_ finished: Finished) throws -> JSONValue {
        let document = finished.document
        func text(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        let transcript: JSONValue = .object([
            "text": .string(document.text), "language": text(document.language),
            "segments": try JSONValue(encoding: document.segments),
            "word_segments": try document.wordSegments.map { try JSONValue(encoding: $0) } ?? .array([]),
            "speakers": try JSONValue(encoding: document.speakers), "device": .null, "model": text(document.model),
            "audio_uri": text(document.audioURI), "provider": text(document.provider),
        ])
        return .object([
            "bucket": .string(finished.bucket), "key": .string(finished.key), "video_id": text(document.videoID),
            "namespace": text(document.namespace), "language": text(document.language),
            "whisper_model": text(document.model), "provider": text(document.provider), "diarize": .bool(false),
            "transcript": transcript,
        ])
    }
}
