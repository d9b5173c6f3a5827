import Foundation

/// Text-to-speech over ElevenLabs' API: `POST {api_base}/text-to-speech/{voice_id}?output_format=...`.
package struct ElevenLabsSpeechClient: TextToSpeech {
    /// The API base, such as `https://api.elevenlabs.io/v1`.
    package let apiBase: URL
    /// The `model_id`, such as `eleven_flash_v2_5`.
    package let modelName: String
    private let apiKey: Secret?
    private let settings: AudioProviderSettings
    private let timeout: Duration
    private let http: any HTTPClient

    /// Creates a client. `apiKey` is sent as `xi-api-key` and never logged.
    package init(
        apiBase: URL, modelName: String, apiKey: Secret?, settings: AudioProviderSettings, timeout: Duration,
        http: any HTTPClient
    ) {
        self.apiBase = apiBase
        self.modelName = modelName
        self.apiKey = apiKey
        self.settings = settings
        self.timeout = timeout
        self.http = http
    }

    package func synthesize(_ request: SpeechRequest) async throws -> SpeechResult {
        try self.settings.checkFits(request.text)
        guard let voice = request.voice.flatMap({ self.settings.voices[$0] }) ?? self.settings.voice else {
            throw ProviderFailure(.misconfigured, message: "no ElevenLabs voice id: set 'voice' for this provider")
        }
        let outputFormat = self.settings.responseFormat ?? "mp3_44100_128"
        let path = (self.settings.path ?? "/text-to-speech/{voice}")
            .replacingOccurrences(
                of: "{voice}", with: voice.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? voice)
        guard
            var components = URLComponents(
                url: self.apiBase.appendingPathComponent(path), resolvingAgainstBaseURL: false)
        else {
            throw ProviderFailure(.misconfigured, message: "cannot build the ElevenLabs URL from \(self.apiBase)")
        }
        components.queryItems = [URLQueryItem(name: "output_format", value: outputFormat)]
        guard let url = components.url else {
            throw ProviderFailure(.misconfigured, message: "cannot build the ElevenLabs URL from \(self.apiBase)")
        }
        var payload: [String: JSONValue] = ["text": .string(request.text), "model_id": .string(self.modelName)]
        let speed = self.settings.speed ?? request.speed
        if speed != 1 {
            payload["voice_settings"] = .object(["speed": .number(speed)])
        }
        var headers = ["Accept": "audio/*"]
        if let apiKey = self.apiKey {
            headers["xi-api-key"] = apiKey.reveal()
        }
        let (audio, bytesSent): (Data, Int)
        do {
            (audio, bytesSent) = try await self.http.postSpeech(
                payload, to: url, headers: headers, timeout: self.timeout)
        } catch let failure as ProviderFailure {
            throw failure.redacting(self.apiKey)
        }
        // output_format is codec_rate[_bitrate]: pcm_24000 is headerless s16le at 24 kHz.
        let parts = outputFormat.split(separator: "_")
        let codec = String(parts.first ?? "mp3")
        let rate = parts.count > 1 ? Int(parts[1]) : nil
        return SpeechResult(
            audio: audio, format: codec, pcmSampleRate: codec == "pcm" ? rate : nil, bytesSent: bytesSent)
    }
}
