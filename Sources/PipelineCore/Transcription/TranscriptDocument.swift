import Foundation

/// The JSON a transcription writes: a superset of ffmpeg-whisper's `/transcribe` response (`ok`, `text`,
/// `language`, `segments[{id, start, end, text, speaker, words?}]`, `word_segments`, `speakers`, `model`,
/// `provider`, `audio_uri`, `s3_uri`), plus `duration`, `chunks` and `warnings`.
package struct TranscriptDocument: Sendable, Codable, Equatable {
    /// A segment as ffmpeg-whisper returns it.
    package struct Segment: Sendable, Codable, Equatable {
        /// Its position.
        package var id: Int
        /// Start, in seconds from the start of the input.
        package var start: Double
        /// End, in seconds.
        package var end: Double
        /// The text.
        package var text: String
        /// The speaker, when diarized (always written, `null` otherwise).
        package var speaker: String?
        /// Word timings, when the provider gave them.
        package var words: [TranscriptWord]?
        /// `model/provider` that produced it.
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
        /// The chunk's index.
        package var index: Int
        /// Its start, in seconds.
        package var start: Double
        /// Its end, in seconds.
        package var end: Double
        /// `model/provider` that transcribed it; nil when it was silent and not sent.
        package var provider: String?
        /// The model that transcribed it.
        package var model: String?
        /// Requests made for it, failed ones included.
        package var attempts: Int
        /// Wall time to transcribe it, in milliseconds.
        package var latencyMilliseconds: Int
        /// Whether it was silent and not sent.
        package var skipped: Bool

        private enum CodingKeys: String, CodingKey {
            case index, start, end, provider, model, attempts, skipped
            case latencyMilliseconds = "latency_ms"
        }
    }

    /// Always true: the transcription finished (ffmpeg-whisper's field).
    package var ok = true
    /// The text, segment texts joined with single spaces.
    package var text: String
    /// The language, as an ISO 639-1 code.
    package var language: String?
    /// The segments, in time order.
    package var segments: [Segment]
    /// Every word with its timing, or nil when no provider gave word timings.
    package var wordSegments: [TranscriptWord]?
    /// Speakers found by diarization (none yet: `{}`).
    package var speakers: [String: String] = [:]
    /// The model that served most of the audio.
    package var model: String?
    /// The provider (`model/provider`) that served most of the audio.
    package var provider: String?
    /// The input's decoded duration, in seconds.
    package var duration: Double
    /// Every chunk's provenance, in order.
    package var chunks: [Chunk]
    /// Where the audio is stored (the decoded WAV when one was written, else the input).
    package var audioURI: String?
    /// The same as `audio_uri` (pmoves-yt reads this name).
    package var s3URI: String?
    /// Passed through from the job.
    package var videoID: String?
    /// Passed through from the job.
    package var namespace: String?
    /// Passed through from the job.
    package var contextID: String?
    /// What the decoder and the stitcher had to say (skipped data, dropped loops...).
    package var warnings: [String]
    /// Where `language` came from when the request named none: detected on this chunk and pinned for the rest.
    package var languageDetection: TranscriptionPipeline.LanguageDetection?

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
        case languageDetection = "language_detection"
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
        try container.encodeIfPresent(self.languageDetection, forKey: .languageDetection)
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

extension TranscriptDocument {
    /// The document for a finished run: the stitched transcript and its chunks, the address of the audio (the
    /// decoded WAV when one was stored, else the input), and the caller's pass-through fields. Every way in (the
    /// command line, the queue, the HTTP API) builds its output here, so they cannot drift apart.
    package static func assemble(
        _ outcome: TranscriptionPipeline.Outcome, audioURI: String?, passThrough spec: TranscriptionJobSpec?
    ) -> TranscriptDocument {
        var document = TranscriptDocument(
            transcript: outcome.transcript, chunks: outcome.chunks, warnings: outcome.warnings)
        document.languageDetection = outcome.languageDetection
        document.audioURI = audioURI
        document.s3URI = audioURI
        document.videoID = spec?.videoID
        document.namespace = spec?.namespace
        document.contextID = spec?.contextID
        return document
    }
}
