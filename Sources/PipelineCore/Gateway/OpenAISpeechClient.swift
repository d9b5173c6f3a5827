import Foundation

/// Text-to-speech over the OpenAI audio API (`POST {api_base}/audio/speech`, JSON), as served by OpenAI,
/// Kokoro-FastAPI and speaches.
package struct OpenAISpeechClient: TextToSpeech {
    /// The full request URL.
    package let endpoint: URL
    /// The `model` field.
    package let modelName: String
    private let apiKey: Secret?
    private let settings: AudioProviderSettings
    private let timeout: Duration
    private let http: any HTTPClient

    /// Creates a client. `apiKey` is sent as a bearer token and never logged.
    package init(
        endpoint: URL, modelName: String, apiKey: Secret?, settings: AudioProviderSettings, timeout: Duration,
        http: any HTTPClient
    ) {
        self.endpoint = endpoint
        self.modelName = modelName
        self.apiKey = apiKey
        self.settings = settings
        self.timeout = timeout
        self.http = http
    }

    /// OpenAI's own voices, which its API takes and no other name: `tts-1` and `tts-1-hd` take these, newer models
    /// also ``newerOpenAIVoices``.
    static let openAIVoices: Set<String> = [
        "alloy", "ash", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer",
    ]
    /// The voices only OpenAI's newer speech models (`gpt-4o-mini-tts`) take.
    static let newerOpenAIVoices: Set<String> = ["ballad", "verse", "marin", "cedar"]

    /// The voice to ask for: the name mapped by `voices`, else as given, except that OpenAI itself (api.openai.com)
    /// gets its default voice for a name it does not have (a Kokoro voice such as `af_bella` from flute), rather
    /// than a request it refuses.
    package func voice(for name: String?) -> String {
        let fallback = self.settings.voice ?? "alloy"
        guard let name else { return fallback }
        if let mapped = self.settings.voices[name] { return mapped }
        if self.endpoint.host?.lowercased() == "api.openai.com" {
            let older = self.modelName.hasPrefix("tts-1")
            let known = Self.openAIVoices.contains(name) || (!older && Self.newerOpenAIVoices.contains(name))
            if !known { return fallback }
        }
        return name
    }

    package func synthesize(_ request: SpeechRequest) async throws -> SpeechResult {
        try self.settings.checkFits(request.text)
        let format = self.settings.responseFormat ?? "wav"
        let voice = self.voice(for: request.voice)
        let payload: [String: JSONValue] = [
            "model": .string(self.modelName), "input": .string(request.text), "voice": .string(voice),
            "response_format": .string(format), "speed": .number(self.settings.speed ?? request.speed),
        ]
        var headers: [String: String] = [:]
        if let apiKey = self.apiKey {
            headers["Authorization"] = "Bearer \(apiKey.reveal())"
        }
        let (audio, bytesSent): (Data, Int)
        do {
            (audio, bytesSent) = try await self.http.postSpeech(
                payload, to: self.endpoint, headers: headers, timeout: self.timeout)
        } catch let failure as ProviderFailure {
            throw failure.redacting(self.apiKey)
        }
        return SpeechResult(
            audio: audio, format: format, pcmSampleRate: format == "pcm" ? self.settings.sampleRate ?? 24_000 : nil,
            bytesSent: bytesSent)
    }
}
