import CurlHTTP
import Foundation
import PipelineCore
import TestSupport
import Testing

/// `scripts/postgrest-standin.py` on 127.0.0.1: PostgREST's `segments` table and media-audio's `/ingest-transcript`
/// as the worker meets them (PostgREST itself installs from neither Debian nor PyPI).
struct PostgRESTStandIn {
    static let key = "service-role-key-\(UUID().uuidString.prefix(8))"
    let process: Process
    let port: Int
    let log: URL

    static func start() async throws -> PostgRESTStandIn {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [
            WorkerProcess.root.appendingPathComponent("scripts/postgrest-standin.py").path, "--key", Self.key,
        ]
        let (port, log) = try await ListeningProcess.start(process, name: "postgrest-standin")
        return PostgRESTStandIn(process: process, port: port, log: log)
    }

    var base: String { "http://127.0.0.1:\(self.port)" }

    func stop() {
        ListeningProcess.stop(self.process)
        try? FileManager.default.removeItem(at: self.log)
    }

    private func call(_ method: HTTPMethod, _ path: String, _ body: JSONValue? = nil) async throws -> Data {
        let response = try await CurlHTTPClient().send(
            HTTPRequest(
                method: method, url: URL(string: self.base + path)!,
                headers: [
                    "apikey": Self.key, "Authorization": "Bearer \(Self.key)", "Content-Type": "application/json",
                ],
                body: body.map { .data(try! JSONOutput.encode($0)) } ?? .empty, timeout: .seconds(10)))
        guard response.isSuccess else { throw SetupError("stand-in \(path): \(response.status)") }
        return response.body
    }

    /// The rows of job `id`, in insertion order.
    func rows(job id: String) async throws -> [[String: Any]] {
        let data = try await self.call(.get, "/rest/v1/segments?meta-%3E%3Ejob_id=eq.\(id)")
        return try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
    }

    /// Every request that reached the table.
    func requests() async throws -> [[String: Any]] {
        try JSONSerialization.jsonObject(with: try await self.call(.get, "/_requests")) as? [[String: Any]] ?? []
    }

    /// The transcripts media-audio took.
    func forwards() async throws -> [[String: Any]] {
        try JSONSerialization.jsonObject(with: try await self.call(.get, "/_forwards")) as? [[String: Any]] ?? []
    }

    /// The next `fail` writes answer `status` (after `stall` seconds); media-audio answers `forwardStatus`.
    func faults(fail: Int = 0, status: Int = 503, stall: Double = 0, forwardStatus: Int = 200) async throws {
        _ = try await self.call(
            .post, "/_faults",
            .object([
                "fail": .number(Double(fail)), "status": .number(Double(status)), "stall": .number(stall),
                "forward_status": .number(Double(forwardStatus)),
            ]))
    }
}

/// ffmpeg-whisper's persistence (contracts §1.6): segment rows in Supabase through PostgREST, or the transcript
/// forwarded to media-audio, never failing a job.
@Suite(.timeLimit(.minutes(3)))
struct TranscriptPersistenceTests {
    static func document(segments: Int, videoID: String? = "vid-7") -> TranscriptDocument {
        let pieces = (0..<segments).map { index in
            TranscriptSegment(
                id: index, start: Double(index) * 2.5, end: Double(index) * 2.5 + 2, text: "segment \(index)",
                words: [TranscriptWord(word: "segment", start: Double(index) * 2.5, end: Double(index) * 2.5 + 1)])
        }
        var document = TranscriptDocument(
            transcript: Transcript(
                text: pieces.map(\.text).joined(separator: " "), language: "en", duration: Double(segments) * 2.5,
                segments: pieces),
            chunks: [], warnings: [])
        document.videoID = videoID
        document.audioURI = "http://minio:9000/assets/yt/\(videoID ?? "x")/audio.m4a"
        return document
    }

    static func writer(
        _ server: PostgRESTStandIn, key: String = PostgRESTStandIn.key, mediaAudio: Bool = false,
        timeout: Duration = .seconds(10), metrics: Metrics = Metrics(), logs: InMemoryLogSink = InMemoryLogSink()
    ) throws -> TranscriptPersistence {
        var environment = ["SUPABASE_URL": server.base, "SUPABASE_SERVICE_ROLE_KEY": key]
        if mediaAudio { environment["MEDIA_AUDIO_URL"] = server.base + "/ingest-transcript" }
        var settings = try #require(try TranscriptPersistence.Settings.from(environment: environment))
        settings.timeout = timeout
        settings.mediaAudioTimeout = timeout
        settings.rowsPerRequest = 4
        return TranscriptPersistence(
            settings: settings, client: CurlHTTPClient(), metrics: metrics, logger: Logger(sink: logs),
            retryDelay: .milliseconds(20))
    }

    @Test
    func oneRowPerSegmentAsFFmpegWhisperWritesThemAndARunAgainReplacesThem() async throws {
        let server = try await PostgRESTStandIn.start()
        defer { server.stop() }
        let metrics = Metrics()
        let writer = try Self.writer(server, metrics: metrics)
        let first = TranscriptPersistence.Finished(
            jobID: "job-a", bucket: "assets", key: "yt/vid-7/raw.mp4", document: Self.document(segments: 10))
        let other = TranscriptPersistence.Finished(
            jobID: "job-b", bucket: "assets", key: "yt/vid-8/raw.mp4", document: Self.document(segments: 3))

        let outcome = try await writer.record(first)
        _ = try await writer.record(other)
        // The same job again, as after a crash between the rows and the settle: its rows are replaced.
        var rerun = first
        rerun.resumed = true
        let again = try await writer.record(rerun)

        #expect(outcome.forwarded == nil && outcome.rows == 10 && outcome.failures.isEmpty, "\(outcome)")
        #expect(again.rows == 10)
        let rows = try await server.rows(job: "job-a")
        #expect(rows.count == 10)
        let starts: [Double] = rows.compactMap { $0["ts_start"] as? Double }
        let ends: [Double] = rows.compactMap { $0["ts_end"] as? Double }
        #expect(starts == (0..<10).map { Double($0) * 2.5 })
        #expect(ends == (0..<10).map { Double($0) * 2.5 + 2 })
        #expect(rows.allSatisfy { $0["video_id"] as? String == "vid-7" && $0["namespace"] as? String == "pmoves" })
        #expect(rows.allSatisfy { $0["uri"] as? String == "http://minio:9000/assets/yt/vid-7/audio.m4a" })
        let meta = rows.first?["meta"] as? [String: Any] ?? [:]
        #expect(meta["text"] as? String == "segment 0")
        #expect(meta["speaker"] is NSNull)
        #expect((meta["words"] as? [[String: Any]])?.first?["word"] as? String == "segment")
        #expect(try await server.rows(job: "job-b").count == 3, "another job's rows are left alone")
        // Ten rows at four per request: three inserts each time, and one delete, for the run again.
        let methods: [String] = try await server.requests().compactMap { $0["method"] as? String }
        #expect(methods.filter { $0 == "POST" }.count == 7, "\(methods)")
        #expect(methods.filter { $0 == "DELETE" }.count == 1)
        #expect(metrics.value("audio_worker_segment_rows_total") == 23)
        #expect(
            metrics.value("audio_worker_transcripts_persisted_total", ["target": "supabase", "outcome": "ok"]) == 3)
    }

    @Test
    func transientFailuresAreRetriedAndAPermanentOneIsLoggedAndCountedWithoutTheKey() async throws {
        let server = try await PostgRESTStandIn.start()
        defer { server.stop() }
        let metrics = Metrics()
        let logs = InMemoryLogSink()
        let finished = TranscriptPersistence.Finished(
            jobID: "job-c", bucket: "assets", key: "k", document: Self.document(segments: 2))

        try await server.faults(fail: 2, status: 503)
        let retried = try await Self.writer(server, metrics: metrics).record(finished)
        let refused = try await Self.writer(server, key: "wrong-secret-key", metrics: metrics, logs: logs).record(
            finished)

        #expect(retried.rows == 2 && retried.failures.isEmpty, "\(retried)")
        #expect(refused.rows == 0)
        #expect(refused.failures.count == 1 && refused.failures[0].contains("401"), "\(refused.failures)")
        #expect(
            metrics.value("audio_worker_transcripts_persisted_total", ["target": "supabase", "outcome": "failed"]) == 1)
        let written = logs.written.map { "\($0.message) \($0.fields)" }.joined(separator: "\n")
        #expect(written.contains("segments not written to Supabase"), "\(written)")
        #expect(!written.contains("wrong-secret-key"))
        #expect(try await server.rows(job: "job-c").count == 2, "the refused attempt changed nothing")
    }

    @Test
    func aStalledServerCostsTheTimeoutNotTheJob() async throws {
        let server = try await PostgRESTStandIn.start()
        defer { server.stop() }
        // Every try stalls past the one-second timeout; the writer gives up after its three tries.
        try await server.faults(fail: 10, status: 503, stall: 4)
        let outcome = try await Self.writer(server, timeout: .seconds(1)).record(
            TranscriptPersistence.Finished(
                jobID: "job-d", bucket: "assets", key: "k", document: Self.document(segments: 1)))
        #expect(outcome.rows == 0)
        #expect(outcome.failures.first?.contains("no response within") == true, "\(outcome.failures)")
    }

    @Test
    func withMediaAudioTheTranscriptIsForwardedAndRowsAreWrittenOnlyWhenTheForwardFails() async throws {
        let server = try await PostgRESTStandIn.start()
        defer { server.stop() }
        let writer = try Self.writer(server, mediaAudio: true)
        let forwarded = try await writer.record(
            TranscriptPersistence.Finished(
                jobID: "job-e", bucket: "assets", key: "yt/vid-7/raw.mp4", document: Self.document(segments: 3)))
        try await server.faults(forwardStatus: 500)
        let fellBack = try await writer.record(
            TranscriptPersistence.Finished(
                jobID: "job-f", bucket: "assets", key: "yt/vid-9/raw.mp4", document: Self.document(segments: 2)))

        #expect(forwarded.forwarded == true && forwarded.rows == nil)
        #expect(try await server.rows(job: "job-e").isEmpty)
        let body = try #require(try await server.forwards().first)
        #expect(body["bucket"] as? String == "assets" && body["key"] as? String == "yt/vid-7/raw.mp4")
        #expect(body["video_id"] as? String == "vid-7" && body["diarize"] as? Bool == false)
        let transcript = body["transcript"] as? [String: Any] ?? [:]
        #expect((transcript["segments"] as? [Any])?.count == 3)
        #expect(transcript["audio_uri"] as? String == "http://minio:9000/assets/yt/vid-7/audio.m4a")
        #expect(fellBack.forwarded == false && fellBack.rows == 2, "\(fellBack)")
        #expect(try await server.rows(job: "job-f").count == 2)
    }

    /// pmoves-yt's `POST /transcribe` forwards to media-audio (answering `forwarded: true`), falls back to rows when
    /// media-audio fails (`forwarded: false`), and flute's `POST /transcribe_file` leaves nothing behind.
    @Test
    func theServiceRoutesForwardOrWriteRowsAndTheUploadRouteWritesNothing() async throws {
        let rest = try await PostgRESTStandIn.start()
        defer { rest.stop() }
        let speech = try await SpeechServer.start(["--echo", "--no-preload"])
        defer { speech.stop() }
        let sandbox = try WorkerSandbox(apiBase: speech.apiBase)
        defer { sandbox.remove() }
        try sandbox.storeInput("speech.mp3")
        try sandbox.storeInput("speech.flac")
        let worker = try ServeProcess(
            ["serve", "--listen", "127.0.0.1:0", "--log", "json"] + sandbox.options,
            environment: [
                "SUPABASE_URL": rest.base, "SUPABASE_SERVICE_ROLE_KEY": PostgRESTStandIn.key,
                "MEDIA_AUDIO_URL": rest.base + "/ingest-transcript",
            ])
        defer { worker.stop() }
        let api = "http://127.0.0.1:\(try await worker.listeningPort())"
        func post(_ path: String, _ body: Data, _ type: String) async throws -> [String: Any] {
            let response = try await CurlHTTPClient().send(
                HTTPRequest(
                    method: .post, url: URL(string: api + path)!, headers: ["Content-Type": type], body: body,
                    timeout: .seconds(120)))
            #expect(response.status == 200, "\(path): \(String(decoding: response.body, as: UTF8.self))")
            return try JSONSerialization.jsonObject(with: response.body) as? [String: Any] ?? [:]
        }
        func transcribe(_ key: String, video: String) async throws -> [String: Any] {
            try await post(
                "/transcribe",
                try JSONOutput.encode(
                    JSONValue.object([
                        "bucket": .string("assets"), "key": .string("inputs/\(key)"), "video_id": .string(video),
                    ])), "application/json")
        }

        let forwarded = try await transcribe("speech.mp3", video: "vid-1")
        try await rest.faults(forwardStatus: 500)
        let written = try await transcribe("speech.flac", video: "vid-2")
        let requestsBefore = try await rest.requests().count
        var form = MultipartForm()
        form.addFile(
            "audio", filename: "audio.wav", contentType: "audio/wav",
            data: try Data(contentsOf: WorkerProcess.fixtureURL("speech.wav")))
        let uploaded = try await post("/transcribe_file", form.encoded, form.contentType)

        #expect(forwarded["forwarded"] as? Bool == true)
        let forwards = try await rest.forwards()
        #expect(forwards.count == 1)
        #expect(
            forwards.first?["video_id"] as? String == "vid-1"
                && forwards.first?["key"] as? String == "inputs/speech.mp3")
        #expect(try await rest.rows(job: try #require(forwarded["job_id"] as? String)).isEmpty)
        #expect(written["forwarded"] as? Bool == false)
        let segments = written["segments"] as? [[String: Any]] ?? []
        #expect(!segments.isEmpty)
        let rows = try await rest.rows(job: try #require(written["job_id"] as? String))
        #expect(rows.map { $0["ts_start"] as? Double } == segments.map { $0["start"] as? Double })
        #expect(
            rows.map { ($0["meta"] as? [String: Any])?["text"] as? String } == segments.map { $0["text"] as? String })
        #expect(
            rows.allSatisfy {
                $0["video_id"] as? String == "vid-2" && $0["uri"] as? String == written["audio_uri"] as? String
            })
        #expect(uploaded["text"] as? String != nil && uploaded["forwarded"] == nil)
        #expect(try await rest.requests().count == requestsBefore, "the upload route wrote nothing")
        #expect(try await rest.forwards().count == 1)
    }
}
