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

    private func segment(
        _ start: Double, _ end: Double, _ text: String, words: [(String, Double, Double)]? = nil,
        logProbability: Double? = nil, noSpeech: Double? = nil
    ) -> TranscriptSegment {
        TranscriptSegment(
            id: 0, start: start, end: end, text: text,
            words: words?.map { TranscriptWord(word: $0.0, start: $0.1, end: $0.2) },
            averageLogProbability: logProbability, noSpeechProbability: noSpeech)
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

    /// OpenAI's shape: words only at the top level. Whisper's last word of a segment may end after the segment does
    /// ("wet." at 4.7–5.0 s of a segment ending at 4.64 s): it stays in its segment, not lost between two.
    @Test
    func topLevelWordsAreKeptWhenTheyFallPastTheirSegmentsEnd() {
        var result = self.chunk(
            0, 10, 30, [self.segment(0.5, 4.64, "the roads were wet."), self.segment(7, 9, "Dr. Brown works.")])
        result.transcript.words = [
            ("the", 0.5, 0.7), ("roads", 0.7, 1), ("were", 1, 4.6), ("wet.", 4.7, 5), ("Dr.", 7, 7.4),
            ("Brown", 7.4, 7.9), ("works.", 8, 8.6),
        ].map { TranscriptWord(word: $0.0, start: $0.1, end: $0.2) }

        let outcome = TranscriptStitcher().stitch([result])

        #expect(
            outcome.transcript.segments.map { $0.words?.map(\.word) ?? [] } == [
                ["the", "roads", "were", "wet."], ["Dr.", "Brown", "works."],
            ])
        #expect(outcome.transcript.words.count == 7)
        #expect(outcome.transcript.words[3].start == 14.7)
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
                ], speech: [0...5, 21...25])
        ]

        let outcome = TranscriptStitcher().stitch(chunks)

        #expect(outcome.transcript.segments.map(\.text) == ["thank you for coming.", "A real sentence."])
        #expect(outcome.droppedRepetitions == 1)
        #expect(outcome.collapsedRepeatWords == 6)
    }

    @Test
    func repeatsOverSpeechKeepOneCopyInsteadOfBeingDropped() {
        // Piper counting "one, two, three, four" four times, as tiny.en wrote it: five times, "Far" for "four".
        let counting = Array(repeating: "1 2 3 Far", count: 5).joined(separator: " ")
        let chunks = [
            self.chunk(
                0, 0, 7.93, [self.segment(0, 7.72, counting, logProbability: -0.36, noSpeech: 0.27)],
                speech: [0.1...1.8, 2.0...3.9, 4.1...5.8, 6.0...7.7])
        ]

        let outcome = TranscriptStitcher().stitch(chunks)

        #expect(outcome.transcript.text == "1 2 3 Far")
        #expect(outcome.droppedRepetitions == 0)
        #expect(outcome.collapsedRepeatWords == 16)
    }

    @Test
    func aKnownPhraseIsJudgedByTheSpeechAroundItNotByItsDriftedTimes() {
        // Real tiny.en output for a sentence and four short phrases, each after 8 s of silence. The words were
        // said at the speech ranges; Whisper put "Thank you." 2.6 s late, and echoed "Bye-bye." into the silent
        // tail, where it judged the window silent.
        let chunks = [
            self.chunk(
                0, 0, 46.25,
                [
                    self.segment(0, 4.64, "The meeting starts at 9 o'clock.", logProbability: -0.38, noSpeech: 0.01),
                    self.segment(14.18, 15.3, "Thank you.", logProbability: -0.38, noSpeech: 0.01),
                    self.segment(19.16, 20.56, "Okay.", logProbability: -1.05, noSpeech: 0.2),
                    self.segment(28.5, 29.9, "Yes.", logProbability: -0.74, noSpeech: 0.15),
                    self.segment(36.56, 39.36, "Bye-bye.", logProbability: -0.74, noSpeech: 0.15),
                    self.segment(44.82, 46.2, "Bye-bye.", logProbability: -0.75, noSpeech: 0.86),
                ], speech: [0.04...3.44, 11.58...12.2, 20.26...20.68, 28.98...29.4, 37.62...38.1])
        ]

        let outcome = TranscriptStitcher().stitch(chunks)

        #expect(
            outcome.transcript.segments.map(\.text) == [
                "The meeting starts at 9 o'clock.", "Thank you.", "Okay.", "Yes.", "Bye-bye.",
            ])
        #expect(outcome.droppedHallucinations == 1)
    }

    @Test
    func failedDecodesOverMusicAreDroppedButNoisySpeechIsKept() {
        // A chord progression: every frame is "speech" to the energy detector, and tiny.en, failing at every
        // temperature, guesses a few words for the whole window.
        let music = [
            self.chunk(
                0, 0, 24.88,
                [
                    self.segment(4.12, 7.52, "I'm going to take a look at the", logProbability: -1.78, noSpeech: 0.46),
                    self.segment(7.52, 8.38, "the", logProbability: -1.78, noSpeech: 0.46),
                    self.segment(14.96, 16.36, "the", logProbability: -1.78, noSpeech: 0.46),
                    self.segment(16.36, 18.2, "the", logProbability: -1.78, noSpeech: 0.46),
                ])
        ]
        // Speech under white noise at -10 dB SNR: a failed decode too, but with words at a speaking rate.
        let noisy = [
            self.chunk(
                0, 0, 14.14,
                [
                    self.segment(
                        0, 3.14, "But we believe in the start of the nine o'clock and that's not happening.",
                        logProbability: -1.02, noSpeech: 0.39),
                    self.segment(
                        3.64, 8.02, "Things bring the ability to work in the middle. So lastly, we will be discussing",
                        logProbability: -1.02, noSpeech: 0.39),
                    self.segment(
                        8.02, 13.64, "the budget and we will have the delivery schedule at the bottom of the station",
                        logProbability: -1.02, noSpeech: 0.39),
                ])
        ]

        let guessed = TranscriptStitcher().stitch(music)
        let heard = TranscriptStitcher().stitch(noisy)

        #expect(guessed.transcript.text == "")
        #expect(guessed.droppedHallucinations == 4)
        #expect(heard.transcript.segments.count == 3)
        #expect(heard.droppedHallucinations == 0)
    }

    @Test
    func segmentsWithoutWordsAreDropped() {
        // Low pink noise: tiny.en writes full stops, and the flat noise is all "speech" to the energy detector.
        let chunks = [
            self.chunk(
                0, 0, 12,
                [
                    self.segment(1.88, 3.28, ".", logProbability: -0.4, noSpeech: 0.43),
                    self.segment(3.28, 5.1, ". .", logProbability: -0.4, noSpeech: 0.43),
                    self.segment(6, 7, "♪", logProbability: -0.4, noSpeech: 0.43),
                ])
        ]

        let outcome = TranscriptStitcher().stitch(chunks)

        #expect(outcome.transcript.segments.isEmpty)
        #expect(outcome.droppedHallucinations == 3)
    }

    @Test
    func anEchoIntoSilenceIsDroppedWhenWhisperAlsoJudgedItSilent() {
        let sentence = "We will discuss the budget for the new warehouse and the delivery schedule."
        let echo = "We will discuss the budget for the new warehouse."
        // The echo's own decode scored −0.99, just above Whisper's −1, so Whisper's rule kept it; there is no speech
        // left after the sentence to say its nine words.
        let echoed = [
            self.chunk(
                0, 0, 24.8,
                [
                    self.segment(20.5, 24.3, sentence, logProbability: -0.33, noSpeech: 0.1),
                    self.segment(24.3, 24.5, echo, logProbability: -0.99, noSpeech: 0.82),
                ], speech: [20.6...24.35])
        ]
        // The same no-speech probability over speech that can hold the words: kept.
        let spoken = [
            self.chunk(
                0, 0, 12, [self.segment(1, 5, echo, logProbability: -0.5, noSpeech: 0.82)], speech: [1.1...4.9])
        ]

        let dropped = TranscriptStitcher().stitch(echoed)
        let kept = TranscriptStitcher().stitch(spoken)

        #expect(dropped.transcript.text == sentence)
        #expect(dropped.droppedHallucinations == 1)
        #expect(kept.transcript.text == echo)
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
    func aFailedDecodeOfImprobableMistimedWordsIsDroppedButPlainWordsStay() {
        // Over chords the real tiny.en said this at a speaking pace (17 words in 9 s), its decode failed (−1.34),
        // and its words were improbable and timed as no voice says them.
        let guessed: [TranscriptWord] = [
            ("I'm", 3.9, 5.3, 0.12), ("going", 5.3, 6.7, 0.13), ("to", 6.7, 6.78, 0.89), ("take", 6.78, 10.0, 0.07),
            ("a", 10.0, 10.02, 0.15), ("look", 10.02, 11.8, 0.46), ("at", 11.8, 11.8, 0.04), ("it,", 11.8, 13.0, 0.2),
        ].map { TranscriptWord(word: $0.0, start: $0.1, end: $0.2, probability: $0.3) }
        // Speech the model was unsure of: the same failed score, words plausibly timed and believed.
        let unsure: [TranscriptWord] = [
            ("Bring", 20.0, 20.3, 0.6), ("the", 20.3, 20.45, 0.9), ("report", 20.45, 20.9, 0.4),
            ("tomorrow.", 20.9, 21.5, 0.1),
        ].map { TranscriptWord(word: $0.0, start: $0.1, end: $0.2, probability: $0.3) }
        var music = TranscriptSegment(
            id: 0, start: 3.9, end: 13, text: "I'm going to take a look at it,", words: guessed,
            averageLogProbability: -1.34, noSpeechProbability: 0.5)
        var speech = TranscriptSegment(
            id: 1, start: 20, end: 21.5, text: "Bring the report tomorrow.", words: unsure,
            averageLogProbability: -1.34, noSpeechProbability: 0.5)
        let chunks = [self.chunk(0, 0, 30, [music, speech], speech: [3...13, 20...21.5])]

        let outcome = TranscriptStitcher().stitch(chunks)

        #expect(outcome.transcript.segments.map(\.text) == ["Bring the report tomorrow."])
        #expect(outcome.droppedHallucinations == 1)
        #expect((TranscriptStitcher.wordAnomaly(music) ?? 0) >= 9)
        #expect((TranscriptStitcher.wordAnomaly(speech) ?? 9) <= 1)
        // Nor in a window the model judged to hold speech.
        var judgedSpeech = music
        judgedSpeech.noSpeechProbability = 0.1
        let heard = TranscriptStitcher().stitch([self.chunk(0, 0, 30, [judgedSpeech], speech: [4...9])])
        #expect(heard.droppedHallucinations == 0)
        // A decode that did not fail keeps its words however they are timed.
        music.averageLogProbability = -0.4
        speech.words = nil
        #expect(TranscriptStitcher.wordAnomaly(speech) == nil)
        let kept = TranscriptStitcher().stitch([self.chunk(0, 0, 30, [music], speech: [3...13])])
        #expect(kept.droppedHallucinations == 0)
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

struct SegmentStartSnappingTests {
    private func snapped(start: Double, firstWord: ClosedRange<Double>?, speech: [ClosedRange<Double>])
        -> (segment: Double, word: Double?)
    {
        var segment = TranscriptSegment(id: 0, start: start, end: 9, text: "Hello there.")
        var words = firstWord.map { [TranscriptWord(word: "Hello", start: $0.lowerBound, end: $0.upperBound)] } ?? []
        TranscriptStitcher.snapStart(of: &segment, words: &words, toSpeechIn: speech)
        return (segment.start, words.first?.start)
    }

    @Test
    func aStartInAPauseMovesToWhereSpeechBegins() {
        // Whisper began the sentence at the chunk's start; the chunker heard speech from 2.1 s.
        let moved = self.snapped(start: 0, firstWord: 0...2.5, speech: [2.1...5.0, 6.0...8.0])
        #expect(moved.segment == 2.1)
        #expect(moved.word == 2.1)
        // Without words, within the segment.
        #expect(self.snapped(start: 5.2, firstWord: nil, speech: [2.1...5.0, 6.0...8.0]).segment == 6.0)
    }

    @Test
    func aFirstWordReachingAcrossAPauseStartsWhereSpeechResumes() {
        // Whisper began "The" at 47.8 s, in the last sound of the sentence before; speech resumed at 48.44 s.
        let across = self.snapped(start: 47.8, firstWord: 47.8...48.66, speech: [45.5...47.9, 48.44...50.6])
        #expect(across.segment == 48.44)
        #expect(across.word == 48.44)
        // A gap shorter than a pause is a stop consonant inside the word; without words nothing is known.
        #expect(self.snapped(start: 47.8, firstWord: 47.8...48.66, speech: [45.5...47.9, 48.0...50.6]).segment == 47.8)
        #expect(self.snapped(start: 47.8, firstWord: nil, speech: [45.5...47.9, 48.44...50.6]).segment == 47.8)
    }

    @Test
    func aStartInSpeechOrAnOnsetPastTheFirstWordStaysPut() {
        #expect(self.snapped(start: 2.5, firstWord: 2.5...3.0, speech: [2.1...5.0]).segment == 2.5)
        // The next onset is after the first word ends: that word was heard in what the chunker called a pause.
        #expect(self.snapped(start: 0, firstWord: 0...0.4, speech: [2.1...5.0]) == (0, 0))
        #expect(self.snapped(start: 1, firstWord: 1...1.5, speech: []) == (1, 1))
    }
}

struct WordOnsetTests {
    private func led(
        _ starts: [ClosedRange<Double>], speech: [ClosedRange<Double>], after previousEnd: Double = 0
    ) -> (segment: Double, words: [Double], end: Double) {
        var words = starts.enumerated().map { TranscriptWord(word: "w\($0)", start: $1.lowerBound, end: $1.upperBound) }
        var segment = TranscriptSegment(id: 0, start: starts[0].lowerBound, end: 9, text: "Careful, quiet.")
        let end = TranscriptStitcher.leadBack(&segment, words: &words, toSpeechIn: speech, after: previousEnd)
        return (segment.start, words.map(\.start), end)
    }

    @Test
    func aWordStartingLateInSpeechAfterAPauseStartsAtItsOnset() {
        // bench-accuracy's "Careful, ..." began at 624.01 s, after a 1.06 s pause; Whisper said 624.70 s.
        let careful = self.led(
            [624.70...625.1, 625.3...625.7], speech: [621.0...622.95, 624.01...625.2, 625.3...627.7])
        #expect(careful.segment == 624.01 && careful.words == [624.01, 625.3] && careful.end == 625.7)
        // Gaps shorter than a pause are inside the run: its onset is the first one's.
        #expect(self.led([3.6...4.0], speech: [1.0...1.5, 3.0...3.3, 3.4...4.5]).words == [3.0])
        // A later word after a pause in the same segment moves too; one right after its neighbour does not.
        #expect(self.led([1.0...1.5, 3.4...3.8, 3.8...4.2], speech: [1.0...1.5, 3.0...4.5]).words == [1.0, 3.0, 3.8])
    }

    @Test
    func aStartTheSoundBeforeCannotExplainStaysPut() {
        // The sound before belongs to the previous segment's word, which ends inside it.
        #expect(self.led([3.6...4.0], speech: [3.0...4.5], after: 3.2).words == [3.6])
        // More than a second late: not one word's lead.
        #expect(self.led([4.2...4.6], speech: [3.0...4.8]).words == [4.2])
        // The run begins at the chunk's very start (a blind cut): its onset is not one.
        #expect(self.led([0.6...1.0], speech: [0.1...2.0]).words == [0.6])
        // No speech heard around it.
        #expect(self.led([5.0...5.4], speech: [1.0...2.0]).words == [5.0])
    }
}
