import PipelineCore
import Testing

struct TranscriptStitcherTests {
    /// A chunk result at `start`–`end` seconds with the given relative segments.
    private func chunk(
        _ index: Int, _ start: Double, _ end: Double, _ segments: [TranscriptSegment], overlap: Double = 0,
        blindEnd: Bool = false, speech: [ClosedRange<Double>]? = nil, skipped: Bool = false
    ) -> ChunkResult {
        let audio = AudioChunk(
            index: index, startSample: Int(start * 16_000),
            samples: [Float](repeating: 0, count: Int((end - start) * 16_000)),
            sampleRate: 16_000, leadingOverlap: Int(overlap * 16_000), endsWithBlindCut: blindEnd,
            speech: (speech ?? [0...(end - start)]).map { Int($0.lowerBound * 16_000)..<Int($0.upperBound * 16_000) },
            isSilent: skipped)
        return ChunkResult(
            chunk: audio, transcript: Transcript(text: "", segments: segments),
            servedBy: ServedBy(function: "f", variant: "v", model: "m", provider: "p"), attempts: [],
            latencyMilliseconds: 5)
    }

    private func segment(_ start: Double, _ end: Double, _ text: String, words: [(String, Double, Double)]? = nil)
        -> TranscriptSegment
    {
        TranscriptSegment(
            id: 0, start: start, end: end, text: text,
            words: words?.map { TranscriptWord(word: $0.0, start: $0.1, end: $0.2) })
    }

    @Test
    func segmentTimesAreOffsetByTheChunkStartAndJoinedWithSpaces() {
        let chunks = [
            self.chunk(0, 0, 20, [self.segment(1, 4, "First sentence."), self.segment(5, 9, "Second one.")]),
            self.chunk(1, 20, 40, [self.segment(0.5, 3, "Third sentence.")]),
        ]

        let outcome = TranscriptStitcher().stitch(chunks)

        #expect(outcome.transcript.segments.map(\.start) == [1, 5, 20.5])
        #expect(outcome.transcript.segments.map(\.id) == [0, 1, 2])
        #expect(outcome.transcript.text == "First sentence. Second one. Third sentence.")
        #expect(outcome.transcript.segments.allSatisfy { $0.provider == "m/p" })
    }

    @Test
    func timesBeyondTheChunkAreClipped() {
        let outcome = TranscriptStitcher().stitch([self.chunk(0, 10, 20, [self.segment(8, 14, "Past the end.")])])

        #expect(outcome.transcript.segments[0].start == 18)
        #expect(outcome.transcript.segments[0].end == 20)
    }

    @Test
    func wordsHeardInBothChunksOfABlindCutAppearOnce() {
        // Chunk 0 is 0–30 s; chunk 1 starts at 27.5 s (2.5 s overlap); the boundary is at 28.75 s.
        let first = self.segment(
            20, 30, "one two three four five",
            words: [("one", 20, 22), ("two", 24, 26), ("three", 27.6, 28.2), ("four", 28.4, 29), ("five", 29.3, 29.9)])
        let second = self.segment(
            0, 6, "three four five six",
            words: [("three", 0.1, 0.7), ("four", 0.9, 1.5), ("five", 1.8, 2.4), ("six", 3, 4)])
        let chunks = [self.chunk(0, 0, 30, [first], blindEnd: true), self.chunk(1, 27.5, 57.5, [second], overlap: 2.5)]

        let outcome = TranscriptStitcher().stitch(chunks)

        #expect(outcome.transcript.text == "one two three four five six")
        #expect(outcome.transcript.words.map(\.word) == ["one", "two", "three", "four", "five", "six"])
        #expect(outcome.removedOverlapWords == 3)
    }

    @Test
    func anOverlapWithoutWordTimesIsResolvedByItsRepeatedText() {
        let chunks = [
            self.chunk(0, 0, 30, [self.segment(22, 29.5, "and then we walked to the old mill")], blindEnd: true),
            self.chunk(1, 27.5, 57.5, [self.segment(1.2, 6, "to the old mill by the river")], overlap: 2.5),
        ]

        let outcome = TranscriptStitcher().stitch(chunks)

        #expect(outcome.transcript.text == "and then we walked to the old mill by the river")
    }

    @Test
    func repetitionLoopsAreCollapsedOrDropped() {
        let looping = String(repeating: "la ", count: 30) + "la"
        let chunks = [
            self.chunk(
                0, 0, 30,
                [
                    self.segment(0, 5, "thank you thank you thank you thank you for coming."),
                    self.segment(6, 20, looping),
                    self.segment(21, 25, "A real sentence."),
                ])
        ]

        let outcome = TranscriptStitcher().stitch(chunks)

        #expect(outcome.transcript.segments.map(\.text) == ["thank you for coming.", "A real sentence."])
        #expect(outcome.droppedRepetitions == 1)
    }

    @Test
    func aSegmentRepeatedOverSilenceIsALoopButRepeatedSpeechIsKept() {
        let sentence = "The quick brown fox jumps over the lazy dog."
        // Four copies said aloud (a recording played four times), as the real Whisper transcribes them.
        let spoken = [
            self.chunk(
                0, 0, 22, [self.segment(0, 10, sentence), self.segment(11.5, 21.5, sentence)],
                speech: [0...10, 11.5...21.5]),
            self.chunk(
                1, 22, 44, [self.segment(0, 10, sentence), self.segment(11.5, 21.5, sentence)],
                speech: [0...10, 11.5...21.5]),
        ]
        // The same text looping on over a quiet stretch.
        let looping = [
            self.chunk(
                0, 0, 30,
                [
                    self.segment(0, 4, "The meeting is adjourned now."),
                    self.segment(4, 8, "The meeting is adjourned now."),
                    self.segment(8, 12, "The meeting is adjourned now."),
                    self.segment(12, 16, "The meeting is adjourned now."),
                ], speech: [0...4, 4...8])
        ]

        let heard = TranscriptStitcher().stitch(spoken)
        let loop = TranscriptStitcher().stitch(looping)

        #expect(heard.transcript.segments.count == 4, "each spoken copy stays")
        #expect(heard.droppedRepetitions == 0)
        #expect(loop.transcript.segments.count == 2, "the copies over silence go")
        #expect(loop.droppedRepetitions == 2)
    }

    @Test
    func aKnownHallucinationOverSilenceIsDroppedButKeptOverSpeech() {
        let chunks = [
            self.chunk(
                0, 0, 30, [self.segment(2, 8, "Hello there."), self.segment(20, 28, "Thanks for watching!")],
                speech: [1...9]),
            self.chunk(1, 30, 60, [self.segment(1, 5, "Thank you.")], speech: [0.5...5.5]),
        ]

        let outcome = TranscriptStitcher().stitch(chunks)

        #expect(outcome.transcript.segments.map(\.text) == ["Hello there.", "Thank you."])
        #expect(outcome.droppedHallucinations == 1)
    }

    @Test
    func aSentenceSplitByABoundaryIsMerged() {
        let chunks = [
            self.chunk(0, 0, 29, [self.segment(20, 28.8, "the meeting will start")]),
            self.chunk(1, 29, 50, [self.segment(0.1, 3, "at nine tomorrow."), self.segment(4, 6, "Be on time.")]),
        ]

        let outcome = TranscriptStitcher().stitch(chunks)

        #expect(outcome.transcript.segments.map(\.text) == ["the meeting will start at nine tomorrow.", "Be on time."])
        #expect(outcome.transcript.segments[0].end == 32)
    }

    @Test
    func segmentTimesAreMonotonicAndSkippedChunksContributeNothing() {
        let chunks = [
            self.chunk(0, 0, 30, [self.segment(10, 20, "Later."), self.segment(2, 12, "Earlier, overlapping.")]),
            self.chunk(1, 30, 60, [], skipped: true),
            self.chunk(2, 60, 70, [self.segment(1, 2, "After the silence.")]),
        ]

        let segments = TranscriptStitcher().stitch(chunks).transcript.segments

        #expect(segments.map(\.text) == ["Earlier, overlapping.", "Later.", "After the silence."])
        #expect(zip(segments, segments.dropFirst()).allSatisfy { $0.start <= $1.start && $0.end <= $1.start })
        #expect(segments.allSatisfy { $0.start <= $0.end })
    }
}
