/// A timestamped transcript: one provider's reply, or a whole stitched file.
package struct Transcript: Sendable, Codable, Equatable {
    /// The full text, segment texts joined with single spaces.
    package var text: String
    /// The language as an ISO 639-1 code, when known.
    package var language: String?
    /// The audio's duration in seconds, when known.
    package var duration: Double?
    /// Segments in time order.
    package var segments: [TranscriptSegment]
    /// Words in time order, when the provider gave word timings.
    package var words: [TranscriptWord]

    /// Creates a transcript.
    package init(
        text: String, language: String? = nil, duration: Double? = nil, segments: [TranscriptSegment],
        words: [TranscriptWord] = []
    ) {
        self.text = text
        self.language = language
        self.duration = duration
        self.segments = segments
        self.words = words
    }
}

/// A stretch of speech with its text.
package struct TranscriptSegment: Sendable, Codable, Equatable {
    /// The position in its transcript.
    package var id: Int
    /// Start time in seconds.
    package var start: Double
    /// End time in seconds.
    package var end: Double
    /// The text, trimmed.
    package var text: String
    /// The speaker label, when diarized.
    package var speaker: String?
    /// The segment's words, when the provider gave word timings.
    package var words: [TranscriptWord]?
    /// Whisper's mean token log-probability, when given.
    package var averageLogProbability: Double?
    /// Whisper's gzip compression ratio of the text, when given; high means repetition.
    package var compressionRatio: Double?
    /// Whisper's probability that the segment is not speech, when given.
    package var noSpeechProbability: Double?
    /// The provider that produced the segment (`model/provider`), once known.
    package var provider: String?

    /// Creates a segment.
    package init(
        id: Int, start: Double, end: Double, text: String, speaker: String? = nil, words: [TranscriptWord]? = nil,
        averageLogProbability: Double? = nil, compressionRatio: Double? = nil, noSpeechProbability: Double? = nil,
        provider: String? = nil
    ) {
        self.id = id
        self.start = start
        self.end = end
        self.text = text
        self.speaker = speaker
        self.words = words
        self.averageLogProbability = averageLogProbability
        self.compressionRatio = compressionRatio
        self.noSpeechProbability = noSpeechProbability
        self.provider = provider
    }

    private enum CodingKeys: String, CodingKey {
        case id, start, end, text, speaker, words, provider
        case averageLogProbability = "avg_logprob"
        case compressionRatio = "compression_ratio"
        case noSpeechProbability = "no_speech_prob"
    }
}

/// One word with its timing.
package struct TranscriptWord: Sendable, Codable, Equatable {
    /// The word, trimmed.
    package var word: String
    /// Start time in seconds.
    package var start: Double
    /// End time in seconds.
    package var end: Double
    /// The recognizer's confidence, when given.
    package var probability: Double?

    /// Creates a word.
    package init(word: String, start: Double, end: Double, probability: Double? = nil) {
        self.word = word
        self.start = start
        self.end = end
        self.probability = probability
    }
}
