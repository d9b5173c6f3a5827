import Foundation

/// Where a submission came from. Only the local command line may name local files: a job from the network (the
/// HTTP API, a NATS producer) that names `file://` or an absolute path is refused.
package enum JobOrigin: String, Sendable, Codable, CaseIterable {
    /// `audio-worker transcribe`, `enqueue`, `batch`: run by someone with the machine's files.
    case commandLine = "command_line"
    /// HTTP, NATS: anyone who can reach the worker.
    case network
}

/// A request that can never run as given: it names something invalid. The job is dead at once, or the HTTP
/// request refused, with this reason.
package struct RequestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field at fault (`language`, `key`, `out_audio_key`, ...), if one is.
    package var field: String?
    /// What is wrong, in one line.
    package var message: String

    /// Creates an error.
    package init(field: String? = nil, _ message: String) {
        self.field = field
        self.message = message
    }

    package var description: String { self.field.map { "\($0): \(self.message)" } ?? self.message }
}

/// Checks and normalizes transcription and speech requests, the same way for the command line, the queue and the
/// HTTP API: storage keys and buckets, language codes, formats, voices, text limits, output keys, gateway
/// functions, and what the request's origin may name.
///
/// The worker checks each job again before it runs, so a job that reached the queue some other way (an older
/// version, a NATS producer) is held to the same rules.
package struct JobRequests: Sendable {
    /// The configured defaults and limits.
    package let worker: WorkerConfig
    private let resolver: GatewayResolver

    /// Creates a validator over `configuration`.
    package init(configuration: Configuration) {
        self.worker = configuration.worker
        self.resolver = configuration.resolver
    }

    /// The longest voice name accepted.
    package static let maxVoiceCharacters = 200

    /// The longest idempotency key accepted, in UTF-8 bytes.
    package static let maxIdempotencyKeyBytes = 512

    /// Checks a submission: its payload as it will run, and its idempotency key.
    package func validate(_ request: EnqueueRequest) throws(RequestError) -> EnqueueRequest {
        var request = request
        if let key = request.idempotencyKey, key.isEmpty || key.utf8.count > Self.maxIdempotencyKeyBytes {
            throw RequestError(
                field: "idempotency_key", "an idempotency key is 1 to \(Self.maxIdempotencyKeyBytes) bytes")
        }
        request.payload = try self.validate(request.payload, origin: request.origin)
        return request
    }

    /// Checks a payload as it will run.
    package func validate(_ payload: JobPayload, origin: JobOrigin) throws(RequestError) -> JobPayload {
        switch payload {
        case .transcription(let spec): .transcription(try self.validate(spec, origin: origin))
        case .synthesis(let spec): .synthesis(try self.validate(spec, origin: origin))
        }
    }

    /// Checks a transcription and returns it normalized (language as an ISO code, formats known and unique).
    package func validate(_ spec: TranscriptionJobSpec, origin: JobOrigin) throws(RequestError)
        -> TranscriptionJobSpec
    {
        var spec = spec
        try self.checkBucket(spec.bucket)
        try self.checkInput(spec.input, origin: origin)
        if let language = spec.language {
            spec.language = try Self.languageCode(language)
        }
        var formats: [String] = []
        for format in spec.formats {
            guard let known = TranscriptFormat(rawValue: format.lowercased()) else {
                throw RequestError(field: "formats", "unknown format '\(format)'; use json, srt, vtt or txt")
            }
            if !formats.contains(known.rawValue) {
                formats.append(known.rawValue)
            }
        }
        guard !formats.isEmpty else { throw RequestError(field: "formats", "no output format given") }
        spec.formats = formats
        try Self.checkKey(spec.outputPrefix, field: "output_prefix")
        for format in formats {
            try Self.checkKey("\(spec.outputPrefix).\(format)", field: "output_prefix")
        }
        if let key = spec.outAudioKey {
            try Self.checkKey(key, field: "out_audio_key")
        }
        try self.checkFunction(spec.function, as: .transcription)
        if let seconds = spec.maxDurationSeconds {
            // A request may only lower the deployment's limit.
            if let limit = self.worker.media.limits.maxDecodedSeconds, seconds > limit {
                throw RequestError(
                    field: "max_duration_s",
                    "max_duration_s \(Int(seconds.rounded(.up))) is above this deployment's limit of \(Int(limit)) s")
            }
            guard seconds > 0, seconds.isFinite else {
                throw RequestError(field: "max_duration_s", "max_duration_s is a number of seconds above 0")
            }
        }
        if let prompt = spec.prompt, prompt.utf8.count > 4096 {
            throw RequestError(field: "prompt", "a prompt is at most 4096 bytes")
        }
        for (field, value) in [
            ("video_id", spec.videoID), ("namespace", spec.namespace), ("context_id", spec.contextID),
        ] {
            if let value, value.utf8.count > 1024 || value.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                throw RequestError(field: field, "at most 1024 bytes, no control characters")
            }
        }
        return spec
    }

    /// Checks a synthesis and returns it normalized.
    package func validate(_ spec: SynthesisJobSpec, origin: JobOrigin) throws(RequestError) -> SynthesisJobSpec {
        var spec = spec
        try self.checkBucket(spec.bucket)
        let text = spec.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw RequestError(field: "text", "the text is empty") }
        let limit = self.worker.speech.maxTextCharacters
        guard spec.text.count <= limit else {
            throw RequestError(field: "text", "the text has \(spec.text.count) characters; the limit is \(limit)")
        }
        if let seconds = spec.minimumSeconds, !(0...60).contains(seconds) {
            throw RequestError(field: "min_duration_s", "a minimum duration is 0 to 60 seconds")
        }
        if let voice = spec.voice {
            guard !voice.isEmpty, voice.count <= Self.maxVoiceCharacters,
                !voice.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
            else {
                throw RequestError(
                    field: "voice", "a voice is 1 to \(Self.maxVoiceCharacters) characters without control characters")
            }
        }
        guard let format = AudioFileFormat(fileExtension: spec.format.lowercased()) else {
            throw RequestError(
                field: "format", "unknown audio format '\(spec.format)'; use wav, mp3, opus, flac or pcm")
        }
        spec.format = format.rawValue
        if let rate = spec.sampleRate, !(8000...48_000).contains(rate) {
            throw RequestError(field: "sample_rate", "\(rate) Hz is outside 8000...48000")
        }
        if let speed = spec.speed, !(speed.isFinite && (0.25...4).contains(speed)) {
            throw RequestError(field: "speed", "a speed is 0.25 to 4")
        }
        try Self.checkKey(spec.outputKey, field: "output_key")
        try self.checkFunction(spec.function, as: .speech)
        return spec
    }

    /// The ISO 639-1 code for a language name or code; refuses anything else.
    package static func languageCode(_ language: String) throws(RequestError) -> String {
        guard let code = LanguageCodes.code(for: language) else {
            throw RequestError(
                field: "language", "unknown language '\(language.prefix(40))'; use an ISO 639-1 code such as en")
        }
        return code
    }

    /// Checks a storage key.
    package static func checkKey(_ key: String, field: String) throws(RequestError) {
        do {
            try StorageKey.validate(key)
        } catch {
            throw RequestError(field: field, error.description)
        }
    }

    private func checkBucket(_ bucket: String?) throws(RequestError) {
        guard let bucket else { return }
        do {
            try BucketName.validate(bucket)
        } catch {
            throw RequestError(field: "bucket", error.description)
        }
    }

    /// A storage key; or, from the command line only, a `file://` URL or an absolute path.
    private func checkInput(_ input: String, origin: JobOrigin) throws(RequestError) {
        if input.hasPrefix("file:") || input.hasPrefix("/") {
            guard origin == .commandLine else {
                throw RequestError(
                    field: "key",
                    "a job from the network names objects in storage, not local files ('\(input.prefix(80))')")
            }
            if input.hasPrefix("file:") {
                guard let url = URL(string: input), url.isFileURL, url.path.hasPrefix("/") else {
                    throw RequestError(field: "key", "'\(input.prefix(80))' is not a file URL")
                }
            }
            return
        }
        try Self.checkKey(input, field: "key")
    }

    private func checkFunction(_ function: String?, as capability: ResolvedFunction.Capability) throws(RequestError) {
        guard let function else { return }
        do {
            _ = try self.resolver.resolve(function, as: capability)
        } catch {
            throw RequestError(field: "function", "'\(function.prefix(80))' is not a \(capability.rawValue) function")
        }
    }
}
