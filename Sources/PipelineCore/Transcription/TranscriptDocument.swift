import Foundation

/// The JSON a transcription writes: a superset of ffmpeg-whisper's `/transcribe` response (`ok`, `text`,
/// `language`, `segments[{id, start, end, text, speaker, words?}]`, `word_segments`, `speakers`, `model`,
/// `provider`, `audio_uri`, `s3_uri`), plus `duration`, `chunks` and `warnings`.
package struct TranscriptDocument: Sendable, Codable, Equatable {
    /// A segment as ffmpeg-whisper returns it.
    package struct Segment: Sendable, Codable, Equatable {
        package var id: Int
        package var start: Double
        package var end: Double
        package var text: String
        package var speaker: String?
        package var words: [TranscriptWord]?
        package var provider: String?

        package func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.id, forKey: .id)
            try container.encode(Self.rounded(self.start), forKey: .start)
            try container.encode(Self.rounded(self.end), forKey: .end)
            try container.encode(self.text, forKey: .text)
            try container.encode(self.speaker, forKey: .speaker)
            try container.encodeIfPresent(self.words, forKey: .words)
            try container.encodeIfPresent(self.provider, forKey: .provider)
        }

        static func rounded(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }
    }

    /// One chunk's provenance.
    package struct Chunk: Sendable, Codable, Equatable {
        package var index: Int
        package var start: Double
        package var end: Double
        package var provider: String?
        package var model: String?
        package var attempts: Int
        package var latencyMilliseconds: Int
        package var skipped: Bool

        private enum CodingKeys: String, CodingKey {
            case index, start, end, provider, model, attempts, skipped
            case latencyMilliseconds = "latency_ms"
        }
    }

    package var ok = true
    package var text: String
    package var language: String?
    package var segments: [Segment]
    package var wordSegments: [TranscriptWord]?
    package var speakers: [String: String] = [:]
    /// The model that served most of the audio.
    package var model: String?
    /// The provider (`model/provider`) that served most of the audio.
    package var provider: String?
    package var duration: Double
    package var chunks: [Chunk]
    package var audioURI: String?
    package var s3URI: String?
    package var videoID: String?
    package var namespace: String?
    package var contextID: String?
    package var warnings: [String]

    /// Builds the document from a stitched transcript and its chunks.
    package init(transcript: Transcript, chunks: [ChunkResult], warnings: [String]) {
        self.text = transcript.text
        self.language = transcript.language
        self.segments = transcript.segments.map {
            Segment(
                id: $0.id, start: $0.start, end: $0.end, text: $0.text, speaker: $0.speaker, words: $0.words,
                provider: $0.provider)
        }
        self.wordSegments = transcript.words.isEmpty ? nil : transcript.words
        self.duration = Segment.rounded(transcript.duration ?? 0)
        self.chunks = chunks.map {
            Chunk(
                index: $0.index, start: Segment.rounded($0.startSeconds), end: Segment.rounded($0.endSeconds),
                provider: $0.servedBy?.label, model: $0.servedBy?.model, attempts: $0.attempts.count,
                latencyMilliseconds: $0.latencyMilliseconds, skipped: $0.skipped)
        }
        // The route that served the most audio names the transcript, as ffmpeg-whisper names its one model.
        var seconds: [ServedBy: Double] = [:]
        for chunk in chunks {
            if let served = chunk.servedBy {
                seconds[served, default: 0] += chunk.endSeconds - chunk.startSeconds
            }
        }
        let main = seconds.max { $0.value < $1.value }?.key
        self.model = main?.model
        self.provider = main?.label
        self.warnings = warnings
    }

    private enum CodingKeys: String, CodingKey {
        case ok, text, language, segments, speakers, model, provider, duration, chunks, namespace, warnings
        case wordSegments = "word_segments"
        case audioURI = "audio_uri"
        case s3URI = "s3_uri"
        case videoID = "video_id"
        case contextID = "context_id"
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.ok, forKey: .ok)
        try container.encode(self.text, forKey: .text)
        try container.encode(self.language, forKey: .language)
        try container.encode(self.segments, forKey: .segments)
        try container.encode(self.wordSegments, forKey: .wordSegments)
        try container.encode(self.speakers, forKey: .speakers)
        try container.encode(self.model, forKey: .model)
        try container.encode(self.provider, forKey: .provider)
        try container.encode(self.duration, forKey: .duration)
        try container.encode(self.chunks, forKey: .chunks)
        try container.encode(self.audioURI, forKey: .audioURI)
        try container.encode(self.s3URI, forKey: .s3URI)
        try container.encodeIfPresent(self.videoID, forKey: .videoID)
        try container.encodeIfPresent(self.namespace, forKey: .namespace)
        try container.encodeIfPresent(self.contextID, forKey: .contextID)
        try container.encode(self.warnings, forKey: .warnings)
    }
}

extension TranscriptDocument {
    /// The bytes of each requested format: this document as JSON, and `transcript` as SRT, WebVTT or text.
    package func files(transcript: Transcript, formats: [TranscriptFormat]) throws -> [(TranscriptFormat, Data)] {
        let writer = SubtitleWriter()
        return try formats.map { format in
            switch format {
            case .json: (format, try JSONOutput.encode(self, pretty: true))
            case .srt: (format, Data(writer.srt(transcript).utf8))
            case .vtt: (format, Data(writer.vtt(transcript).utf8))
            case .txt: (format, Data(writer.txt(transcript).utf8))
            }
        }
    }
}
