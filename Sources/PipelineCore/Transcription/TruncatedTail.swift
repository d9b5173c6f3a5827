import Foundation

/// Whisper giving up before a chunk's speech is over, in either of its two ways: it stretches its last word over the
/// rest ("…then the thunder started and the", the "the" lasting two seconds over "rain turned into a heavy storm",
/// which is never written), or it ends the window early and says nothing of the seconds after its last word. Decoding
/// a whole file, faster-whisper reads such a tail again in its next window; a chunk has no next window, so the
/// pipeline sends the tail once more itself and puts what comes back in place of what was missed.
///
/// The chunker's voice activity tells: a last word is stretched when its span holds more speech than one word does
/// (``stretchedSpeechSeconds``; a word drawn over the silence after it holds little), it lasts more than three times
/// the chunk's typical word, and it ends near the chunk's end; speech was missed when more than
/// ``missedSpeechSeconds`` of it follow the last word.
package enum TruncatedTail {
    /// Speech within one word's span past which it is not one word.
    static let stretchedSpeechSeconds = 1.0
    /// How close to the chunk's end a stretched word must end.
    static let nearEndSeconds = 1.0
    /// Speech after the last word past which words were missed (a word's end and the voice activity's disagree by
    /// a few tenths of a second; "asked my sister." after a question, missed at a full chunk's end, held 0.8 s).
    static let missedSpeechSeconds = 0.7
    /// Audio before the tail that is sent with it, so its first sound is not clipped.
    package static let leadSeconds = 0.15

    /// A tail to send again.
    package struct Tail: Sendable, Equatable {
        /// Where it starts, in seconds from the chunk's start.
        package var start: Double
        /// Whether the transcript's last word is the stretched one, replaced by what the tail brings; otherwise
        /// the tail follows the last word.
        package var replacesLastWord: Bool

        /// Creates one.
        package init(start: Double, replacesLastWord: Bool) {
            self.start = start
            self.replacesLastWord = replacesLastWord
        }
    }

    /// The tail to send again: from the start of a stretched last word, or from the end of the last word when
    /// speech follows it; nil when the transcript ends as the speech does.
    package static func find(in transcript: Transcript, of chunk: AudioChunk) -> Tail? {
        let rate = Double(chunk.sampleRate)
        let chunkSeconds = Double(chunk.samples.count) / rate
        func speech(from start: Double, to end: Double) -> Double {
            chunk.speech.reduce(0.0) { total, range in
                total + max(min(Double(range.upperBound) / rate, end) - max(Double(range.lowerBound) / rate, start), 0)
            }
        }
        // Without word times (providers that give segments only), segment ends are too coarse to judge by.
        guard let word = self.lastWord(of: transcript) else { return nil }
        // Stretched against the chunk's own words, too: a provider whose every word is long has not stretched one.
        let durations = (transcript.segments.flatMap { $0.words ?? [] } + transcript.words).map { $0.end - $0.start }
            .sorted()
        let typical = durations.isEmpty ? 0 : durations[durations.count / 2]
        // Near the end of what was sent: a chunk cut in a long pause sent only the start of its half of it.
        if word.end >= chunk.sentEndSeconds - self.nearEndSeconds, word.end - word.start > 3 * typical,
            speech(from: word.start, to: word.end) >= self.stretchedSpeechSeconds
        {
            return Tail(start: word.start, replacesLastWord: true)
        }
        guard speech(from: word.end, to: chunkSeconds) >= self.missedSpeechSeconds else { return nil }
        return Tail(start: word.end, replacesLastWord: false)
    }

    /// `transcript` with `again` (what the tail brought, its times counting from `offset` seconds into the chunk) in
    /// place of the stretched last word, or after the last word.
    package static func splice(_ transcript: Transcript, _ tail: Tail, with again: Transcript, offset: Double)
        -> Transcript
    {
        var segments = transcript.segments
        var words = transcript.words
        if tail.replacesLastWord, let stretched = self.lastWord(of: transcript), var last = segments.popLast() {
            if last.words?.last == stretched {
                last.words?.removeLast()
            }
            if words.last == stretched {
                words.removeLast()
            }
            last.text = Self.droppingLastToken(of: last.text, ifItIs: stretched.word)
            last.end = min(last.end, last.words?.last?.end ?? stretched.start)
            if !last.text.isEmpty {
                segments.append(last)
            }
        }
        // The tail's audio starts a little before it, so its first word may be the last one kept ("…started and" +
        // "and the rain…"): heard twice, written once.
        var again = again
        let kept = segments.last?.words?.last?.word ?? words.last?.word
        if let kept, let heard = Self.firstWord(of: again), Self.sameWord(kept, heard), var first = again.segments.first
        {
            first.text = " " + Self.droppingFirstToken(of: first.text, ifItIs: heard)
            if let dropped = first.words?.first, Self.sameWord(dropped.word, heard) {
                first.words?.removeFirst()
                again.words.removeAll { $0 == dropped }
            } else if let dropped = again.words.first, Self.sameWord(dropped.word, heard) {
                again.words.removeFirst()
            }
            again.segments[0] = first
        }
        func shift(_ word: TranscriptWord) -> TranscriptWord {
            TranscriptWord(
                word: word.word, start: word.start + offset, end: word.end + offset, probability: word.probability)
        }
        for var segment in again.segments where !segment.text.trimmingCharacters(in: .whitespaces).isEmpty {
            segment.id = segments.count
            segment.start += offset
            segment.end += offset
            segment.words = segment.words?.map(shift)
            segments.append(segment)
        }
        words += again.words.map(shift)
        let text = segments.map { $0.text.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .joined(separator: " ")
        return Transcript(
            text: text, language: transcript.language, duration: transcript.duration, segments: segments, words: words)
    }

    /// `text` without its last whitespace-separated token when that token is `word` (case and punctuation aside);
    /// `text` trimmed otherwise.
    static func droppingLastToken(of text: String, ifItIs word: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let start = trimmed.lastIndex(where: \.isWhitespace).map { trimmed.index(after: $0) } ?? trimmed.startIndex
        guard self.sameWord(String(trimmed[start...]), word) else { return trimmed }
        return trimmed[..<start].trimmingCharacters(in: .whitespaces)
    }

    /// `text` without its first whitespace-separated token when that token is `word`; `text` trimmed otherwise.
    static func droppingFirstToken(of text: String, ifItIs word: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let end = trimmed.firstIndex(where: \.isWhitespace) ?? trimmed.endIndex
        guard self.sameWord(String(trimmed[..<end]), word) else { return trimmed }
        return trimmed[end...].trimmingCharacters(in: .whitespaces)
    }

    /// The first word of `transcript`'s first segment (its words, or its text).
    static func firstWord(of transcript: Transcript) -> String? {
        guard let segment = transcript.segments.first else { return nil }
        return segment.words?.first?.word ?? transcript.words.first?.word
            ?? segment.text.split(whereSeparator: \.isWhitespace).first.map(String.init)
    }

    /// Whether two words are the same, ignoring case and punctuation.
    static func sameWord(_ a: String, _ b: String) -> Bool {
        func bare(_ word: String) -> String { word.lowercased().filter { $0.isLetter || $0.isNumber } }
        return !bare(a).isEmpty && bare(a) == bare(b)
    }

    /// The transcript's last word: of its last segment with words, or of its top-level list.
    static func lastWord(of transcript: Transcript) -> TranscriptWord? {
        let inSegments = transcript.segments.last?.words?.last
        let loose = transcript.words.last
        switch (inSegments, loose) {
        case (let a?, let b?): return a.end >= b.end ? a : b
        case (let a?, nil): return a
        case (nil, let b): return b
        }
    }
}
