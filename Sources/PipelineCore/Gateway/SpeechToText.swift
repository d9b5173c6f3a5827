/// Transcribes one piece of audio with one provider, or (``FallbackChain``) with the first that succeeds.
package protocol SpeechToText: Sendable {
    /// Transcribes `request`; times in the result are relative to the request's first sample.
    func transcribe(_ request: TranscriptionRequest) async throws -> TranscriptionResult
}

/// Audio to transcribe, as samples: each provider encodes them in the format and size it accepts.
package struct TranscriptionRequest: Sendable {
    /// Mono samples.
    package var samples: [Float]
    /// Their rate, in Hz.
    package var sampleRate: Int
    /// An ISO 639-1 code, or nil to detect.
    package var language: String?
    /// Text that precedes this audio, to keep spelling and style consistent.
    package var prompt: String?
    /// Whether to ask for word timings.
    package var wordTimestamps: Bool

    /// Creates a request.
    package init(
        samples: [Float], sampleRate: Int, language: String? = nil, prompt: String? = nil, wordTimestamps: Bool = true
    ) {
        self.samples = samples
        self.sampleRate = sampleRate
        self.language = language
        self.prompt = prompt
        self.wordTimestamps = wordTimestamps
    }

    /// The audio's duration in seconds.
    package var duration: Double { Double(self.samples.count) / Double(self.sampleRate) }
}

/// A transcript and who produced it.
package struct TranscriptionResult: Sendable {
    /// The normalized transcript.
    package var transcript: Transcript
    /// The route that served it, set by ``FallbackChain``.
    package var servedBy: ServedBy?
    /// Every attempt made, in order, set by ``FallbackChain``.
    package var attempts: [GatewayAttempt]
    /// Request body bytes sent for the answering request.
    package var bytesSent: Int

    /// Creates a result.
    package init(
        transcript: Transcript, servedBy: ServedBy? = nil, attempts: [GatewayAttempt] = [], bytesSent: Int = 0
    ) {
        self.transcript = transcript
        self.servedBy = servedBy
        self.attempts = attempts
        self.bytesSent = bytesSent
    }
}

/// The function, variant, model and provider that answered.
package struct ServedBy: Sendable, Codable, Hashable {
    /// The gateway function.
    package var function: String
    /// The variant.
    package var variant: String
    /// The model.
    package var model: String
    /// The provider within the model.
    package var provider: String

    /// Creates a value.
    package init(function: String, variant: String, model: String, provider: String) {
        self.function = function
        self.variant = variant
        self.model = model
        self.provider = provider
    }

    /// `model/provider`, as transcripts label segments.
    package var label: String { "\(self.model)/\(self.provider)" }
}
