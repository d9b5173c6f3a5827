import Foundation

/// A job as producers send it over the network (`POST /v1/jobs`, and the NATS request subjects): one JSON object,
/// lenient about what may be left out, strict about what is there.
///
/// ```json
/// {"transcription": {"bucket": "assets", "key": "yt/abc/raw.mp4", "language": "en", "formats": ["json", "srt"]},
///  "idempotency_key": "yt:abc", "priority": 0}
/// {"synthesis": {"text": "Hello.", "voice": "af_heart", "format": "mp3"}}
/// ```
///
/// Output keys default as the command line's do (`transcripts/KEY`, `speech/HASH.EXT`). Fields of the wrong type
/// are errors, never silently dropped; the result is then checked by ``JobRequests`` as every submission is.
package enum JobSubmission {
    /// Defaults for what a submission leaves out.
    package struct Defaults: Sendable {
        /// Formats of a transcription that names none.
        package var formats: [String]
        /// The format of a synthesis that names none.
        package var speechFormat: String
        /// The prefix of transcript outputs.
        package var transcriptPrefix: String
        /// The prefix of speech outputs.
        package var speechPrefix: String

        /// Creates defaults.
        package init(
            formats: [String] = ["json"], speechFormat: String = "wav", transcriptPrefix: String = "transcripts/",
            speechPrefix: String = "speech/"
        ) {
            self.formats = formats
            self.speechFormat = speechFormat
            self.transcriptPrefix = transcriptPrefix
            self.speechPrefix = speechPrefix
        }
    }

    /// The request a JSON submission stands for, from `origin`.
    package static func request(
        from json: JSONValue, origin: JobOrigin, defaults: Defaults
    ) throws(RequestError) -> EnqueueRequest {
        guard case .object(let members) = json else {
            throw RequestError("a job is a JSON object with 'transcription' or 'synthesis'")
        }
        let payload: JobPayload
        switch (members["transcription"], members["synthesis"]) {
        case (.object(let spec)?, nil): payload = .transcription(try self.transcription(spec, defaults: defaults))
        case (nil, .object(let spec)?): payload = .synthesis(try self.synthesis(spec, defaults: defaults))
        case (.some, .some): throw RequestError("a job is a transcription or a synthesis, not both")
        default: throw RequestError("a job needs a 'transcription' or 'synthesis' object")
        }
        let priority = try self.integer(members["priority"], "priority", in: -1000...1000) ?? 0
        let maxAttempts = try self.integer(members["max_attempts"], "max_attempts", in: 1...1000)
        let key = try self.string(members["idempotency_key"], "idempotency_key")
        return EnqueueRequest(
            payload: payload, idempotencyKey: key, priority: priority, maxAttempts: maxAttempts, origin: origin)
    }

    private static func transcription(_ spec: [String: JSONValue], defaults: Defaults) throws(RequestError)
        -> TranscriptionJobSpec
    {
        let named = try self.string(spec["key"], "key")
        let input = try self.string(spec["input"], "input")
        guard let key = named ?? input, !key.isEmpty else {
            throw RequestError(field: "key", "a transcription names its media: 'key' (and 'bucket')")
        }
        var formats = defaults.formats
        if let value = spec["formats"], value != .null {
            guard case .array(let items) = value else { throw RequestError(field: "formats", "formats is a list") }
            formats = []
            for item in items {
                guard case .string(let format) = item else {
                    throw RequestError(field: "formats", "formats are names such as json or srt")
                }
                formats.append(format)
            }
        }
        var maxDuration: Double?
        if let value = spec["max_duration_s"], value != .null {
            guard case .number(let seconds) = value, seconds > 0, seconds.isFinite else {
                throw RequestError(field: "max_duration_s", "max_duration_s is a number of seconds above 0")
            }
            maxDuration = seconds
        }
        return TranscriptionJobSpec(
            bucket: try self.string(spec["bucket"], "bucket"), input: key,
            language: try self.string(spec["language"], "language"),
            function: try self.string(spec["function"], "function"),
            prompt: try self.string(spec["prompt"], "prompt"), formats: formats,
            outAudioKey: try self.string(spec["out_audio_key"], "out_audio_key"),
            outputPrefix: try self.string(spec["output_prefix"], "output_prefix") ?? defaults.transcriptPrefix + key,
            videoID: try self.string(spec["video_id"], "video_id"),
            namespace: try self.string(spec["namespace"], "namespace"),
            contextID: try self.string(spec["context_id"], "context_id"), maxDurationSeconds: maxDuration)
    }

    private static func synthesis(_ spec: [String: JSONValue], defaults: Defaults) throws(RequestError)
        -> SynthesisJobSpec
    {
        guard let text = try self.string(spec["text"], "text") else {
            throw RequestError(field: "text", "a synthesis needs 'text'")
        }
        let voice = try self.string(spec["voice"], "voice")
        let format = try self.string(spec["format"], "format") ?? defaults.speechFormat
        let rate = try self.integer(spec["sample_rate"], "sample_rate", in: 1...1_000_000)
        let function = try self.string(spec["function"], "function")
        var speed: Double?
        if let value = spec["speed"], value != .null {
            guard case .number(let number) = value else { throw RequestError(field: "speed", "speed is a number") }
            speed = number
        }
        let outputKey =
            try self.string(spec["output_key"], "output_key")
            ?? JobInputs.speechKey(
                text: text, voice: voice, format: format, sampleRate: rate, function: function,
                under: defaults.speechPrefix)
        return SynthesisJobSpec(
            bucket: try self.string(spec["bucket"], "bucket"), text: text, voice: voice, format: format,
            sampleRate: rate, speed: speed, function: function, outputKey: outputKey)
    }

    private static func string(_ value: JSONValue?, _ field: String) throws(RequestError) -> String? {
        switch value {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw RequestError(field: field, "\(field) is text")
        }
    }

    private static func integer(_ value: JSONValue?, _ field: String, in range: ClosedRange<Int>) throws(RequestError)
        -> Int?
    {
        switch value {
        case nil, .null?: return nil
        case .number(let number)?
        where number.rounded() == number && Double(range.lowerBound) <= number
            && number <= Double(range.upperBound):
            return Int(number)
        default:
            throw RequestError(field: field, "\(field) is a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
    }
}
