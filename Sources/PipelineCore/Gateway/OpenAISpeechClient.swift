import Foundation

/// Text-to-speech over the OpenAI audio API (`POST {api_base}/audio/speech`, JSON), as served by OpenAI,
/// Kokoro-FastAPI and speaches.
package struct OpenAISpeechClient: TextToSpeech {
    /// The full request URL.
    package let endpoint: URL
    /// The `model` field.
    package let modelName: String
    private let apiKey: String?
    private let settings: AudioProviderSettings
    private let timeout: Duration
    private let http: any HTTPClient

    /// Creates a client. `apiKey` is sent as a bearer token and never logged.
    package init(
        endpoint: URL, modelName: String, apiKey: String?, settings: AudioProviderSettings, timeout: Duration,
        http: any HTTPClient
    ) {
        self.endpoint = endpoint
        self.modelName = modelName
        self.apiKey = apiKey
        self.settings = settings
        self.timeout = timeout
        self.http = http
    }

    package func synthesize(_ request: SpeechRequest) async throws -> SpeechResult {
        if let limit = self.settings.maxInputCharacters, request.text.count > limit {
            throw ProviderFailure(
                .tooLarge, message: "\(request.text.count) characters is more than this provider's \(limit)")
        }
        let format = self.settings.responseFormat ?? "wav"
        let voice = request.voice.map { self.settings.voices[$0] ?? $0 } ?? self.settings.voice ?? "alloy"
        let payload: [String: JSONValue] = [
            "model": .string(self.modelName), "input": .string(request.text), "voice": .string(voice),
            "response_format": .string(format), "speed": .number(self.settings.speed ?? request.speed),
        ]
        var headers = ["Content-Type": "application/json"]
        if let apiKey = self.apiKey {
            headers["Authorization"] = "Bearer \(apiKey)"
        }
        let body = try JSONOutput.encode(JSONValue.object(payload))
        let response = try await self.http.sendToProvider(
            HTTPRequest(method: "POST", url: self.endpoint, headers: headers, body: body, timeout: self.timeout))
        try SpeechReplyCheck.check(response, bytesSent: body.count)
        return SpeechResult(
            audio: response.body, format: format,
            pcmSampleRate: format == "pcm" ? self.settings.sampleRate ?? 24_000 : nil,
            bytesSent: body.count)
    }
}

/// Checks that a speech reply is audio rather than an error page or JSON sent with a success status.
enum SpeechReplyCheck {
    static func check(_ response: HTTPResponse, bytesSent: Int) throws(ProviderFailure) {
        let type = response.header("content-type")?.lowercased() ?? ""
        var problem: String? = nil
        if response.body.isEmpty {
            problem = "the reply is empty"
        } else if type.hasPrefix("application/json") || type.hasPrefix("text/") {
            let start = String(decoding: response.body.prefix(80), as: UTF8.self)
            problem = "the reply is \(type), not audio: '\(start)'"
        }
        if let problem {
            var failure = ProviderFailure(.malformedResponse, message: problem)
            failure.bytesSent = bytesSent
            throw failure
        }
    }
}
