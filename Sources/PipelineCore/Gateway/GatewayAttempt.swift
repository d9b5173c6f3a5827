/// One request to one provider (or a provider skipped), as recorded for every chunk and piece.
package struct GatewayAttempt: Sendable, Codable, Equatable {
    /// `ok`, `failed` or `skipped`.
    package enum Outcome: String, Sendable, Codable {
        case ok
        case failed
        case skipped
    }

    /// The gateway function.
    package var function: String
    /// The variant.
    package var variant: String
    /// The model.
    package var model: String
    /// The provider.
    package var provider: String
    /// What happened.
    package var outcome: Outcome
    /// The HTTP status, when a response arrived.
    package var status: Int?
    /// Time from send to reply or failure, in milliseconds.
    package var latencyMilliseconds: Int
    /// Time waited in the worker for a slot of the provider before sending, in milliseconds, when it waited.
    package var waitMilliseconds: Int?
    /// Request body bytes sent.
    package var bytesSent: Int
    /// Seconds of audio sent (transcription) or returned (speech), when known.
    package var audioSeconds: Double?
    /// The failure or skip reason.
    package var error: String?

    /// Creates a record.
    package init(
        function: String, variant: String, model: String, provider: String, outcome: Outcome, status: Int? = nil,
        latencyMilliseconds: Int = 0, waitMilliseconds: Int? = nil, bytesSent: Int = 0, audioSeconds: Double? = nil,
        error: String? = nil
    ) {
        self.waitMilliseconds = waitMilliseconds
        self.function = function
        self.variant = variant
        self.model = model
        self.provider = provider
        self.outcome = outcome
        self.status = status
        self.latencyMilliseconds = latencyMilliseconds
        self.bytesSent = bytesSent
        self.audioSeconds = audioSeconds
        self.error = error
    }

    /// `model/provider: error`, for error details.
    package var summary: String {
        var text = "\(self.variant) \(self.model)/\(self.provider): \(self.outcome.rawValue)"
        if let status = self.status {
            text += " (HTTP \(status))"
        }
        if let error = self.error {
            text += ": \(error)"
        }
        return text
    }

    private enum CodingKeys: String, CodingKey {
        case function, variant, model, provider, outcome, status, error
        case latencyMilliseconds = "latency_ms"
        case waitMilliseconds = "wait_ms"
        case bytesSent = "bytes_sent"
        case audioSeconds = "audio_seconds"
    }
}
