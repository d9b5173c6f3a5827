/// One chunk's outcome, as checkpointed with its job and stitched into the transcript.
package struct ChunkResult: Sendable, Codable, Equatable {
    /// The chunk's index.
    package var index: Int
    /// Its first sample in the stream.
    package var startSample: Int
    /// One past its last sample.
    package var endSample: Int
    /// The sample rate, in Hz.
    package var sampleRate: Int
    /// Samples shared with the previous chunk (blind cut).
    package var leadingOverlap: Int
    /// Whether the next chunk overlaps this one.
    package var endsWithBlindCut: Bool
    /// Whether it was silent and not sent.
    package var skipped: Bool
    /// Speech stretches in seconds, relative to the chunk's start.
    package var speech: [ClosedRange<Double>]
    /// The provider's transcript, times relative to the chunk's start; empty when skipped.
    package var transcript: Transcript
    /// Who served it.
    package var servedBy: ServedBy?
    /// Every attempt.
    package var attempts: [GatewayAttempt]
    /// Wall time of the successful request, in milliseconds.
    package var latencyMilliseconds: Int

    /// Creates a result.
    package init(
        chunk: AudioChunk, transcript: Transcript, servedBy: ServedBy?, attempts: [GatewayAttempt],
        latencyMilliseconds: Int
    ) {
        self.index = chunk.index
        self.startSample = chunk.startSample
        self.endSample = chunk.endSample
        self.sampleRate = chunk.sampleRate
        self.leadingOverlap = chunk.leadingOverlap
        self.endsWithBlindCut = chunk.endsWithBlindCut
        self.skipped = chunk.isSilent
        let rate = Double(chunk.sampleRate)
        self.speech = chunk.speech.map { Double($0.lowerBound) / rate...Double($0.upperBound) / rate }
        self.transcript = transcript
        self.servedBy = servedBy
        self.attempts = attempts
        self.latencyMilliseconds = latencyMilliseconds
    }

    /// Its start in seconds.
    package var startSeconds: Double { Double(self.startSample) / Double(self.sampleRate) }

    /// Its end in seconds.
    package var endSeconds: Double { Double(self.endSample) / Double(self.sampleRate) }

    /// Whether this result is for exactly `chunk` (same index and samples), so a checkpoint may stand in for it.
    package func matches(_ chunk: AudioChunk) -> Bool {
        self.index == chunk.index && self.startSample == chunk.startSample && self.endSample == chunk.endSample
            && self.sampleRate == chunk.sampleRate
    }

    private enum CodingKeys: String, CodingKey {
        case index, skipped, speech, transcript, attempts
        case startSample = "start_sample"
        case endSample = "end_sample"
        case sampleRate = "sample_rate"
        case leadingOverlap = "leading_overlap"
        case endsWithBlindCut = "ends_with_blind_cut"
        case servedBy = "served_by"
        case latencyMilliseconds = "latency_ms"
    }
}
