import Foundation
import PipelineCore
import Synchronization

/// The worker's HTTP API: ffmpeg-whisper's routes for pmoves-yt and flute-gateway, the OpenAI audio API, jobs and
/// metrics. Every route that does work enqueues a job and follows it through ``JobControl``, so the queue governs
/// concurrency and a crash mid-request resumes from checkpoints.
package struct AudioAPI: HTTPResponder {
    /// How the API behaves.
    package struct Settings: Sendable {
        /// The key clients must send (`Authorization: Bearer KEY` or `X-API-Key: KEY`); nil for none.
        package var apiKey: Secret?
        /// The token `POST /synthesize` takes instead of the key (`X-Kokoro-Token` or `X-OmniVoice-Token`), as
        /// flute-gateway's local voice services do; nil to ask that route for the key like the others.
        package var voiceToken: Secret?
        /// Whether `/healthz` answers without the key.
        package var openHealth = true
        /// Whether `/metrics` answers without the key.
        package var openMetrics = true
        /// How long a synchronous route waits for its job (pmoves-yt waits 1200 s).
        package var syncTimeout: Duration = .seconds(1200)
        /// The most synchronous requests waiting for their jobs at once; beyond it, 503 with `Retry-After`.
        package var maxWaiting = 256
        /// Where uploaded media is stored before its job runs.
        package var uploadPrefix = "uploads/"
        /// The prefix of speech outputs made for `/v1/audio/speech` requests (named by a random id).
        package var speechPrefix = "speech/api/"
        /// What a job leaves out: its formats, and the prefixes of transcripts (`PREFIX + input key + .json`) and of
        /// speech. The synchronous routes write their transcript JSON under the same prefix.
        package var jobDefaults = JobSubmission.Defaults()
        /// The longest text one speech request may carry, in characters.
        package var maxSpeechCharacters = 100_000
        /// The largest JSON body, in bytes: larger is 413 before the body is read (JSON is parsed in memory).
        package var maxJSONBytes = 4 << 20

        /// Creates the defaults.
        package init() {}
    }

    /// The parts of the process the routes use.
    package struct Dependencies: Sendable {
        /// Submissions, waits, cancels and retries.
        package var control: JobControl
        /// Where media and outputs live.
        package var storage: any ObjectStorage
        /// The bucket of requests that name none.
        package var defaultBucket: String
        /// Speech as jobs produce it, for streaming.
        package var liveAudio: LiveAudio
        /// Encodes streamed speech.
        package var encoder: any AudioEncoding
        /// The process's metrics.
        package var metrics: Metrics
        /// Called before `/metrics` is written, to refresh gauges (queue depth, circuits).
        package var refreshMetrics: @Sendable () async -> Void
        /// The gateway functions, for `/v1/models` and for mapping OpenAI's `model` field.
        package var transcriptionFunctions: [String]
        /// The speech functions.
        package var speechFunctions: [String]
        /// Where temporary files go.
        package var scratch: URL
        /// The log.
        package var logger: Logger
        /// Whether the speech function's local voice answers, for `/healthz`'s `model_loaded`.
        package var speechProbe: SpeechProbe

        /// Creates the dependencies.
        package init(
            control: JobControl, storage: any ObjectStorage, defaultBucket: String, liveAudio: LiveAudio,
            encoder: any AudioEncoding, metrics: Metrics, refreshMetrics: @escaping @Sendable () async -> Void,
            transcriptionFunctions: [String], speechFunctions: [String], scratch: URL, logger: Logger,
            speechProbe: SpeechProbe = SpeechProbe(synthesizer: nil)
        ) {
            self.speechProbe = speechProbe
            self.control = control
            self.storage = storage
            self.defaultBucket = defaultBucket
            self.liveAudio = liveAudio
            self.encoder = encoder
            self.metrics = metrics
            self.refreshMetrics = refreshMetrics
            self.transcriptionFunctions = transcriptionFunctions
            self.speechFunctions = speechFunctions
            self.scratch = scratch
            self.logger = logger
        }
    }

    let settings: Settings
    let dependencies: Dependencies
    let waiting = WaitingCount()
    /// Held per output prefix by the synchronous transcription routes, from submitting to reading the transcript.
    let outputLocks = KeyedLock()

    /// Creates the API.
    package init(settings: Settings, dependencies: Dependencies) {
        self.settings = settings
        self.dependencies = dependencies
    }

    /// A route: its name for metrics, the methods it takes, and its error shape.
    struct Route: Sendable {
        var name: String
        var methods: [String]
        var shape: APIError.Shape
        var open: Bool
    }

    /// The route a path belongs to, or nil for none.
    func route(for path: String) -> Route? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        switch parts {
        case ["healthz"]:
            return Route(name: "/healthz", methods: ["GET", "HEAD"], shape: .fastAPI, open: self.settings.openHealth)
        case ["metrics"]:
            return Route(name: "/metrics", methods: ["GET"], shape: .fastAPI, open: self.settings.openMetrics)
        case ["transcribe"]: return Route(name: "/transcribe", methods: ["POST"], shape: .fastAPI, open: false)
        case ["transcribe_file"]:
            return Route(name: "/transcribe_file", methods: ["POST"], shape: .fastAPI, open: false)
        case ["v1", "audio", "transcriptions"]:
            return Route(name: "/v1/audio/transcriptions", methods: ["POST"], shape: .openAI, open: false)
        case ["v1", "audio", "speech"]:
            return Route(name: "/v1/audio/speech", methods: ["POST"], shape: .openAI, open: false)
        case ["synthesize"]:
            // With a voice token the route checks it itself, in place of the key.
            return Route(
                name: "/synthesize", methods: ["POST"], shape: .fastAPI, open: self.settings.voiceToken != nil)
        case ["v1", "models"]: return Route(name: "/v1/models", methods: ["GET"], shape: .openAI, open: false)
        case ["v1", "jobs"]: return Route(name: "/v1/jobs", methods: ["GET", "POST"], shape: .openAI, open: false)
        case let route where route.count == 3 && route[0] == "v1" && route[1] == "jobs":
            return Route(name: "/v1/jobs/{id}", methods: ["GET", "DELETE"], shape: .openAI, open: false)
        case let route where route.count == 4 && route[0] == "v1" && route[1] == "jobs" && route[3] == "retry":
            return Route(name: "/v1/jobs/{id}/retry", methods: ["POST"], shape: .openAI, open: false)
        case let route where route.count == 4 && route[0] == "v1" && route[1] == "jobs" && route[3] == "events":
            return Route(name: "/v1/jobs/{id}/events", methods: ["GET"], shape: .openAI, open: false)
        default: return nil
        }
    }

    package func admit(_ head: HTTPRequestHead) -> HTTPServerResponse? {
        guard let route = self.route(for: head.path) else {
            return self.counted(APIError(404, "Not Found").response(.fastAPI), route: "unknown")
        }
        guard route.methods.contains(head.method) else {
            var error = APIError(405, "Method Not Allowed")
            error.headers = [("Allow", route.methods.joined(separator: ", "))]
            return self.counted(error.response(route.shape), route: route.name)
        }
        // The voice token is checked on the head too, so a caller without it cannot send a body first.
        if route.name == "/synthesize", let token = self.settings.voiceToken, !Self.hasVoiceToken(head, token) {
            return self.counted(
                APIError(401, "a valid X-Kokoro-Token (or X-OmniVoice-Token) is required").response(route.shape),
                route: route.name)
        }
        if !route.open, let key = self.settings.apiKey, !Self.authorized(head, key: key) {
            var error = APIError(401, "a valid API key is required (Authorization: Bearer KEY, or X-API-Key: KEY)")
            error.headers = [("WWW-Authenticate", "Bearer")]
            return self.counted(error.response(route.shape), route: route.name)
        }
        // Only multipart bodies may be large (they stream to disk); JSON is parsed in memory, so a declared size
        // over the cap is refused before a byte of the body is read. A chunked one is caught when it is parsed.
        let multipart = MultipartBody.boundary(fromContentType: head.headers.first("Content-Type") ?? "") != nil
        if head.method == "POST", !multipart, let length = head.headers.first("Content-Length").flatMap({ Int64($0) }),
            length > Int64(self.settings.maxJSONBytes)
        {
            let error = APIError(413, "a JSON body is at most \(self.settings.maxJSONBytes) bytes")
            return self.counted(error.response(route.shape), route: route.name)
        }
        return nil
    }

    package func respondAtOnce(to head: HTTPRequestHead) -> HTTPServerResponse? {
        guard self.route(for: head.path)?.name == "/healthz" else { return nil }
        // On the server's own thread, from the probe's cached answer: health stays fast however busy the worker's
        // tasks are. `ok` as ffmpeg-whisper's callers read it; `model_loaded` as flute-gateway asks of a local voice.
        let loaded = self.dependencies.speechProbe.cachedReady()
        return self.counted(.json(.object(["ok": .bool(true), "model_loaded": .bool(loaded)])), route: "/healthz")
    }

    package func respond(to request: HTTPServerRequest) async -> HTTPServerResponse {
        let started = ContinuousClock.now
        guard let route = self.route(for: request.head.path) else {
            return APIError(404, "Not Found").response(.fastAPI)
        }
        let response: HTTPServerResponse
        do {
            response = try await self.dispatch(request, route: route)
        } catch let error as APIError {
            response = error.response(route.shape)
        } catch is CancellationError {
            response = APIError(499, "the client went away").response(route.shape)
        } catch {
            self.dependencies.logger.error(
                "request failed", ["route": .string(route.name), "error": .string("\(error)")])
            response = APIError(500, "\(error)").response(route.shape)
        }
        self.dependencies.metrics.observe(
            "audio_worker_http_request_seconds", ["route": route.name], (ContinuousClock.now - started).seconds,
            buckets: latencyBuckets, help: "Time to answer HTTP requests (to the response head for streams).")
        return self.counted(response, route: route.name)
    }

    package func rejectionResponse(_ rejection: HTTPRejection, head: HTTPRequestHead?) -> HTTPServerResponse {
        let route = head.flatMap { self.route(for: $0.path) }
        var error = APIError(rejection.status, rejection.message)
        if rejection == .shuttingDown {
            error.headers = [("Retry-After", "1")]
        }
        return self.counted(error.response(route?.shape ?? .fastAPI), route: route?.name ?? "unknown")
    }

    private func dispatch(_ request: HTTPServerRequest, route: Route) async throws -> HTTPServerResponse {
        let head = request.head
        switch (route.name, head.method) {
        case ("/metrics", _): return await self.metrics()
        case ("/transcribe", _): return try await self.transcribe(request, fileRoute: false)
        case ("/transcribe_file", _): return try await self.transcribe(request, fileRoute: true)
        case ("/v1/audio/transcriptions", _): return try await self.openAITranscription(request)
        case ("/v1/audio/speech", _): return try await self.openAISpeech(request)
        case ("/synthesize", _): return try await self.localVoiceSynthesis(request)
        case ("/v1/models", _): return self.models()
        case ("/v1/jobs", "POST"): return try await self.createJob(request)
        case ("/v1/jobs", _): return try await self.listJobs(head)
        case ("/v1/jobs/{id}", "DELETE"): return try await self.cancelJob(Self.jobID(head.path))
        case ("/v1/jobs/{id}", _): return try await self.showJob(Self.jobID(head.path))
        case ("/v1/jobs/{id}/retry", _): return try await self.retryJob(Self.jobID(head.path))
        case ("/v1/jobs/{id}/events", _): return try await self.jobEvents(Self.jobID(head.path))
        default: throw APIError(404, "Not Found")
        }
    }

    private func counted(_ response: HTTPServerResponse, route: String) -> HTTPServerResponse {
        self.dependencies.metrics.increment(
            "audio_worker_http_requests_total", ["route": route, "status": String(response.status)],
            help: "HTTP requests answered, by route and status.")
        return response
    }

    private func metrics() async -> HTTPServerResponse {
        await self.dependencies.refreshMetrics()
        return HTTPServerResponse(
            status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
            body: .data(Data(self.dependencies.metrics.exposition().utf8)))
    }

    /// Whether the request carries the voice token, in `X-Kokoro-Token` or `X-OmniVoice-Token`.
    static func hasVoiceToken(_ head: HTTPRequestHead, _ token: Secret) -> Bool {
        ["X-Kokoro-Token", "X-OmniVoice-Token"].contains { name in
            head.headers.first(name).map { token.matches($0.trimmingCharacters(in: .whitespaces)) } ?? false
        }
    }

    /// Whether the request carries the key, as a bearer token or in `X-API-Key`.
    static func authorized(_ head: HTTPRequestHead, key: Secret) -> Bool {
        if let bearer = head.headers.first("Authorization"), bearer.lowercased().hasPrefix("bearer "),
            key.matches(String(bearer.dropFirst(7)).trimmingCharacters(in: .whitespaces))
        {
            return true
        }
        if let given = head.headers.first("X-API-Key"), key.matches(given.trimmingCharacters(in: .whitespaces)) {
            return true
        }
        return false
    }

    /// The job id in `/v1/jobs/{id}[/...]`, checked for shape so no odd text reaches the ledger.
    static func jobID(_ path: String) throws(APIError) -> String {
        let parts = path.split(separator: "/")
        guard parts.count >= 3, JobID.isValid(String(parts[2])) else {
            throw APIError(404, "no job with id '\(parts.count >= 3 ? String(parts[2].prefix(40)) : "")'")
        }
        return String(parts[2])
    }

    /// Holds one of the synchronous-wait slots while `body` runs; 503 with `Retry-After` when none is free.
    func waitingSlot<T>(_ body: () async throws -> T) async throws -> T {
        let slot = try self.takeWaitingSlot()
        defer { slot.release() }
        return try await body()
    }

    /// Takes one of the ``Settings/maxWaiting`` slots, for a request whose wait outlives this call (a stream);
    /// release it when the wait ends.
    ///
    /// - Throws: ``APIError`` 503 with `Retry-After` when every slot is taken.
    func takeWaitingSlot() throws(APIError) -> WaitingSlot {
        let slot = WaitingSlot(self.waiting)
        guard slot.taken <= self.settings.maxWaiting else {
            slot.release()
            throw APIError(
                503, "too many requests are waiting for their jobs (\(self.settings.maxWaiting)); retry shortly",
                headers: [("Retry-After", "5")])
        }
        return slot
    }
}

/// How many synchronous requests wait for their jobs now.
final class WaitingCount: Sendable {
    let count = Atomic<Int>(0)
}

/// One taken waiting slot; ``release()`` gives it back, once however often it is called.
final class WaitingSlot: Sendable {
    /// The count of taken slots, this one included, when it was taken.
    let taken: Int
    private let counter: WaitingCount
    private let released = Atomic<Bool>(false)

    init(_ counter: WaitingCount) {
        self.counter = counter
        self.taken = counter.count.wrappingAdd(1, ordering: .relaxed).newValue
    }

    func release() {
        guard !self.released.exchange(true, ordering: .relaxed) else { return }
        self.counter.count.wrappingSubtract(1, ordering: .relaxed)
    }
}
