import Foundation

/// The worker's own settings (`config/audio-worker.toml`): strict, so a misspelt key is an error with its place.
package struct WorkerConfig: Sendable, Equatable {
    /// Queue worker settings (`[worker]`).
    package struct Worker: Sendable, Equatable {
        /// The built-in defaults.
        package init() {}

        /// Where the embedded queue and file store live.
        package var dataDirectory = "data"
        /// Jobs worked at once by one `serve`.
        package var concurrency = 2
        /// How long a lease lasts without a heartbeat.
        package var lease: Duration = .seconds(60)
        /// How often a running job heartbeats.
        package var heartbeat: Duration = .seconds(10)
        /// Attempts before a failing job is dead.
        package var maxAttempts = 5
        /// The first retry delay; later ones double.
        package var retryBase: Duration = .seconds(2)
        /// The longest retry delay.
        package var retryMax: Duration = .seconds(300)
        /// How long SIGTERM waits for running jobs before returning them to the queue.
        package var shutdownGrace: Duration = .seconds(30)
    }

    /// The HTTP API's settings (`[http]`).
    package struct HTTP: Sendable, Equatable {
        /// The built-in defaults.
        package init() {}

        /// Where `serve` listens: `HOST:PORT` (`AUDIO_WORKER_LISTEN`); the container uses `0.0.0.0:8078`.
        package var listen = "127.0.0.1:8078"
        /// Where the API key comes from (`AUDIO_WORKER_API_KEY`, or a `path::` file); with none, no key is asked.
        package var apiKey = CredentialLocation.environment("AUDIO_WORKER_API_KEY")
        /// Where the token of `POST /synthesize` comes from (`AUDIO_WORKER_VOICE_TOKEN`, or a `path::` file), sent
        /// as flute-gateway sends its local voices' (`X-Kokoro-Token`, `X-OmniVoice-Token`); with none, that route
        /// asks for the API key as the others do.
        package var voiceToken = CredentialLocation.environment("AUDIO_WORKER_VOICE_TOKEN")
        /// Whether `/healthz` answers without the key.
        package var openHealth = true
        /// Whether `/metrics` answers without the key.
        package var openMetrics = true
        /// The largest request body, in bytes (uploads are streamed to disk).
        package var maxBodyBytes: Int64 = 1 << 30
        /// How long a synchronous route waits for its job.
        package var syncTimeout: Duration = .seconds(1200)
        /// Synchronous requests that may wait at once.
        package var maxWaiting = 256
        /// Connections open at once.
        package var maxConnections = 1024
        /// Connections one client address may hold (0: no cap).
        package var maxConnectionsPerAddress = 0
        /// How long a request's head may take.
        package var headerTimeout: Duration = .seconds(10)
        /// How long a body may take after its head.
        package var bodyTimeout: Duration = .seconds(300)
        /// How long a connection may stay silent.
        package var idleTimeout: Duration = .seconds(60)
        /// libmicrohttpd's polling threads.
        package var threads = 4
    }

    /// Job queue settings (`[queue]`).
    package struct Queue: Sendable, Equatable {
        /// The built-in defaults.
        package init() {}

        /// Where the work queue and the job ledger live.
        package enum Backend: String, Sendable, Equatable {
            /// One SQLite database under the data directory: the embedded default.
            case sqlite
            /// A JetStream work-queue stream and a KV bucket on the NATS server at `NATS_URL`.
            case jetstream
        }

        /// `sqlite` (the default) or `jetstream` (`AUDIO_WORKER_QUEUE`).
        package var backend = Backend.sqlite
        /// How many NATS servers keep the stream and the bucket (`AUDIO_WORKER_NATS_REPLICAS`); JetStream only.
        package var replicas = 1
    }

    /// Object storage settings (`[storage]`).
    package struct Storage: Sendable, Equatable {
        /// The built-in defaults.
        package init() {}

        /// Which store: the file store under the data directory, or S3 / MinIO.
        package enum Backend: String, Sendable, Equatable {
            case file
            case s3
        }

        /// `file` (the default) or `s3`; setting `MINIO_ENDPOINT` selects `s3`.
        package var backend = Backend.file
        /// The bucket for inputs and outputs of jobs that name none (PMOVES keeps media in `assets`).
        package var bucket = "assets"
        /// The S3 endpoint, `host:port` or a URL (`MINIO_ENDPOINT`).
        package var endpoint: String?
        /// Whether a schemeless endpoint is reached over HTTPS (`MINIO_SECURE`).
        package var secure = false
        /// The region requests are signed for (`MINIO_REGION`).
        package var region = "us-east-1"
        /// Where the access key comes from.
        package var accessKey = CredentialLocation.withFallback(
            .environment("MINIO_ACCESS_KEY"), .environment("AWS_ACCESS_KEY_ID"))
        /// Where the secret key comes from.
        package var secretKey = CredentialLocation.withFallback(
            .environment("MINIO_SECRET_KEY"), .environment("AWS_SECRET_ACCESS_KEY"))
        /// Uploads larger than this use S3 multipart upload, in bytes.
        package var multipartThreshold: Int64 = 64 << 20
        /// The size of each multipart part, in bytes.
        package var partSize: Int64 = 16 << 20
        /// Where transcripts of a key go: `PREFIX` + `KEY` + `.json` (and the other formats).
        package var transcriptPrefix = "transcripts/"
        /// Where synthesized speech goes: `PREFIX` + a hash of the request + the format's extension.
        package var speechPrefix = "speech/"
    }

    /// Decoding settings (`[media]`).
    package struct Media: Sendable, Equatable {
        /// The built-in defaults.
        package init() {}

        /// The rate audio is decoded to for transcription, in Hz.
        package var sampleRate = 16_000
        /// Limits on untrusted inputs.
        package var limits = MediaLimits()
    }

    /// What a job may send to providers (`[budget]`); see ``ProviderBudget``.
    package struct Budget: Sendable, Equatable {
        /// The built-in defaults.
        package init() {}

        /// A job may send its audio (or text) this many times over, retries and fallbacks included.
        package var maxSentMultiple = 8.0
        /// Seconds of audio one job may send to billing providers; nil for no cap.
        package var cloudAudioSecondsPerJob: Double?
        /// Seconds of audio the worker may send to billing providers within any hour; nil for no cap.
        package var cloudAudioSecondsPerHour: Double?
        /// Characters one speech job may send to billing providers; nil for no cap.
        package var cloudCharactersPerJob: Double?
        /// Characters the worker may send to billing providers within any hour; nil for no cap.
        package var cloudCharactersPerHour: Double?
    }

    /// Transcription defaults (`[transcription]`).
    package struct Transcription: Sendable, Equatable {
        /// The built-in defaults.
        package init() {}

        /// The gateway function to call.
        package var function = "pmoves_yt_transcription"
        /// Chunks in flight at once per job.
        package var concurrency = 4
        /// The longest chunk, in seconds of the audio sent, before providers' own limits: one that ends at a pause
        /// between sentences.
        /// Short of Whisper's 30 s window, whose very end is where it most often stops writing. Two windows (56 s)
        /// cost less Whisper time, but inside such a chunk Whisper may skip seconds of speech at its first window's
        /// end, where the retry of a chunk's tail cannot see it (three sentences lost in one test run).
        package var windowSeconds = 28.0
        /// The longest chunk that does not end at a pause (cut at a shorter silence, or blind), and the longest first
        /// chunk, in seconds; nil for `windowSeconds`. Short of Whisper's 30 s window when the window is longer, so
        /// that speech without pauses is never read across two of them.
        package var unpausedWindowSeconds: Double?
        /// Pauses longer than this are shortened to it in the audio sent, in seconds; nil sends them as they are.
        /// Whisper spends a 30 s window on each request however much of it is silence: a recording with the pauses
        /// of read speech needs a fifth fewer requests, and a long silence is not sent to hallucinate in.
        package var keptPauseSeconds: Double? = 0.4
        /// The language to ask for (ISO 639-1), or nil to detect.
        package var language: String?
        /// Output formats written by default.
        package var formats = ["json", "txt"]
        /// Whether each chunk's request carries the previous chunk's text as its prompt.
        package var carryPrompt = false
        /// How much previous text a carried prompt may hold, in characters (about 224 tokens).
        package var promptMaxCharacters = 800
    }

    /// Speech defaults (`[speech]`).
    package struct Speech: Sendable, Equatable {
        /// The built-in defaults.
        package init() {}

        /// The gateway function to call.
        package var function = "flute_tts_synthesis"
        /// The voice to ask for, or nil for each provider's own default.
        package var voice: String?
        /// The output format.
        package var format = "wav"
        /// The output rate, in Hz.
        package var sampleRate = 24_000
        /// Pieces synthesized at once per job.
        package var concurrency = 4
        /// The speaking speed.
        package var speed = 1.0
        /// The longest text a job may carry, in characters.
        package var maxTextCharacters = 200_000
    }

    /// Fallback machinery settings (`[gateway]`).
    package struct Gateway: Sendable, Equatable {
        /// The built-in defaults.
        package init() {}

        /// Consecutive failures that open a provider's circuit.
        package var circuitFailures = 5
        /// How long an open circuit skips its provider.
        package var circuitCoolDown: Duration = .seconds(30)
        /// The longest `Retry-After` honoured; a provider asking for more is skipped for this request.
        package var maxRetryAfter: Duration = .seconds(60)
        /// A seed for drawing candidate variants, for reproducible runs; nil draws randomly.
        package var seed: UInt64?
    }

    /// An extra variant for a gateway function, from the worker's file, and where it goes in the order.
    package struct ExtraVariant: Sendable, Equatable {
        /// The variant (its model may be one only the worker's file defines, such as an ElevenLabs one).
        package var variant: VariantConfig
        /// Where it goes: `first`, `last`, `before:NAME` or `after:NAME`.
        package var position: String
    }

    /// The gateway config file, relative to this file; nil for `tensorzero.toml` beside it.
    package var gatewayConfig: String?
    /// `[worker]`.
    package var worker = Worker()
    /// `[media]`.
    package var media = Media()
    /// `[budget]`.
    package var budget = Budget()
    /// `[transcription]`.
    package var transcription = Transcription()
    /// `[speech]`.
    package var speech = Speech()
    /// `[gateway]`.
    package var gateway = Gateway()
    /// `[queue]`.
    package var queue = Queue()
    /// `[storage]`.
    package var storage = Storage()
    /// `[http]`.
    package var http = HTTP()
    /// `[models.M]`: audio settings for gateway models' providers, or whole models the gateway cannot express.
    package var models: [String: ModelConfig] = [:]
    /// `[functions.F.variants.V]`: extra variants per function.
    package var extraVariants: [String: [ExtraVariant]] = [:]

    /// The built-in defaults.
    package init() {}

    /// Reads a parsed `audio-worker.toml`.
    package init(_ root: ConfigTable) throws(ConfigError) {
        try root.rejectUnknownKeys(
            allowing: [
                "gateway_config", "worker", "queue", "media", "budget", "transcription", "speech", "gateway", "storage",
                "http", "models", "functions",
            ])
        self.gatewayConfig = try root.string("gateway_config")
        if let table = try root.table("worker") {
            try self.readWorker(table)
        }
        if let table = try root.table("queue") {
            try self.readQueue(table)
        }
        if let table = try root.table("media") {
            try self.readMedia(table)
        }
        if let table = try root.table("budget") {
            try self.readBudget(table)
        }
        if let table = try root.table("transcription") {
            try self.readTranscription(table)
        }
        if let table = try root.table("speech") {
            try self.readSpeech(table)
        }
        if let table = try root.table("gateway") {
            try self.readGateway(table)
        }
        if let table = try root.table("storage") {
            try self.readStorage(table)
        }
        if let table = try root.table("http") {
            try self.readHTTP(table)
        }
        if let models = try root.table("models") {
            for (name, table) in try models.subtables() {
                self.models[name] = try ModelConfig(name: name, table: table, strict: true)
            }
        }
        if let functions = try root.table("functions") {
            for (name, table) in try functions.subtables() {
                try table.rejectUnknownKeys(allowing: ["variants"])
                guard let variants = try table.table("variants") else { continue }
                for (variantName, variantTable) in try variants.subtables() {
                    try variantTable.rejectUnknownKeys(allowing: ["type", "model", "retries", "timeouts", "position"])
                    let position = try variantTable.string("position") ?? "last"
                    guard Self.isValidPosition(position) else {
                        throw variantTable.error(
                            "position", "position must be \"first\", \"last\", \"before:VARIANT\" or \"after:VARIANT\"")
                    }
                    guard variantTable.contains("model") else {
                        throw variantTable.error(nil, "missing required key '\(variantTable.qualified("model"))'")
                    }
                    let variant = try VariantConfig(name: variantName, table: variantTable)
                    self.extraVariants[name, default: []].append(ExtraVariant(variant: variant, position: position))
                }
            }
        }
    }

    /// Applies deployment overrides from the environment: `AUDIO_WORKER_DATA`, `AUDIO_WORKER_CONCURRENCY`,
    /// `AUDIO_WORKER_TRANSCRIPTION_CONCURRENCY`, PMOVES's `MINIO_ENDPOINT` (or `S3_ENDPOINT`), `MINIO_SECURE`,
    /// `MINIO_REGION` and `AUDIO_WORKER_BUCKET`, `AUDIO_WORKER_QUEUE` and `AUDIO_WORKER_NATS_REPLICAS`, and
    /// `AUDIO_WORKER_API_BASE__MODEL__PROVIDER` for any provider.
    package mutating func applyEnvironment(_ environment: [String: String]) throws(ConfigError) {
        if let text = environment["AUDIO_WORKER_QUEUE"], !text.isEmpty {
            guard let backend = Queue.Backend(rawValue: text.lowercased()) else {
                throw ConfigError(
                    file: "environment", message: "AUDIO_WORKER_QUEUE must be sqlite or jetstream, not '\(text)'")
            }
            self.queue.backend = backend
        }
        if let text = environment["AUDIO_WORKER_NATS_REPLICAS"], !text.isEmpty {
            guard let value = Int(text), (1...5).contains(value) else {
                throw ConfigError(
                    file: "environment", message: "AUDIO_WORKER_NATS_REPLICAS must be 1...5, not '\(text)'")
            }
            self.queue.replicas = value
        }
        if let endpoint = environment["MINIO_ENDPOINT"] ?? environment["S3_ENDPOINT"], !endpoint.isEmpty {
            self.storage.endpoint = endpoint
            self.storage.backend = .s3
        }
        if let secure = environment["MINIO_SECURE"], !secure.isEmpty {
            guard let value = Self.boolean(secure) else {
                throw ConfigError(file: "environment", message: "MINIO_SECURE must be true or false, not '\(secure)'")
            }
            self.storage.secure = value
        }
        if let region = environment["MINIO_REGION"] ?? environment["AWS_REGION"], !region.isEmpty {
            self.storage.region = region
        }
        if let bucket = environment["AUDIO_WORKER_BUCKET"], !bucket.isEmpty {
            self.storage.bucket = bucket
        }
        if let listen = environment["AUDIO_WORKER_LISTEN"], !listen.isEmpty {
            guard Self.isListenAddress(listen) else {
                throw ConfigError(
                    file: "environment", message: "AUDIO_WORKER_LISTEN must be HOST:PORT, not '\(listen)'")
            }
            self.http.listen = listen
        }
        if let directory = environment["AUDIO_WORKER_DATA"], !directory.isEmpty {
            self.worker.dataDirectory = directory
        }
        if let text = environment["AUDIO_WORKER_CONCURRENCY"] {
            guard let value = Int(text), (1...256).contains(value) else {
                throw ConfigError(
                    file: "environment", message: "AUDIO_WORKER_CONCURRENCY must be 1...256, not '\(text)'")
            }
            self.worker.concurrency = value
        }
        if let text = environment["AUDIO_WORKER_TRANSCRIPTION_CONCURRENCY"] {
            guard let value = Int(text), (1...64).contains(value) else {
                throw ConfigError(
                    file: "environment", message: "AUDIO_WORKER_TRANSCRIPTION_CONCURRENCY must be 1...64, not '\(text)'"
                )
            }
            self.transcription.concurrency = value
        }
    }

    /// API base overrides from `AUDIO_WORKER_API_BASE__MODEL__PROVIDER` variables, keyed by model then provider.
    package static func apiBaseOverrides(_ environment: [String: String]) -> [String: [String: String]] {
        var overrides: [String: [String: String]] = [:]
        for (name, value) in environment where name.hasPrefix("AUDIO_WORKER_API_BASE__") {
            let parts = name.dropFirst("AUDIO_WORKER_API_BASE__".count).components(separatedBy: "__")
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { continue }
            overrides[parts[0], default: [:]][parts[1]] = value
        }
        return overrides
    }

    /// Whether `text` is `HOST:PORT` (`[::1]:8078` for IPv6), with a port in 0...65535.
    package static func isListenAddress(_ text: String) -> Bool {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return false }
        return !text[..<colon].isEmpty
    }

    /// `true`/`false` as environment variables spell them (`1`, `yes`, `on`, ...).
    private static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "1", "true", "yes", "on": true
        case "0", "false", "no", "off": false
        default: nil
        }
    }

    private static func isValidPosition(_ position: String) -> Bool {
        if position == "first" || position == "last" {
            return true
        }
        for prefix in ["before:", "after:"] where position.hasPrefix(prefix) {
            return position.count > prefix.count
        }
        return false
    }

    private mutating func readWorker(_ table: ConfigTable) throws(ConfigError) {
        try table.rejectUnknownKeys(allowing: [
            "data_dir", "concurrency", "lease_s", "heartbeat_s", "max_attempts", "retry_base_s", "retry_max_s",
            "shutdown_grace_s",
        ])
        self.worker.dataDirectory = try table.string("data_dir") ?? self.worker.dataDirectory
        self.worker.concurrency = try table.integer("concurrency", in: 1...256) ?? self.worker.concurrency
        self.worker.lease = try table.number("lease_s", in: 1...86_400).map { .seconds($0) } ?? self.worker.lease
        self.worker.heartbeat =
            try table.number("heartbeat_s", in: 0.05...3600).map { .seconds($0) } ?? self.worker.heartbeat
        self.worker.maxAttempts = try table.integer("max_attempts", in: 1...1000) ?? self.worker.maxAttempts
        self.worker.retryBase =
            try table.number("retry_base_s", in: 0...86_400).map { .seconds($0) } ?? self.worker.retryBase
        self.worker.retryMax =
            try table.number("retry_max_s", in: 0...604_800).map { .seconds($0) } ?? self.worker.retryMax
        self.worker.shutdownGrace =
            try table.number("shutdown_grace_s", in: 0...86_400).map { .seconds($0) } ?? self.worker.shutdownGrace
        if self.worker.heartbeat >= self.worker.lease {
            throw table.error("heartbeat_s", "heartbeat_s must be shorter than lease_s, or leases expire while working")
        }
    }

    private mutating func readQueue(_ table: ConfigTable) throws(ConfigError) {
        try table.rejectUnknownKeys(allowing: ["backend", "replicas"])
        if let backend = try table.string("backend") {
            guard let value = Queue.Backend(rawValue: backend) else {
                throw table.error("backend", "backend must be \"sqlite\" or \"jetstream\"")
            }
            self.queue.backend = value
        }
        // JetStream replicates over at most five servers.
        self.queue.replicas = try table.integer("replicas", in: 1...5) ?? self.queue.replicas
    }

    private mutating func readMedia(_ table: ConfigTable) throws(ConfigError) {
        try table.rejectUnknownKeys(allowing: [
            "sample_rate", "max_input_mb", "max_duration_s", "max_channels", "max_streams",
        ])
        self.media.sampleRate = try table.integer("sample_rate", in: 8000...48_000) ?? self.media.sampleRate
        if let megabytes = try table.number("max_input_mb", in: 0.001...10_000_000) {
            self.media.limits.maxInputBytes = Int64(megabytes * 1_048_576)
        }
        if let seconds = try table.number("max_duration_s", in: 1...10_000_000) {
            self.media.limits.maxDecodedSeconds = seconds
        }
        self.media.limits.maxChannels = try table.integer("max_channels", in: 1...1024) ?? self.media.limits.maxChannels
        self.media.limits.maxStreams = try table.integer("max_streams", in: 1...100_000) ?? self.media.limits.maxStreams
    }

    private mutating func readBudget(_ table: ConfigTable) throws(ConfigError) {
        try table.rejectUnknownKeys(allowing: [
            "max_sent_multiple", "cloud_audio_s_per_job", "cloud_audio_s_per_hour", "cloud_chars_per_job",
            "cloud_chars_per_hour",
        ])
        self.budget.maxSentMultiple = try table.number("max_sent_multiple", in: 1...100) ?? self.budget.maxSentMultiple
        self.budget.cloudAudioSecondsPerJob = try table.number("cloud_audio_s_per_job", in: 0...100_000_000)
        self.budget.cloudAudioSecondsPerHour = try table.number("cloud_audio_s_per_hour", in: 0...100_000_000)
        self.budget.cloudCharactersPerJob = try table.number("cloud_chars_per_job", in: 0...1_000_000_000)
        self.budget.cloudCharactersPerHour = try table.number("cloud_chars_per_hour", in: 0...1_000_000_000)
    }

    private mutating func readTranscription(_ table: ConfigTable) throws(ConfigError) {
        try table.rejectUnknownKeys(allowing: [
            "function", "concurrency", "window_s", "unpaused_window_s", "kept_pause_s", "language", "formats",
            "carry_prompt", "prompt_max_chars",
        ])
        self.transcription.function = try table.string("function") ?? self.transcription.function
        self.transcription.concurrency = try table.integer("concurrency", in: 1...64) ?? self.transcription.concurrency
        self.transcription.windowSeconds =
            try table.number("window_s", in: 5...7200) ?? self.transcription.windowSeconds
        if let unpaused = try table.number("unpaused_window_s", in: 5...7200) {
            guard unpaused <= self.transcription.windowSeconds else {
                throw table.error(
                    "unpaused_window_s",
                    "unpaused_window_s must not be longer than window_s (\(self.transcription.windowSeconds))")
            }
            self.transcription.unpausedWindowSeconds = unpaused
        }
        if let kept = try table.number("kept_pause_s", in: 0...10) {
            self.transcription.keptPauseSeconds = kept > 0 ? kept : nil
        }
        if let language = try table.string("language") {
            self.transcription.language = language.isEmpty ? nil : language
        }
        if let formats = try table.strings("formats") {
            for format in formats where !["json", "srt", "vtt", "txt"].contains(format) {
                throw table.error("formats", "unknown transcript format '\(format)'; use json, srt, vtt or txt")
            }
            self.transcription.formats = formats
        }
        self.transcription.carryPrompt = try table.bool("carry_prompt") ?? self.transcription.carryPrompt
        self.transcription.promptMaxCharacters =
            try table.integer("prompt_max_chars", in: 0...10_000) ?? self.transcription.promptMaxCharacters
    }

    private mutating func readSpeech(_ table: ConfigTable) throws(ConfigError) {
        try table.rejectUnknownKeys(allowing: [
            "function", "voice", "format", "sample_rate", "concurrency", "speed", "max_text_chars",
        ])
        self.speech.function = try table.string("function") ?? self.speech.function
        self.speech.voice = try table.string("voice") ?? self.speech.voice
        if let format = try table.string("format") {
            guard AudioFileFormat(fileExtension: format) != nil else {
                throw table.error("format", "unknown audio format '\(format)'; use wav, mp3, opus, flac or pcm")
            }
            self.speech.format = format
        }
        self.speech.sampleRate = try table.integer("sample_rate", in: 8000...48_000) ?? self.speech.sampleRate
        self.speech.concurrency = try table.integer("concurrency", in: 1...64) ?? self.speech.concurrency
        self.speech.speed = try table.number("speed", in: 0.25...4) ?? self.speech.speed
        self.speech.maxTextCharacters =
            try table.integer("max_text_chars", in: 1...100_000_000) ?? self.speech.maxTextCharacters
    }

    private mutating func readStorage(_ table: ConfigTable) throws(ConfigError) {
        try table.rejectUnknownKeys(allowing: [
            "backend", "bucket", "endpoint", "secure", "region", "access_key_location", "secret_key_location",
            "multipart_threshold_mb", "part_mb", "transcript_prefix", "speech_prefix",
        ])
        if let backend = try table.string("backend") {
            guard let value = Storage.Backend(rawValue: backend) else {
                throw table.error("backend", "backend must be \"file\" or \"s3\"")
            }
            self.storage.backend = value
        }
        if let bucket = try table.string("bucket") {
            do {
                try BucketName.validate(bucket)
            } catch {
                throw table.error("bucket", error.description)
            }
            self.storage.bucket = bucket
        }
        self.storage.endpoint = try table.string("endpoint") ?? self.storage.endpoint
        self.storage.secure = try table.bool("secure") ?? self.storage.secure
        self.storage.region = try table.string("region") ?? self.storage.region
        for (key, keyPath) in [
            ("access_key_location", \Storage.accessKey), ("secret_key_location", \Storage.secretKey),
        ] as [(String, WritableKeyPath<Storage, CredentialLocation>)] {
            if let text = try table.string(key) {
                guard let location = CredentialLocation(parsing: text) else {
                    throw table.error(key, "\(key) must be env::VAR, path::FILE or path_from_env::VAR")
                }
                self.storage[keyPath: keyPath] = location
            }
        }
        if let megabytes = try table.number("multipart_threshold_mb", in: 5...5_000_000) {
            self.storage.multipartThreshold = Int64(megabytes * 1_048_576)
        }
        if let megabytes = try table.number("part_mb", in: 5...5000) {
            self.storage.partSize = Int64(megabytes * 1_048_576)
        }
        for (key, keyPath) in [
            ("transcript_prefix", \Storage.transcriptPrefix), ("speech_prefix", \Storage.speechPrefix),
        ] as [(String, WritableKeyPath<Storage, String>)] {
            if let prefix = try table.string(key) {
                do {
                    try StorageKey.validatePrefix(prefix)
                } catch {
                    throw table.error(key, "\(key): \(error.description)")
                }
                self.storage[keyPath: keyPath] = prefix
            }
        }
    }

    private mutating func readHTTP(_ table: ConfigTable) throws(ConfigError) {
        try table.rejectUnknownKeys(allowing: [
            "listen", "api_key_location", "voice_token_location", "open_health", "open_metrics", "max_body_mb",
            "sync_timeout_s", "max_waiting",
            "max_connections", "max_connections_per_address", "header_timeout_s", "body_timeout_s", "idle_timeout_s",
            "threads",
        ])
        if let listen = try table.string("listen") {
            guard Self.isListenAddress(listen) else { throw table.error("listen", "listen is HOST:PORT") }
            self.http.listen = listen
        }
        if let text = try table.string("api_key_location") {
            guard let location = CredentialLocation(parsing: text) else {
                throw table.error("api_key_location", "api_key_location must be env::VAR, path::FILE or none")
            }
            self.http.apiKey = location
        }
        if let text = try table.string("voice_token_location") {
            guard let location = CredentialLocation(parsing: text) else {
                throw table.error(
                    "voice_token_location", "voice_token_location must be env::VAR, path::FILE or none")
            }
            self.http.voiceToken = location
        }
        self.http.openHealth = try table.bool("open_health") ?? self.http.openHealth
        self.http.openMetrics = try table.bool("open_metrics") ?? self.http.openMetrics
        if let megabytes = try table.number("max_body_mb", in: 0.001...1_000_000) {
            self.http.maxBodyBytes = Int64(megabytes * 1_048_576)
        }
        self.http.syncTimeout =
            try table.number("sync_timeout_s", in: 1...86_400).map { .seconds($0) } ?? self.http.syncTimeout
        self.http.maxWaiting = try table.integer("max_waiting", in: 1...100_000) ?? self.http.maxWaiting
        self.http.maxConnections = try table.integer("max_connections", in: 1...1_000_000) ?? self.http.maxConnections
        self.http.maxConnectionsPerAddress =
            try table.integer("max_connections_per_address", in: 0...1_000_000) ?? self.http.maxConnectionsPerAddress
        self.http.headerTimeout =
            try table.number("header_timeout_s", in: 0.1...3600).map { .seconds($0) } ?? self.http.headerTimeout
        self.http.bodyTimeout =
            try table.number("body_timeout_s", in: 0.1...86_400).map { .seconds($0) } ?? self.http.bodyTimeout
        self.http.idleTimeout =
            try table.number("idle_timeout_s", in: 1...86_400).map { .seconds($0) } ?? self.http.idleTimeout
        self.http.threads = try table.integer("threads", in: 1...64) ?? self.http.threads
    }

    private mutating func readGateway(_ table: ConfigTable) throws(ConfigError) {
        try table.rejectUnknownKeys(allowing: ["circuit_failures", "circuit_cool_down_s", "max_retry_after_s", "seed"])
        self.gateway.circuitFailures =
            try table.integer("circuit_failures", in: 1...1000) ?? self.gateway.circuitFailures
        self.gateway.circuitCoolDown =
            try table.number("circuit_cool_down_s", in: 0...86_400).map { .seconds($0) } ?? self.gateway.circuitCoolDown
        self.gateway.maxRetryAfter =
            try table.number("max_retry_after_s", in: 0...3600).map { .seconds($0) } ?? self.gateway.maxRetryAfter
        self.gateway.seed = try table.integer("seed", in: 0...Int.max).map { UInt64($0) } ?? self.gateway.seed
    }
}
