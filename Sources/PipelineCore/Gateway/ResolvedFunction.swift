import Foundation

/// What the worker does with an audio function: the gateway and worker configs merged and checked, before any
/// client exists. `config check` prints it; ``AudioGateway`` turns it into a ``FallbackChain``.
package struct ResolvedFunction: Sendable, Equatable {
    /// Transcription or speech.
    package enum Capability: String, Sendable, Codable {
        case transcription
        case speech
    }

    /// The function's name.
    package var name: String
    /// What it is used for.
    package var capability: Capability
    /// Candidate variants and their weights.
    package var candidates: [(variant: ResolvedVariant, weight: Double)]
    /// Fallback variants, in order.
    package var fallbacks: [ResolvedVariant]
    /// Extra variants from the worker's file, with their positions.
    package var extras: [(variant: ResolvedVariant, position: String)]

    package static func == (lhs: ResolvedFunction, rhs: ResolvedFunction) -> Bool {
        lhs.name == rhs.name && lhs.capability == rhs.capability && lhs.fallbacks == rhs.fallbacks
            && lhs.candidates.map(\.variant) == rhs.candidates.map(\.variant)
            && lhs.candidates.map(\.weight) == rhs.candidates.map(\.weight)
            && lhs.extras.map(\.variant) == rhs.extras.map(\.variant)
            && lhs.extras.map(\.position) == rhs.extras.map(\.position)
    }

    /// The longest chunk every provider accepts, in seconds (transcription), from `max_chunk_s`.
    package func maxChunkSeconds(default fallback: Double) -> Double {
        self.allProviders.compactMap(\.settings.maxChunkSeconds).min().map { min($0, fallback) } ?? fallback
    }

    /// The longest text every provider accepts, in characters (speech), from `max_input_chars`.
    package func maxInputCharacters(default fallback: Int) -> Int {
        self.allProviders.compactMap(\.settings.maxInputCharacters).min().map { min($0, fallback) } ?? fallback
    }

    /// Every provider of every variant.
    package var allProviders: [ResolvedProvider] {
        (self.candidates.map(\.variant) + self.fallbacks + self.extras.map(\.variant)).flatMap(\.providers)
    }
}

/// A variant, resolved.
package struct ResolvedVariant: Sendable, Equatable {
    /// The variant's name.
    package var name: String
    /// Its retries.
    package var retries: RetrySettings
    /// The time allowed for it.
    package var timeout: Duration?
    /// Its model's providers, in routing order.
    package var providers: [ResolvedProvider]
}

/// A provider, resolved: where to send requests and with which key, or why it is skipped.
package struct ResolvedProvider: Sendable, Equatable {
    /// The model it serves.
    package var model: String
    /// Its name within the model.
    package var name: String
    /// The provider type.
    package var type: String
    /// The API's model name.
    package var modelName: String?
    /// The API base URL.
    package var apiBase: URL?
    /// The full request URL for this function's capability.
    package var endpoint: URL?
    /// The key; never printed.
    package var apiKey: Secret?
    /// Where the key comes from, for display.
    package var credential: CredentialLocation
    /// Why the provider is skipped, when it is.
    package var skipReason: String?
    /// The time allowed per request.
    package var timeout: Duration
    /// Its audio settings.
    package var settings: AudioProviderSettings
    /// Which file defines it (the gateway's or the worker's).
    package var definedIn: String
}
