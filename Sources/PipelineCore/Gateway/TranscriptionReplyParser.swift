import Foundation

/// Normalizes the JSON replies of OpenAI `whisper-1` (verbose_json), json-only models (`gpt-4o-transcribe`),
/// speaches / faster-whisper-server and whisper.cpp's `/inference` into one ``Transcript``.
package enum TranscriptionReplyParser {
    /// Parses `body`, the reply for `duration` seconds of audio; times are clamped into the audio.
    ///
    /// - Throws: ``ProviderFailure`` of kind `malformedResponse` for anything that is not such a reply.
    package static func parse(_ body: Data, duration: Double) throws(ProviderFailure) -> Transcript {
        let json: JSONValue
        do {
            json = try JSONDecoder().decode(JSONValue.self, from: body)
        } catch {
            let start = String(decoding: body.prefix(60), as: UTF8.self)
            throw ProviderFailure(.malformedResponse, message: "the reply is not JSON (starts with '\(start)')")
        }
        guard case .object = json else {
            throw ProviderFailure(.malformedResponse, message: "the reply is JSON but not an object")
        }
        let text = Self.string(json["text"])
        let rawSegments: [JSONValue]?
        switch json["segments"] {
        case .array(let items): rawSegments = items
        case nil, .null: rawSegments = nil
        default: throw ProviderFailure(.malformedResponse, message: "'segments' is not an array")
        }
        guard text != nil || rawSegments != nil else {
            throw ProviderFailure(.malformedResponse, message: "the reply has neither 'text' nor 'segments'")
        }

        var segments: [TranscriptSegment] = []
        var nestedWords: [TranscriptWord] = []
        for (index, raw) in (rawSegments ?? []).enumerated() {
            guard let start = Self.number(raw["start"]), let end = Self.number(raw["end"]) else {
                throw ProviderFailure(.malformedResponse, message: "segment \(index) has no numeric start and end")
            }
            let words = try Self.words(raw["words"], duration: duration, context: "segment \(index)")
            nestedWords += words
            let (clampedStart, clampedEnd) = Self.clamp(start, end, duration: duration)
            segments.append(
                TranscriptSegment(
                    id: segments.count, start: clampedStart, end: clampedEnd,
                    text: (Self.string(raw["text"]) ?? "").trimmingCharacters(in: .whitespacesAndNewlines),
                    speaker: Self.string(raw["speaker"]), words: words.isEmpty ? nil : words,
                    averageLogProbability: Self.number(raw["avg_logprob"]),
                    compressionRatio: Self.number(raw["compression_ratio"]),
                    noSpeechProbability: Self.number(raw["no_speech_prob"])))
        }
        let trimmedText = text?.trimmingCharacters(in: .whitespacesAndNewlines)
        if segments.isEmpty, let trimmedText, !trimmedText.isEmpty {
            // json-only replies carry no timings: the text spans the audio that was sent.
            segments = [TranscriptSegment(id: 0, start: 0, end: duration, text: trimmedText)]
        }
        var words = try Self.words(json["words"], duration: duration, context: "words")
        if words.isEmpty {
            words = nestedWords
        }
        let language = (Self.string(json["language"]) ?? Self.string(json["detected_language"]))
            .flatMap(LanguageCodes.code(for:))
        let joined = segments.map(\.text).filter { !$0.isEmpty }.joined(separator: " ")
        return Transcript(
            text: segments.isEmpty ? (trimmedText ?? "") : joined, language: language,
            duration: Self.number(json["duration"]) ?? duration, segments: segments, words: words)
    }

    private static func words(_ value: JSONValue?, duration: Double, context: String) throws(ProviderFailure)
        -> [TranscriptWord]
    {
        guard let value, value != .null else { return [] }
        guard case .array(let items) = value else {
            throw ProviderFailure(.malformedResponse, message: "\(context): 'words' is not an array")
        }
        var words: [TranscriptWord] = []
        for item in items {
            guard let word = Self.string(item["word"]), let start = Self.number(item["start"]),
                let end = Self.number(item["end"])
            else {
                throw ProviderFailure(.malformedResponse, message: "\(context): a word lacks 'word', 'start' or 'end'")
            }
            let trimmed = word.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty else { continue }
            let (clampedStart, clampedEnd) = Self.clamp(start, end, duration: duration)
            words.append(
                TranscriptWord(
                    word: trimmed, start: clampedStart, end: clampedEnd, probability: Self.number(item["probability"])))
        }
        return words
    }

    private static func clamp(_ start: Double, _ end: Double, duration: Double) -> (Double, Double) {
        let lower = min(max(start, 0), duration)
        return (lower, min(max(end, lower), duration))
    }

    private static func string(_ value: JSONValue?) -> String? {
        if case .string(let text) = value { return text }
        return nil
    }

    private static func number(_ value: JSONValue?) -> Double? {
        if case .number(let number) = value, number.isFinite { return number }
        return nil
    }
}
