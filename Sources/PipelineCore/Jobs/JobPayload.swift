/// What to do, for each kind of job; in JSON, `{"transcription": {...}}` or `{"synthesis": {...}}`.
package enum JobPayload: Sendable, Codable, Equatable {
    case transcription(TranscriptionJobSpec)
    case synthesis(SynthesisJobSpec)

    private enum CodingKeys: String, CodingKey {
        case transcription, synthesis
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let spec = try container.decodeIfPresent(TranscriptionJobSpec.self, forKey: .transcription) {
            self = .transcription(spec)
        } else if let spec = try container.decodeIfPresent(SynthesisJobSpec.self, forKey: .synthesis) {
            self = .synthesis(spec)
        } else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: container.codingPath, debugDescription: "a payload is 'transcription' or 'synthesis'"))
        }
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .transcription(let spec): try container.encode(spec, forKey: .transcription)
        case .synthesis(let spec): try container.encode(spec, forKey: .synthesis)
        }
    }

    /// The job kind this payload belongs to.
    package var kind: JobKind {
        switch self {
        case .transcription: .transcribe
        case .synthesis: .synthesize
        }
    }
}

/// A transcription job: which stored media to transcribe, how, and where the results go.
package struct TranscriptionJobSpec: Sendable, Codable, Equatable {
    /// The bucket of the input and the outputs; nil for the configured default.
    package var bucket: String?
    /// The storage key of the input media (or, from the command line, a `file://` URL).
    package var input: String
    /// An ISO 639-1 language code, or nil to let the provider detect it.
    package var language: String?
    /// The gateway function to call; nil for the configured default.
    package var function: String?
    /// Text that guides spelling and style, sent with every chunk (OpenAI's `prompt`).
    package var prompt: String?
    /// Transcript formats to write: any of `json`, `srt`, `vtt`, `txt`.
    package var formats: [String]
    /// Where to store the decoded 16 kHz mono WAV, if wanted (ffmpeg-whisper's `out_audio_key`).
    package var outAudioKey: String?
    /// The storage prefix for the transcript files; outputs are `PREFIX.json`, `PREFIX.srt`, ...
    package var outputPrefix: String
    /// Passed through to results and events.
    package var videoID: String?
    /// Passed through to results and events.
    package var namespace: String?
    /// Passed through to results and events.
    package var contextID: String?
    /// The longest audio this job may decode, in seconds, when the producer wants less than the deployment's
    /// `[media] max_duration_s` (it may only lower it).
    package var maxDurationSeconds: Double?
    /// True for an upload that is removed when the job ends (the HTTP file routes): like ffmpeg-whisper's file
    /// route, its transcript is neither forwarded to media-audio nor written to Supabase, whose rows would point at
    /// nothing.
    package var ephemeral: Bool?

    /// Creates a specification.
    package init(
        bucket: String? = nil, input: String, language: String? = nil, function: String? = nil, prompt: String? = nil,
        formats: [String] = ["json", "txt"], outAudioKey: String? = nil, outputPrefix: String, videoID: String? = nil,
        namespace: String? = nil, contextID: String? = nil, maxDurationSeconds: Double? = nil
    ) {
        self.bucket = bucket
        self.prompt = prompt
        self.input = input
        self.language = language
        self.function = function
        self.formats = formats
        self.outAudioKey = outAudioKey
        self.outputPrefix = outputPrefix
        self.videoID = videoID
        self.namespace = namespace
        self.contextID = contextID
        self.maxDurationSeconds = maxDurationSeconds
    }

    private enum CodingKeys: String, CodingKey {
        case bucket, input, language, function, prompt, formats, namespace, ephemeral
        case maxDurationSeconds = "max_duration_s"
        case outAudioKey = "out_audio_key"
        case outputPrefix = "output_prefix"
        case videoID = "video_id"
        case contextID = "context_id"
    }
}

/// A synthesis job: the text, the voice, and where the audio goes.
package struct SynthesisJobSpec: Sendable, Codable, Equatable {
    /// The bucket of the output; nil for the configured default.
    package var bucket: String?
    /// The text to speak.
    package var text: String
    /// The voice; nil for the provider's configured default.
    package var voice: String?
    /// The output format (`wav`, `mp3`, `opus`, `flac`, `pcm`).
    package var format: String
    /// The output rate in Hz; nil for the configured default.
    package var sampleRate: Int?
    /// The speaking speed (1 is normal); nil for the configured default.
    package var speed: Double?
    /// The gateway function to call; nil for the configured default.
    package var function: String?
    /// The storage key of the audio to write.
    package var outputKey: String
    /// The shortest audio to write, in seconds (shorter speech ends in silence); nil for no minimum.
    package var minimumSeconds: Double?

    /// Creates a specification.
    package init(
        bucket: String? = nil, text: String, voice: String? = nil, format: String = "wav", sampleRate: Int? = nil,
        speed: Double? = nil, function: String? = nil, outputKey: String, minimumSeconds: Double? = nil
    ) {
        self.minimumSeconds = minimumSeconds
        self.bucket = bucket
        self.speed = speed
        self.text = text
        self.voice = voice
        self.format = format
        self.sampleRate = sampleRate
        self.function = function
        self.outputKey = outputKey
    }

    private enum CodingKeys: String, CodingKey {
        case bucket, text, voice, format, function, speed
        case sampleRate = "sample_rate"
        case outputKey = "output_key"
        case minimumSeconds = "min_duration_s"
    }
}

extension JobPayload {
    /// Writes what ``encode(to:)`` writes (absent options left out), without `JSONEncoder`'s generic path.
    package func write(to writer: inout JSONWriter) throws {
        try writer.object { writer in
            switch self {
            case .transcription(let spec):
                writer.key(CodingKeys.transcription.stringValue)
                try spec.write(to: &writer)
            case .synthesis(let spec):
                writer.key(CodingKeys.synthesis.stringValue)
                try spec.write(to: &writer)
            }
        }
    }
}

extension TranscriptionJobSpec {
    fileprivate func write(to writer: inout JSONWriter) throws {
        try writer.object { writer in
            writer.member(CodingKeys.bucket.stringValue, ifPresent: self.bucket)
            writer.member(CodingKeys.contextID.stringValue, ifPresent: self.contextID)
            if let ephemeral = self.ephemeral {
                writer.key(CodingKeys.ephemeral.stringValue)
                writer.bool(ephemeral)
            }
            writer.key(CodingKeys.formats.stringValue)
            writer.array(self.formats) { writer, format in writer.string(format) }
            writer.member(CodingKeys.function.stringValue, ifPresent: self.function)
            writer.key(CodingKeys.input.stringValue)
            writer.string(self.input)
            writer.member(CodingKeys.language.stringValue, ifPresent: self.language)
            if let seconds = self.maxDurationSeconds {
                writer.key(CodingKeys.maxDurationSeconds.stringValue)
                try writer.number(seconds)
            }
            writer.member(CodingKeys.namespace.stringValue, ifPresent: self.namespace)
            writer.member(CodingKeys.outAudioKey.stringValue, ifPresent: self.outAudioKey)
            writer.key(CodingKeys.outputPrefix.stringValue)
            writer.string(self.outputPrefix)
            writer.member(CodingKeys.prompt.stringValue, ifPresent: self.prompt)
            writer.member(CodingKeys.videoID.stringValue, ifPresent: self.videoID)
        }
    }
}

extension SynthesisJobSpec {
    fileprivate func write(to writer: inout JSONWriter) throws {
        try writer.object { writer in
            writer.member(CodingKeys.bucket.stringValue, ifPresent: self.bucket)
            writer.key(CodingKeys.format.stringValue)
            writer.string(self.format)
            writer.member(CodingKeys.function.stringValue, ifPresent: self.function)
            if let seconds = self.minimumSeconds {
                writer.key(CodingKeys.minimumSeconds.stringValue)
                try writer.number(seconds)
            }
            writer.key(CodingKeys.outputKey.stringValue)
            writer.string(self.outputKey)
            if let rate = self.sampleRate {
                writer.key(CodingKeys.sampleRate.stringValue)
                writer.integer(rate)
            }
            if let speed = self.speed {
                writer.key(CodingKeys.speed.stringValue)
                try writer.number(speed)
            }
            writer.key(CodingKeys.text.stringValue)
            writer.string(self.text)
            writer.member(CodingKeys.voice.stringValue, ifPresent: self.voice)
        }
    }
}
