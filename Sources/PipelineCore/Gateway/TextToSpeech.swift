import Foundation

/// Synthesizes one piece of text with one provider, or (``FallbackChain``) with the first that succeeds.
package protocol TextToSpeech: Sendable {
    /// Synthesizes `request` and returns the provider's audio as it came.
    func synthesize(_ request: SpeechRequest) async throws -> SpeechResult
}

/// Text to speak.
package struct SpeechRequest: Sendable {
    /// The text.
    package var text: String
    /// The voice, or nil for the provider's default; providers map names they know (`voices` in the config).
    package var voice: String?
    /// The speaking speed (1 is normal).
    package var speed: Double

    /// Creates a request.
    package init(text: String, voice: String? = nil, speed: Double = 1) {
        self.text = text
        self.voice = voice
        self.speed = speed
    }
}

/// Synthesized audio as the provider returned it.
package struct SpeechResult: Sendable {
    /// The audio bytes.
    package var audio: Data
    /// The container or codec asked for (`wav`, `mp3`, `opus`, `flac`, `aac`, `pcm`).
    package var format: String
    /// The rate of headerless `pcm` audio, in Hz; nil for self-describing formats.
    package var pcmSampleRate: Int?
    /// The route that served it, set by ``FallbackChain``.
    package var servedBy: ServedBy?
    /// Every attempt made, in order, set by ``FallbackChain``.
    package var attempts: [GatewayAttempt]
    /// Request body bytes sent for the answering request.
    package var bytesSent: Int
    /// The audio decoded to mono Float32, once a ``DecodingSpeechClient`` has checked it.
    package var samples: [Float]?
    /// The rate of `samples`, in Hz.
    package var sampleRate: Int?

    /// Creates a result.
    package init(
        audio: Data, format: String, pcmSampleRate: Int? = nil, servedBy: ServedBy? = nil,
        attempts: [GatewayAttempt] = [], bytesSent: Int = 0
    ) {
        self.audio = audio
        self.format = format
        self.pcmSampleRate = pcmSampleRate
        self.servedBy = servedBy
        self.attempts = attempts
        self.bytesSent = bytesSent
    }
}
