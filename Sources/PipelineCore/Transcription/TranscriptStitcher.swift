/// Joins chunk transcripts into one: offsets times by each chunk's start, resolves overlaps after blind cuts,
/// drops repetition loops and silence hallucinations, merges sentences split across boundaries, and keeps
/// segment times monotonic.
package struct TranscriptStitcher: Sendable {
    /// Tuning.
    package struct Settings: Sendable, Equatable {
        /// Segments more compressible than this are repetition loops (Whisper's own threshold).
        package var compressionRatioThreshold = 2.4
        /// A known hallucination phrase is dropped when less than this share of its time is speech.
        package var hallucinationSpeechShare = 0.3
        /// Segments across a boundary closer than this, the first without final punctuation, are merged.
        package var mergeGapSeconds = 0.6
        /// Merging never makes a segment longer than this.
        package var maximumMergedSeconds = 30.0

        /// The defaults.
        package init() {}
    }

    /// A stitched transcript and what the guards removed.
    package struct Outcome: Sendable, Equatable {
        /// The transcript.
        package var transcript: Transcript
        /// Segments dropped as repetition loops.
        package var droppedRepetitions: Int
        /// Segments dropped as silence hallucinations.
        package var droppedHallucinations: Int
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
            removedOverlapWords: 0)
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

    /// The chunk's segments on the stream's time line, clipped to the chunk, with words attached.
    private func placed(_ chunk: ChunkResult) -> [TranscriptSegment] {
        let offset = chunk.startSeconds
        let end = chunk.endSeconds
        func shift(_ time: Double) -> Double { min(max(time + offset, offset), end) }
        let looseWords = chunk.transcript.words
        return chunk.transcript.segments.compactMap { segment in
            var placed = segment
            placed.start = shift(segment.start)
            placed.end = max(shift(segment.end), placed.start)
            // Providers that give words only at the top level: attach them to the segment they fall in.
            let words =
                segment.words
                ?? looseWords.filter {
                    ($0.start + $0.end) / 2 >= segment.start && ($0.start + $0.end) / 2 < segment.end
                }
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

    /// Repetition and hallucination guards for one chunk's segments.
    private func guarded(_ segments: [TranscriptSegment], chunk: ChunkResult, outcome: inout Outcome)
        -> [TranscriptSegment]
    {
        segments.compactMap { segment in
            var segment = segment
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
            // A segment that is still a loop after collapsing, or was mostly one, is a repetition hallucination.
            let wasMostlyLoop = tokens.count >= 8 && collapsed.count * 4 <= tokens.count
            if wasMostlyLoop || TextRepetition.compressionRatio(segment.text) > self.settings.compressionRatioThreshold
            {
                outcome.droppedRepetitions += 1
                return nil
            }
            if SilenceHallucinations.isKnown(segment.text) {
                let speech = self.speechShare(of: segment, in: chunk)
                if speech < self.settings.hallucinationSpeechShare || (segment.noSpeechProbability ?? 0) > 0.6 {
                    outcome.droppedHallucinations += 1
                    return nil
                }
            }
            return segment
        }
    }

    /// The share of a segment's time that the chunker judged to be speech.
    private func speechShare(of segment: TranscriptSegment, in chunk: ChunkResult) -> Double {
        let duration = segment.end - segment.start
        guard duration > 0 else { return 0 }
        let start = segment.start - chunk.startSeconds
        let end = segment.end - chunk.startSeconds
        let covered = chunk.speech.reduce(0.0) { total, range in
            total + max(0, min(range.upperBound, end) - max(range.lowerBound, start))
        }
        return covered / duration
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
