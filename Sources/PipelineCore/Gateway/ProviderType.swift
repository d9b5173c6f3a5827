/// What the worker knows about a provider type: its default API base and key, and which audio APIs it has.
package struct ProviderType: Sendable, Equatable {
    /// The type's name in the config.
    package var name: String
    /// The API base used when the config gives none.
    package var defaultAPIBase: String?
    /// The key location used when the config gives none.
    package var defaultCredential: CredentialLocation
    /// Whether it serves `/audio/transcriptions` (OpenAI-compatible).
    package var transcribes: Bool
    /// Whether it serves speech: OpenAI-compatible `/audio/speech`, or ElevenLabs' API.
    package var speaks: Bool

    /// The types the worker can call, by name. Others (anthropic, gcp_vertex_gemini, ...) have no audio API.
    package static let known: [String: ProviderType] = {
        func openAICompatible(
            _ name: String, _ base: String?, _ key: String?, transcribes: Bool = true, speaks: Bool = true
        ) -> ProviderType {
            ProviderType(
                name: name, defaultAPIBase: base, defaultCredential: key.map { .environment($0) } ?? .none,
                transcribes: transcribes, speaks: speaks)
        }
        let types = [
            openAICompatible("openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
            openAICompatible("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY"),
            openAICompatible("together", "https://api.together.xyz/v1", "TOGETHER_API_KEY"),
            openAICompatible("fireworks", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY", speaks: false),
            openAICompatible("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", speaks: false),
            openAICompatible("deepinfra", "https://api.deepinfra.com/v1/openai", "DEEPINFRA_API_KEY"),
            openAICompatible("vllm", nil, nil),
            openAICompatible("sglang", nil, nil),
            ProviderType(
                name: "elevenlabs", defaultAPIBase: "https://api.elevenlabs.io/v1",
                defaultCredential: .environment("ELEVENLABS_API_KEY"), transcribes: false, speaks: true),
        ]
        return Dictionary(uniqueKeysWithValues: types.map { ($0.name, $0) })
    }()
}
