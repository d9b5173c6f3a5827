/// Joins chunk transcripts into one: offsets times by each chunk's start, resolves overlaps after blind cuts,
/// drops repetition loops and silence hallucinations, merges sentences split across boundaries, and keeps
/// segment times monotonic.
package struct TranscriptStitcher: Sendable {
    /// Tuning.
    package struct Settings: Sendable, Equatable {
        /// Segments more compressible than this are repetition loops (Whisper's own threshold).
        package var compressionRatioThreshold = 2.4
        /// The third and later back-to-back copies of a segment are a loop when less than this share of their time
        /// is speech.
        package var hallucinationSpeechShare = 0.3
        /// Whisper's no-speech threshold: a decode window more likely than this to hold no speech is silence.
        package var noSpeechThreshold = 0.6
        /// Whisper's log-probability threshold: a decode with a lower mean token log-probability failed.
        package var logProbabilityThreshold = -1.0
        /// Less chunker speech than this near a segment, in seconds, is none (the chunker's own minimum).
        package var minimumSpeechSeconds = 0.25
        /// A failed decode that found fewer words than this per second of sound was guessing at music or noise
        /// (speech runs at two to four).
        package var failedDecodeWordsPerSecond = 1.0
        /// Audio holds at most this many words per second of speech; a loop with more outran the audio.
        package var maximumWordsPerSecond = 7.0
        /// Segments across a boundary closer than this, the first without final punctuation, are merged.
        package var mergeGapSeconds = 0.6
        /// Merging never makes a segment longer than this.
        package var maximumMergedSeconds = 30.0
        /// A failed decode whose first eight words score this much on `wordAnomaly`, in a window the model judged
        /// this likely to hold no speech, is a hallucination. Over chords the real model's guesses score 9 to 19 at
        /// 0.50–0.55; its words in speech score at most 1 at 0.19 and below.
        package var wordAnomalyThreshold = 3.0
        /// See `wordAnomalyThreshold`.
        package var wordAnomalyNoSpeech = 0.4

        /// The defaults.
        package init() {}
    }

    /// A stitched transcript and what the guards removed.
    package struct Outcome: Sendable, Equatable {
        /// The transcript.
        package var transcript: Transcript
        /// Segments dropped as repetition loops.
        package var droppedRepetitions: Int
        /// Segments dropped as silence hallucinations: no words, known phrases over non-speech, failed decodes of
        /// music or noise.
        package var droppedHallucinations: Int
        /// Words removed by collapsing repeated n-grams to one copy, in segments that were kept.
        package var collapsedRepeatWords: Int
        /// Words removed as duplicates from blind-cut overlaps.
        package var removedOverlapWords: Int
    }

    private let settings: Settings

    /// Creates a stitcher.
    package init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// Stitches `chunks`, which must be in index order.
    package func stitch(_ chunks: [ChunkResult]) -> Outcome {
        var outcome = Outcome(
            transcript: Transcript(text: "", segments: []), droppedRepetitions: 0, droppedHallucinations: 0,
            collapsedRepeatWords: 0, removedOverlapWords: 0)
        var segments: [TranscriptSegment] = []
        var boundaries: [(index: Int, blind: Bool)] = []  // where each chunk's segments begin
        for (position, chunk) in chunks.enumerated() where !chunk.skipped {
            var pieces = self.placed(chunk)
            pieces = self.guarded(pieces, chunk: chunk, outcome: &outcome)
            // After a blind cut both chunks heard the overlap: split it at its middle, by word midpoints.
            let previous = position > 0 ? chunks[position - 1] : nil
            if let previous, previous.endsWithBlindCut, chunk.leadingOverlap > 0, !previous.skipped {
                let boundary = chunk.startSeconds + Double(chunk.leadingOverlap) / Double(chunk.sampleRate) / 2
                let previousStart = boundaries.last?.index ?? 0
                let kept = segments[previousStart...].compactMap {
                    Self.keep($0, where: { $0 < boundary }, removed: &outcome.removedOverlapWords)
                }
                segments.replaceSubrange(previousStart..., with: kept)
                pieces = pieces.compactMap {
                    Self.keep($0, where: { $0 >= boundary }, removed: &outcome.removedOverlapWords)
                }
                if let last = segments.last, let first = pieces.first {
                    let (trimmed, removed) = Self.removeRepeatedPrefix(of: first, after: last)
                    outcome.removedOverlapWords += removed
                    pieces[0] = trimmed
                    pieces = pieces.filter { !$0.text.isEmpty }
                }
            }
            boundaries.append((segments.count, previous?.endsWithBlindCut ?? false))
            segments += pieces
        }
        segments = self.mergedAcrossBoundaries(segments, boundaries: boundaries.map(\.index))
        // The chunker's speech ranges on the stream's time line, to tell a loop over silence from speech that
        // really repeats (a chorus, a refrain, a recording played twice).
        let speech = chunks.flatMap { chunk in
            chunk.speech.map { ($0.lowerBound + chunk.startSeconds)...($0.upperBound + chunk.startSeconds) }
        }
        segments = self.collapsedRepeatedSegments(segments, speech: speech, dropped: &outcome.droppedRepetitions)
        segments = Self.monotonic(segments)
        let words = segments.flatMap { $0.words ?? [] }
        let languages = chunks.compactMap(\.transcript.language)
        let language = Dictionary(grouping: languages, by: { $0 }).max { $0.value.count < $1.value.count }?.key
        outcome.transcript = Transcript(
            text: segments.map(\.text).joined(separator: " "), language: language,
            duration: chunks.last?.endSeconds ?? 0, segments: segments, words: words)
        return outcome
    }

    /// A silence no word holds, in seconds: ``snapStart`` and ``leadBack`` must agree on it, or one undoes the other.
    package static let wordPauseSeconds = 0.25

    /// Moves a segment's start (and its first word's) that lies in a pause forward to where speech begins, as the
    /// chunker heard it: Whisper starts a sentence where the previous word ended, inside the pause, and starts a
    /// chunk's first words at its very beginning. Only within the first word (or the segment, without words).
    ///
    /// A first word that starts in the sound of the previous sentence's end and reaches across a pause (a silence
    /// of at least `pauseSeconds`: no word holds one) was spoken after it, and starts where speech resumes.
    package static func snapStart(
        of segment: inout TranscriptSegment, words: inout [TranscriptWord], toSpeechIn speech: [ClosedRange<Double>],
        pauseSeconds: Double = Self.wordPauseSeconds
    ) {
        let start = words.first?.start ?? segment.start
        let limit = words.first?.end ?? segment.end
        let onset: Double
        if let current = speech.firstIndex(where: { $0.contains(start) }) {
            let resumed = speech.indices.dropFirst(current + 1).last {
                speech[$0].lowerBound < limit && speech[$0].lowerBound - speech[$0 - 1].upperBound >= pauseSeconds
            }
            guard !words.isEmpty, let resumed else { return }
            onset = speech[resumed].lowerBound
        } else {
            guard let next = speech.map(\.lowerBound).filter({ $0 > start }).min(), next < limit else { return }
            onset = next
        }
        segment.start = max(segment.start, onset)
        if !words.isEmpty {
            words[0].start = onset
        }
    }

    /// Moves a word's start that lies late in a run of speech back to the run's onset, when the run began after a
    /// pause and after the previous word (`previousEnd`, or the segment's previous word) ended: the sound from the
    /// onset to the word is no other word's. Whisper's word times come from its attention and may start a
    /// sentence's first word most of a second after its sound (0.69 s in bench-accuracy). A segment moves with its
    /// first word. A run is speech whose gaps are all shorter than `pauseSeconds`; moves are at most
    /// `maximumLeadSeconds`. Returns where the segment's last word ends, for the next segment.
    package static func leadBack(
        _ segment: inout TranscriptSegment, words: inout [TranscriptWord], toSpeechIn speech: [ClosedRange<Double>],
        after previousEnd: Double, pauseSeconds: Double = Self.wordPauseSeconds, maximumLeadSeconds: Double = 1.0
    ) -> Double {
        var before = previousEnd
        for index in words.indices {
            let start = words[index].start
            if var run = speech.firstIndex(where: { $0.contains(start) }) {
                while run > 0 && speech[run].lowerBound - speech[run - 1].upperBound < pauseSeconds {
                    run -= 1
                }
                let onset = speech[run].lowerBound
                let pause = run > 0 ? onset - speech[run - 1].upperBound : onset
                if pause >= pauseSeconds && onset >= before && onset < start && start - onset <= maximumLeadSeconds {
                    words[index].start = onset
                    if index == 0 {
                        segment.start = min(segment.start, onset)
                    }
                }
            }
            before = max(before, words[index].end)
        }
        return words.isEmpty ? max(before, segment.end) : before
    }

    /// The chunk's segments on the stream's time line, clipped to the chunk, with words attached.
    private func placed(_ chunk: ChunkResult) -> [TranscriptSegment] {
        let offset = chunk.startSeconds
        let end = chunk.endSeconds
        func shift(_ time: Double) -> Double { min(max(time + offset, offset), end) }
        // Providers that give words only at the top level: each goes to the last segment that starts before its
        // middle (the first segment for words before it). Whisper's segment and word times disagree at the edges, so
        // a word that falls after its segment's end, or between two segments, still has one.
        let segments = chunk.transcript.segments
        var looseWords = [[TranscriptWord]](repeating: [], count: segments.count)
        if !segments.isEmpty {
            for word in chunk.transcript.words {
                let middle = (word.start + word.end) / 2
                let index = segments.lastIndex { $0.start <= middle } ?? 0
                looseWords[index].append(word)
            }
        }
        var previousEnd = 0.0
        return segments.enumerated().compactMap { index, original in
            var segment = original
            var words = segment.words ?? looseWords[index]
            Self.snapStart(of: &segment, words: &words, toSpeechIn: chunk.speech)
            previousEnd = Self.leadBack(&segment, words: &words, toSpeechIn: chunk.speech, after: previousEnd)
            var placed = segment
            placed.start = shift(segment.start)
            placed.end = max(shift(segment.end), placed.start)
            placed.words =
                words.isEmpty
                ? nil
                : words.map {
                    TranscriptWord(
                        word: $0.word, start: shift($0.start), end: shift($0.end), probability: $0.probability)
                }
            placed.text = segment.text.trimmingWhitespace
            placed.provider = segment.provider ?? chunk.servedBy?.label
            return placed.text.isEmpty ? nil : placed
        }
    }

    /// Repetition and hallucination guards for one chunk's segments (on the stream's time line, in order).
    ///
    /// Text is judged against the audio it came from: the chunker's speech near the segment, and Whisper's own
    /// no-speech probability and mean log-probability when the provider gives them. Repeats over speech are
    /// collapsed to one copy, never dropped: people do say "yes, yes, yes" and count "one, two, three, four".
    private func guarded(_ segments: [TranscriptSegment], chunk: ChunkResult, outcome: inout Outcome)
        -> [TranscriptSegment]
    {
        let around = SpeechAround(chunk: chunk, segments: segments)
        let guesses = self.failedDecodes(segments, around: around)
        var kept: [TranscriptSegment] = []
        for (index, original) in segments.enumerated() {
            var segment = original
            // Nothing said, or a failed decode guessing at music or noise.
            if !SilenceHallucinations.hasWords(segment.text) || guesses.contains(index) {
                outcome.droppedHallucinations += 1
                continue
            }
            let noSpeech = segment.noSpeechProbability ?? 0
            let failed = (segment.averageLogProbability ?? 0) < self.settings.logProbabilityThreshold
            let speech = around.seconds(for: index...index)
            let heard = speech >= self.settings.minimumSpeechSeconds && noSpeech <= self.settings.noSpeechThreshold

            let tokens = segment.text.split(separator: " ").map(String.init)
            let collapsed = TextRepetition.collapseRepeats(tokens)
            if collapsed.count < tokens.count {
                segment.text = collapsed.joined(separator: " ")
                if let words = segment.words, words.count == tokens.count {
                    // Keep the timings of the words that survived: the first occurrence of each loop.
                    segment.words = Array(words.prefix(collapsed.count))
                    segment.end = segment.words?.last?.end ?? segment.end
                }
            }
            let fits = Double(collapsed.count) <= self.settings.maximumWordsPerSecond * speech
            // Words the model barely believed, or timed as no voice says them: a guess at music that found words
            // at a speaking pace, so the per-second rule above let it through.
            if failed, noSpeech >= self.settings.wordAnomalyNoSpeech, let anomaly = Self.wordAnomaly(original),
                anomaly >= self.settings.wordAnomalyThreshold
            {
                outcome.droppedHallucinations += 1
                continue
            }
            // Whisper's silence rule: the model judged the window silent and the decode failed. Or, with the
            // chunker's evidence standing in for the log-probability, too little speech near it to say these words:
            // tiny.en echoes the last sentence into the silence after it that way, scoring just above −1.
            if noSpeech > self.settings.noSpeechThreshold && (failed || !fits) {
                outcome.droppedHallucinations += 1
                continue
            }
            // A segment that was mostly a loop, or still is one, stays only over speech that could say what is left.
            let wasMostlyLoop = tokens.count >= 8 && collapsed.count * 4 <= tokens.count
            let stillLoops = TextRepetition.compressionRatio(segment.text) > self.settings.compressionRatioThreshold
            if (wasMostlyLoop || stillLoops) && !(heard && fits) {
                outcome.droppedRepetitions += 1
                continue
            }
            // Not for a failed decode alone: the real model scores a spoken "Okay." after a pause below −1.
            if SilenceHallucinations.isKnown(segment.text) && !heard {
                outcome.droppedHallucinations += 1
                continue
            }
            outcome.collapsedRepeatWords += tokens.count - collapsed.count
            kept.append(segment)
        }
        return kept
    }

    /// The segments of decodes that failed (mean log-probability under Whisper's threshold) and found fewer words
    /// than speech would hold in the sound they covered: the model guessing words into music or noise.
    ///
    /// Whisper gives every segment of one decode window the same log-probability and no-speech probability, so a
    /// run of segments sharing both is one decode.
    private func failedDecodes(_ segments: [TranscriptSegment], around: SpeechAround) -> Set<Int> {
        var failed: Set<Int> = []
        var first = 0
        while first < segments.count {
            let logProbability = segments[first].averageLogProbability
            let noSpeech = segments[first].noSpeechProbability
            var last = first
            while last + 1 < segments.count, segments[last + 1].averageLogProbability == logProbability,
                segments[last + 1].noSpeechProbability == noSpeech
            {
                last += 1
            }
            if let logProbability, logProbability < self.settings.logProbabilityThreshold {
                let speech = around.seconds(for: first...last)
                let words = segments[first...last].reduce(0) {
                    $0 + ($1.words?.count ?? $1.text.split(separator: " ").count)
                }
                if speech < self.settings.minimumSpeechSeconds
                    || Double(words) < self.settings.failedDecodeWordsPerSecond * speech
                {
                    failed.formUnion(first...last)
                }
            }
            first = last + 1
        }
        return failed
    }

    /// How unlike speech a segment's first eight words are, as OpenAI's Whisper scores hallucinations near
    /// silence: a point for each word the model gave less than 0.15 probability, and for each word that lasts under
    /// 0.133 s or over 2 s a share growing with the distance. Nil without word probabilities.
    package static func wordAnomaly(_ segment: TranscriptSegment) -> Double? {
        guard let words = segment.words?.filter({ SilenceHallucinations.hasWords($0.word) }).prefix(8),
            !words.isEmpty, words.allSatisfy({ $0.probability != nil })
        else { return nil }
        return words.reduce(0) { score, word in
            let duration = word.end - word.start
            var anomaly = (word.probability ?? 1) < 0.15 ? 1.0 : 0
            if duration < 0.133 {
                anomaly += (0.133 - duration) * 15
            } else if duration > 2 {
                anomaly += duration - 2
            }
            return score + anomaly
        }
    }

    /// The segment with only the words whose midpoint satisfies `include`; nil when none is left.
    private static func keep(
        _ segment: TranscriptSegment, where include: (Double) -> Bool, removed: inout Int
    ) -> TranscriptSegment? {
        guard let words = segment.words, !words.isEmpty else {
            return include((segment.start + segment.end) / 2) ? segment : nil
        }
        let kept = words.filter { include(($0.start + $0.end) / 2) }
        removed += words.count - kept.count
        guard let first = kept.first, let last = kept.last else { return nil }
        if kept.count == words.count {
            return segment
        }
        var trimmed = segment
        trimmed.words = kept
        trimmed.text = kept.map(\.word).joined(separator: " ")
        trimmed.start = first.start
        trimmed.end = last.end
        return trimmed
    }

    /// Removes from `segment` a prefix of two or more words that repeats the end of `previous` (overlap the
    /// timings did not resolve, e.g. from a provider without word times).
    private static func removeRepeatedPrefix(
        of segment: TranscriptSegment, after previous: TranscriptSegment
    ) -> (TranscriptSegment, Int) {
        let before = previous.text.split(separator: " ").suffix(12).map { TextRepetition.normalized(String($0)) }
        let tokens = segment.text.split(separator: " ").map(String.init)
        let after = tokens.prefix(12).map(TextRepetition.normalized)
        var overlap = 0
        for length in stride(from: min(before.count, after.count), through: 2, by: -1)
        where Array(before.suffix(length)) == Array(after.prefix(length)) {
            overlap = length
            break
        }
        guard overlap > 0 else { return (segment, 0) }
        var trimmed = segment
        trimmed.text = tokens.dropFirst(overlap).joined(separator: " ")
        if let words = segment.words, words.count == tokens.count {
            trimmed.words = Array(words.dropFirst(overlap))
            trimmed.start = trimmed.words?.first?.start ?? trimmed.start
        }
        return (trimmed, overlap)
    }

    /// Joins a sentence that a chunk boundary split: the last segment before a boundary and the first after it,
    /// when they nearly touch and the first does not end a sentence.
    private func mergedAcrossBoundaries(_ segments: [TranscriptSegment], boundaries: [Int]) -> [TranscriptSegment] {
        var result: [TranscriptSegment] = []
        let starts = Set(boundaries)
        for (index, segment) in segments.enumerated() {
            if starts.contains(index), var last = result.last, !Self.endsSentence(last.text),
                segment.start - last.end <= self.settings.mergeGapSeconds,
                segment.end - last.start <= self.settings.maximumMergedSeconds
            {
                last.text += " " + segment.text
                last.end = max(last.end, segment.end)
                if let words = segment.words {
                    last.words = (last.words ?? []) + words
                }
                result[result.count - 1] = last
            } else {
                result.append(segment)
            }
        }
        return result
    }

    /// Drops the third and later copies of a segment text repeated back to back (a loop across segments), unless
    /// the copy lies over speech: audio that says the same thing again is transcribed again.
    private func collapsedRepeatedSegments(
        _ segments: [TranscriptSegment], speech: [ClosedRange<Double>], dropped: inout Int
    ) -> [TranscriptSegment] {
        var result: [TranscriptSegment] = []
        var run = 0
        for segment in segments {
            if let last = result.last,
                SilenceHallucinations.normalize(last.text) == SilenceHallucinations.normalize(segment.text)
            {
                run += 1
                if run >= 2 && Self.share(of: segment, in: speech) < self.settings.hallucinationSpeechShare {
                    dropped += 1
                    continue
                }
            } else {
                run = 0
            }
            result.append(segment)
        }
        return result
    }

    /// The share of a segment's time covered by `speech` (ranges on the stream's time line).
    private static func share(of segment: TranscriptSegment, in speech: [ClosedRange<Double>]) -> Double {
        let duration = segment.end - segment.start
        guard duration > 0 else { return 0 }
        let covered = speech.reduce(0.0) { total, range in
            total + max(0, min(range.upperBound, segment.end) - max(range.lowerBound, segment.start))
        }
        return covered / duration
    }

    /// Sorts by start, makes every end at least its start and at most the next start, and numbers the segments.
    private static func monotonic(_ segments: [TranscriptSegment]) -> [TranscriptSegment] {
        var sorted = segments.enumerated().sorted { ($0.element.start, $0.offset) < ($1.element.start, $1.offset) }
            .map(\.element)
        for index in sorted.indices {
            if index + 1 < sorted.count {
                sorted[index].end = min(sorted[index].end, sorted[index + 1].start)
            }
            sorted[index].end = max(sorted[index].end, sorted[index].start)
            sorted[index].id = index
        }
        return sorted
    }

    private static func endsSentence(_ text: String) -> Bool {
        guard let last = text.trimmingWhitespace.last else { return true }
        return ".!?…。！？".contains(last) || last == "\"" || last == "”"
    }
}

/// The chunker's speech that can belong to each segment of one chunk.
///
/// Whisper's timestamps drift after a long pause (the real model placed a "Thank you." 2.6 s after the words were
/// said), so a segment is judged by the stretch from the end of the segment before it to the start of the one
/// after, not by its own times alone. Speech there that another segment overlaps belongs to that segment.
private struct SpeechAround {
    /// Speech stretches on the stream's time line.
    private let speech: [ClosedRange<Double>]
    /// The segments' times.
    private let spans: [ClosedRange<Double>]
    private let start: Double
    private let end: Double

    init(chunk: ChunkResult, segments: [TranscriptSegment]) {
        self.speech = chunk.speech.map { ($0.lowerBound + chunk.startSeconds)...($0.upperBound + chunk.startSeconds) }
        self.spans = segments.map { $0.start...max($0.end, $0.start) }
        self.start = chunk.startSeconds
        self.end = chunk.endSeconds
    }

    /// Seconds of speech for the segments at `indices` (consecutive): speech in their stretch that overlaps them or
    /// no other segment.
    func seconds(for indices: ClosedRange<Int>) -> Double {
        let own = self.spans[indices.lowerBound].lowerBound...self.spans[indices].map(\.upperBound).max()!
        let before = indices.lowerBound > 0 ? self.spans[indices.lowerBound - 1].upperBound : self.start
        let after = indices.upperBound + 1 < self.spans.count ? self.spans[indices.upperBound + 1].lowerBound : self.end
        let stretch = min(own.lowerBound, before)...max(own.upperBound, after)
        return self.speech.reduce(0.0) { total, range in
            let ours =
                own.overlaps(range)
                || !self.spans.indices.contains { !indices.contains($0) && Self.overlap(range, self.spans[$0]) > 0 }
            return ours ? total + Self.overlap(range, stretch) : total
        }
    }

    private static func overlap(_ a: ClosedRange<Double>, _ b: ClosedRange<Double>) -> Double {
        max(0, min(a.upperBound, b.upperBound) - max(a.lowerBound, b.lowerBound))
    }
}

extension String {
    /// The string without leading and trailing whitespace, without Foundation.
    var trimmingWhitespace: String {
        let scalars = self.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
