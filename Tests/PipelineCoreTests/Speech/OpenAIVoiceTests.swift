import Foundation
import PipelineCore
import Testing

struct OpenAIVoiceTests {
    private func client(_ endpoint: String, voices: [String: String] = ["af_bella": "nova"]) -> OpenAISpeechClient {
        OpenAISpeechClient(
            endpoint: URL(string: endpoint)!, modelName: "tts-1", apiKey: nil,
            settings: AudioProviderSettings(voice: "alloy", voices: voices), timeout: .seconds(5),
            http: NoHTTP())
    }

    @Test
    func openAIGetsAMappedVoiceOrItsDefaultNeverAKokoroName() {
        let cloud = self.client("https://api.openai.com/v1/audio/speech")
        #expect(cloud.voice(for: "af_bella") == "nova")
        #expect(cloud.voice(for: "am_puck") == "alloy", "a name OpenAI lacks gets the provider's default")
        #expect(cloud.voice(for: "shimmer") == "shimmer")
        #expect(cloud.voice(for: nil) == "alloy")
        // A local OpenAI-compatible server (Kokoro-FastAPI) takes its own names.
        #expect(self.client("http://127.0.0.1:8880/v1/audio/speech").voice(for: "am_puck") == "am_puck")
    }
}

/// An HTTP client no test here calls.
private struct NoHTTP: HTTPClient {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        throw HTTPClientError.connection("not used")
    }
}
