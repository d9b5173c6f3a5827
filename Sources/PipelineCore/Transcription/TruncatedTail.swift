import Foundation

/// Whisper giving up before a chunk's speech is over, in either of its two ways: it stretches its last word over the
/// rest ("…then the thunder started and the", the "the" lasting two seconds over "rain turned into a heavy storm",
/// which is never written), or it ends the window early and says nothing of the seconds after its last word. Decoding
/// a whole file, faster-whisper reads such a tail again in its next window; a chunk has no next window, so the
/// pipeline sends the tail once more itself and puts what comes back in place of what was missed.
///
/// The chunker's voice activity tells: a last word is stretched when its span holds more speech than one word does
/// (``stretchedSpeechSeconds``; a word drawn over the silence after it holds little) and it ends near the chunk's
/// end; speech was missed when more than ``missedSpeechSeconds`` of it follow the last word.
package enum TruncatedTail {
    /// Speech within one word's span past which it is not one word.
    static let stretchedSpeechSeconds = 1.0
    /// How close to the chunk's end a stretched word must end.
    static let nearEndSeconds = 1.0
    /// Speech after the last word past which words were missed (a word's end and the voice activity's disagree by
    /// a few tenths of a second).
    static let missedSpeechSeconds = 1.2
    /// Audio before the tail that is sent with it, so its first sound is not clipped.
    package static let leadSeconds = 0.15

    /// Where the tail to send again starts, in seconds from the chunk's start: the start of a stretched last word, or
    /// the end of the last word when speech follows it; nil when the transcript ends as the speech does.
    package static func start(of transcript: Transcript, in chunk: AudioChunk) -> Double? {
        let rate = Double(chunk.sampleRate)
        let chunkSeconds = Double(chunk.samples.count) / rate
        func speech(from start: Double, to end: Double) -> Double {
            chunk.speech.reduce(0.0) { total, range in
                total + max(min(Double(range.upperBound) / rate, end) - max(Double(range.lowerBound) / rate, start), 0)
            }
        }
        // Without word times (providers that give segments only), segment ends are too coarse to judge by.
        guard let word = self.lastWord(of: transcript) else { return nil }
        if word.end >= chunkSeconds - self.nearEndSeconds,
            speech(from: word.start, to: word.end) >= self.stretchedSpeechSeconds
        {
            return word.start
        }
        return speech(from: word.end, to: chunkSeconds) >= self.missedSpeechSeconds ? word.end : nil
    }

    /// `transcript` with everything from `start` (the stretched word) replaced by `tail`, whose times count from
    /// `offset` seconds into the chunk.
    package static func splice(_ transcript: Transcript, from start: Double, with tail: Transcript, offset: Double)
        -> Transcript
    {
        var segments = transcript.segments
        if var last = segments.popLast() {
            let cut = (last.words ?? []).filter { $0.start >= start - 0.001 }
            last.words = last.words?.filter { $0.start < start - 0.001 }
            for word in cut.reversed() {
                let spoken = word.word.trimmingCharacters(in: .whitespaces)
                if !spoken.isEmpty, let range = last.text.range(of: spoken, options: .backwards) {
                    last.text = String(last.text[..<range.lowerBound])
                }
            }
            if cut.isEmpty, let loose = transcript.words.last, loose.start >= start - 0.001 {
                // Words only at the top level: cut the same word from the segment's text.
                let spoken = loose.word.trimmingCharacters(in: .whitespaces)
                if !spoken.isEmpty, let range = last.text.range(of: spoken, options: .backwards) {
                    last.text = String(last.text[..<range.lowerBound])
                }
            }
            last.text = last.text.trimmingCharacters(in: .whitespaces)
            last.end = min(last.end, last.words?.last?.end ?? start)
            if !last.text.isEmpty {
                segments.append(last)
            }
        }
        // The tail's audio starts a little before the stretched word, so its first word may be the last one kept
        // ("…started and" + "and the rain…"): heard twice, written once.
        var tail = tail
        let kept = segments.last?.words?.last?.word ?? transcript.words.last { $0.start < start - 0.001 }?.word
        if let kept, Self.sameWord(kept, Self.firstWord(of: tail) ?? ""), var first = tail.segments.first {
            let spoken = (first.words?.first?.word ?? kept).trimmingCharacters(in: .whitespaces)
            var text = Substring(first.text.trimmingCharacters(in: .whitespaces))
            if text.lowercased().hasPrefix(spoken.lowercased()) {
                text = text.dropFirst(spoken.count)
            }
            first.text = " " + text.trimmingCharacters(in: .whitespaces)
            if let dropped = first.words?.first {
                first.words?.removeFirst()
                tail.words.removeAll { $0.start == dropped.start && $0.word == dropped.word }
            } else if !tail.words.isEmpty {
                tail.words.removeFirst()
            }
            tail.segments[0] = first
        }
        func shift(_ word: TranscriptWord) -> TranscriptWord {
            TranscriptWord(
                word: word.word, start: word.start + offset, end: word.end + offset, probability: word.probability)
        }
        for var segment in tail.segments {
            segment.id = segments.count
            segment.start += offset
            segment.end += offset
            segment.words = segment.words?.map(shift)
            segments.append(segment)
        }
        let words = transcript.words.filter { $0.start < start - 0.001 } + tail.words.map(shift)
        let text = segments.map { $0.text.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            .joined(separator: " ")
        return Transcript(
            text: text, language: transcript.language, duration: transcript.duration, segments: segments, words: words)
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
