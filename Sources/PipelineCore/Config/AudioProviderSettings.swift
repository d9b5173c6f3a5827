/// Audio settings for one provider that TensorZero's schema cannot hold; they live in `audio-worker.toml`.
package struct AudioProviderSettings: Sendable, Equatable {
    /// The keys `[models.M.providers.P]` may have in the worker's file, besides the gateway's own.
    static let keys: Set<String> = [
        "path", "upload_format", "max_upload_mb", "max_chunk_s", "voice", "voices", "response_format",
        "sample_rate", "max_input_chars", "speed", "max_concurrency", "cloud",
    ]

    /// Requests in flight at once for a provider whose `max_concurrency` is not set.
    package static let defaultMaxConcurrency = 16

    /// The request path under `api_base`, replacing `/audio/transcriptions` or `/audio/speech` (whisper.cpp:
    /// `/inference`).
    package var path: String?
    /// How transcription uploads are encoded: `wav` (default), `flac`, `mp3`, `opus` or `m4a`.
    package var uploadFormat: String?
    /// The largest upload the provider accepts, in bytes.
    package var maxUploadBytes: Int?
    /// The longest chunk to send, in seconds.
    package var maxChunkSeconds: Double?
    /// The default voice.
    package var voice: String?
    /// Voice names mapped to this provider's own (`alloy = "af_heart"`).
    package var voices: [String: String]
    /// The audio format to ask for (`wav`, `mp3`, `pcm`...; ElevenLabs: `mp3_44100_128`, `pcm_24000`...).
    package var responseFormat: String?
    /// The rate of headerless `pcm` replies, in Hz (OpenAI and Kokoro: 24000).
    package var sampleRate: Int?
    /// The longest text one request may carry, in characters.
    package var maxInputCharacters: Int?
    /// The speaking speed to ask for.
    package var speed: Double?
    /// Requests in flight at once, across the process (an adaptive limit may hold fewer); nil for the default.
    package var maxConcurrency: Int?
    /// Whether the provider bills (counts against `[budget]`'s cloud caps); nil to judge by its `api_base`.
    package var cloud: Bool?

    /// Creates settings.
    package init(
        path: String? = nil, uploadFormat: String? = nil, maxUploadBytes: Int? = nil, maxChunkSeconds: Double? = nil,
        voice: String? = nil, voices: [String: String] = [:], responseFormat: String? = nil, sampleRate: Int? = nil,
        maxInputCharacters: Int? = nil, speed: Double? = nil, maxConcurrency: Int? = nil, cloud: Bool? = nil
    ) {
        self.maxConcurrency = maxConcurrency
        self.cloud = cloud
        self.path = path
        self.uploadFormat = uploadFormat
        self.maxUploadBytes = maxUploadBytes
        self.maxChunkSeconds = maxChunkSeconds
        self.voice = voice
        self.voices = voices
        self.responseFormat = responseFormat
        self.sampleRate = sampleRate
        self.maxInputCharacters = maxInputCharacters
        self.speed = speed
    }

    /// Throws `tooLarge` when `text` is longer than one request to this provider may carry.
    func checkFits(_ text: String) throws(ProviderFailure) {
        if let limit = self.maxInputCharacters, text.count > limit {
            throw ProviderFailure(.tooLarge, message: "\(text.count) characters is more than this provider's \(limit)")
        }
    }

    init(_ table: ConfigTable) throws(ConfigError) {
        var voices: [String: String] = [:]
        if let voiceTable = try table.table("voices") {
            for key in voiceTable.table.keys {
                voices[key] = try voiceTable.string(key)
            }
        }
        let uploadFormat = try table.string("upload_format")
        if let uploadFormat, !["wav", "flac", "mp3", "opus", "m4a"].contains(uploadFormat) {
            throw table.error(
                "upload_format", "upload_format must be wav, flac, mp3, opus or m4a, not '\(uploadFormat)'")
        }
        let path = try table.string("path")
        if let path, !path.hasPrefix("/") {
            throw table.error("path", "path must start with '/', as in \"/inference\"")
        }
        self.init(
            path: path, uploadFormat: uploadFormat,
            maxUploadBytes: try table.number("max_upload_mb", in: 0.001...100_000).map { Int($0 * 1_048_576) },
            maxChunkSeconds: try table.number("max_chunk_s", in: 1...7200), voice: try table.string("voice"),
            voices: voices, responseFormat: try table.string("response_format"),
            sampleRate: try table.integer("sample_rate", in: 8000...192_000),
            maxInputCharacters: try table.integer("max_input_chars", in: 16...1_000_000),
            speed: try table.number("speed", in: 0.25...4),
            maxConcurrency: try table.integer("max_concurrency", in: 1...1024), cloud: try table.bool("cloud"))
    }

    /// These settings with every value set in `other` taking precedence.
    package func merged(with other: AudioProviderSettings) -> AudioProviderSettings {
        AudioProviderSettings(
            path: other.path ?? self.path, uploadFormat: other.uploadFormat ?? self.uploadFormat,
            maxUploadBytes: other.maxUploadBytes ?? self.maxUploadBytes,
            maxChunkSeconds: other.maxChunkSeconds ?? self.maxChunkSeconds, voice: other.voice ?? self.voice,
            voices: self.voices.merging(other.voices) { $1 },
            responseFormat: other.responseFormat ?? self.responseFormat,
            sampleRate: other.sampleRate ?? self.sampleRate,
            maxInputCharacters: other.maxInputCharacters ?? self.maxInputCharacters, speed: other.speed ?? self.speed,
            maxConcurrency: other.maxConcurrency ?? self.maxConcurrency, cloud: other.cloud ?? self.cloud)
    }
}
